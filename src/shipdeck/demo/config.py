"""The demo engine's configuration: its environments, drivers, approvals and freeze window.

Promotions into `uat` and `prod` ask for two approvals, never the requester's own. The local
user (the person trying the demo) is an approver, so production promotions wait for them;
`uat` is the release managers' own (named approvers), so there the user watches the
colleagues decide. Production's driver never fails — a promotion the user approves runs to
success in front of them — while the other environments fail now and then, and a colleague
rolls back. A one-off freeze window of production starts a few hours after the demo does.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..domain import Role, utc_now
from ..engine import EngineConfig
from .catalog import ENVIRONMENTS, RELEASE_MANAGERS

GATED: tuple[str, ...] = ("uat", "prod")
"""Environments whose promotions wait for approvals (CI no longer deploys there itself)."""
APPROVALS_REQUIRED = 2
DRIVER_SCALE = 0.5
"""The demo's simulated deployments take 5–15 s (half a realistic run)."""
FAILURE_RATE = 0.15
"""Chance a run outside production fails (production's never does)."""
FREEZE_NAME = "quarter-end change freeze"
FREEZE_STARTS_AFTER = timedelta(hours=3)
"""The freeze begins on the first full hour this long after the demo starts…"""
FREEZE_LASTS = timedelta(hours=2)
"""… and lasts this long."""
DEMO_USER_ROLE = Role.APPROVER


def freeze_window(now: datetime) -> dict[str, str]:
    """Production's freeze window: on the calendar, starting a few hours after `now`."""
    start = (now + FREEZE_STARTS_AFTER).replace(minute=0, second=0, microsecond=0)
    end = start + FREEZE_LASTS
    return {"name": FREEZE_NAME, "start": start.isoformat(), "end": end.isoformat()}


def demo_config(now: datetime | None = None, *, scale: float = DRIVER_SCALE) -> EngineConfig:
    """The demo engine's configuration, its freeze window placed relative to `now`.

    Args:
        now: when the demo starts (default: now).
        scale: multiplies every simulated duration (tests run faster).
    """
    now = now or utc_now()
    gate = {"approvals_required": APPROVALS_REQUIRED, "self_approval": False}
    release_team = [*RELEASE_MANAGERS, Role.ADMIN.value]
    return EngineConfig(
        environments=[{"name": env} for env in ENVIRONMENTS],
        # The promotion funnel over the demo's own ladder (upstream's default names others).
        analytics={"funnel_environments": list(ENVIRONMENTS)},
        auth={"local_role": DEMO_USER_ROLE},
        executor={"driver": "simulate", "environments": {"prod": "steady"}},
        drivers={
            "simulate": {"kind": "simulate", "scale": scale, "failure_rate": FAILURE_RATE},
            "steady": {"kind": "simulate", "scale": scale, "failure_rate": 0.0},
        },
        policies={
            "uat": {**gate, "approvers": release_team},
            "prod": {**gate, "freeze": [freeze_window(now)]},
        },
    )


__all__ = ["APPROVALS_REQUIRED", "DRIVER_SCALE", "GATED", "demo_config", "freeze_window"]
