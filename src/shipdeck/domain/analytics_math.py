"""The arithmetic of analytics: time buckets, windows, duration histograms, DORA bands.

Times are microseconds since the epoch (the store's `happened_at`). Rows are counted per
UTC hour, everything else per UTC day, so any window of whole days (or hours) is a range
of buckets. Durations are kept as histograms whose buckets are about 2 % wide and never
straddle an edge of the duration chart's bins: counts per bin are exact, and a percentile
is the mean of the durations in the bucket it falls in (exact when they are equal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from .analytics import WINDOW_DAYS, AnalyticsWindow, Classification, Severity

HOUR_US = 3_600_000_000
DAY_US = 24 * HOUR_US
MINUTE_US = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Granularity = Literal["day", "hour"]

ELITE_CHANGE_FAILURE_RATE = 0.15
"""DORA's elite line for the change-failure rate (upstream's `elite_threshold`)."""

DURATION_EDGES_MINUTES = (0, 10, 20, 30, 60, 120)
"""Lower edges of the duration chart's bins (the last one is open-ended)."""
_SUB_BUCKETS = 10_000
"""A bucket id is `bin * _SUB_BUCKETS + round-down(PER_E · ln µs)`: ordered as durations are."""
PER_E = 50
"""Buckets per factor e (2 % wide): fine enough for percentiles, coarse enough that a
30-day window of one kind is a few thousand rows per environment."""


def hour_of(at: int) -> int:
    """The UTC hour (hours since the epoch) of a time in µs."""
    return at // HOUR_US


def day_of(at: int) -> int:
    """The UTC day (days since the epoch) of a time in µs."""
    return at // DAY_US


def instant(at: int) -> datetime:
    """A time in µs as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=at)


def date_of_day(day: int) -> date:
    """The calendar date of a day number."""
    return (_EPOCH + timedelta(days=day)).date()


# -- durations ---------------------------------------------------------------------------


def duration_bin(duration_us: int) -> int:
    """The index of the duration chart's bin a positive duration falls in."""
    minutes = duration_us / MINUTE_US
    index = 0
    for position, edge in enumerate(DURATION_EDGES_MINUTES):
        if minutes >= edge:
            index = position
    return index


def bucket_of(duration_us: int) -> int:
    """The histogram bucket of a positive duration (µs)."""
    return duration_bin(duration_us) * _SUB_BUCKETS + int(PER_E * math.log(duration_us))


def bin_of_bucket(bucket: int) -> int:
    """The chart bin a histogram bucket lies in."""
    return bucket // _SUB_BUCKETS


@dataclass(slots=True)
class Histogram:
    """Durations as bucket → (count, sum of µs); see the module docstring."""

    buckets: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(self, bucket: int, count: int, total: int) -> None:
        """Add `count` durations summing to `total` µs to `bucket`."""
        held = self.buckets.get(bucket, (0, 0))
        self.buckets[bucket] = (held[0] + count, held[1] + total)

    def merge(self, other: Histogram) -> None:
        """Add every bucket of `other`."""
        for bucket, (count, total) in other.buckets.items():
            self.add(bucket, count, total)

    @property
    def count(self) -> int:
        """How many durations."""
        return sum(count for count, _ in self.buckets.values() if count > 0)

    def _values(self) -> Iterator[tuple[int, float]]:
        """`(count, mean µs)` per bucket, shortest first (empty buckets left out)."""
        for bucket in sorted(self.buckets):
            count, total = self.buckets[bucket]
            if count > 0:
                yield count, total / count

    def nth(self, index: int) -> float:
        """The `index`-th shortest duration (0-based), as its bucket's mean (µs)."""
        seen = 0
        for count, mean in self._values():
            seen += count
            if index < seen:
                return mean
        raise IndexError(index)

    def median(self) -> float | None:
        """The median (the mean of the middle two for an even count), µs; `None` if empty."""
        n = self.count
        if n == 0:
            return None
        if n % 2:
            return self.nth(n // 2)
        return (self.nth(n // 2 - 1) + self.nth(n // 2)) / 2

    def p95(self) -> float | None:
        """The 95th percentile by nearest rank, µs; `None` if empty."""
        n = self.count
        if n == 0:
            return None
        return self.nth(min(max(math.ceil(0.95 * n) - 1, 0), n - 1))

    def bin_counts(self) -> list[int]:
        """How many durations fall in each bin of the duration chart."""
        counts = [0] * len(DURATION_EDGES_MINUTES)
        for bucket, (count, _) in self.buckets.items():
            counts[bin_of_bucket(bucket)] += max(count, 0)
        return counts


def merged(histograms: Iterable[Histogram]) -> Histogram:
    """One histogram of every duration in `histograms`."""
    whole = Histogram()
    for histogram in histograms:
        whole.merge(histogram)
    return whole


def in_units(value: float | None, unit_us: int) -> float | None:
    """µs in minutes or hours (`unit_us`), or `None`."""
    return None if value is None else value / unit_us


# -- windows -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedWindow:
    """A window as documents show it and as buckets select it."""

    document: AnalyticsWindow
    from_us: int
    to_us: int
    dates: tuple[date, ...]
    """One per day of the window, oldest first (the daily series' buckets)."""

    @property
    def hours(self) -> tuple[int, int]:
        """The hour buckets `[first, end)` of the window."""
        return hour_of(self.from_us), hour_of(self.to_us)

    @property
    def days(self) -> tuple[int, int]:
        """The day buckets `[first, end)`: days that start inside the window."""
        return -(-self.from_us // DAY_US), -(-self.to_us // DAY_US)

    @property
    def first_day(self) -> int:
        """The day number of the first daily bucket."""
        return day_of(self.from_us)

    @property
    def half(self) -> int:
        """The first day number of the window's second half (trends compare the halves)."""
        return self.first_day + len(self.dates) // 2


def resolve_window(
    now: datetime, name: str, retention_days: int, granularity: Granularity = "day"
) -> ResolvedWindow:
    """The window `name` (`7d`, `14d`, `30d`) ends at the start of the current UTC day (or
    hour) and is at most `retention_days` long."""
    wanted = WINDOW_DAYS[name]
    days = min(wanted, retention_days)
    unit = HOUR_US if granularity == "hour" else DAY_US
    now_us = (now.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)
    to_us = now_us // unit * unit
    from_us = to_us - days * DAY_US
    first = day_of(from_us)
    document = AnalyticsWindow(
        days=days,
        from_=instant(from_us),
        to=instant(to_us),
        retention_days=retention_days,
        clamped=wanted > days,
    )
    dates = tuple(date_of_day(first + offset) for offset in range(days))
    return ResolvedWindow(document, from_us, to_us, dates)


# -- bands -------------------------------------------------------------------------------


def classify_frequency(per_day: float | None) -> Classification:
    """Daily or more: elite; weekly: high; monthly: medium; less: low."""
    if per_day is None:
        return Classification.LOW
    if per_day >= 1:
        return Classification.ELITE
    if per_day >= 1 / 7:
        return Classification.HIGH
    return Classification.MEDIUM if per_day >= 1 / 30 else Classification.LOW


def classify_lead_time(hours: float | None) -> Classification:
    """A day or less: elite; a week: high; six months: medium; longer (or unknown): low."""
    return _at_most(hours, (24.0, 7 * 24.0, 6 * 30 * 24.0), Classification.LOW)


def classify_change_failure_rate(ratio: float | None) -> Classification:
    """≤ 15 %: elite (as is no terminal row at all); ≤ 30 %: high; below 100 %: medium."""
    if ratio is None or ratio <= ELITE_CHANGE_FAILURE_RATE:
        return Classification.ELITE
    if ratio <= 0.30:
        return Classification.HIGH
    return Classification.MEDIUM if ratio < 1.0 else Classification.LOW


def classify_time_to_restore(minutes: float | None) -> Classification:
    """An hour or less (or no incident): elite; a day: high; a week: medium; longer: low."""
    return _at_most(minutes, (60.0, 24 * 60.0, 7 * 24 * 60.0), Classification.ELITE)


def _at_most(
    value: float | None, limits: tuple[float, float, float], unknown: Classification
) -> Classification:
    if value is None:
        return unknown
    elite, high, medium = limits
    if value <= elite:
        return Classification.ELITE
    if value <= high:
        return Classification.HIGH
    return Classification.MEDIUM if value <= medium else Classification.LOW


def trend_delta(current: float | None, prior: float | None) -> float | None:
    """`(current − prior) / prior`; `None` when either is unknown or `prior` is 0."""
    if current is None or prior is None or prior == 0:
        return None
    return (current - prior) / prior


def severity(minutes: float | None) -> Severity:
    """An hour: low; four hours: medium; a day: high; longer or unresolved: critical."""
    if minutes is None:
        return Severity.CRITICAL
    if minutes <= 60:
        return Severity.LOW
    if minutes <= 4 * 60:
        return Severity.MEDIUM
    return Severity.HIGH if minutes <= 24 * 60 else Severity.CRITICAL


def day_of_week(hour: int) -> tuple[int, int]:
    """`(weekday, hour of day)` of an hour bucket; weekday 0 is Sunday."""
    moment = instant(hour * HOUR_US)
    return (moment.weekday() + 1) % 7, moment.hour
