"""The analytics documents of `GET /api/analytics/*` (`engine.analytics`).

Every figure is read from the rollups the store keeps on append (`store/rollup.py`), never
from the log: a document costs a few small reads, whatever the log's size. The window ends
at the start of the engine clock's UTC day (or hour, `[analytics] granularity`); services
excluded by `[ingest] exclude_services` count in none of the figures.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from ..domain import analytics_figures as figures
from ..domain.analytics import (
    AnalyticsDocument,
    AnalyticsKind,
    AnalyticsQuery,
    Insights,
)
from ..domain.analytics_figures import Aggregates
from ..domain.analytics_math import Histogram, merged, resolve_window
from .analytics_config import AnalyticsConfig
from .exclusion import IngestConfig, exclusion_of
from .store import Store
from .store.rollup_reads import RollupCell, RollupFilter

T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]

NEEDS: dict[AnalyticsKind, tuple[str, ...]] = {
    AnalyticsKind.DORA: ("status", "lead", "restore"),
    AnalyticsKind.FREQUENCY: ("status",),
    AnalyticsKind.CHANGE_FAILURE_RATE: ("status",),
    AnalyticsKind.DURATION_HISTOGRAM: ("duration",),
    AnalyticsKind.PROMOTION_FUNNEL: ("started",),
    AnalyticsKind.STATUS_DISTRIBUTION: ("status",),
    AnalyticsKind.HEATMAP: ("status",),
    AnalyticsKind.TOP_DEPLOYERS: ("deployer",),
    AnalyticsKind.INCIDENTS: ("incidents",),
}
"""What each document is computed from (rollup kinds, and the incidents)."""
EVERYTHING = ("status", "duration", "started", "deployer", "lead", "restore", "incidents")


def etag_of(body: bytes) -> str:
    """A weak ETag of a document's bytes: the same figures, the same tag."""
    return f'W/"a-{hashlib.sha256(body).hexdigest()[:20]}"'


def encode(document: AnalyticsDocument | Insights) -> bytes:
    """A document as the API sends it (`from`, not `from_`; every `null` written out)."""
    return document.model_dump_json(by_alias=True).encode()


class AnalyticsReader:
    """Analytics documents over the store's rollups (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        config: AnalyticsConfig,
        ingest: IngestConfig,
        read: Runner,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.config = config
        self._ingest = ingest
        self._read = read
        self._clock = clock

    async def document(self, kind: AnalyticsKind, query: AnalyticsQuery) -> AnalyticsDocument:
        """One of the nine documents."""
        agg = await self._aggregates(NEEDS[kind], query)
        return self._build(kind, agg, query)

    async def insights(self, query: AnalyticsQuery) -> Insights:
        """All nine documents of one window and set of filters, from one set of reads."""
        agg = await self._aggregates(EVERYTHING, query)
        built = {kind: self._build(kind, agg, query) for kind in AnalyticsKind}
        return Insights(
            window=agg.window.document,
            **{kind.value.replace("-", "_"): document for kind, document in built.items()},
        )

    def _build(
        self, kind: AnalyticsKind, agg: Aggregates, query: AnalyticsQuery
    ) -> AnalyticsDocument:
        if kind is AnalyticsKind.PROMOTION_FUNNEL:
            return figures.promotion_funnel(agg, self.config.funnel_environments)
        if kind is AnalyticsKind.TOP_DEPLOYERS:
            return figures.top_deployers(agg, query.limit)
        build: Callable[[Aggregates], AnalyticsDocument] = getattr(
            figures, kind.value.replace("-", "_")
        )
        return build(agg)

    # -- reading -----------------------------------------------------------------------

    async def _aggregates(self, needs: tuple[str, ...], query: AnalyticsQuery) -> Aggregates:
        config = self.config
        window = resolve_window(
            self._clock(), query.window, config.retention_days, config.granularity
        )
        agg = Aggregates(window)
        if any("\x00" in (v or "") for v in (query.service, query.environment, query.namespace)):
            return agg  # no stored name holds a NUL (and PostgreSQL refuses one in a query)
        scope = RollupFilter(
            query.service, query.namespace, query.environment, await self._excluded()
        )
        reads = [self._fill(agg, need, scope, query.limit) for need in needs]
        await asyncio.gather(*reads)
        return agg

    async def _excluded(self) -> tuple[tuple[str, str, str], ...]:
        exclusion = exclusion_of(self._ingest)
        if not exclusion.active:
            return ()
        scopes = await self._read(self.store.analytics_scopes)
        return tuple(s for s in scopes if exclusion.excludes(s[0], s[1] or None))

    async def _fill(self, agg: Aggregates, need: str, scope: RollupFilter, limit: int) -> None:
        window = agg.window
        if need == "incidents":
            span = (window.from_us, window.to_us)
            agg.incidents = await self._read(self.store.analytics_incidents, span, scope, limit)
            return
        buckets = window.hours if need == "status" else window.days
        by_environment = need in ("started", "lead")
        # Per hour for the rows; in halves (the trends' two periods) for everything else.
        split = None if need == "status" else window.half
        cells: list[RollupCell] = await self._read(
            self.store.analytics_rollup, need, buckets, scope, by_environment, split
        )
        if need == "status":
            for hour, _, status, count, _ in cells:
                agg.status.setdefault(hour, {})[status] = count
        elif need == "started":
            for _, environment, _, count, _ in cells:
                stage = environment.lower()
                agg.started[stage] = agg.started.get(stage, 0) + count
        elif need == "deployer":
            for _, _, actor, count, _ in cells:
                agg.deployers[actor] = agg.deployers.get(actor, 0) + count
        else:
            self._histograms(agg, need, cells)

    def _histograms(self, agg: Aggregates, need: str, cells: list[RollupCell]) -> None:
        production = self.config.funnel_environments[-1]
        halves = {0: Histogram(), 1: Histogram()}
        for half, environment, bucket, count, total in cells:
            if need == "lead" and environment.lower() != production:
                continue  # lead time is measured to the ladder's last environment only
            halves[half].add(int(bucket), count, total)
        if need == "duration":
            agg.duration = merged(halves.values())
        elif need == "lead":
            agg.lead = halves
        else:
            agg.restore = halves
