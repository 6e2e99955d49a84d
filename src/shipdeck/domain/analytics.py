"""The analytics documents (`GET /api/analytics/*`) as pydantic models, and what asks for them.

Field names, nullability and order are upstream's (deployment-dashboard's analytics
endpoints and its API suite): a value that may be unknown is a required field that is
`null`, never left out. `Insights` is shipdeck's addition: the nine documents of one window
and one set of filters together, what a dashboard screen shows at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .status import Status

WindowName = Literal["7d", "14d", "30d"]
"""The windows a caller may ask for."""
WINDOW_DAYS: dict[str, int] = {"7d": 7, "14d": 14, "30d": 30}
DEFAULT_WINDOW: WindowName = "7d"
MAX_LIST = 100
"""Most deployers or incidents one document lists."""
DEFAULT_LIST = 10


class AnalyticsKind(StrEnum):
    """The nine documents, named as their paths under `/api/analytics/` are."""

    DORA = "dora"
    FREQUENCY = "frequency"
    CHANGE_FAILURE_RATE = "change-failure-rate"
    DURATION_HISTOGRAM = "duration-histogram"
    PROMOTION_FUNNEL = "promotion-funnel"
    STATUS_DISTRIBUTION = "status-distribution"
    HEATMAP = "heatmap"
    TOP_DEPLOYERS = "top-deployers"
    INCIDENTS = "incidents"


@dataclass(frozen=True, slots=True)
class AnalyticsQuery:
    """What one analytics request asks: a window and optional filters (all exact)."""

    window: WindowName = DEFAULT_WINDOW
    service: str | None = None
    environment: str | None = None
    namespace: str | None = None
    limit: int = DEFAULT_LIST
    """Deployers and incidents listed at most (1–100)."""


class Classification(StrEnum):
    """A DORA performance band."""

    ELITE = "elite"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Severity(StrEnum):
    """How bad an incident was, from how long it lasted (unresolved: `critical`)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class KpiUnit(StrEnum):
    """The unit of a DORA key's `value`."""

    PER_DAY = "per_day"
    HOURS = "hours"
    RATIO = "ratio"
    MINUTES = "minutes"


class AnalyticsWindow(BaseModel):
    """The period the server resolved the request to (`[from, to)`, UTC)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    days: int = Field(ge=1, description="Days in the window (after any clamp).")
    from_: datetime = Field(alias="from", description="Start, inclusive.")
    to: datetime = Field(
        description="End, exclusive: the start of the current UTC day (or hour, with"
        ' `[analytics] granularity = "hour"`), so a day\'s figures are stable all day.'
    )
    retention_days: int = Field(ge=1, description="How far back analytics may look.")
    clamped: bool = Field(description="Whether the retention made the window shorter.")


class AnalyticsKpi(BaseModel):
    """One DORA key: its value, unit, band, trend and daily series."""

    value: float | None
    unit: KpiUnit
    classification: Classification
    trend_delta: float | None = Field(
        description="Change of the window's second half against its first, as a fraction"
        " (0.25: a quarter more); `null` without a baseline."
    )
    sparkline: list[float]
    approximated: bool = Field(description="Whether the value is an approximation.")


class AnalyticsDora(BaseModel):
    """The four keys (`GET /api/analytics/dora`)."""

    window: AnalyticsWindow
    deployment_frequency: AnalyticsKpi
    lead_time: AnalyticsKpi
    change_failure_rate: AnalyticsKpi
    time_to_restore: AnalyticsKpi


class FrequencyBucket(BaseModel):
    """Terminal rows of one UTC day."""

    date: date
    success: int = Field(ge=0)
    failure: int = Field(ge=0)


class AnalyticsFrequency(BaseModel):
    """Successes and failures per day, oldest first, one bucket a day."""

    window: AnalyticsWindow
    buckets: list[FrequencyBucket]


class ChangeFailureBucket(BaseModel):
    """The change-failure rate of one UTC day (0 without terminal rows)."""

    date: date
    rate: float = Field(ge=0, le=1)


class AnalyticsChangeFailureRate(BaseModel):
    """The change-failure rate per day, with DORA's elite line."""

    window: AnalyticsWindow
    elite_threshold: float
    buckets: list[ChangeFailureBucket]


class DurationBin(BaseModel):
    """Deployments that took `[lower_minutes, upper_minutes)`."""

    label: str
    lower_minutes: int = Field(ge=0)
    upper_minutes: int | None = Field(description="`null` for the open-ended top bin.")
    count: int = Field(ge=0)


class AnalyticsDurationHistogram(BaseModel):
    """How long deployments took, binned, with the median and 95th percentile."""

    window: AnalyticsWindow
    bins: list[DurationBin]
    p50_minutes: float | None
    p95_minutes: float | None


class FunnelStage(BaseModel):
    """One environment of the promotion ladder."""

    environment: str
    count: int = Field(ge=0)
    conversion: float | None = Field(
        ge=0, le=1, description="Next stage's count over this one's (at most 1); `null` last."
    )


class AnalyticsPromotionFunnel(BaseModel):
    """Deployments per stage of the configured ladder, in its order."""

    window: AnalyticsWindow
    stages: list[FunnelStage]


class StatusCount(BaseModel):
    """Rows of one status."""

    status: Status
    count: int = Field(ge=0)


class AnalyticsStatusDistribution(BaseModel):
    """Rows per status: all eight, in the contract's order, zeros included."""

    window: AnalyticsWindow
    statuses: list[StatusCount]


class HeatmapCell(BaseModel):
    """Rows at one weekday and UTC hour (only cells with rows are sent)."""

    day_of_week: int = Field(ge=0, le=6, description="0 is Sunday.")
    hour: int = Field(ge=0, le=23)
    count: int = Field(ge=1)


class AnalyticsHeatmap(BaseModel):
    """Rows by weekday × UTC hour."""

    window: AnalyticsWindow
    cells: list[HeatmapCell]


class Deployer(BaseModel):
    """Who started deployments that succeeded, and how many."""

    actor: str
    count: int = Field(ge=0)


class AnalyticsTopDeployers(BaseModel):
    """Actors by deployments that succeeded, most first."""

    window: AnalyticsWindow
    deployers: list[Deployer]


class Incident(BaseModel):
    """A failure in a slot and the success that restored it."""

    service: str
    environment: str
    namespace: str | None = Field(default=None, description="The failing row's (additive).")
    failed_at: datetime
    restored_at: datetime | None = Field(description="`null` while unresolved.")
    duration_minutes: float | None
    severity: Severity


class AnalyticsIncidents(BaseModel):
    """Incidents that began in the window, worst first (unresolved, then longest)."""

    window: AnalyticsWindow
    incidents: list[Incident]


class Insights(BaseModel):
    """Every analytics document of one window and one set of filters (shipdeck)."""

    window: AnalyticsWindow
    dora: AnalyticsDora
    frequency: AnalyticsFrequency
    change_failure_rate: AnalyticsChangeFailureRate
    duration_histogram: AnalyticsDurationHistogram
    promotion_funnel: AnalyticsPromotionFunnel
    status_distribution: AnalyticsStatusDistribution
    heatmap: AnalyticsHeatmap
    top_deployers: AnalyticsTopDeployers
    incidents: AnalyticsIncidents


AnalyticsDocument = (
    AnalyticsDora
    | AnalyticsFrequency
    | AnalyticsChangeFailureRate
    | AnalyticsDurationHistogram
    | AnalyticsPromotionFunnel
    | AnalyticsStatusDistribution
    | AnalyticsHeatmap
    | AnalyticsTopDeployers
    | AnalyticsIncidents
)

DOCUMENTS: dict[AnalyticsKind, type[AnalyticsDocument]] = {
    AnalyticsKind.DORA: AnalyticsDora,
    AnalyticsKind.FREQUENCY: AnalyticsFrequency,
    AnalyticsKind.CHANGE_FAILURE_RATE: AnalyticsChangeFailureRate,
    AnalyticsKind.DURATION_HISTOGRAM: AnalyticsDurationHistogram,
    AnalyticsKind.PROMOTION_FUNNEL: AnalyticsPromotionFunnel,
    AnalyticsKind.STATUS_DISTRIBUTION: AnalyticsStatusDistribution,
    AnalyticsKind.HEATMAP: AnalyticsHeatmap,
    AnalyticsKind.TOP_DEPLOYERS: AnalyticsTopDeployers,
    AnalyticsKind.INCIDENTS: AnalyticsIncidents,
}
"""Each kind's document model."""

__all__ = [
    "DEFAULT_LIST",
    "DEFAULT_WINDOW",
    "DOCUMENTS",
    "MAX_LIST",
    "WINDOW_DAYS",
    "AnalyticsChangeFailureRate",
    "AnalyticsDocument",
    "AnalyticsDora",
    "AnalyticsDurationHistogram",
    "AnalyticsFrequency",
    "AnalyticsHeatmap",
    "AnalyticsIncidents",
    "AnalyticsKind",
    "AnalyticsKpi",
    "AnalyticsPromotionFunnel",
    "AnalyticsQuery",
    "AnalyticsStatusDistribution",
    "AnalyticsTopDeployers",
    "AnalyticsWindow",
    "ChangeFailureBucket",
    "Classification",
    "Deployer",
    "DurationBin",
    "FrequencyBucket",
    "FunnelStage",
    "HeatmapCell",
    "Incident",
    "Insights",
    "KpiUnit",
    "Severity",
    "StatusCount",
    "WindowName",
]
