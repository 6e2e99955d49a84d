"""What the Insights screen counts: every service, or one service, environment, namespace.

The engine's analytics filter by exact names, one of each at most. The screen's filter line
reads `service:NAME env:NAME ns:NAME`, and a bare word picks the one service it names or
matches as the matrix's `/` does (`chkapi` finds `checkout-api`). Opened from a matrix whose
`/` filter is in force, the screen counts that filter's service when it matches one.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ..domain import DeploymentEvent
from ..domain.analytics import AnalyticsQuery, WindowName
from .model import matcher
from .sanitize import sanitize

_KEYS = {
    "service": "service",
    "env": "environment",
    "environment": "environment",
    "ns": "namespace",
    "namespace": "namespace",
}
_NAMED = 3
"""Matching services named in a refusal before `…`."""


class ScopeError(ValueError):
    """The filter line cannot be read as one scope; the message says why."""


@dataclass(frozen=True, slots=True)
class InsightScope:
    """Exact names the figures are limited to (`None`: all)."""

    service: str | None = None
    environment: str | None = None
    namespace: str | None = None

    def query(self, window: WindowName) -> AnalyticsQuery:
        """The engine's request for this scope over `window`."""
        return AnalyticsQuery(
            window=window,
            service=self.service,
            environment=self.environment,
            namespace=self.namespace,
        )

    def covers(self, event: DeploymentEvent) -> bool:
        """Whether a row counts in this scope's figures."""
        return (
            self.service in (None, event.service)
            and self.environment in (None, event.environment)
            and self.namespace in (None, event.namespace)
        )

    @property
    def line(self) -> str:
        """The filter line `scope_of` reads back to this scope."""
        parts = [
            f"{key}:{shlex.quote(value)}"
            for key, value in (
                ("service", self.service),
                ("env", self.environment),
                ("ns", self.namespace),
            )
            if value is not None
        ]
        return " ".join(parts)

    def describe(self) -> str:
        """`all services`, or `service checkout-api · env prod` (sanitised)."""
        if not self.line:
            return "all services"
        parts = [
            f"{word} {sanitize(value)}"
            for word, value in (
                ("service", self.service),
                ("env", self.environment),
                ("ns", self.namespace),
            )
            if value is not None
        ]
        return " · ".join(parts)


def scope_of(line: str, services: list[str]) -> InsightScope:
    """Read a filter line; a bare word is resolved among `services` (see the module)."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise ScopeError(f"unbalanced quotes: {exc}") from None
    fields: dict[str, str] = {}
    bare = []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in _KEYS and value:
            fields[_KEYS[key.lower()]] = value
        else:
            bare.append(word)
    if len(bare) > 1 or (bare and "service" in fields):
        raise ScopeError("insights count one service, or all: name one")
    if bare:
        fields["service"] = one_service(bare[0], services)
    return InsightScope(**fields)


def one_service(text: str, services: list[str]) -> str:
    """The service `text` names, or the only one it matches as the matrix's filter does."""
    if text in services:
        return text
    found = [name for name in services if matcher(text)(name)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise ScopeError(f"no service matches {sanitize(text)}")
    named = ", ".join(sanitize(name) for name in found[:_NAMED])
    more = ", …" if len(found) > _NAMED else ""
    raise ScopeError(
        f"{sanitize(text)} matches {len(found)} services ({named}{more}); "
        "insights count one service, or all"
    )


def from_matrix(filter_text: str, services: list[str]) -> tuple[InsightScope, str | None]:
    """The scope of the matrix's `/` filter, and why it is all services when it cannot be one."""
    if not filter_text:
        return InsightScope(), None
    try:
        return InsightScope(service=one_service(filter_text, services)), None
    except ScopeError as why:
        return InsightScope(), f"the matrix's filter: {why}"


__all__ = ["InsightScope", "ScopeError", "from_matrix", "one_service", "scope_of"]
