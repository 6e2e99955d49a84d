"""The analytics figures of a small log, computed by hand, on both backends.

The log (`LOG`): the engine's clock reads Wednesday 2026-06-10 12:00 UTC, so the 7-day
window is 2026-06-03 00:00 – 2026-06-10 00:00 (Wed 3 … Tue 9); its first half is the
3rd–5th, its second the 6th–9th.

| row | deployment | slot | status | at (June) | actor |
|---|---|---|---|---|---|
| 1–3 | d1 | api/dev | queued, in-progress, success | 4th 10:00, 10:05, 10:30 | alice, ci, ci |
| 4–5 | d2 | api/prod | in-progress, failure | 5th 09:00, 09:20 | bob |
| 6 | d3 | api/prod | failure | 5th 10:00 | bob |
| 7 | d4 | api/prod | success, parent d1 | 5th 11:20 | carol |
| 8 | d5 | web/prod, namespace shop | failure | 8th 14:00 | dave |
| 9–10 | d6 | web/dev | in-progress, success | 8th 13:00, 13:10 | (none) |
| 11 | d7 | api/dev | success | 10th 08:00 (today: after the window) | erin |
| 12 | d8 | api/dev | success | 1st 08:00 (before the window) | erin |
| 13 | d10 | api/prod | success, arriving last | 5th 09:40 | frank |

Row 13 arrives late: it falls between the failures of rows 5 and 6 and splits what was one
incident (09:20 → 11:20) into two: 09:20 → 09:40 (20 min) and 10:00 → 11:20 (80 min).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from shipdeck.domain import DeploymentEventIngest
from shipdeck.domain.analytics import AnalyticsKind, AnalyticsQuery, Insights
from shipdeck.engine import Engine, EngineConfig, load_config
from shipdeck.engine.analytics_config import AnalyticsConfig
from shipdeck.engine.exclusion import IngestConfig

from .rollups import assert_rollups_follow_the_log

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


def body(dep: str, slot: str, status: str, at: str, actor: str | None, **extra: Any) -> str:
    service, environment = slot.split("/")
    doc = {
        "deployment_id": dep,
        "service": service,
        "environment": environment,
        "status": status,
        "happened_at": f"2026-06-{at}:00Z",
        **({"actor": actor} if actor else {}),
        **extra,
    }
    return json.dumps(doc)


LOG = [
    body("d1", "api/dev", "queued", "04T10:00", "alice"),
    body("d1", "api/dev", "in-progress", "04T10:05", "ci"),
    body("d1", "api/dev", "success", "04T10:30", "ci"),
    body("d2", "api/prod", "in-progress", "05T09:00", "bob"),
    body("d2", "api/prod", "failure", "05T09:20", "bob"),
    body("d3", "api/prod", "failure", "05T10:00", "bob"),
    body("d4", "api/prod", "success", "05T11:20", "carol", parent_deployments=["d1"]),
    body("d5", "web/prod", "failure", "08T14:00", "dave", namespace="shop"),
    body("d6", "web/dev", "in-progress", "08T13:00", None),
    body("d6", "web/dev", "success", "08T13:10", None),
    body("d7", "api/dev", "success", "10T08:00", "erin"),
    body("d8", "api/dev", "success", "01T08:00", "erin"),
    body("d10", "api/prod", "success", "05T09:40", "frank"),
]


async def ingest(engine: Engine, docs: list[str]) -> None:
    for doc in docs:
        await engine.ingest(DeploymentEventIngest.model_validate_json(doc))


async def insights(engine: Engine, **query: Any) -> Insights:
    return await engine.analytics.insights(AnalyticsQuery(**query))


@pytest.fixture
async def logged(engine: Engine) -> Engine:
    engine.clock = lambda: NOW
    await ingest(engine, LOG)
    return engine


def statuses(found: Insights) -> dict[str, int]:
    return {s.status.value: s.count for s in found.status_distribution.statuses if s.count}


async def test_the_four_keys(logged: Engine) -> None:
    dora = (await insights(logged)).dora
    assert dora.window.days == 7 and not dora.window.clamped
    assert dora.window.from_ == datetime(2026, 6, 3, tzinfo=UTC)
    assert dora.window.to == datetime(2026, 6, 10, tzinfo=UTC)
    # 4 successes and 3 failures in 7 days; per day 0, 1, 4, 0, 0, 2, 0.
    frequency = dora.deployment_frequency
    assert (frequency.value, frequency.classification) == (1.0, "elite")
    assert frequency.sparkline == [0, 1, 4, 0, 0, 2, 0]
    assert frequency.trend_delta == pytest.approx((2 / 4 - 5 / 3) / (5 / 3))  # -0.7
    rate = dora.change_failure_rate
    assert rate.value == pytest.approx(3 / 7) and rate.classification == "medium"
    assert rate.trend_delta == pytest.approx((1 / 2 - 2 / 5) / (2 / 5))  # 0.25
    assert rate.sparkline == [0, 0, 0.5, 0, 0, 0.5, 0]
    # d4 (prod, 5th 11:20) from its parent d1's first row (4th 10:00): 25 h 20 min.
    lead = dora.lead_time
    assert lead.value == pytest.approx(25 + 1 / 3) and lead.classification == "high"
    assert lead.approximated and lead.trend_delta is None  # no sample in the second half
    # Incidents ended in the window: 20 and 80 minutes.
    restore = dora.time_to_restore
    assert restore.value == pytest.approx(50.0) and restore.classification == "elite"


async def test_daily_series_statuses_and_heatmap(logged: Engine) -> None:
    found = await insights(logged)
    buckets = [(b.date.day, b.success, b.failure) for b in found.frequency.buckets]
    assert buckets == [(3, 0, 0), (4, 1, 0), (5, 2, 2), (6, 0, 0), (7, 0, 0), (8, 1, 1), (9, 0, 0)]
    rates = [b.rate for b in found.change_failure_rate.buckets]
    assert rates == [0, 0, 0.5, 0, 0, 0.5, 0]
    assert found.change_failure_rate.elite_threshold == 0.15
    assert statuses(found) == {"queued": 1, "in-progress": 3, "success": 4, "failure": 3}
    assert [s.status.value for s in found.status_distribution.statuses][:4] == [
        "pending",
        "queued",
        "waiting",
        "in-progress",
    ]
    # Thursday the 4th 10:xx ×3, Friday 09:xx ×3, 10:00, 11:20, Monday 13:xx ×2, 14:00.
    cells = [(c.day_of_week, c.hour, c.count) for c in found.heatmap.cells]
    assert cells == [(1, 13, 2), (1, 14, 1), (4, 10, 3), (5, 9, 3), (5, 10, 1), (5, 11, 1)]


async def test_durations_funnel_deployers_and_incidents(logged: Engine) -> None:
    found = await insights(logged)
    # Deployments with a final row in the window: d1 30 min, d2 20 min, d6 10 min.
    histogram = found.duration_histogram
    assert [b.count for b in histogram.bins] == [0, 1, 1, 1, 0, 0]
    assert [b.label for b in histogram.bins] == [
        "0-10",
        "10-20",
        "20-30",
        "30-60",
        "60-120",
        "120+",
    ]
    assert histogram.p50_minutes == pytest.approx(20) and histogram.p95_minutes == pytest.approx(30)
    stages = [(s.environment, s.count, s.conversion) for s in found.promotion_funnel.stages]
    assert stages == [
        ("dev", 2, 0.0),
        ("staging", 0, None),
        ("qa", 0, None),
        ("preprod", 0, None),
        ("prod", 5, None),
    ]
    # d1 is alice's (her row came first), d4 carol's, d10 frank's, d6 nobody's.
    deployers = [(d.actor, d.count) for d in found.top_deployers.deployers]
    assert deployers == [("alice", 1), ("carol", 1), ("frank", 1), ("unknown", 1)]
    incidents = [
        (i.service, i.environment, i.namespace, i.failed_at.hour, i.duration_minutes, i.severity)
        for i in found.incidents.incidents
    ]
    assert incidents == [
        ("web", "prod", "shop", 14, None, "critical"),
        ("api", "prod", None, 10, 80.0, "medium"),
        ("api", "prod", None, 9, 20.0, "low"),
    ]


async def test_each_document_is_its_part_of_the_insights(logged: Engine) -> None:
    query = AnalyticsQuery(limit=2)
    whole = await logged.analytics.insights(query)
    for kind in AnalyticsKind:
        document = await logged.analytics.document(kind, query)
        assert document == getattr(whole, kind.value.replace("-", "_")), kind
    assert len(whole.top_deployers.deployers) == len(whole.incidents.incidents) == 2


async def test_filters_keep_one_service_environment_or_namespace(logged: Engine) -> None:
    web = await insights(logged, service="web")
    assert statuses(web) == {"in-progress": 1, "success": 1, "failure": 1}
    assert [(d.actor, d.count) for d in web.top_deployers.deployers] == [("unknown", 1)]
    assert [i.service for i in web.incidents.incidents] == ["web"]
    prod = await insights(logged, environment="prod")
    assert statuses(prod) == {"in-progress": 1, "success": 2, "failure": 3}
    assert prod.dora.lead_time.value == pytest.approx(25 + 1 / 3)
    assert len(prod.incidents.incidents) == 3
    shop = await insights(logged, namespace="shop")
    assert statuses(shop) == {"failure": 1}
    both = await insights(logged, service="api", environment="dev")
    assert statuses(both) == {"queued": 1, "in-progress": 1, "success": 1}
    assert statuses(await insights(logged, service="nothing")) == {}


async def test_windows_retention_and_granularity(db_url: str) -> None:
    config = EngineConfig(analytics=AnalyticsConfig(retention_days=10, granularity="hour"))
    engine = await Engine.open(db_url, config)
    try:
        engine.clock = lambda: NOW
        await ingest(engine, LOG)
        wide = await insights(engine, window="14d")
        assert (wide.window.days, wide.window.clamped, wide.window.retention_days) == (10, True, 10)
        # To the hour: the window is 05-31 12:00 – 06-10 12:00, so d8 (1st) and d7 (today
        # 08:00) count now.
        assert wide.window.to == NOW and statuses(wide)["success"] == 6
        assert wide.frequency.buckets[0].date == date(2026, 5, 31)
    finally:
        await engine.close()


async def test_excluded_services_count_nowhere_and_figures_survive_a_restart(
    db_url: str,
) -> None:
    engine = await Engine.open(db_url, EngineConfig())
    engine.clock = lambda: NOW
    await ingest(engine, LOG)
    before = await insights(engine)
    await engine.close()
    # Restarted with `shop/web` excluded: only row 8 (namespace shop) was web in shop.
    config = EngineConfig(ingest=IngestConfig(exclude_services=["shop/web"]))
    engine = await Engine.open(db_url, config)
    try:
        engine.clock = lambda: NOW
        after = await insights(engine)
        assert statuses(after) == {"queued": 1, "in-progress": 3, "success": 4, "failure": 2}
        assert [i.service for i in after.incidents.incidents] == ["api", "api"]
        assert after.duration_histogram == before.duration_histogram
        assert after.dora.lead_time == before.dora.lead_time
        assert statuses(await insights(engine, environment="prod"))["failure"] == 2
        assert statuses(await insights(engine, namespace="shop")) == {}
    finally:
        await engine.close()
    assert_rollups_follow_the_log(db_url)


async def test_rows_arriving_later_keep_the_rollups_right(logged: Engine, db_url: str) -> None:
    first = await insights(logged)
    assert first.dora.time_to_restore.value == pytest.approx(50.0)
    # web/prod is restored (its incident now lasts 30 min), and a late failure lands
    # before api/prod's first incident, which now starts at 09:10.
    await ingest(
        logged,
        [
            body("d11", "web/prod", "success", "08T14:30", "dave", namespace="shop"),
            body("d12", "api/prod", "failure", "05T09:10", "bob"),
            body("d1", "api/dev", "pending", "04T09:50", "zoe"),  # d1 now starts earlier
        ],
    )
    later = await insights(logged)
    incidents = [
        (i.failed_at.hour, i.failed_at.minute, i.duration_minutes)
        for i in later.incidents.incidents
    ]
    assert incidents == [(10, 0, 80.0), (14, 0, 30.0), (9, 10, 30.0)]  # ties: latest first
    assert later.dora.time_to_restore.value == pytest.approx(30.0)  # of 30, 30, 80
    deployers = [(d.actor, d.count) for d in later.top_deployers.deployers]
    assert deployers == [("carol", 1), ("dave", 1), ("frank", 1), ("unknown", 1), ("zoe", 1)]
    assert later.duration_histogram.bins[3].count == 1  # d1: 40 min now, still 30-60
    assert later.dora.lead_time.value == pytest.approx(25.5)  # from 4th 09:50
    assert_rollups_follow_the_log(db_url)


async def test_the_ladder_from_upstream_s_variable(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ANALYTICS_FUNNEL_ENVIRONMENTS=dev,staging,production` as shipdeck's variable: the
    funnel has those stages, and lead time is measured to `production` (any case)."""
    monkeypatch.setenv("SHIPDECK_ANALYTICS__FUNNEL_ENVIRONMENTS", " dev, Staging ,,PRODUCTION")
    engine = await Engine.open(db_url, EngineConfig())
    try:
        engine.clock = lambda: NOW
        await ingest(
            engine,
            [
                body("p1", "api/dev", "success", "04T10:00", "alice"),
                body(
                    "p2", "api/Production", "success", "04T12:00", "bob", parent_deployments=["p1"]
                ),
                body("p3", "api/prod", "success", "04T13:00", "bob", parent_deployments=["p1"]),
            ],
        )
        found = await insights(engine)
        stages = [(s.environment, s.count, s.conversion) for s in found.promotion_funnel.stages]
        assert stages == [("dev", 1, 0.0), ("staging", 0, None), ("production", 1, None)]
        assert found.dora.lead_time.value == pytest.approx(2.0)  # p2 only: prod is no stage
    finally:
        await engine.close()


def test_the_configuration_the_api_document_shows_loads(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[analytics\].*?)```", text, re.DOTALL)
    assert block is not None
    (tmp_path / "engine.toml").write_text(block.group(1), encoding="utf-8")
    config = load_config(tmp_path / "engine.toml").analytics
    assert config == AnalyticsConfig()  # the defaults, spelled out


async def test_an_incident_restored_after_the_window_is_open_in_it(logged: Engine) -> None:
    await ingest(
        logged,
        [
            body("d20", "api/dev", "failure", "09T23:00", "x"),
            body("d21", "api/dev", "success", "10T01:00", "x"),  # today: after the window
        ],
    )
    found = await insights(logged)
    open_ones = [
        (i.service, i.environment, i.failed_at.day, i.restored_at, i.severity)
        for i in found.incidents.incidents
        if i.restored_at is None
    ]
    assert open_ones == [("api", "dev", 9, None, "critical"), ("web", "prod", 8, None, "critical")]
    assert found.dora.time_to_restore.value == pytest.approx(50.0)  # not restored in it
