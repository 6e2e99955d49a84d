"""Build the TUI's engine client from profiles and flags, and run the app (and the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from .client import EngineClient
from .client.embedded import EmbeddedClient
from .engine import Engine, EngineConfig
from .locations import default_database_url
from .tui.config import Profile, TuiConfig, TuiConfigError

DEMO_ENVIRONMENTS = ["dev", "qa", "uat", "prod"]
TOKEN_ENV = "SHIPDECK_TOKEN"  # noqa: S105  # the name of a variable, not a secret


def client_for(profile: Profile) -> EngineClient:
    """An embedded or remote client for a profile."""
    if profile.embedded:
        return EmbeddedClient(profile.database or default_database_url())
    from .client.remote import RemoteClient

    servers = profile.servers()
    assert servers, "a remote profile names a URL"
    return RemoteClient(servers, token=profile.token())


def resolve_profile(
    config: TuiConfig, name: str | None, urls: str | Sequence[str] | None
) -> tuple[str, Profile]:
    """The profile to use: `--url` (given once, or once per replica), `--profile`, the
    default profile, or embedded.

    Raises:
        TuiConfigError: the named profile is not configured, or the URLs are unusable.
    """
    if isinstance(urls, str):
        urls = [urls]
    if urls:
        try:
            if len(urls) == 1:
                return urls[0], Profile(url=urls[0], token_env=TOKEN_ENV)
            return "remote", Profile(urls=list(urls), token_env=TOKEN_ENV)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise TuiConfigError(f"--url: {problem}") from exc
    name = name or config.default_profile
    if name is None:
        return "local", Profile(embedded=True)
    if name not in config.profiles:
        known = ", ".join(sorted(config.profiles)) or "none are configured"
        raise TuiConfigError(f"no profile named {name!r} (known: {known})")
    return name, config.profiles[name]


DEMO_DRIVER_SCALE = 0.5
"""The demo's simulated deployments take 5–15 s (half a realistic run)."""


def demo_config() -> EngineConfig:
    """The demo's engine configuration: its environments, every slot run by `simulate`."""
    return EngineConfig(
        environments=[{"name": env} for env in DEMO_ENVIRONMENTS],
        executor={"driver": "simulate"},
        drivers={"simulate": {"kind": "simulate", "scale": DEMO_DRIVER_SCALE}},
    )


async def seed_demo_once(engine: Engine, now: datetime | None = None) -> None:
    """Seed the demo's services and history, unless the database already has them."""
    from .demo import seed_demo
    from .domain import utc_now

    if engine.head == 0:
        await seed_demo(engine, now=now or utc_now())


async def demo_traffic(engine: Engine) -> None:
    """Simulated CI traffic, until cancelled."""
    from .demo import TrafficGenerator

    await TrafficGenerator(engine).run()


def demo_client(
    *, database: Path, traffic: bool = True, now: datetime | None = None
) -> EmbeddedClient:
    """The embedded engine on a new database at `database`, seeded, with simulated CI traffic.

    The caller owns the file (the CLI puts it in a temporary folder it removes).
    """

    async def prepare(engine: Engine) -> None:
        await seed_demo_once(engine, now)

    return EmbeddedClient(
        f"sqlite:///{database}",
        demo_config(),
        prepare=prepare,
        background=demo_traffic if traffic else None,
    )
