"""The TUI's own settings: profiles, keymap, theme and notifications, from a TOML file."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..locations import config_dir

Kind = Literal["shipdeck", "appaloft", "pushpaka"]
CONNECTORS: tuple[Kind, ...] = ("appaloft", "pushpaka")
"""Platforms shipdeck did not write that it reaches through a connector."""


class Profile(BaseModel):
    """Where an engine is: a URL or several (remote) or a database (embedded)."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind = "shipdeck"
    """What serves `url`: `shipdeck` (or any deployment-dashboard server), or a platform
    reached through a connector (`appaloft`, `pushpaka`); a URL may say it instead, as
    `appaloft+http://host:3001`."""
    url: str | None = None
    """Base URL of a `shipdeck serve` (or any deployment-dashboard server)."""
    urls: list[str] | None = None
    """Instead of `url`: base URLs of several `shipdeck serve` of one engine (replicas on
    one database), used one at a time, in turn while the one in use does not answer."""
    token_env: str | None = None
    """Name of the environment variable holding the API key (never the key itself)."""
    embedded: bool = False
    """Run the engine in-process instead of connecting to one."""
    database: str | None = None
    """Embedded only: `sqlite:///…` or `postgresql://…` (default: the user data folder)."""

    @model_validator(mode="after")
    def _connector(self) -> Profile:
        """`appaloft+http://…` names its platform: the kind, and the URL without it."""
        scheme, plus, rest = (self.url or "").partition("+")
        if plus and scheme in CONNECTORS:
            if self.kind not in ("shipdeck", scheme):
                raise ValueError(f'kind = "{self.kind}" but the URL says {scheme}')
            self.kind, self.url = scheme, rest
        if self.kind != "shipdeck" and (self.urls is not None or self.embedded):
            raise ValueError(f"a {self.kind} profile names one url (no urls, not embedded)")
        return self

    @model_validator(mode="after")
    def _one_kind(self) -> Profile:
        if self.url is not None and self.urls is not None:
            raise ValueError('set url = "…" or urls = ["…", "…"], not both')
        if self.urls is not None:
            if not self.urls:
                raise ValueError("urls = [] names no server: give at least one URL")
            if any(not url.strip() for url in self.urls):
                raise ValueError("urls holds an empty URL")
            seen = [url.rstrip("/") for url in self.urls]
            repeated = next((url for i, url in enumerate(seen) if url in seen[:i]), None)
            if repeated is not None:
                raise ValueError(f"urls names {repeated} twice")
        if self.embedded == bool(self.url or self.urls):
            raise ValueError('set either url = "…" (or urls = […]) or embedded = true')
        return self

    def servers(self) -> list[str]:
        """The base URLs of a remote profile, in the order they are tried (none if embedded)."""
        if self.urls is not None:
            return list(self.urls)
        return [self.url] if self.url else []

    def token(self) -> str | None:
        """The API key from `token_env`, if set and present."""
        return os.environ.get(self.token_env) if self.token_env else None


class Notifications(BaseModel):
    """When to raise a notification."""

    model_config = ConfigDict(extra="forbid")

    failures: Literal["last", "all", "none"] | list[str] = "last"
    """`last`: only the last environment; `all`; `none`; or a list of environments."""


class TuiConfig(BaseModel):
    """Everything in `config.toml`."""

    model_config = ConfigDict(extra="forbid")

    default_profile: str | None = None
    """Profile used when `--profile` is not given."""
    profiles: dict[str, Profile] = Field(default_factory=dict)
    """Named engines."""
    theme: str | None = None
    """A Textual theme name (e.g. `textual-dark`, `nord`, `textual-ansi`)."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Binding id → keys, e.g. `"matrix.history" = "H"`."""
    notify: Notifications = Field(default_factory=Notifications)


class TuiConfigError(Exception):
    """The TUI config file is unusable; the message says where and why."""


def default_config_path() -> Path:
    """`config.toml` in the platform's config folder."""
    return config_dir() / "config.toml"


def load_tui_config(path: Path | None = None) -> TuiConfig:
    """Read the config (a missing default file means defaults).

    Raises:
        TuiConfigError: the file is not TOML or holds unknown or invalid settings.
    """
    explicit = path is not None
    path = path or default_config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if explicit:
            raise TuiConfigError(f"config file {path} does not exist") from None
        return TuiConfig()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TuiConfigError(f"cannot read {path}: {exc}") from exc
    try:
        return TuiConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise TuiConfigError(f"invalid settings in {path}: {problems}") from exc
