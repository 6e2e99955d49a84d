"""Approvals through Pilot (the approvals screen, the promotion detail, the header count and
the matrix's lock and freeze marks), on the embedded engine and on a real server.

`prod` asks for one approval and runs with a driver that takes minutes, so an approved
promotion stays running for as long as a test needs; `uat` is in a freeze window. `ana`, a
deployer, asks for the promotions; the TUI's user (the embedded engine's local admin, or an
approver's key on the server) decides.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot

from shipdeck.client import EngineClient
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import Role
from shipdeck.domain.policy import EnvironmentPolicy
from shipdeck.domain.promotions import EnvironmentView, LockView
from shipdeck.engine import Principal, load_config
from shipdeck.tui.app import ShipdeckApp
from shipdeck.tui.modals import CommentModal
from shipdeck.tui.screens.approvals import ApprovalsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.screens.promotion_detail import PromotionDetailScreen
from shipdeck.tui.widgets.matrix_columns import environment_marks
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from shipdeck.tui.widgets.promotion_list import Columns

from ..conftest import create_key
from .conftest import ENVIRONMENTS, NOW, make_app, screen_lines, screen_text, seed, wait_for

CONFIG = "".join(f'[[environments]]\nname = "{env}"\n' for env in ENVIRONMENTS) + (
    """
[policies.prod]
approvals_required = 1

[[policies.uat.freeze]]
name = "release-week"
start = "2026-01-01T00:00:00Z"
end = "2099-01-01T00:00:00Z"

[executor]
driver = "fast"
[executor.environments]
prod = "slow"

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
ROW = "checkout-api 1.4.3 qa → prod"


@dataclass
class Approving:
    """The TUI's client, and what others do on the same engine."""

    client: EngineClient
    me: Callable[[], str]
    """The TUI user's name (known once the client started)."""
    request: Callable[[], Awaitable[None]]
    """`ana` asks to promote checkout-api from qa to prod."""
    lock: Callable[[str, str], Awaitable[None]]
    """An admin locks an environment."""


@pytest.fixture(params=["embedded", "remote"])
async def approving(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, server_factory
) -> Approving:
    await seed(db_url)
    path = tmp_path / "approvals.toml"
    path.write_text(CONFIG, encoding="utf-8")
    if request.param == "embedded":
        client = EmbeddedClient(db_url, load_config(path))

        async def ask_embedded() -> None:
            ana = Principal("ana", Role.DEPLOYER)
            await client.engine.actions.promote(ana, "checkout-api", "qa", "prod")

        async def lock_embedded(environment: str, reason: str) -> None:
            engine = client.engine
            await engine.governance.lock(engine.local_principal(), environment, reason)

        def local() -> str:
            return client.engine.local_principal().name

        return Approving(client, local, ask_embedded, lock_embedded)
    keys = {
        "me": create_key(db_url, "me", Role.APPROVER),
        "ana": create_key(db_url, "ana", Role.DEPLOYER),
        "boss": create_key(db_url, "boss", Role.ADMIN),
    }
    server = server_factory(db_url, config=path).start()

    async def post(key: str, path: str, body: dict[str, str]) -> None:
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post(path, json=body, headers={"X-Api-Key": keys[key]})
        assert answer.is_success, answer.text

    async def ask_remote() -> None:
        body = {"service": "checkout-api", "from_environment": "qa", "to_environment": "prod"}
        await post("ana", "/api/promotions", body)

    async def lock_remote(environment: str, reason: str) -> None:
        await post("boss", f"/api/environments/{environment}/lock", {"reason": reason})

    return Approving(RemoteClient(server.url, keys["me"]), lambda: "me", ask_remote, lock_remote)


# -- reading the screen --------------------------------------------------------------------


def notices(app: ShipdeckApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def header(app: ShipdeckApp) -> str:
    return screen_lines(app)[0]


def footer(app: ShipdeckApp) -> str:
    return screen_lines(app)[-1]


def cell_text(app: ShipdeckApp, service: str, environment: str) -> str:
    """One matrix cell as the terminal shows it."""
    grid = app.screen_stack[1].query_one(MatrixGrid)
    layout = grid.layout_widths
    start = (
        grid.region.x
        + layout.service_width
        + grid.model.environments.index(environment) * layout.cell_width
    )
    line = next(line for line in screen_lines(app) if line.startswith(service))
    return line[start : start + layout.cell_width].strip()


def row_of(app: ShipdeckApp, text: str) -> str:
    """The first line on screen that contains `text`."""
    return next((line for line in screen_lines(app) if text in line), "")


async def start(pilot: Pilot[None], app: ShipdeckApp) -> None:
    """The matrix is shown and the engine said what the user may do."""
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, MatrixScreen)
            and app.screen.query_one(MatrixGrid).services
            and app.capabilities.principal is not None
            and app.governance.loaded
        ),
    )
    await pilot.pause(0.05)


async def approvals(pilot: Pilot[None], app: ShipdeckApp, mine: int, pending: int) -> None:
    """Open the approvals screen (if not open) and wait for these counts."""
    if not isinstance(app.screen, ApprovalsScreen):
        await pilot.press("A")
    await wait_for(
        pilot,
        lambda: (
            isinstance(app.screen, ApprovalsScreen)
            and f"Waiting for me ({mine})" in screen_text(app)
            and f"All pending ({pending})" in screen_text(app)
        ),
    )
    await pilot.pause(0.05)


async def comment_modal(pilot: Pilot[None], app: ShipdeckApp) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, CommentModal))
    await pilot.pause()


# -- the approvals flow ----------------------------------------------------------------------


async def test_approve_a_promotion_waiting_for_me(approving: Approving) -> None:
    app = make_app(approving.client)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        assert "approval" not in header(app)
        await approving.request()
        await wait_for(pilot, lambda: "‖ 1 approval waiting" in header(app))
        await wait_for(pilot, lambda: any(n.startswith(ROW) for n in notices(app)))
        assert f"{ROW} awaits your approval (asked by ana); A opens the approvals" in notices(app)
        assert "▸‖" in cell_text(app, "checkout-api", "prod")  # the slot's next is waiting

        await approvals(pilot, app, mine=1, pending=1)
        line = row_of(app, "qa → prod")
        assert line.split() == [
            "checkout-api",
            "qa",
            "→",
            "prod",
            "1.4.3",
            "ana",
            "0s",
            "0",
            "of",
            "1",
            "1",
            "more",
            "approval",
            "needed",
        ]
        assert "1 approval required from approver, admin (not the requester)" in screen_text(app)
        assert "a Approve" in footer(app) and "x Reject" in footer(app)

        await pilot.press("a")
        await comment_modal(pilot, app)
        assert "0 of 1" in screen_text(app) and "1 more approval needed" in screen_text(app)
        await pilot.press(*"ship it", "enter")
        await approvals(pilot, app, mine=0, pending=0)
        assert f"{ROW} approved: the deployment is queued" in notices(app)
        await wait_for(pilot, lambda: "approval" not in header(app))

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
        # The approved deployment runs (the slow driver keeps it running).
        await wait_for(pilot, lambda: "◐" in cell_text(app, "checkout-api", "prod"))
        assert "‖" not in cell_text(app, "checkout-api", "prod")
        promotion = (await approving.client.promotions())[0]
        assert promotion.status == "approved"
        assert [(a.principal, a.comment) for a in promotion.approvals] == [
            (approving.me(), "ship it")
        ]


async def test_reject_needs_a_comment(approving: Approving) -> None:
    app = make_app(approving.client)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await approving.request()
        await approvals(pilot, app, mine=1, pending=1)
        await pilot.press("x")
        await comment_modal(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "A rejection needs a comment: say why." in notices(app))
        assert isinstance(app.screen, CommentModal)
        await pilot.press(*"not during the freeze", "enter")
        await approvals(pilot, app, mine=0, pending=0)
        assert f"{ROW} rejected" in notices(app)
        await wait_for(pilot, lambda: "approval" not in header(app))
        promotion = (await approving.client.promotions())[0]
        assert (promotion.status, promotion.approvals[0].comment) == (
            "rejected",
            "not during the freeze",
        )
        await pilot.press("escape")
        # The slot's next was the waiting promotion; it is the rejection now.
        await wait_for(pilot, lambda: "▸⊗" in cell_text(app, "checkout-api", "prod"))


async def test_the_detail_shows_what_changes(approving: Approving) -> None:
    app = make_app(approving.client)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await approving.request()
        await approvals(pilot, app, mine=1, pending=1)
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, PromotionDetailScreen) and app.screen.loaded
        )
        await pilot.pause(0.05)
        text = screen_text(app)
        assert "1.4.3 → 1.4.3  (prod now: ✗ failure, last success 1.4.2)" in text
        assert "‖ awaiting approval · 0 of 1 approvals · 1 more approval needed" in text
        assert "1 approval required from approver, admin (not the requester)" in text
        assert "(none yet)" in text
        assert "Source deployment gh-2 in qa (oldest first)" in text
        assert "✓ success" in row_of(app, "1.4.3  by alice")

        await pilot.press("a")
        await comment_modal(pilot, app)
        await pilot.press(*"lgtm", "enter")
        await wait_for(pilot, lambda: "✓ approved · 1 of 1 approvals" in screen_text(app))
        decision = row_of(app, "“lgtm”").split()
        assert decision[:3] == ["✓", "approved", approving.me()]
        await pilot.press("a")  # decided: the key says so instead of asking
        await wait_for(pilot, lambda: "This promotion is approved already." in notices(app))

        await pilot.press("o")  # the source deployment's detail
        await wait_for(pilot, lambda: "gh-2  checkout-api → qa" in screen_text(app))


async def test_withdraw_my_own_request(approving: Approving) -> None:
    app = make_app(approving.client)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await app.client.promote("checkout-api", "qa", "prod")  # the TUI user asks
        await approvals(pilot, app, mine=0, pending=1)
        assert approving.me() in row_of(app, "qa → prod")
        assert not any("awaits your approval" in n for n in notices(app))
        await pilot.press("a")  # one's own request: the engine says no
        await comment_modal(pilot, app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: any("own request" in n for n in notices(app)))
        await pilot.press("c")
        await comment_modal(pilot, app)
        await pilot.press(*"wrong version", "enter")
        await approvals(pilot, app, mine=0, pending=0)
        assert f"{ROW} withdrawn" in notices(app)


async def test_read_only_hides_the_decision_keys(approving: Approving) -> None:
    app = make_app(approving.client, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await start(pilot, app)
        await approving.request()
        await approvals(pilot, app, mine=1, pending=1)
        assert "Approve" not in footer(app) and "Reject" not in footer(app)
        assert "Detail" in footer(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: any("--read-only" in n for n in notices(app)))
        assert isinstance(app.screen, ApprovalsScreen)


# -- the matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(80, 24), SIZE], ids=["80x24", "160x40"])
async def test_locks_and_freezes_on_the_matrix(approving: Approving, size: tuple[int, int]) -> None:
    app = make_app(approving.client)
    async with app.run_test(size=size) as pilot:
        await start(pilot, app)
        # The environments' states come with their own request (maybe after the rows).
        await wait_for(pilot, lambda: "uat ❄ frozen" in screen_lines(app)[1])
        assert "⊠" not in screen_lines(app)[1]
        await approving.lock("prod", "incident 7")
        await wait_for(pilot, lambda: "prod ⊠ locked" in screen_lines(app)[1])
        columns = screen_lines(app)[1]
        assert columns.index("dev") < columns.index("qa") < columns.index("uat ❄ frozen")
        await pilot.press("right", "right", "right")  # checkout-api → prod
        who = approving.me() if isinstance(approving.client, EmbeddedClient) else "boss"
        await wait_for(pilot, lambda: f"⊠ prod locked by {who}" in screen_text(app))
        assert "incident 7" in row_of(app, "⊠ prod locked by")
        await pilot.press("left")
        await wait_for(pilot, lambda: "❄ uat frozen: release-week" in screen_text(app))


# -- layout ----------------------------------------------------------------------------------


def test_promotion_columns_fit_every_width() -> None:
    for width in range(60, 240):  # narrower, the rows are cut at the edge
        columns = Columns.fit(width)
        assert sum(columns.widths) + columns.gap * (len(columns.widths) - 1) <= width, width
        assert columns.line([("x" * 50, "")] * len(columns.widths)).cell_len <= width, width
    assert Columns.fit(78).widths[-1] >= 15  # `blocked by` stays readable at 80 columns


def test_environment_marks_shrink_to_glyphs() -> None:
    state = EnvironmentView(
        environment="prod",
        policy=EnvironmentPolicy(),
        summary="no approval required",
        lock=LockView(by="boss", reason="incident", at=NOW),
        frozen="year-end (…)",
    )
    assert environment_marks(state, 30) == [(" ⊠ locked", "bold red"), (" ❄ frozen", "bold cyan")]
    assert [text for text, _ in environment_marks(state, 10)] == [" ⊠", "❄"]
    calm = state.model_copy(update={"lock": None, "frozen": None})
    assert environment_marks(calm, 30) == []
