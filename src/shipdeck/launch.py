"""Build the TUI's engine client from profiles and flags, and run the app (and the demo)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from .client import EngineClient
from .client.embedded import EmbeddedClient
from .engine import Engine, EngineConfig
from .locations import default_database_url
from .tui.config import Profile, TuiConfig, TuiConfigError

TOKEN_ENV = "SHIPDECK_TOKEN"  # noqa: S105  # the name of a variable, not a secret


def client_for(profile: Profile) -> EngineClient:
    """An embedded or remote client for a profile (or a connector, for another platform)."""
    if profile.embedded:
        return EmbeddedClient(profile.database or default_database_url())
    if profile.kind != "shipdeck":
        return connector_for(profile)
    from .client.remote import RemoteClient

    servers = profile.servers()
    assert servers, "a remote profile names a URL"
    return RemoteClient(servers, token=profile.token())


def connector_for(profile: Profile) -> EngineClient:
    """The connector of an `appaloft` or `pushpaka` profile; its token from `token_env`."""
    url, token_env = profile.servers()[0], profile.token_env or TOKEN_ENV
    token = os.environ.get(token_env)  # these platforms serve nothing without one
    label = f"{profile.kind}+{url.rstrip('/')}"
    if profile.kind == "appaloft":
        from .client.appaloft import AppaloftClient

        return AppaloftClient(url, token, token_env=token_env, label=label)
    from .client.pushpaka import PushpakaClient

    return PushpakaClient(url, token, token_env=token_env, label=label)


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


def demo_config(now: datetime | None = None) -> EngineConfig:
    """The demo's engine configuration: its environments, the simulate driver everywhere,
    approvals into uat and prod (the local user is an approver), a freeze on the calendar."""
    from .demo import demo_config as configured

    return configured(now)


async def seed_demo_once(engine: Engine, now: datetime | None = None) -> None:
    """Seed the demo's services and history, unless the database already has them."""
    from .demo import seed_demo
    from .domain import utc_now

    if engine.head == 0:
        await seed_demo(engine, now=now or utc_now())


async def demo_traffic(engine: Engine) -> None:
    """Simulated CI traffic and colleagues, until cancelled (`shipdeck serve --demo`)."""
    from .demo import simulate_demo

    await simulate_demo(engine)


async def demo_life(engine: Engine) -> None:
    """`demo_traffic` with the local user as the approver the colleagues' requests await."""
    from .demo import simulate_demo

    await simulate_demo(engine, me=engine.local_principal())


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
        demo_config(now),
        prepare=prepare,
        background=demo_life if traffic else None,
    )
