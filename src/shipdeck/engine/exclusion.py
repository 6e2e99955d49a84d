"""Service exclusion: services an operator never wants on this dashboard (`[ingest]`).

Upstream's API takes `SERVICE_EXCLUDE`, a comma-separated list of globs; shipdeck takes
the same list as `[ingest] exclude_services` in the engine's TOML file, or as
`SHIPDECK_INGEST__EXCLUDE_SERVICES` (comma-separated, or a JSON array). A pattern:

- without a `/` is matched against the service name, in every namespace
  (`svc-exclude-probe`, `legacy-*`);
- with a `/` is matched against the row's `namespace/service` identity
  (`probe-ns/probe-*`), so it never matches a row without a namespace.

`*` stands for any run of characters, `?` for one; nothing else is special, and matching
ignores case (as upstream's own glob does), so an exclusion errs towards hiding.

An excluded service is refused on ingest (`403`, `ServiceExcluded`), and hidden from the
reads that list services or rows, in case rows of it were stored before it was excluded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_settings import NoDecode

from .errors import Forbidden
from .store.rollup_reads import AnalyticsStore

MAX_PATTERNS = 1000
"""More than this many patterns is a configuration mistake, not a policy."""


def _pattern_list(value: object) -> object:
    """Take upstream's comma-separated form as well as a list (or a JSON array in text)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


ServicePattern = Annotated[str, Field(min_length=1, max_length=257, pattern=r"^[^/]+(/[^/]+)?$")]
"""`service-glob` or `namespace-glob/service-glob`."""


class IngestConfig(BaseModel):
    """What ingest accepts (`[ingest]`, or `SHIPDECK_INGEST__*` variables)."""

    model_config = ConfigDict(extra="forbid")

    exclude_services: Annotated[
        list[ServicePattern],
        NoDecode,  # a variable's text reaches `_pattern_list` as it is: commas or JSON
        BeforeValidator(_pattern_list),
        Field(max_length=MAX_PATTERNS),
    ] = Field(default_factory=list)
    """Globs of services to refuse (`403`) and hide from reads: `name` matches the service in
    every namespace, `namespace/name` one namespace's; `*` any characters, `?` one; case is
    ignored. Upstream's `SERVICE_EXCLUDE="a,ns/b-*"` is `exclude_services = ["a", "ns/b-*"]`."""


def _glob(pattern: str) -> str:
    return "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )


@dataclass(frozen=True, slots=True)
class ServiceExclusion:
    """The compiled patterns of `IngestConfig.exclude_services`."""

    patterns: tuple[str, ...]
    _names: re.Pattern[str] | None
    """Slashless patterns, against the service name."""
    _identities: re.Pattern[str] | None
    """`namespace/service` patterns, against that identity."""

    @property
    def active(self) -> bool:
        """Whether any pattern is configured (none: every check is skipped)."""
        return bool(self.patterns)

    def excludes(self, service: str, namespace: str | None = None) -> bool:
        """Whether a row of `service` (in `namespace`, if any) is excluded."""
        if self._names is not None and self._names.fullmatch(service):
            return True
        return (
            namespace is not None
            and self._identities is not None
            and self._identities.fullmatch(f"{namespace}/{service}") is not None
        )

    def excludes_name(self, service: str) -> bool:
        """Whether the service name itself is excluded in every namespace (what a list of
        bare service names can hide without hiding another namespace's service)."""
        return self._names is not None and self._names.fullmatch(service) is not None

    def check(self, service: str, namespace: str | None = None) -> None:
        """Refuse a row of an excluded service.

        Raises:
            ServiceExcluded: a configured pattern matches the row's service.
        """
        if self.patterns and self.excludes(service, namespace):
            raise ServiceExcluded(service, namespace)

    def hidden(self, scopes: Iterable[tuple[str, str, str]]) -> HiddenRows:
        """What is hidden of the stored `(service, namespace, environment)` scopes (the
        store's `analytics_scopes`; `""`: no namespace)."""
        if not self.patterns:
            return NOTHING_HIDDEN
        names: set[str] = set()
        identities: set[tuple[str, str]] = set()
        visible: set[str] = set()
        hidden_in: set[str] = set()
        shown_in: set[str] = set()
        for service, namespace, environment in scopes:
            if self.excludes_name(service):
                names.add(service)
            elif namespace and self.excludes(service, namespace):
                identities.add((namespace, service))
            else:
                visible.add(service)
                shown_in.add(environment)
                continue
            hidden_in.add(environment)
        empty = names | {service for _, service in identities if service not in visible}
        return HiddenRows(
            tuple(sorted(names)),
            tuple(sorted(identities)),
            frozenset(empty),
            frozenset(hidden_in - shown_in),
        )


@dataclass(frozen=True, slots=True)
class HiddenRows:
    """What an exclusion hides of a store's rows, by stored name (`ServiceExclusion.hidden`).

    Patterns are matched here, in Python, by the one matcher ingest uses; a database is
    then asked for exact names (`service NOT IN (…)`), which SQLite and PostgreSQL compare
    alike whatever the case or the characters of a name.
    """

    services: tuple[str, ...] = ()
    """Names excluded in every namespace (a slashless pattern matches them): all their rows."""
    identities: tuple[tuple[str, str], ...] = ()
    """`(namespace, service)` pairs a `namespace/service` pattern matches (of services not
    in `services`): those rows only."""
    empty: frozenset[str] = frozenset()
    """Services every row of which is hidden (`services`, and those whose every namespace is
    an excluded identity): what per-service reads (the matrix, its index, the service list)
    leave out. A service with a visible row stays, as a name does not say its namespace."""
    environments: frozenset[str] = frozenset()
    """Environments only hidden rows are in."""

    @property
    def rows(self) -> bool:
        """Whether any stored row is hidden."""
        return bool(self.services or self.identities)


NOTHING_HIDDEN = HiddenRows()


@lru_cache(maxsize=8)
def compile_exclusion(patterns: tuple[str, ...]) -> ServiceExclusion:
    """The matcher of `patterns` (cached: ingest asks for it on every request)."""
    names = [_glob(p) for p in patterns if "/" not in p]
    identities = [_glob(p) for p in patterns if "/" in p]

    def union(parts: list[str]) -> re.Pattern[str] | None:
        return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE) if parts else None

    return ServiceExclusion(patterns, union(names), union(identities))


def hidden_rows(store: AnalyticsStore, exclusion: ServiceExclusion) -> HiddenRows:
    """What `exclusion` hides of `store`'s rows, by stored name: a read of the store's
    scopes (run it on a reader thread), none without patterns."""
    if not exclusion.active:
        return NOTHING_HIDDEN
    return exclusion.hidden(store.analytics_scopes())


def exclusion_of(config: IngestConfig) -> ServiceExclusion:
    """The compiled exclusion of an `[ingest]` section."""
    return compile_exclusion(tuple(config.exclude_services))


class ServiceExcluded(Forbidden):
    """Ingest of a service this deployment excludes by configuration."""

    kind = "service-excluded"
    title = "Service excluded"

    def __init__(self, service: str, namespace: str | None) -> None:
        identity = service if namespace is None else f"{namespace}/{service}"
        super().__init__(
            f"service {identity!r} is excluded on this server by configuration "
            "([ingest] exclude_services, or SHIPDECK_INGEST__EXCLUDE_SERVICES); "
            "its events are neither stored nor shown",
            pointer="/service",
        )


__all__ = [
    "NOTHING_HIDDEN",
    "HiddenRows",
    "IngestConfig",
    "ServiceExcluded",
    "ServiceExclusion",
    "compile_exclusion",
    "exclusion_of",
    "hidden_rows",
]
