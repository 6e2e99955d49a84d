"""The Insights screen as a person uses it: opened by key or palette, over a window, for a
scope, live; the engine's figures and nothing else — and saying so when there are none."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from shipdeck.client import EngineError
from shipdeck.client.remote import RemoteClient
from shipdeck.domain.analytics import AnalyticsDora, AnalyticsKind, AnalyticsQuery, Insights
from shipdeck.engine import Engine
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.insight_scope import InsightScope, ScopeError, scope_of
from shipdeck.tui.screens import insights as insights_module
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.insights import InsightsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets import insight_charts as charts
from shipdeck.tui.widgets.insight_figures import kpi_value
from shipdeck.tui.widgets.insight_panels import KpiCard
from tests.conftest import ServerProcess, free_port

from .conftest import SEED, make_app, screen_text, wait_for
from .contract_server import contract_app
from .insights_scene import LOG, SHOWN_7D, at, config_file, insights_client, report

CARDS = {
    "frequency": "deployment_frequency",
    "lead-time": "lead_time",
    "failure-rate": "change_failure_rate",
    "restore": "time_to_restore",
}
"""Card id suffix → the DORA document's key."""

SIZES = [(80, 24), (160, 48)]
CHARTS = (
    charts.daily,
    charts.durations,
    charts.funnel,
    charts.statuses,
    charts.heatmap,
    charts.deployers,
    charts.incidents,
)


def insights_screen(app: ShipdeckApp) -> InsightsScreen:
    screen = app.screen
    assert isinstance(screen, InsightsScreen)
    return screen


def card(app: ShipdeckApp, suffix: str) -> str:
    """What a key's card says."""
    return app.screen.query_one(f"#kpi-{suffix}", KpiCard).text


def shows(app: ShipdeckApp, dora: AnalyticsDora) -> bool:
    """Whether every card shows this document's value."""
    return all(
        card(app, suffix).startswith(kpi_value(getattr(dora, key)) + " ")
        for suffix, key in CARDS.items()
    )


async def open_by_key(pilot, app: ShipdeckApp, window_days: int = 7) -> InsightsScreen:
    """`I` on the matrix, then wait for the figures."""
    await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.matrix.services())
    await pilot.press("I")
    await loaded(pilot, app, window_days)
    return insights_screen(app)


async def loaded(pilot, app: ShipdeckApp, window_days: int) -> None:
    def ready() -> bool:
        screen = app.screen
        return (
            isinstance(screen, InsightsScreen)
            and screen.insights is not None
            and screen.insights.window.days == window_days
        )

    await wait_for(pilot, ready)


async def test_the_keys_are_the_dora_document_and_the_window_changes(db_url, tmp_path) -> None:
    """Done when: the screen shows the figures of `/api/analytics/dora` for the window."""
    client = insights_client(db_url, tmp_path)
    app = make_app(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_by_key(pilot, app)
        engine = client.engine
        for window, days in (("7d", 7), ("14d", 14), ("30d", 30)):
            await loaded(pilot, app, days)
            dora = await engine.analytics.document(AnalyticsKind.DORA, AnalyticsQuery(window))
            assert insights_screen(app).insights.dora == dora  # type: ignore[union-attr]
            assert shows(app, dora)
            text = screen_text(app)
            assert f"{days} days to 28 May 00:00 UTC · all services" in text
            await pilot.press("w")
        await loaded(pilot, app, 7)
        for suffix, (value, band, trend) in SHOWN_7D.items():
            assert card(app, suffix).startswith(f"{value} {band} {trend}")
        text = screen_text(app)
        assert "Incidents: 1 open, 1 restored" in text
        assert "✗ open     payments → uat" in text and "since 26 May 16:40  critical" in text
        assert "✓ restored checkout-api → prod" in text and "45 min  from 24 May 09:30  low" in text
        # The funnel, in the ladder's order: 4 started in dev, a quarter went on to qa.
        assert re.search(r"dev  █+ +4  → 25 %.*\n.*qa   █+ +1  → 100 %", text)
        assert "eve[b]" in text and "\x1b" not in text  # an actor from outside stays inert
        await pilot.press("3")
        await loaded(pilot, app, 30)
        assert "0.27/day" in card(app, "frequency")  # 8 rows over 30 days


async def test_the_palette_opens_it_over_a_window_and_help_says_how(db_url, tmp_path) -> None:
    app = make_app(insights_client(db_url, tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.matrix.services())
        await pilot.press("colon", *"insights last 14")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await loaded(pilot, app, 14)
        assert "0.57/day" in card(app, "frequency")
        text = screen_text(app)
        assert "Frequency" in text and "Restore time" in text  # the four keys come first
        assert "w Window" in text and "/ Filter" in text
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause(0.1)
        help_text = screen_text(app)
        assert "The engine's figures (/api/analytics/*)" in help_text
        for words in ("The last 7 days", "The last 30 days", "Count only service:NAME"):
            assert words in help_text
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))


async def test_it_counts_the_matrix_filters_service_or_its_own(db_url, tmp_path) -> None:
    client = insights_client(db_url, tmp_path)
    app = make_app(client)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: app.matrix.services())
        await pilot.press("slash", *"paym", "enter")
        screen = await open_by_key(pilot, app)
        assert screen.scope.service == "payments"
        payments = await client.insights(AnalyticsQuery(service="payments"))
        assert shows(app, payments.dora) and "0.29/day" in card(app, "frequency")
        assert "· service payments ·" in screen_text(app)
        await pilot.press("slash", *"service:checkout-api env:prod", "enter")
        query = AnalyticsQuery(service="checkout-api", environment="prod")
        expected = await client.insights(query)
        await wait_for(pilot, lambda: screen.insights == expected)
        assert shows(app, expected.dora) and "50 %" in card(app, "failure-rate")
        await pilot.press("slash", "ctrl+u", "c", "enter")  # several services: refused
        await wait_for(pilot, lambda: any("matches" in n.message for n in app._notifications))
        assert screen.scope.environment == "prod"  # unchanged
        await pilot.press("escape", "escape")  # leave the filter line, then the screen
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
        await pilot.press("slash", "ctrl+u", "c", "enter", "I")  # the matrix's, this time
        await loaded(pilot, app, 7)
        assert insights_screen(app).scope.service is None
        assert "all services (the matrix's filter: c matches" in screen_text(app)


async def test_live_rows_refetch_once_a_burst_and_only_in_scope(
    db_url, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(insights_module, "REFRESH_GAP_S", 0.3)
    client = insights_client(db_url, tmp_path)
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.matrix.services())
        await pilot.press("slash", *"search", "enter")
        screen = await open_by_key(pilot, app)
        assert screen.scope.service == "search" and "0.14/day" in card(app, "frequency")
        engine = client.engine
        before = screen.fetches
        await engine.ingest(report("d20", "payments", "qa", "success", at(27, 11), "erin"))
        await pilot.pause(0.8)
        assert screen.fetches == before  # not this screen's service
        # Reported late (yesterday's runs), in a burst: the figures move, in one or two reads.
        for number in range(21, 27):
            await engine.ingest(report(f"d{number}", "search", "qa", "success", at(27, 12), "e"))
        await wait_for(pilot, lambda: "1.00/day" in card(app, "frequency"))
        await pilot.pause(0.5)
        assert 1 <= screen.fetches - before <= 2


async def test_a_failed_read_is_told_once_and_the_figures_stay(
    db_url, tmp_path, monkeypatch
) -> None:
    client = insights_client(db_url, tmp_path)
    app = make_app(client)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_by_key(pilot, app)

        async def refused(query: AnalyticsQuery) -> Insights:
            raise EngineError("the engine did not answer in time")

        monkeypatch.setattr(client, "insights", refused)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app._notifications)
        assert [n.message for n in app._notifications] == ["the engine did not answer in time"]
        assert "not read: ctrl+r tries again" in screen_text(app)
        assert card(app, "frequency").startswith("1.14/day ")  # what was read stays


async def test_a_server_without_analytics_says_so_not_an_empty_chart() -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            contract_app(), host="127.0.0.1", port=free_port(), log_level="warning", lifespan="off"
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        url = f"http://127.0.0.1:{server.config.port}"
        async with httpx.AsyncClient(base_url=url) as http:
            async with asyncio.timeout(10):
                while not server.started:  # noqa: ASYNC110  # uvicorn offers only a flag
                    await asyncio.sleep(0.02)
            for body in SEED[:3]:
                await http.post("/api/deployments", content=body.model_dump_json(exclude_none=True))
        app = make_app(RemoteClient(url))
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.matrix.services())
            await pilot.press("I")
            await wait_for(
                pilot, lambda: isinstance(app.screen, InsightsScreen) and app.screen.absent
            )
            text = screen_text(app)
            assert "No analytics here: this server has no analytics." in text
            assert "This is not an empty window" in text
            assert "/day" not in text and "Frequency" not in text
            assert not app._notifications, [n.message for n in app._notifications]
    finally:
        server.should_exit = True
        await task


async def test_remote_shows_what_its_api_says(db_url, tmp_path, server_factory) -> None:
    """Against `shipdeck serve` (its own clock): the cards are `/api/analytics/dora`'s."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    shift = today - datetime(2026, 5, 28, tzinfo=UTC)
    engine = await Engine.open(db_url)
    try:
        for body in LOG:
            await engine.ingest(body.model_copy(update={"happened_at": body.happened_at + shift}))
    finally:
        await engine.close()
    server: ServerProcess = server_factory(db_url, config=config_file(tmp_path)).start()
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.get("/api/analytics/dora", params={"window": "7d"})
    dora = AnalyticsDora.model_validate_json(answer.content)
    app = make_app(RemoteClient(server.url))
    async with app.run_test(size=(160, 48)) as pilot:
        await open_by_key(pilot, app)
        assert shows(app, dora)
        for suffix, (value, band, trend) in SHOWN_7D.items():
            assert card(app, suffix).startswith(f"{value} {band} {trend}")
        first_day = today - timedelta(days=7)
        assert f"{first_day:%a} {first_day.day:>2} " in screen_text(app)


async def test_every_chart_fits_its_width(db_url, tmp_path) -> None:
    """No line is wider than the chart it is drawn in (a wrapped bar reads as two days)."""
    client = insights_client(db_url, tmp_path)
    await client.start()
    try:
        figures = [await client.insights(AnalyticsQuery(window)) for window in ("7d", "30d")]
        figures.append(await client.insights(AnalyticsQuery(service="nothing-here")))
    finally:
        await client.close()
    for found in figures:
        for draw in CHARTS:
            for width in (60, 74, 79, 160):
                lines = draw(found, width)
                assert lines and all(line.cell_len <= width for line in lines), (draw, width)
    empty = figures[-1]
    assert "No deployment succeeded or failed" in str(charts.daily(empty, 74)[-3])
    assert str(charts.incidents(empty, 74)[0]) == "No incident began in these days."


def test_the_filter_line_reads_back_what_it_wrote() -> None:
    services = ["checkout-api", "checkout-web", "my svc"]
    scope = scope_of('service:"my svc" env:prod ns:payments', services)
    assert scope == InsightScope("my svc", "prod", "payments")
    assert scope_of(scope.line, services) == scope
    assert scope_of("chkapi", services) == InsightScope("checkout-api")  # as the matrix finds
    for line, refusal in (("chk", "matches 2 services"), ("nope", "no service matches")):
        with pytest.raises(ScopeError, match=refusal):
            scope_of(line, services)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_insights_snapshot(size: tuple[int, int], snap_compare, db_url, tmp_path) -> None:
    app = make_app(insights_client(db_url, tmp_path))

    async def run_before(pilot) -> None:
        await open_by_key(pilot, app)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
