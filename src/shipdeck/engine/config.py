"""The engine's configuration: a TOML file, overridable by `SHIPDECK_*` variables."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ..domain import Role
from ..domain.policy import EnvironmentPolicy
from .analytics_config import AnalyticsConfig
from .control_config import ControlConfig
from .drivers import CommandConfig, GitopsConfig, SimulateConfig
from .exclusion import IngestConfig
from .presets import PresetConfig
from .webhook_config import WebhooksConfig


class EnvironmentConfig(BaseModel):
    """One `[[environments]]` entry; the file's order is the matrix's column order."""

    name: str = Field(min_length=1, max_length=64)
    """The environment's identifier, as CI reports it."""


class AuthConfig(BaseModel):
    """Who may read."""

    read: Literal["open", "key"] = "open"
    """`open`: reads need no key (the contract's default); `key`: every read needs one."""
    local_role: Role = Role.ADMIN
    """The role of the local OS user when the engine runs embedded in the TUI."""


class StreamConfig(BaseModel):
    """The live event feed."""

    ping_interval: float = Field(default=15.0, gt=0)
    """Seconds between `: ping` comments on an idle SSE stream."""
    subscriber_queue: int = Field(default=1024, ge=1)
    """Recent events kept in memory for every subscriber (one window, shared); a reader
    further behind than that catches up from the store."""
    catch_up_limit: int = Field(default=50_000, ge=1)
    """A subscriber further behind than this many events is told to resync instead."""
    coalesce_ms: float = Field(default=10.0, ge=0, le=1000)
    """Events published within this many milliseconds reach subscribers together."""
    max_wakeups_per_second: int = Field(default=20_000, ge=0)
    """With many subscribers the tick lengthens to subscribers ÷ this (500: 25 ms), so
    the fan-out cannot starve ingest on the same event loop; 0: no cap."""
    retention_hours: float = Field(default=168.0, gt=0)
    """How long events stay replayable with `Last-Event-ID` (default: a week)."""


class ClusterConfig(BaseModel):
    """Several replicas on one PostgreSQL database (`[cluster]`)."""

    model_config = {"extra": "forbid"}
    replica: str = Field(default="", max_length=200)
    """This replica's name in leases and messages; default `HOST:PORT` (`shipdeck serve`)
    or `HOST:embedded`. Keep it stable across restarts: a replica that restarts under its
    name ends its own interrupted runs at once, others wait for the lease to lapse."""
    lease_seconds: float = Field(default=15.0, ge=1.0, le=3600.0)
    """How long a replica holds a run without renewing it (it renews every third of this).
    A run whose replica died is ended `failure` by another within about this long."""


class HttpConfig(BaseModel):
    """Limits of the HTTP server."""

    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a client may take to send a request body; slower ones get `408`."""


class LogsConfig(BaseModel):
    """Deployment log lines."""

    secrets: dict[str, list[Annotated[str, Field(min_length=1)]]] = Field(default_factory=dict)
    """Service → literal secret values. Every value configured here (whatever its service)
    is replaced by `••••` in every line before the line is stored."""
    max_line_bytes: int = Field(default=8192, ge=256, le=1024 * 1024)
    """Longer lines (after masking, in UTF-8) are cut to this size, ending with `…`."""


class RateLimitConfig(BaseModel):
    """A token bucket per API key, for mutating requests (ingest, actions, approvals…)."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(default=200.0, gt=0)
    """Sustained requests per second per key."""
    burst: int = Field(default=2000, ge=1)
    """Requests a key may make at once before the sustained rate applies."""


class SimulateDriverSpec(SimulateConfig):
    """A `[drivers.NAME]` table with `kind = "simulate"`."""

    kind: Literal["simulate"]


class CommandDriverSpec(CommandConfig):
    """A `[drivers.NAME]` table with `kind = "command"`."""

    kind: Literal["command"]


class GitopsDriverSpec(GitopsConfig):
    """A `[drivers.NAME]` table with `kind = "gitops"`."""

    kind: Literal["gitops"]


DriverSpec = Annotated[
    SimulateDriverSpec | CommandDriverSpec | GitopsDriverSpec, Field(discriminator="kind")
]


class ExecutorConfig(BaseModel):
    """Which driver runs a slot's deployments: the service's choice, else the environment's,
    else `driver`. Names refer to `[drivers.NAME]` tables (`simulate` exists by default)."""

    model_config = ConfigDict(extra="forbid")

    driver: str | None = None
    """The default driver; none: actions are refused until one is configured."""
    environments: dict[str, str] = Field(default_factory=dict)
    """Environment → driver name (the default of that environment's slots)."""
    services: dict[str, str | dict[str, str]] = Field(default_factory=dict)
    """Service → driver name, or service → {environment → driver name}."""

    def driver_for(self, service: str, environment: str) -> str | None:
        """The driver name that runs `service` in `environment`, if any."""
        chosen = self.services.get(service)
        if isinstance(chosen, str):
            return chosen
        if chosen is not None and environment in chosen:
            return chosen[environment]
        return self.environments.get(environment, self.driver)

    def names(self) -> set[str]:
        """Every driver name the choices mention."""
        found = {self.driver} if self.driver else set()
        found |= set(self.environments.values())
        for choice in self.services.values():
            found |= {choice} if isinstance(choice, str) else set(choice.values())
        return found


def _default_drivers() -> dict[str, SimulateDriverSpec | CommandDriverSpec | GitopsDriverSpec]:
    return {"simulate": SimulateDriverSpec(kind="simulate")}


class EngineConfig(BaseSettings):
    """Everything an engine reads at start."""

    model_config = SettingsConfigDict(
        env_prefix="SHIPDECK_", env_nested_delimiter="__", extra="forbid"
    )

    environments: list[EnvironmentConfig] = Field(default_factory=list)
    """Environment order; unlisted environments follow in the conventional order."""
    auth: AuthConfig = Field(default_factory=AuthConfig)
    """Read access."""
    stream: StreamConfig = Field(default_factory=StreamConfig)
    """SSE and subscriptions."""
    logs: LogsConfig = Field(default_factory=LogsConfig)
    """Deployment logs: secret masking and line size."""
    http: HttpConfig = Field(default_factory=HttpConfig)
    """Request limits."""
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    """Which driver runs which slot."""
    drivers: dict[str, DriverSpec] = Field(default_factory=_default_drivers)
    """Named drivers (`[drivers.NAME]` with `kind` = simulate, command or gitops)."""
    policies: dict[str, EnvironmentPolicy] = Field(default_factory=dict)
    """Environment → policy (`[policies.prod]`: approvals, approvers, freeze windows)."""
    rate_limit: RateLimitConfig = Field(default_factory=lambda: RateLimitConfig())
    """Per-key limits on mutating requests (kept by each replica for itself)."""
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    """Replica name and run leases."""
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    """What ingest accepts: services excluded from this dashboard (`exclude_services`)."""
    presets: list[PresetConfig] = Field(default_factory=list)
    """UI presets offered to every dashboard user (`[[presets]]`: source, name, settings)."""
    control: ControlConfig = Field(default_factory=ControlConfig)
    """The control surface: its key, whether reset may run, the drain's components."""
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
    """`/api/analytics/*`: the promotion ladder, the window's rounding, the retention."""
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    """Incoming webhooks and their secrets (`[webhooks.github] secret = …`)."""

    @model_validator(mode="after")
    def _drivers_exist(self) -> EngineConfig:
        if "simulate" not in self.drivers:
            self.drivers["simulate"] = SimulateDriverSpec(kind="simulate")
        missing = sorted(self.executor.names() - set(self.drivers))
        if missing:
            raise ValueError(
                f"executor names undefined driver(s) {', '.join(missing)}; define each as a "
                f"[drivers.NAME] table with kind = simulate, command or gitops "
                f"(defined: {', '.join(sorted(self.drivers))})"
            )
        return self

    @property
    def environment_order(self) -> list[str]:
        """Configured environment names in order."""
        return [env.name for env in self.environments]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables override the file, which the caller passes as init values.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and why."""


def load_config(path: Path | None = None) -> EngineConfig:
    """Read the engine's TOML file (none: defaults and environment variables only).

    Raises:
        ConfigError: the file is missing, is not TOML, or holds unknown or invalid settings.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        return EngineConfig(**data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration in {path or 'environment'}: {problems}") from exc
