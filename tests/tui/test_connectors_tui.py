"""The TUI on platforms it did not build: an Appaloft and a Pushpaka (fakes that speak their
APIs), through their connectors, driven by keys as a person would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from shipdeck.client.appaloft import AppaloftClient
from shipdeck.client.pushpaka import PushpakaClient
from shipdeck.tui.modals import ConfirmModal, RollbackModal
from shipdeck.tui.screens.approvals import ApprovalsScreen
from shipdeck.tui.screens.logs import LogsScreen
from shipdeck.tui.screens.matrix import MatrixScreen
from shipdeck.tui.widgets.matrix_grid import MatrixGrid
from tests.connectors.appaloft_fake import TOKEN, AppaloftFake
from tests.connectors.loopback import Loopback, serving
from tests.connectors.platforms import FAST
from tests.connectors.pushpaka_fake import PushpakaFake

from .conftest import NOW, make_app, screen_text, wait_for

SIZE = (160, 40)


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


@pytest.fixture
async def appaloft() -> AsyncIterator[tuple[AppaloftFake, Loopback, dict[str, str]]]:
    """web in staging (running 1.5.0) and production (1.4.2, then a failed build)."""
    fake = AppaloftFake(heartbeat_s=0.5)
    est = fake.estate
    prod, stg = est.resource("web", "production"), est.resource("web", "staging")
    ok = est.create(prod.id, f"{prod.image}:1.4.2", at=ago(120))
    est.advance(ok.id, "succeeded", "verify", "Container is reachable", at=ago(119))
    built = est.create(prod.id, prod.image, at=ago(5))
    built.sha = "3f2c1a9d0e8b7c6a"
    est.advance(built.id, "failed", "package", "Docker is not available", at=ago(4))
    running = est.create(stg.id, f"{stg.image}:1.5.0", at=ago(1))
    est.advance(running.id, "running", "plan", "Selected a strategy", at=ago(1))
    async with serving(fake.app) as loopback:
        yield fake, loopback, {"ok": ok.id, "built": built.id, "running": running.id}


def posted(fake: AppaloftFake) -> list[str]:
    return [r.rsplit("/", 1)[-1] for r in fake.requests if r.startswith("POST")]


async def test_appaloft_matrix_live_logs_and_every_action_by_key(appaloft) -> None:
    fake, loopback, ids = appaloft
    label = f"appaloft+{loopback.url}"
    app = make_app(AppaloftClient(loopback.url, TOKEN, label=label, **FAST), profile=label)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "● live" in screen_text(app) and app.matrix.cells)
        text = screen_text(app)
        assert f"Matrix · {label} " in text and text.count(label) == 1  # said once
        assert "read-only" not in text
        assert "✗ failure @3f2c1a9" in text  # built from source: its commit, not its id
        # The running deployment's phase comes live from its timeline stream.
        await wait_for(pilot, lambda: "◐ plan 1.5.0" in screen_text(app))
        grid = app.screen.query_one(MatrixGrid)
        assert grid.focused_slot == ("web", "staging")
        await pilot.press("L")  # follow it
        await wait_for(pilot, lambda: "Selected a strategy" in screen_text(app))
        fake.estate.log(ids["running"], "fake build ok")
        await wait_for(pilot, lambda: "fake build ok" in screen_text(app))
        fake.estate.advance(ids["running"], "succeeded", "verify", "Container is reachable")
        await wait_for(pilot, lambda: "■ ended" in screen_text(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "✓ success 1.5.0" in screen_text(app))

        await pilot.press("right", "R")  # retry the failed build in production
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: "▸◷ @3f2c1a9" in screen_text(app))  # queued, next
        await pilot.press("c")  # cancel it
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("y")
        await wait_for(pilot, lambda: "▸◷" not in screen_text(app))
        await pilot.press("r")  # roll production back: its name is asked for
        await wait_for(
            pilot, lambda: isinstance(app.screen, RollbackModal) and app.screen.plan is not None
        )
        await pilot.press(*"web", "enter")
        await wait_for(pilot, lambda: "▸◷ 1.4.2" in screen_text(app))
        await pilot.press("d")  # Appaloft redeploys from its source: no version to pick
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "Redeploy web → production" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: posted(fake)[-1] == "redeploy")
        assert posted(fake) == ["retry", "cancel", "rollback", "redeploy"]
        assert fake.estate.deployments[_newest(fake, "rollback")].image.endswith(":1.4.2")

        await pilot.press("p")  # what Appaloft lacks is hidden, and explained
        await wait_for(pilot, lambda: _told(app, "no promotion between environments"))
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalsScreen))
        await wait_for(pilot, lambda: "Appaloft has no approval queue" in screen_text(app))
        assert "Nothing awaits your approval" not in screen_text(app)


def _newest(fake: AppaloftFake, trigger: str) -> str:
    made = [d for d in fake.estate.deployments.values() if d.trigger == trigger]
    return max(made, key=lambda d: d.created_at).id


def _told(app: object, words: str) -> bool:
    return any(words in n.message for n in app._notifications)  # type: ignore[attr-defined]


async def test_an_expired_appaloft_session_says_how_to_sign_in(appaloft) -> None:
    fake, loopback, _ = appaloft
    app = make_app(AppaloftClient(loopback.url, TOKEN, **FAST))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "● live" in screen_text(app) and app.matrix.cells)
        fake.tokens.clear()
        await wait_for(pilot, lambda: "● offline" in screen_text(app))
        header = screen_text(app).splitlines()[0]
        assert "Appaloft refused the token" in header
        assert "sign in again (POST /api/auth/sign-in/email)" in header
        assert TOKEN not in screen_text(app)
        assert "✗ failure @3f2c1a9" in screen_text(app)  # what was shown stays


async def test_pushpaka_branches_logs_over_its_socket_and_its_actions() -> None:
    fake = PushpakaFake()
    shop = fake.project("shop")
    ok = fake.deploy(shop["id"], "main", "3f2c1a9aaaa", at=ago(60), commit_msg="Add cart")
    fake.advance(ok["id"], "running", at=ago(58))
    bad = fake.deploy(shop["id"], "main", "b00b1e5bbbb", at=ago(5), commit_msg="Pay later")
    fake.advance(bad["id"], "failed", "npm ERR! build failed", at=ago(4))
    fake.log(bad["id"], "npm ERR! build failed", level="error", stream="stderr")
    async with serving(fake.app) as loopback:
        client = PushpakaClient(loopback.url, fake.login(), log_check_interval=0.2, **FAST)
        app = make_app(client)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "✗ failure @b00b1e5" in screen_text(app))
            assert screen_text(app).splitlines()[1].split()[2:] == ["main"]
            await pilot.press("L")
            await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
            await wait_for(pilot, lambda: "npm ERR! build failed" in screen_text(app))
            await wait_for(pilot, lambda: "■ ended" in screen_text(app))
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, MatrixScreen))
            await pilot.press("c")
            await wait_for(pilot, lambda: _told(app, "Pushpaka cannot cancel a deployment"))
            await pilot.press("r", *"shop", "enter")  # main is the last (only) column
            await wait_for(pilot, lambda: "▸◷ @3f2c1a9" in screen_text(app))
            sent = [r for r in fake.requests if r.startswith("POST")]
            assert sent == [f"POST /api/v1/deployments/{ok['id']}/rollback"]


async def test_a_token_refused_at_start_says_what_to_check_not_that_it_keeps_trying() -> None:
    fake = AppaloftFake()
    async with serving(fake.app) as loopback:
        app = make_app(AppaloftClient(loopback.url, "not-a-session", **FAST))
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "Not connected:" in screen_text(app))
            text = screen_text(app)
            assert "Appaloft refused the token" in text
            assert "then start shipdeck again" in text
            assert "keeps trying" not in text and "not-a-session" not in text
