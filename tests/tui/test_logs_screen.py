"""The logs screen as a person uses it: keys in, what the panes show out.

Most tests script the log stream (a real embedded engine for everything else, with
`follow_logs`/`logs` replaced by a queue the test fills), so reconnects and repeats can be
staged; the last ones run on the real engines, lines appended the way a reporter does.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from rich.style import Style
from textual.strip import Strip

from shipdeck.client import (
    ConnectionStatus,
    DeploymentFilters,
    LinkState,
    LogItem,
    LogLinesArrived,
    LogLinkChanged,
    LogStreamEnded,
)
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import LogLine, LogLineIngest, LogPage
from shipdeck.engine import load_config
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.sanitize import sanitize
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets import log_view
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.log_pane import LogPane
from shipdeck.tui.widgets.log_view import LogView
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from tests.conftest import create_key
from tests.connectors.platforms import PlatformServer

from .conftest import NOW, engine_config_file, make_app, row, screen_lines, seed, wait_for

SIZE = (100, 30)


def line(seq: int, message: str | None = None, level: str = "info", stream: str = "stdout"):
    """Line `seq` with a fixed time and (by default) the message `msg-0007`."""
    return LogLine.model_validate(
        {
            "seq": seq,
            "at": NOW + timedelta(seconds=seq),
            "level": level,
            "stream": stream,
            "message": f"msg-{seq:04d}" if message is None else message,
        }
    )


def lines(first: int, last: int) -> tuple[LogLine, ...]:
    return tuple(line(seq) for seq in range(first, last + 1))


class ScriptedLogs(EmbeddedClient):
    """The embedded engine, with each deployment's log stream and pages scripted."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.queues: dict[str, asyncio.Queue[LogItem | None]] = defaultdict(asyncio.Queue)
        self.stored: dict[str, dict[int, LogLine]] = defaultdict(dict)
        self.pages: list[tuple[str, int, int]] = []

    def send(self, deployment_id: str, *items: LogItem) -> None:
        """What the stream yields next (lines are also stored for `logs`)."""
        for item in items:
            if isinstance(item, LogLinesArrived):
                self.stored[deployment_id].update((each.seq, each) for each in item.lines)
            self.queues[deployment_id].put_nowait(item)

    def send_lines(self, deployment_id: str, first: int, last: int, batch: int = 500) -> None:
        for start in range(first, last + 1, batch):
            self.send(deployment_id, LogLinesArrived(lines(start, min(last, start + batch - 1))))

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        queue = self.queues[deployment_id]

        async def items() -> AsyncIterator[LogItem]:
            while (item := await queue.get()) is not None:
                yield item

        return items()

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        self.pages.append((deployment_id, after, limit))
        stored = self.stored[deployment_id]
        items = [stored[seq] for seq in sorted(stored) if seq > after]
        more = len(items) > limit
        items = items[:limit]
        return LogPage(items=items, next_after=items[-1].seq if more and items else None)


@pytest.fixture
async def scripted(db_url: str, tmp_path) -> ScriptedLogs:
    await seed(db_url)
    return ScriptedLogs(db_url, load_config(engine_config_file(tmp_path)))


async def logs_screen(pilot, app: ShipdeckApp, *deployment_ids: str) -> LogsScreen:
    """Wait for the matrix, then open a pane per id (titles fetched from the history)."""
    await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.matrix.cells)
    for deployment_id in deployment_ids:
        app.open_logs(deployment_id)
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, LogsScreen)
            and len(app.screen.query(LogPane)) == len(deployment_ids)
            and isinstance(app.focused, LogView)
        ),
    )
    assert isinstance(app.screen, LogsScreen)
    return app.screen


def pane(app: ShipdeckApp, deployment_id: str) -> LogPane:
    return next(p for p in app.screen.query(LogPane) if p.deployment_id == deployment_id)


def text(app: ShipdeckApp) -> str:
    return "\n".join(screen_lines(app))


def shown(app: ShipdeckApp, needle: str) -> bool:
    return needle in text(app)


def log_rows(app: ShipdeckApp, deployment_id: str) -> list[str]:
    """The rows of one pane's log view, as drawn on the terminal (without the scrollbar)."""
    region = pane(app, deployment_id).view.scrollable_content_region
    rows = screen_lines(app)[region.y : region.bottom]
    return [row[region.x : region.right] for row in rows]


def row_at(app: ShipdeckApp, deployment_id: str, index: int) -> str:
    """Row `index` of a pane's log view ("" while it is not laid out)."""
    rows = log_rows(app, deployment_id)
    return rows[index] if -len(rows) <= index < len(rows) else ""


def strip_of(app: ShipdeckApp, needle: str) -> Strip:
    strips = app.screen._compositor.render_strips()
    return next(s for s in strips if needle in s.text)


def styled(strip: Strip, part: str) -> list[Style]:
    """Styles of the segments whose text is exactly `part`."""
    return [seg.style for seg in strip if seg.text == part and seg.style is not None]


async def test_follow_shows_each_new_line_at_the_end_and_the_link(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        scripted.send("gh-7", LogLinkChanged(ConnectionStatus(LinkState.LIVE)))
        scripted.send_lines("gh-7", 1, 100)
        await wait_for(pilot, lambda: "msg-0100" in row_at(app, "gh-7", -1))
        title = text(app).splitlines()[1]
        assert "payments → uat 2.0.1" in title and "gh-7" in title
        assert "● live" in title and "following · 100 lines" in title
        assert "12:01:40.000 INFO" in log_rows(app, "gh-7")[-1]  # time column, level word
        scripted.send_lines("gh-7", 101, 103)
        await wait_for(pilot, lambda: "msg-0103" in row_at(app, "gh-7", -1))
        assert "msg-0102" in log_rows(app, "gh-7")[-2]


async def test_pause_keeps_the_view_still_and_counts_what_arrives(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        scripted.send_lines("gh-7", 1, 100)
        await wait_for(pilot, lambda: "msg-0100" in row_at(app, "gh-7", -1))
        await pilot.press("f")
        await wait_for(pilot, lambda: shown(app, "paused — 0 new lines"))
        before = log_rows(app, "gh-7")
        scripted.send_lines("gh-7", 101, 130)
        await wait_for(pilot, lambda: shown(app, "paused — 30 new lines"))
        assert log_rows(app, "gh-7") == before
        await pilot.press("f")
        await wait_for(pilot, lambda: "msg-0130" in row_at(app, "gh-7", -1))
        assert shown(app, "following · 130 lines")
        await pilot.press("up")  # scrolling up pauses too
        await wait_for(pilot, lambda: shown(app, "paused — 0 new lines"))
        scripted.send_lines("gh-7", 131, 131)
        await wait_for(pilot, lambda: shown(app, "paused — 1 new lines"))
        assert "msg-0131" not in text(app)
        await pilot.press("G")
        await wait_for(pilot, lambda: "msg-0131" in row_at(app, "gh-7", -1))


async def test_search_highlights_every_match_and_n_jumps_between_them(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        found = {10: "a NEEDLE here", 50: "needle and needle", 90: "last needle"}
        batch = tuple(line(seq, found.get(seq)) for seq in range(1, 201))
        scripted.send("gh-7", LogLinesArrived(batch))
        await wait_for(pilot, lambda: "msg-0200" in row_at(app, "gh-7", -1))
        await pilot.press("slash", *"needle", "enter")
        await wait_for(pilot, lambda: shown(app, "a NEEDLE here"))
        assert shown(app, "paused")  # a jump pauses following
        current = styled(strip_of(app, "a NEEDLE here"), "NEEDLE")
        assert current and current[0].bgcolor is not None
        await pilot.press("n")
        await wait_for(pilot, lambda: shown(app, "needle and needle"))
        marks = styled(strip_of(app, "needle and needle"), "needle")
        assert len(marks) == 2 and all(style.bgcolor is not None for style in marks)
        plain = [s for s in strip_of(app, "needle and needle") if s.text == " and "]
        assert plain and plain[0].style is not None and plain[0].style.bgcolor != marks[0].bgcolor
        await pilot.press("n")
        await wait_for(pilot, lambda: shown(app, "last needle"))
        await pilot.press("n")  # wraps around to the first
        await wait_for(pilot, lambda: shown(app, "a NEEDLE here"))
        await pilot.press("N")  # and back
        await wait_for(pilot, lambda: shown(app, "last needle"))


async def test_wrap_shows_a_long_line_whole_and_back(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        long = "start-" + "x" * 300 + "-tail-end"
        scripted.send("gh-7", LogLinesArrived((line(1, long), line(2))))
        await wait_for(pilot, lambda: "msg-0002" in row_at(app, "gh-7", 1))
        assert "start-xxx" in text(app) and "-tail-end" not in text(app)
        assert "x…" in text(app)
        await pilot.press("w")
        await wait_for(pilot, lambda: shown(app, "-tail-end"))
        rows = log_rows(app, "gh-7")
        assert sum("x" * 20 in row for row in rows) >= 3  # one line over several rows
        assert "msg-0002" in rows[4] and rows[3].rstrip().endswith("-tail-end")
        await pilot.press("w")
        await wait_for(pilot, lambda: not shown(app, "-tail-end"))


async def test_panes_open_cycle_close_and_sit_side_by_side(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        screen = await logs_screen(pilot, app, "gh-7", "gh-5")
        await wait_for(pilot, lambda: shown(app, "checkout-api → prod 1.4.3"))
        await wait_for(pilot, lambda: shown(app, "payments → uat 2.0.1"))  # opened after
        first, second = pane(app, "gh-7"), pane(app, "gh-5")
        assert app.focused is second.view  # the pane just opened
        assert first.region.x == second.region.x and first.region.y < second.region.y
        await pilot.press("tab")
        assert app.focused is first.view
        await pilot.press("tab")
        assert app.focused is second.view
        await pilot.press("shift+tab")
        assert app.focused is first.view
        await pilot.press("L")
        await wait_for(pilot, lambda: first.region.y == second.region.y)
        assert first.region.x < second.region.x
        app.open_logs("gh-7")  # already open: focused, not doubled
        await pilot.pause()
        assert len(screen.query(LogPane)) == 2 and app.focused is first.view
        await pilot.press("x")
        await wait_for(pilot, lambda: len(screen.query(LogPane)) == 1)
        assert app.focused is second.view and not shown(app, "payments → uat")
        await pilot.press("o", *"gh-8", "enter")
        await wait_for(pilot, lambda: len(screen.query(LogPane)) == 2)
        await wait_for(pilot, lambda: shown(app, "payments → dev 2.0.1"))
        assert app.focused is pane(app, "gh-8").view
        await pilot.press("x", "x")
        await wait_for(pilot, lambda: shown(app, "No log pane open"))


async def test_hostile_log_text_is_shown_inert(scripted) -> None:
    app = make_app(scripted)
    hostile = (
        "\x1b[31mred\x1b[0m \x1b]0;pwned\x07title \x1b]8;;https://evil.example\x07link"
        "\x1b]8;;\x07 [bold]markup[/bold] \x07bell\x1b[2J\r\nnext \u202eevil"
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.matrix.cells)
        app.open_logs("gh-7", title="[b]svc[/b]\x1b]0;x\x07")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        scripted.send("gh-7", LogLinesArrived((line(1, hostile, stream="stderr"),)))
        expected = sanitize(hostile)
        assert expected == "red title link [bold]markup[/bold] bell next evil"
        await wait_for(pilot, lambda: shown(app, expected))
        assert shown(app, "[b]svc[/b] · gh-7")
        assert "pwned" not in text(app) and "evil.example" not in text(app)
        strip = strip_of(app, expected)
        assert all("\x1b" not in seg.text and "\x07" not in seg.text for seg in strip)
        markup = [seg for seg in strip if "[bold]markup[/bold]" in seg.text]
        assert markup and markup[0].style is not None and not markup[0].style.bold
        assert "INFO ▌ red title" in strip.text  # level word, stderr mark


async def test_a_reconnect_repeats_no_line(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        scripted.send("gh-7", LogLinkChanged(ConnectionStatus(LinkState.LIVE)))
        scripted.send_lines("gh-7", 1, 5)
        reconnecting = ConnectionStatus(LinkState.RECONNECTING, attempt=2, detail="refused")
        scripted.send("gh-7", LogLinkChanged(reconnecting))
        await wait_for(pilot, lambda: shown(app, "reconnecting, attempt 2"))
        assert "msg-0005" in log_rows(app, "gh-7")[4]
        # The stream comes back and (at worst) resends lines the pane already has.
        scripted.send("gh-7", LogLinesArrived(lines(3, 8)))
        scripted.send("gh-7", LogLinkChanged(ConnectionStatus(LinkState.LIVE)))
        await wait_for(pilot, lambda: "msg-0008" in row_at(app, "gh-7", 7))
        assert shown(app, "● live") and shown(app, "following · 8 lines")
        drawn = "\n".join(log_rows(app, "gh-7"))
        assert [drawn.count(f"msg-{seq:04d}") for seq in range(1, 9)] == [1] * 8
        scripted.send("gh-7", LogStreamEnded("the deployment is over"))
        await wait_for(pilot, lambda: shown(app, "■ ended: the deployment is over"))


async def test_memory_stays_bounded_and_dropped_lines_are_fetched_again(
    scripted, monkeypatch
) -> None:
    monkeypatch.setattr(log_view, "MAX_LINES", 400)
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await logs_screen(pilot, app, "gh-7")
        view = pane(app, "gh-7").view
        scripted.send_lines("gh-7", 1, 5000, batch=250)
        await wait_for(pilot, lambda: "msg-5000" in row_at(app, "gh-7", -1))
        assert view.last_seq == 5000 and view.held <= 400
        assert scripted.pages == []  # following needed no fetch
        await pilot.press("g")
        await wait_for(pilot, lambda: "msg-0001" in row_at(app, "gh-7", 0))
        assert scripted.pages and scripted.pages[0][1] == 0
        assert view.held <= 400 and view.window.lo == 1
        await pilot.press("pagedown", "pagedown")
        await wait_for(pilot, lambda: "msg-0057" in text(app))
        await pilot.press("G")
        await wait_for(pilot, lambda: "msg-5000" in row_at(app, "gh-7", -1))
        assert view.held <= 400
        assert "loading" not in text(app)


async def test_history_l_opens_the_rows_logs(scripted) -> None:
    app = make_app(scripted)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.matrix.cells)
        await pilot.press("H")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, HistoryScreen)
                and any(len(table.rows) == 10 for table in app.screen.query(HistoryTable))
            ),
        )
        await pilot.press("l")  # the newest row: payments' deployment to uat
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        await wait_for(pilot, lambda: shown(app, "payments → uat 2.0.1 · gh-7"))
        await pilot.press("q")  # back to the history
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        app.open_logs("gh-5")  # a new logs screen (the first one was closed)
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        app.open_history(DeploymentFilters())
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, HistoryScreen)
                and any(len(table.rows) == 10 for table in app.screen.query(HistoryTable))
            ),
        )
        await pilot.press("l")  # back to the open logs screen, with a second pane
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        assert len(app.screen_stack) == 4  # default, matrix, history, logs
        await wait_for(pilot, lambda: len(app.screen.query(LogPane)) == 2)


# -- the real engines ------------------------------------------------------------------


async def append(client, server, deployment_id: str, *messages: str, level="info") -> None:
    """Lines reported the way a runner reports them, to either engine."""
    ingest = [LogLineIngest(message=m, level=level, at=NOW) for m in messages]
    if isinstance(client, EmbeddedClient):
        await client.engine.append_logs(deployment_id, ingest)
        return
    if isinstance(server, PlatformServer):
        server.append_logs(deployment_id, messages, level)
        return
    key = create_key(server.database_url)
    at = NOW.isoformat().replace("+00:00", "Z")
    body = {"lines": [{"message": m, "level": level, "at": at} for m in messages]}
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            f"/api/deployments/{deployment_id}/logs", json=body, headers={"X-Api-Key": key}
        )
        assert response.status_code in (200, 201), response.text


async def report(client, server, body) -> None:
    if isinstance(client, EmbeddedClient):
        await client.engine.ingest(body)
        return
    if isinstance(server, PlatformServer):
        server.report(body)
        return
    key = create_key(server.database_url)
    async with httpx.AsyncClient(base_url=server.url) as http:
        response = await http.post(
            "/api/deployments",
            content=body.model_dump_json(exclude_none=True),
            headers={"X-Api-Key": key, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text


async def test_matrix_L_follows_the_slots_running_deployment_to_its_end(deck_client) -> None:
    client, server = deck_client
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen) and app.matrix.cells)
        await report(client, server, row("gh-20", "search", "qa", "in-progress", 1, "0.9.1"))
        await append(client, server, "gh-20", "pulling image", "starting \x1b[1mworkers")
        await wait_for(pilot, lambda: app.matrix.cell("search", "qa") is not None)
        await pilot.press("down", "down", "down", "right")
        assert app.screen.query_one(MatrixGrid).focused_slot == ("search", "qa")
        await pilot.press("L")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        await wait_for(pilot, lambda: shown(app, "starting workers"))
        version = server.shown("0.9.1") if isinstance(server, PlatformServer) else "0.9.1"
        assert shown(app, f"search → qa {version} · gh-20") and shown(app, "● live")
        await append(client, server, "gh-20", "health check failed", level="error")
        await wait_for(pilot, lambda: "health check failed" in row_at(app, "gh-20", 2))
        assert "ERR" in log_rows(app, "gh-20")[2]
        await report(client, server, row("gh-20", "search", "qa", "success", 0, "0.9.1"))
        await wait_for(pilot, lambda: shown(app, "■ ended"))
        rows = "\n".join(log_rows(app, "gh-20"))
        assert [rows.count(m) for m in ("pulling image", "starting workers")] == [1, 1]
