"""A known set of promotions awaiting approval on the seeded store, at fixed times."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from shipdeck.domain import Role
from shipdeck.domain.policy import EnvironmentPolicy
from shipdeck.engine import Engine, Principal

from .conftest import NOW, engine_config_file

ANA = Principal("ana", Role.DEPLOYER)
DAVE = Principal("dave", Role.DEPLOYER)
CAROL = Principal("carol", Role.APPROVER)


def approvals_config_file(tmp_path: Path) -> Path:
    """The snapshots' engine TOML with a driver (a promotion needs one, even to wait)."""
    path = engine_config_file(tmp_path)
    assert isinstance(path, Path)
    path.write_text(
        path.read_text(encoding="utf-8")
        + '[executor]\ndriver = "sim"\n[drivers.sim]\nkind = "simulate"\n',
        encoding="utf-8",
    )
    return path


async def stage_approvals(engine: Engine) -> None:
    """`prod` asks for two approvals, `qa` for one from approvers only (not admins).

    Three promotions wait, newest first: payments dev → qa (dave, 3 min ago), the hostile
    service dev → qa (ana, 10 min ago), checkout-api qa → prod (ana, 25 min ago, approved
    once by carol). Only the last awaits the local admin.
    """
    admin = engine.local_principal()
    await engine.governance.set_policy(admin, "prod", EnvironmentPolicy(approvals_required=2))
    qa = EnvironmentPolicy(approvals_required=1, approvers=["approver"])
    await engine.governance.set_policy(admin, "qa", qa)
    real_clock = engine.clock
    try:
        engine.clock = lambda: NOW - timedelta(minutes=25)
        checkout = await engine.actions.promote(ANA, "checkout-api", "qa", "prod")
        engine.clock = lambda: NOW - timedelta(minutes=20)
        assert checkout.promotion_id is not None
        await engine.governance.approve(CAROL, checkout.promotion_id, "lgtm, canary clean")
        engine.clock = lambda: NOW - timedelta(minutes=10)
        await engine.actions.promote(ANA, "[bold]evil[/bold]", "dev", "qa")
        engine.clock = lambda: NOW - timedelta(minutes=3)
        await engine.actions.promote(DAVE, "payments", "dev", "qa")
    finally:
        engine.clock = real_clock
