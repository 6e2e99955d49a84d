"""The action keys (d, p, r, c, R) through Pilot, on the embedded engine and a real server.

Both engines run `dev`, `qa` and `prod` with a simulate driver that takes milliseconds and
`uat` with one that takes minutes, so a deployment there stays running for as long as a test
needs. The feed can be held, so the `◌` mark of a sent action is seen before the engine's
rows confirm it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from shipdeck.client import EngineClient, FeedItem
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import DeploymentEvent, Role
from shipdeck.engine import load_config
from shipdeck.tui import actions
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.config import TuiConfig
from shipdeck.tui.format import SENT_MARK
from shipdeck.tui.modals import ConfirmModal, DeployModal, PromoteModal, RollbackModal
from shipdeck.tui.model import MatrixModel
from shipdeck.tui.screens.help import HelpScreen
from shipdeck.tui.screens.history import HistoryScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.history_table import HistoryTable
from shipdeck.tui.widgets.matrix_grid import MatrixGrid

from ..conftest import create_key
from .conftest import ENVIRONMENTS, NOW, make_app, screen_lines, screen_text, seed, wait_for

CONFIG = "".join(f'[[environments]]\nname = "{env}"\n' for env in ENVIRONMENTS) + (
    """
[executor]
driver = "fast"
[executor.environments]
uat = "slow"

[drivers.fast]
kind = "simulate"
scale = 0.002
failure_rate = 0.0

[drivers.slow]
kind = "simulate"
scale = 10.0
failure_rate = 0.0
"""
)
SIZE = (160, 40)
TALL = (160, 80)
"""The help shows every key without scrolling."""


class HeldFeed:
    """A real client whose feed the test can hold: rows wait until `release()`."""

    def __init__(self, inner: EngineClient) -> None:
        self.inner = inner
        self._open = asyncio.Event()
        self._open.set()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def feed(self) -> AsyncIterator[FeedItem]:
        async for item in self.inner.feed():
            await self._open.wait()
            yield item


def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "actions.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture(params=["embedded", "remote"])
async def acting(request: pytest.FixtureRequest, db_url: str, tmp_path: Path, server_factory):
    """A client that may act: the embedded engine (the local user is admin) or a real
    `shipdeck serve` with a deployer key, on the seeded store."""
    await seed(db_url)
    path = config_file(tmp_path)
    if request.param == "embedded":
        return HeldFeed(EmbeddedClient(db_url, load_config(path)))
    key = create_key(db_url, "deployer", Role.DEPLOYER)
    server = server_factory(db_url, config=path).start()
    return HeldFeed(RemoteClient(server.url, key))


# -- reading the screen --------------------------------------------------------------------


def grid(app: ShipdeckApp) -> MatrixGrid:
    return app.screen_stack[1].query_one(MatrixGrid)


def cell_text(app: ShipdeckApp, service: str, environment: str) -> str:
    """One matrix cell as the terminal shows it."""
    matrix = grid(app)
    layout = matrix.layout_widths
    column = matrix.model.environments.index(environment)
    start = matrix.region.x + layout.service_width + column * layout.cell_width
    line = next(line for line in screen_lines(app) if line.startswith(service))
    return line[start : start + layout.cell_width].strip()


def footer(app: ShipdeckApp) -> str:
    return screen_lines(app)[-1]


def notices(app: ShipdeckApp) -> list[str]:
    """Every notification's text (toasts wrap long sentences on screen)."""
    return [notification.message for notification in app._notifications]


async def start(pilot: Pilot[None], app: ShipdeckApp) -> None:
    """Wait for the matrix and the engine's answer about what the user may do."""
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, MatrixScreen)
            and grid(app).services
            and app.capabilities.reason != "still asking the engine what you may do"
            and "Filter" in footer(app)
        ),
    )
    await pilot.pause(0.05)  # the footer recomposes after the engine's answer


async def focus(pilot: Pilot[None], app: ShipdeckApp, service: str, environment: str) -> None:
    """Move the matrix cursor with the arrow keys."""
    matrix = grid(app)
    row = matrix.services.index(service) - matrix.cursor_row
    col = matrix.model.environments.index(environment) - matrix.cursor_col
    await pilot.press(*(["down"] * row if row > 0 else ["up"] * -row))
    await pilot.press(*(["right"] * col if col > 0 else ["left"] * -col))
    assert matrix.focused_slot == (service, environment)


async def modal(pilot: Pilot[None], app: ShipdeckApp, kind: type) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, kind))
    await pilot.pause()


# -- the actions -----------------------------------------------------------------------------


async def test_deploy_shows_pending_until_the_engines_rows_arrive(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await wait_for(pilot, lambda: "d Deploy" in footer(app))
        await focus(pilot, app, "checkout-api", "prod")
        await pilot.press("d")
        await modal(pilot, app, DeployModal)
        # Versions seen anywhere, newest first, with where they are.
        options = [
            line.split("│")[1].split()
            for line in screen_lines(app)
            if "│" in line and " ago " in line
        ]
        assert [words[0] for words in options] == ["1.4.4", "1.4.3", "1.4.2"]
        assert " ".join(options[1]) == "1.4.3 qa ✓ success · prod ✗ failure 30m ago"
        await pilot.press("down")  # 1.4.3 is highlighted and copied to the input
        await pilot.press("up")  # back to 1.4.4
        acting.hold()
        await pilot.press("enter")
        await wait_for(pilot, lambda: cell_text(app, "checkout-api", "prod").startswith(SENT_MARK))
        assert cell_text(app, "checkout-api", "prod") == f"{SENT_MARK}✗ failure 1.4.3 30m"
        assert "◌ deploy 1.4.4 sent: waiting for the engine to confirm" in screen_text(app)
        await wait_for(pilot, lambda: "deploy of checkout-api 1.4.4 to prod queued" in notices(app))
        assert SENT_MARK in cell_text(app, "checkout-api", "prod")  # rows still held
        acting.release()
        await wait_for(pilot, lambda: "1.4.4" in cell_text(app, "checkout-api", "prod"))
        assert not cell_text(app, "checkout-api", "prod").startswith(SENT_MARK)
        assert not app.matrix.pending
        await wait_for(pilot, lambda: "✓ success 1.4.4" in cell_text(app, "checkout-api", "prod"))


async def test_deploy_a_typed_version(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "search", "qa")
        await pilot.press("d")
        await modal(pilot, app, DeployModal)
        await pilot.press("tab", "ctrl+a", "ctrl+k", *"0.9.1", "enter")
        await wait_for(pilot, lambda: "✓ success 0.9.1" in cell_text(app, "search", "qa"))
        assert "deploy of search 0.9.1 to qa queued" in notices(app)


async def test_escape_closes_the_deploy_modal_without_acting(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "search", "dev")
        await pilot.press("d")
        await modal(pilot, app, DeployModal)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
        await pilot.pause(0.2)
        assert not app.matrix.pending
        assert cell_text(app, "search", "dev") == "✓ success 0.9.0 1d"


async def test_promote_shows_from_to_version_and_policy_then_queues(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "checkout-api", "dev")
        await pilot.press("p")
        await modal(pilot, app, PromoteModal)
        await wait_for(pilot, lambda: "policy" in screen_text(app))
        text = screen_text(app)
        for fact in ("from     dev", "to       qa", "version  1.4.2", "no approval required"):
            assert fact in text
        assert "runs with the fast driver" in text
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "promotion of checkout-api 1.4.2 to qa queued" in " ".join(notices(app))
        )
        await wait_for(pilot, lambda: "✓ success 1.4.2" in cell_text(app, "checkout-api", "qa"))


async def test_a_refused_promotion_shows_the_engines_sentence(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "payments", "uat")  # in progress after a failure
        await pilot.press("p")
        await modal(pilot, app, PromoteModal)
        sentence = "payments in uat is in-progress (2.0.1), not a success"
        await wait_for(pilot, lambda: sentence in screen_text(app))
        assert not app.screen.query_one("#confirm").display  # no confirm button
        await pilot.press("enter")  # on "Cancel": closes, acts on nothing
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
        assert not app.matrix.pending


async def test_rollback_in_the_last_environment_needs_the_service_name(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "checkout-api", "prod")
        await pilot.press("r")
        await modal(pilot, app, RollbackModal)
        await wait_for(pilot, lambda: "to       1.4.2" in screen_text(app))
        assert "from     1.4.3" in screen_text(app)
        assert "type checkout-api to confirm" in screen_text(app)
        await pilot.press(*"checkout", "enter")  # not the whole name: nothing happens
        await pilot.pause(0.1)
        assert isinstance(app.screen, RollbackModal) and not app.matrix.pending
        await pilot.press(*"-api", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
        await wait_for(
            pilot, lambda: "rollback of checkout-api in prod to 1.4.2 queued" in notices(app)
        )
        await wait_for(pilot, lambda: "✓ success 1.4.2" in cell_text(app, "checkout-api", "prod"))


async def test_rollback_elsewhere_confirms_with_enter(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "checkout-api", "dev")  # only one success there
        await pilot.press("r")
        await modal(pilot, app, RollbackModal)
        sentence = "checkout-api has no earlier successful version in dev than 1.4.2"
        await wait_for(pilot, lambda: sentence in screen_text(app))
        assert "type checkout-api" not in screen_text(app)


async def test_cancel_stops_a_running_deployment(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await acting.deploy("checkout-api", "uat", "1.4.3")  # uat's driver takes minutes
        await wait_for(pilot, lambda: "◐" in cell_text(app, "checkout-api", "uat"))
        await focus(pilot, app, "checkout-api", "uat")
        await pilot.press("c")
        await modal(pilot, app, ConfirmModal)
        assert "Cancel checkout-api 1.4.3 in uat" in screen_text(app)
        await pilot.press("y")
        # It ran, so it ends as a failure that says who stopped it (a `cancelled` row
        # would leave the slot in progress: the contract's matrix ignores it).
        await wait_for(pilot, lambda: "✗" in cell_text(app, "checkout-api", "uat"))
        assert "1.4.3" in cell_text(app, "checkout-api", "uat")
        assert not app.matrix.pending
        assert any(n.startswith("cancel of checkout-api 1.4.3 in uat") for n in notices(app))


async def test_cancel_with_nothing_running_says_so(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "search", "dev")
        await pilot.press("c")
        await pilot.pause(0.1)
        assert isinstance(app.screen, MatrixScreen)
        assert "Nothing is queued or running in search → dev." in notices(app)


async def test_retry_queues_a_failed_deployment_again(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "checkout-api", "prod")
        await pilot.press("R")
        await modal(pilot, app, ConfirmModal)
        assert "Run checkout-api 1.4.3 in prod (✗ failure, gh-5) again?" in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "retry of checkout-api 1.4.3 in prod queued" in notices(app))
        await wait_for(pilot, lambda: "✓ success 1.4.3" in cell_text(app, "checkout-api", "prod"))


async def test_a_refused_action_shows_the_engines_sentence(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "payments", "uat")  # reported by CI, still running
        await pilot.press("R", "y")
        sentence = "gh-7 is still in-progress; cancel it first or wait for it to end"
        await wait_for(pilot, lambda: sentence in notices(app))
        assert not app.matrix.pending
        assert not cell_text(app, "payments", "uat").startswith(SENT_MARK)


async def test_retry_from_the_history_acts_on_the_focused_row(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await pilot.press("H")
        await wait_for(pilot, lambda: isinstance(app.screen, HistoryScreen))
        assert "R Retry" in footer(app)
        await pilot.press("slash", *"id:gh-6", "enter")
        table = app.screen.query_one(HistoryTable)
        await wait_for(pilot, lambda: len(table.rows) == 1 and table.has_focus)
        await pilot.press("R")
        await modal(pilot, app, ConfirmModal)
        assert "Run payments 2.0.0 in uat (✗ failure, gh-6) again?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: "retry of payments 2.0.0 in uat queued" in notices(app))


async def test_the_palette_offers_the_actions(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "checkout-api", "qa")
        await pilot.press("colon", *"deploy")
        await wait_for(pilot, lambda: "Deploy…" in screen_text(app))
        await pilot.press("enter")
        await modal(pilot, app, DeployModal)
        assert "to       qa" in screen_text(app)


async def test_a_stale_mark_goes_with_a_notice(acting: HeldFeed, monkeypatch) -> None:
    # Long enough that a loaded machine's slow frames still let the test see the mark.
    monkeypatch.setattr(actions, "PENDING_TIMEOUT_S", 2.0)
    app = make_app(acting)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await focus(pilot, app, "search", "dev")
        acting.hold()
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: cell_text(app, "search", "dev").startswith(SENT_MARK))
        await wait_for(pilot, lambda: not cell_text(app, "search", "dev").startswith(SENT_MARK))
        assert any("no confirmation from the engine yet" in n for n in notices(app))
        acting.release()


@pytest.mark.parametrize("read_only", [False, True], ids=["allowed", "read-only"])
async def test_a_remapped_key_acts_or_explains(acting: HeldFeed, read_only: bool) -> None:
    config = TuiConfig(keymap={"matrix.deploy": "e"})
    app = make_app(acting, tui_config=config, read_only=read_only)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        if read_only:
            await pilot.press("d", "e")
            await pilot.pause(0.1)
            assert notices(app) == ["shipdeck runs read-only (--read-only): actions are hidden"]
            return
        await wait_for(pilot, lambda: "e Deploy" in footer(app))
        await pilot.press("d")  # no longer bound
        await pilot.pause(0.1)
        assert isinstance(app.screen, MatrixScreen)
        await pilot.press("e")
        await modal(pilot, app, DeployModal)


# -- who may act -----------------------------------------------------------------------------


WORDS = ("Deploy", "Promote", "Roll back", "Cancel", "Retry")


async def hidden_keys_explain(pilot: Pilot[None], app: ShipdeckApp, reason: str) -> None:
    await start(pilot, app)
    for word in WORDS:
        assert word not in footer(app)
    await focus(pilot, app, "checkout-api", "prod")
    await pilot.press("d", "p", "r", "c", "R")
    await pilot.pause(0.1)
    assert isinstance(app.screen, MatrixScreen)  # no modal opened
    assert not app.matrix.pending
    assert notices(app).count(reason) == 5
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
    help_text = screen_text(app)
    assert "Slot history" in help_text and "Quit shipdeck" in help_text  # all of it shows
    for word in WORDS:
        assert word not in help_text


async def test_read_only_hides_the_keys_and_explains(acting: HeldFeed) -> None:
    app = make_app(acting, read_only=True)
    async with app.run_test(size=TALL) as pilot:
        reason = "shipdeck runs read-only (--read-only): actions are hidden"
        await hidden_keys_explain(pilot, app, reason)


async def test_a_viewer_key_hides_the_keys(db_url: str, tmp_path: Path, server_factory) -> None:
    await seed(db_url)
    key = create_key(db_url, "viewer", Role.VIEWER)
    server = server_factory(db_url, config=config_file(tmp_path)).start()
    app = make_app(RemoteClient(server.url, key))
    async with app.run_test(size=TALL) as pilot:
        reason = "your role viewer may only read; actions need deployer or above"
        await hidden_keys_explain(pilot, app, reason)


async def test_help_lists_the_action_keys(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=TALL) as pilot:
        await start(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        lines = screen_text(app).splitlines()
        for key, words in (
            ("d", "Deploy a version to the focused slot"),
            ("p", "Promote the slot's current version"),
            ("r", "Roll the slot back"),
            ("c", "Cancel the slot's queued or running"),
            ("R", "Run the deployment's version in its slot again"),
        ):
            assert any(line.split()[1:2] == [key] and words in line for line in lines), key


async def test_the_mark_fits_the_80_column_layout(acting: HeldFeed) -> None:
    app = make_app(acting)
    async with app.run_test(size=(80, 24)) as pilot:
        await start(pilot, app)
        before = next(line for line in screen_lines(app) if line.startswith("checkout-api"))
        await focus(pilot, app, "checkout-api", "qa")
        acting.hold()
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: cell_text(app, "checkout-api", "qa").startswith(SENT_MARK))
        after = next(line for line in screen_lines(app) if line.startswith("checkout-api"))
        assert cell_text(app, "checkout-api", "qa") == f"{SENT_MARK}✓ ok 1.4.3 ▸◷"
        assert len(after) == len(before) == 80
        # Every other column stays where it was.
        assert after.index("·") == before.index("·") and after.endswith(before[-16:])
        acting.release()


# -- the mark, without a screen ------------------------------------------------------------


def event(deployment_id: str, status: str, seconds: int) -> DeploymentEvent:
    return DeploymentEvent.model_validate(
        {
            "id": f"{deployment_id}-{status}",
            "deployment_id": deployment_id,
            "service": "api",
            "environment": "prod",
            "version": "1.0.0",
            "status": status,
            "happened_at": NOW.replace(second=seconds),
        }
    )


def test_a_row_that_comes_before_the_engines_answer_still_confirms() -> None:
    model = MatrixModel(environments=["prod"])
    sent = model.mark_pending("api", "prod", "deploy", "1.0.0", final_only=False)
    model.apply(event("sd-1", "queued", 1))  # the feed was faster than the answer
    assert model.pending
    assert model.accepted(sent, "sd-1") and not model.pending


def test_rows_of_other_deployments_do_not_confirm() -> None:
    model = MatrixModel(environments=["prod"])
    sent = model.mark_pending("api", "prod", "deploy", "1.0.0", final_only=False)
    model.apply(event("sd-0", "cancelled", 1))  # a queued one it superseded
    assert not model.accepted(sent, "sd-1") and model.pending
    model.apply(event("sd-1", "queued", 2))
    assert not model.pending


def test_a_cancel_waits_for_a_terminal_row() -> None:
    model = MatrixModel(environments=["prod"])
    model.apply(event("sd-1", "in-progress", 1))
    sent = model.mark_pending("api", "prod", "cancel", "1.0.0", final_only=True)
    assert not model.accepted(sent, "sd-1")  # running: its current row does not confirm
    model.apply(event("sd-1", "in-progress", 2))  # a later phase
    assert model.pending
    model.apply(event("sd-1", "cancelled", 3))
    assert not model.pending


def test_a_refetched_snapshot_keeps_unconfirmed_marks() -> None:
    older = MatrixModel(environments=["prod"])
    sent = older.mark_pending("api", "prod", "deploy", "1.0.0", final_only=False)
    fresh = MatrixModel(environments=["prod"])
    fresh.keep_pending(older)
    assert fresh.pending == {("api", "prod"): sent}
    older.accepted(sent, "sd-1")
    confirmed = MatrixModel(environments=["prod"])
    confirmed.apply(event("sd-1", "queued", 1))
    confirmed.keep_pending(older)
    assert not confirmed.pending
