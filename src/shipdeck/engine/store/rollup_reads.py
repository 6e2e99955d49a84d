"""Reads of the analytics rollups (a `Queries` mixin): counts of a window, incidents, scopes.

Without a service or namespace filter a read sums `analytics_env_counts` (per environment:
a 30-day window of hourly counts is at most 720 × environments × 8 rows) and takes back
what excluded scopes added, read from `analytics_counts`; with one, it reads that service's
or namespace's rows of `analytics_counts` only. A histogram's days are summed by the
database (per half of the window, for the trends), so what reaches Python is one row per
duration bucket, not one per bucket and day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...domain.analytics_fold import Scope
from .codec import where

RollupCell = tuple[int, str, str, int, int]
"""`(bucket or half, environment, key, count, sum)`; `environment` is `""` unless asked
for."""
IncidentRow = tuple[str, str, str, int, int | None]
"""`(service, namespace, environment, failed_at, restored_at)`; `restored_at` is `None`
unless the incident ended before the window's end."""
Sums = dict[tuple[int, str, str], list[int]]
_INCIDENTS = (
    "SELECT service, namespace, environment, failed_at, restored_at FROM analytics_incidents WHERE "
)


@dataclass(frozen=True, slots=True)
class RollupFilter:
    """Which scopes a read adds up: exact filters, minus `excluded` scopes."""

    service: str | None = None
    namespace: str | None = None
    """`""` matches rows without a namespace."""
    environment: str | None = None
    excluded: tuple[Scope, ...] = ()

    def admits(self, scope: Scope) -> bool:
        """Whether a scope's counts belong in the read."""
        service, namespace, environment = scope
        return (
            self.service in (None, service)
            and self.namespace in (None, namespace)
            and self.environment in (None, environment)
            and scope not in self.excluded
        )


@dataclass(frozen=True, slots=True)
class _Read:
    """One `analytics_rollup` read."""

    kind: str
    buckets: tuple[int, int]
    scope: RollupFilter
    by_environment: bool
    split: int | None

    def add(self, sums: Sums, bucket: int, environment: str, key: str, n: int, total: int) -> None:
        """Add a stored row's counts to the cell of its bucket (or half)."""
        part = bucket if self.split is None else int(bucket >= self.split)
        cell = (part, environment if self.by_environment else "", key)
        held = sums.setdefault(cell, [0, 0])
        held[0] += n
        held[1] += total


class AnalyticsStore(Protocol):
    """The rollups' part of the `Store` interface."""

    def analytics_scopes(self) -> list[Scope]:
        """Every `(service, namespace, environment)` the log holds rows of."""
        ...

    def analytics_rollup(
        self,
        kind: str,
        buckets: tuple[int, int],
        scope: RollupFilter,
        by_environment: bool,
        split: int | None = None,
    ) -> list[RollupCell]:
        """Counts of one kind in buckets `[first, end)`, summed per bucket and key (and
        environment, with `by_environment`); with `split`, per half instead of per bucket
        (`0` before `split`, `1` from it)."""
        ...

    def analytics_incidents(
        self, span: tuple[int, int], scope: RollupFilter, limit: int
    ) -> list[IncidentRow]:
        """Incidents that began in `span` (µs), worst first, at most `limit`."""
        ...


class AnalyticsQueries:
    """The rollups' reads, for both backends (`?` placeholders)."""

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def analytics_scopes(self) -> list[Scope]:
        """Every `(service, namespace, environment)` the log holds rows of."""
        rows = self._rows("SELECT service, namespace, environment FROM analytics_scopes")
        return [(str(s), str(n), str(e)) for s, n, e in rows]

    def analytics_rollup(
        self,
        kind: str,
        buckets: tuple[int, int],
        scope: RollupFilter,
        by_environment: bool,
        split: int | None = None,
    ) -> list[RollupCell]:
        """Counts of one kind in buckets `[first, end)`, summed per bucket and key (and
        environment, with `by_environment`); with `split`, per half instead of per bucket
        (`0` before `split`, `1` from it)."""
        query = _Read(kind, buckets, scope, by_environment, split)
        fine = scope.service is not None or scope.namespace is not None
        sums = self._fine(query) if fine else self._coarse(query)
        return [(*cell, n, total) for cell, (n, total) in sums.items()]

    def _fine(self, query: _Read) -> Sums:
        scope = query.scope
        sql, args = where(
            ("service = ?", scope.service),
            ("namespace = ?", scope.namespace),
            ("kind = ?", query.kind),
            ("bucket >= ?", query.buckets[0]),
            ("bucket < ?", query.buckets[1]),
            ("environment = ?", scope.environment),
        )
        rows = self._rows(
            "SELECT service, namespace, environment, bucket, key, n, total FROM analytics_counts"
            + sql,
            args,
        )
        sums: Sums = {}
        for service, namespace, environment, bucket, key, n, total in rows:
            if scope.admits((service, namespace, environment)):
                query.add(sums, int(bucket), str(environment), str(key), int(n), int(total))
        return sums

    def _coarse(self, query: _Read) -> Sums:
        keys = "environment, key" if query.by_environment else "key"
        part = "bucket" if query.split is None else "CASE WHEN bucket >= ? THEN 1 ELSE 0 END"
        sql, args = where(
            ("kind = ?", query.kind),
            ("bucket >= ?", query.buckets[0]),
            ("bucket < ?", query.buckets[1]),
            ("environment = ?", query.scope.environment),
        )
        rows = self._rows(
            f"SELECT {part} AS part, {keys}, SUM(n), SUM(total) FROM analytics_env_counts"
            f"{sql} GROUP BY part, {keys}",
            ([] if query.split is None else [query.split]) + args,
        )
        sums: Sums = {}
        for row in rows:
            environment = str(row[1]) if query.by_environment else ""
            sums[(int(row[0]), environment, str(row[-3]))] = [int(row[-2]), int(row[-1])]
        for excluded in query.scope.excluded:
            self._take_back(query, excluded, sums)
        return sums

    def _take_back(self, query: _Read, excluded: Scope, sums: Sums) -> None:
        """Subtract what an excluded scope added to the per-environment sums."""
        service, namespace, environment = excluded
        if query.scope.environment not in (None, environment):
            return
        taken = self._rows(
            "SELECT bucket, key, n, total FROM analytics_counts WHERE service = ? AND kind = ?"
            " AND bucket >= ? AND bucket < ? AND namespace = ? AND environment = ?",
            (service, query.kind, *query.buckets, namespace, environment),
        )
        for bucket, key, n, total in taken:
            query.add(sums, int(bucket), environment, str(key), -int(n), -int(total))

    def analytics_incidents(
        self, span: tuple[int, int], scope: RollupFilter, limit: int
    ) -> list[IncidentRow]:
        """Incidents that began in `span` (µs, `[from, to)`), worst first: unresolved at
        the span's end first (the latest first), then the longest; at most `limit`.

        Three reads, each served by an index and stopped at `limit`: the incidents still
        open, those restored after the span, and the restored ones by `lasted`. (The
        unary `+` keeps SQLite from reaching for another index on `failed_at`.)
        """
        filters, args = where(
            ("+failed_at >= ?", span[0]),
            ("+failed_at < ?", span[1]),
            ("service = ?", scope.service),
            ("namespace = ?", scope.namespace),
            ("environment = ?", scope.environment),
        )
        filters = filters.replace(" WHERE ", " AND ")
        latest = " ORDER BY failed_at DESC, service, environment LIMIT ? OFFSET ?"
        unresolved = [
            *self._incidents(
                _INCIDENTS + "restored_at IS NULL" + filters + latest, args, scope, limit
            ),
            *self._incidents(
                _INCIDENTS + "+restored_at >= ?" + filters + latest, [span[1], *args], scope, limit
            ),
        ]
        unresolved.sort(key=lambda row: (-row[3], row[0], row[2]))
        longest = " ORDER BY lasted DESC, failed_at DESC, service, environment LIMIT ? OFFSET ?"
        restored = self._incidents(
            _INCIDENTS + "lasted IS NOT NULL AND +restored_at < ?" + filters + longest,
            [span[1], *args],
            scope,
            limit,
        )
        found = [(s, n, e, failed, None) for s, n, e, failed, _ in unresolved] + restored
        return found[:limit]

    def _incidents(
        self, sql: str, args: list[Any], scope: RollupFilter, limit: int
    ) -> list[IncidentRow]:
        """The first `limit` rows of an incident read that excluded scopes do not hold."""
        found: list[IncidentRow] = []
        offset = 0
        while len(found) < limit:  # past excluded scopes, a page at a time
            rows = self._rows(sql, [*args, limit, offset])
            for service, namespace, environment, failed_at, restored_at in rows:
                if (service, namespace, environment) not in scope.excluded:
                    found.append((service, namespace, environment, failed_at, restored_at))
            if len(rows) < limit:
                break
            offset += limit
        return found[:limit]
