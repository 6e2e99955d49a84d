"""The analytics documents, computed from a window's aggregates (pure: no I/O).

The engine reads the aggregates a document needs from the rollups (`Aggregates`); each
function here turns them into one document, as docs/api.md ("Analytics") defines it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .analytics import (
    AnalyticsChangeFailureRate,
    AnalyticsDora,
    AnalyticsDurationHistogram,
    AnalyticsFrequency,
    AnalyticsHeatmap,
    AnalyticsIncidents,
    AnalyticsKpi,
    AnalyticsPromotionFunnel,
    AnalyticsStatusDistribution,
    AnalyticsTopDeployers,
    ChangeFailureBucket,
    Classification,
    Deployer,
    DurationBin,
    FrequencyBucket,
    FunnelStage,
    HeatmapCell,
    Incident,
    KpiUnit,
    StatusCount,
)
from .analytics_math import (
    DAY_US,
    DURATION_EDGES_MINUTES,
    ELITE_CHANGE_FAILURE_RATE,
    HOUR_US,
    MINUTE_US,
    Histogram,
    ResolvedWindow,
    classify_change_failure_rate,
    classify_frequency,
    classify_lead_time,
    classify_time_to_restore,
    day_of_week,
    in_units,
    instant,
    merged,
    severity,
    trend_delta,
)
from .status import Status

IncidentRecord = tuple[str, str, str, int, int | None]
"""`(service, namespace, environment, failed_at µs, restored_at µs or None)`."""


@dataclass(slots=True)
class Aggregates:
    """What the rollups hold for one window and set of filters (only what was asked)."""

    window: ResolvedWindow
    status: dict[int, dict[str, int]] = field(default_factory=dict)
    """Hour → status → rows."""
    duration: Histogram = field(default_factory=Histogram)
    started: dict[str, int] = field(default_factory=dict)
    """Environment (lower case) → deployments started."""
    deployers: dict[str, int] = field(default_factory=dict)
    lead: dict[int, Histogram] = field(default_factory=dict)
    """Half of the window (0: first, 1: second) → lead times to the production
    environment, on the days of the rows measured."""
    restore: dict[int, Histogram] = field(default_factory=dict)
    """Half of the window → times to restore of the incidents that ended in it."""
    incidents: list[IncidentRecord] = field(default_factory=list)


def _daily(agg: Aggregates, status: Status) -> list[int]:
    """Rows of one status per day of the window (the daily series' buckets)."""
    first = agg.window.first_day
    counts = [0] * len(agg.window.dates)
    for hour, per_status in agg.status.items():
        index = hour * HOUR_US // DAY_US - first
        if 0 <= index < len(counts):
            counts[index] += per_status.get(status.value, 0)
    return counts


def _rate(failures: int, terminal: int) -> float:
    return failures / terminal if terminal else 0.0


def _frequency_kpi(agg: Aggregates, terminal: list[int]) -> AnalyticsKpi:
    """Successes and failures a day; the trend compares the halves' daily means."""
    days, split = len(terminal), len(terminal) // 2
    prior, current = sum(terminal[:split]), sum(terminal[split:])
    value = sum(terminal) / days
    return AnalyticsKpi(
        value=value,
        unit=KpiUnit.PER_DAY,
        classification=classify_frequency(value),
        trend_delta=trend_delta(current / (days - split), prior / split if split else None),
        sparkline=[float(count) for count in terminal],
        approximated=False,
    )


def _failure_kpi(failures: list[int], terminal: list[int]) -> AnalyticsKpi:
    """Failures over successes and failures; the trend compares the halves' rates."""
    split = len(terminal) // 2

    def rate(part: slice) -> float | None:
        total = sum(terminal[part])
        return sum(failures[part]) / total if total else None

    value = rate(slice(None))
    return AnalyticsKpi(
        value=value,
        unit=KpiUnit.RATIO,
        classification=classify_change_failure_rate(value),
        trend_delta=trend_delta(rate(slice(split, None)), rate(slice(None, split))),
        sparkline=[_rate(f, t) for f, t in zip(failures, terminal, strict=True)],
        approximated=False,
    )


def _median_kpi(
    agg: Aggregates, halves: dict[int, Histogram], unit: KpiUnit, approximated: bool
) -> AnalyticsKpi:
    """A median of durations; the trend compares the halves' medians."""
    classify: Callable[[float | None], Classification] = classify_time_to_restore
    unit_us = MINUTE_US
    if unit is KpiUnit.HOURS:
        unit_us, classify = HOUR_US, classify_lead_time
    empty = Histogram()
    first, second = halves.get(0, empty), halves.get(1, empty)
    value = in_units(merged((first, second)).median(), unit_us)
    return AnalyticsKpi(
        value=value,
        unit=unit,
        classification=classify(value),
        trend_delta=trend_delta(
            in_units(second.median(), unit_us), in_units(first.median(), unit_us)
        ),
        sparkline=[],
        approximated=approximated,
    )


def dora(agg: Aggregates) -> AnalyticsDora:
    """The four keys: frequency and failure rate from rows, lead time and time to restore
    as medians; each trend compares the window's second half with its first."""
    successes, failures = _daily(agg, Status.SUCCESS), _daily(agg, Status.FAILURE)
    terminal = [s + f for s, f in zip(successes, failures, strict=True)]
    return AnalyticsDora(
        window=agg.window.document,
        deployment_frequency=_frequency_kpi(agg, terminal),
        lead_time=_median_kpi(agg, agg.lead, KpiUnit.HOURS, approximated=True),
        change_failure_rate=_failure_kpi(failures, terminal),
        time_to_restore=_median_kpi(agg, agg.restore, KpiUnit.MINUTES, approximated=False),
    )


def frequency(agg: Aggregates) -> AnalyticsFrequency:
    """Successes and failures per day."""
    successes, failures = _daily(agg, Status.SUCCESS), _daily(agg, Status.FAILURE)
    buckets = [
        FrequencyBucket(date=day, success=s, failure=f)
        for day, s, f in zip(agg.window.dates, successes, failures, strict=True)
    ]
    return AnalyticsFrequency(window=agg.window.document, buckets=buckets)


def change_failure_rate(agg: Aggregates) -> AnalyticsChangeFailureRate:
    """`failure / (success + failure)` per day (0 on a day without either)."""
    successes, failures = _daily(agg, Status.SUCCESS), _daily(agg, Status.FAILURE)
    buckets = [
        ChangeFailureBucket(date=day, rate=_rate(f, s + f))
        for day, s, f in zip(agg.window.dates, successes, failures, strict=True)
    ]
    return AnalyticsChangeFailureRate(
        window=agg.window.document, elite_threshold=ELITE_CHANGE_FAILURE_RATE, buckets=buckets
    )


def duration_histogram(agg: Aggregates) -> AnalyticsDurationHistogram:
    """Deployments per duration bin, with the median and the 95th percentile."""
    counts = agg.duration.bin_counts()
    edges = DURATION_EDGES_MINUTES
    bins = []
    for index, lower in enumerate(edges):
        upper = edges[index + 1] if index + 1 < len(edges) else None
        label = f"{lower}-{upper}" if upper is not None else f"{lower}+"
        bins.append(
            DurationBin(label=label, lower_minutes=lower, upper_minutes=upper, count=counts[index])
        )
    return AnalyticsDurationHistogram(
        window=agg.window.document,
        bins=bins,
        p50_minutes=in_units(agg.duration.median(), MINUTE_US),
        p95_minutes=in_units(agg.duration.p95(), MINUTE_US),
    )


def promotion_funnel(agg: Aggregates, ladder: Sequence[str]) -> AnalyticsPromotionFunnel:
    """Deployments started in each environment of the ladder; conversion is the next
    stage's count over this one's, at most 1 (`null` for the last stage or an empty one)."""
    counts = [agg.started.get(stage, 0) for stage in ladder]
    stages = []
    for index, (stage, count) in enumerate(zip(ladder, counts, strict=True)):
        conversion = None
        if index + 1 < len(counts) and count > 0:
            conversion = min(1.0, counts[index + 1] / count)
        stages.append(FunnelStage(environment=stage, count=count, conversion=conversion))
    return AnalyticsPromotionFunnel(window=agg.window.document, stages=stages)


def status_distribution(agg: Aggregates) -> AnalyticsStatusDistribution:
    """Rows per status, all eight in the contract's order."""
    totals = dict.fromkeys((s.value for s in Status), 0)
    for per_status in agg.status.values():
        for status, count in per_status.items():
            totals[status] = totals.get(status, 0) + count
    statuses = [StatusCount(status=s, count=max(totals[s.value], 0)) for s in Status]
    return AnalyticsStatusDistribution(window=agg.window.document, statuses=statuses)


def heatmap(agg: Aggregates) -> AnalyticsHeatmap:
    """Rows per weekday and UTC hour; cells without rows are left out."""
    cells: dict[tuple[int, int], int] = {}
    for hour, per_status in agg.status.items():
        place = day_of_week(hour)
        cells[place] = cells.get(place, 0) + sum(per_status.values())
    found = [
        HeatmapCell(day_of_week=dow, hour=hour, count=count)
        for (dow, hour), count in sorted(cells.items())
        if count > 0
    ]
    return AnalyticsHeatmap(window=agg.window.document, cells=found)


def top_deployers(agg: Aggregates, limit: int) -> AnalyticsTopDeployers:
    """Actors by deployments that succeeded, most first, ties by name."""
    ranked = sorted(
        ((actor, count) for actor, count in agg.deployers.items() if count > 0),
        key=lambda item: (-item[1], item[0]),
    )
    deployers = [Deployer(actor=actor, count=count) for actor, count in ranked[:limit]]
    return AnalyticsTopDeployers(window=agg.window.document, deployers=deployers)


def incidents(agg: Aggregates) -> AnalyticsIncidents:
    """The incidents as read (worst first), with durations and severities."""
    found = []
    for service, namespace, environment, failed_at, restored_at in agg.incidents:
        minutes = None if restored_at is None else (restored_at - failed_at) / MINUTE_US
        found.append(
            Incident(
                service=service,
                environment=environment,
                namespace=namespace or None,
                failed_at=instant(failed_at),
                restored_at=None if restored_at is None else instant(restored_at),
                duration_minutes=minutes,
                severity=severity(minutes),
            )
        )
    return AnalyticsIncidents(window=agg.window.document, incidents=found)
