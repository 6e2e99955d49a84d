"""A small log whose analytics are known, on an engine whose clock is the tests' NOW.

NOW is Thursday 2026-05-28 12:00 UTC, so the 7-day window is 21–27 May (today's rows count
from tomorrow). In it: eight successes and failures (1.14 a day; 25 % failed), one prod
incident restored in 45 minutes, one still open (payments → uat), two prod rows measured
from their parent's first row (47.5 h and 48.25 h: a median lead time of 47.9 h).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shipdeck.client.embedded import EmbeddedClient
from shipdeck.domain import DeploymentEventIngest
from shipdeck.engine import Engine, load_config

from .conftest import ENVIRONMENTS, clock

EVIL_SERVICE = "[red]evil[/red]"
EVIL_ACTOR = "\x1b]0;pwn\x07eve[b]"


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in May 2026 (UTC)."""
    return datetime(2026, 5, day, hour, minute, tzinfo=UTC)


def report(
    deployment_id: str,
    service: str,
    environment: str,
    status: str,
    happened_at: datetime,
    actor: str,
    *parents: str,
) -> DeploymentEventIngest:
    """An ingest body as CI would send it."""
    body = {
        "deployment_id": deployment_id,
        "service": service,
        "environment": environment,
        "status": status,
        "version": "1.0." + deployment_id.removeprefix("d"),
        "happened_at": happened_at.isoformat(),
        "actor": actor,
        **({"parent_deployments": list(parents)} if parents else {}),
    }
    return DeploymentEventIngest.model_validate_json(json.dumps(body))


LOG: list[DeploymentEventIngest] = [
    report("d1", "checkout-api", "dev", "in-progress", at(21, 9), "alice"),
    report("d1", "checkout-api", "dev", "success", at(21, 9, 5), "alice"),
    report("d2", "checkout-api", "qa", "in-progress", at(22, 10), "bob", "d1"),
    report("d2", "checkout-api", "qa", "success", at(22, 10, 20), "bob", "d1"),
    report("d8", EVIL_SERVICE, "dev", "success", at(23, 12), EVIL_ACTOR),
    report("d3", "checkout-api", "prod", "in-progress", at(24, 9), "alice", "d2"),
    report("d3", "checkout-api", "prod", "failure", at(24, 9, 30), "alice", "d2"),
    report("d4", "checkout-api", "prod", "in-progress", at(24, 10), "carol", "d2"),
    report("d4", "checkout-api", "prod", "success", at(24, 10, 15), "carol", "d2"),
    report("d5", "payments", "dev", "success", at(25, 14), "bob"),
    report("d6", "payments", "uat", "in-progress", at(26, 16), "dave"),
    report("d6", "payments", "uat", "failure", at(26, 16, 40), "dave"),
    report("d7", "search", "dev", "in-progress", at(27, 8), "alice"),
    report("d7", "search", "dev", "success", at(27, 8, 10), "alice"),
]

SHOWN_7D = {
    "frequency": ("1.14/day", "elite", "▲ 25 % better"),
    "lead-time": ("≈47.9 h", "high", "no trend"),
    "failure-rate": ("25 %", "high", "no trend"),
    "restore": ("45.0 min", "elite", "no trend"),
}
"""What each card says of LOG over 7 days (the engine's figures, worked out by hand)."""


def config_file(folder: Path) -> Path:
    """The demo's environment order, and the same promotion ladder for the funnel."""
    path = folder / "insights-engine.toml"
    ladder = ", ".join(f'"{env}"' for env in ENVIRONMENTS)
    environments = "".join(f'[[environments]]\nname = "{env}"\n' for env in ENVIRONMENTS)
    path.write_text(f"{environments}\n[analytics]\nfunnel_environments = [{ladder}]\n")
    return path


async def prepare(engine: Engine) -> None:
    """The engine's clock is NOW; LOG is written once."""
    engine.clock = clock
    if not await engine.deployments.services():
        for body in LOG:
            await engine.ingest(body)


def insights_client(db_url: str, folder: Path) -> EmbeddedClient:
    """The embedded engine on LOG, at NOW."""
    return EmbeddedClient(db_url, load_config(config_file(folder)), prepare=prepare)
