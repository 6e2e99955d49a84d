"""The analytics rollups: their tables, and how counts are added to them.

The analytics are kept up to date in the transaction that appends rows (`rollup_fold`), so
every replica, `shipdeck import` and a restart see them as committed, and no request ever
reads the log (migration 0011 made them from the rows stored before it).

- `analytics_counts`: counts (and sums of durations, µs) per `(service, kind, bucket,
  namespace, environment, key)`. `kind` is one of `status` (bucket: UTC hour, key: the
  status), `started`, `deployer` (key: actor), `duration`, `restore`, `lead` (bucket: UTC
  day, key: a histogram bucket). Read for a service or a namespace.
- `analytics_env_counts`: the same summed over services and namespaces, per environment:
  what unfiltered reads add up (a 30-day window is a few thousand rows, whatever the log).
- `analytics_scopes`: every `(service, namespace, environment)` seen (exclusion patterns
  are matched against it at read time).
- `analytics_deployments`: per logical deployment, its first row, latest final row and
  first success (`domain.analytics_fold.DeploymentFacts`).
- `analytics_incidents`: each slot's incidents (first failure, restoring success).
- `analytics_lead_edges`: per success or failure naming parents, one edge per parent, with
  the parent's first row once it is known.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from ...domain.analytics_fold import Contribution, IncidentSpan

ANALYTICS_TABLES = (
    "analytics_counts",
    "analytics_env_counts",
    "analytics_scopes",
    "analytics_deployments",
    "analytics_incidents",
    "analytics_lead_edges",
)
"""Every table the rollups keep (a reset erases them with the log)."""


@dataclass(frozen=True, slots=True)
class TableRows:
    """An `INSERT` of rows into one table. `sql` writes one row (`?` placeholders); a
    backend that sends the rows of one `RollupTx.many` call as one statement finds here
    the table's columns with their SQL types and what follows the values. Callers give a
    key that `tail` updates at most once a call (one statement cannot update a row twice).
    """

    table: str
    columns: tuple[tuple[str, str], ...]
    """`(name, SQL type)` of each value, in the order of the rows' values."""
    tail: str = ""
    """`ON CONFLICT …`, or nothing."""

    @property
    def names(self) -> tuple[str, ...]:
        """The columns' names."""
        return tuple(name for name, _ in self.columns)

    @property
    def types(self) -> tuple[str, ...]:
        """The columns' SQL types."""
        return tuple(kind for _, kind in self.columns)

    @property
    def sql(self) -> str:
        """The statement for one row."""
        values = ", ".join("?" * len(self.columns))
        tail = f" {self.tail}" if self.tail else ""
        return f"INSERT INTO {self.table} ({', '.join(self.names)}) VALUES ({values}){tail}"


def _columns(spec: str) -> tuple[tuple[str, str], ...]:
    """`"a b# c"` as `(("a", "text"), ("b", "bigint"), ("c", "text"))`."""
    return tuple(
        (name.removesuffix("#"), "bigint" if name.endswith("#") else "text")
        for name in spec.split()
    )


_FINE = TableRows(
    "analytics_counts",
    _columns("service kind bucket# namespace environment key n# total#"),
    "ON CONFLICT (service, kind, bucket, namespace, environment, key) DO UPDATE SET"
    " n = analytics_counts.n + excluded.n, total = analytics_counts.total + excluded.total",
)
_COARSE = TableRows(
    "analytics_env_counts",
    _columns("kind bucket# environment key n# total#"),
    "ON CONFLICT (kind, bucket, key, environment) DO UPDATE SET"
    " n = analytics_env_counts.n + excluded.n,"
    " total = analytics_env_counts.total + excluded.total",
)
_SCOPE = TableRows(
    "analytics_scopes",
    _columns("service namespace environment"),
    "ON CONFLICT (service, namespace, environment) DO NOTHING",
)
_DEPLOYMENT_COLUMNS = _columns(
    "deployment_id service namespace environment first_at# first_arr# actor end_at# success_at#"
)
_DEPLOYMENT = TableRows(
    "analytics_deployments",
    _DEPLOYMENT_COLUMNS,
    "ON CONFLICT (deployment_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name, _ in _DEPLOYMENT_COLUMNS[1:]),
)
_EDGE = TableRows(
    "analytics_lead_edges",
    _columns("parent_id child_arr# service namespace environment at# first_at#"),
    "ON CONFLICT (parent_id, child_arr) DO NOTHING",
)
_INCIDENT = TableRows(
    "analytics_incidents",
    _columns(
        "service environment failed_at# failed_arr# namespace restored_at# restored_arr# lasted#"
    ),
)
_ADD_FINE = _FINE.sql
_ADD_COARSE = _COARSE.sql
_ADD_SCOPE = _SCOPE.sql
PUT_DEPLOYMENT = _DEPLOYMENT.sql
ADD_EDGE = _EDGE.sql
ADD_INCIDENT = _INCIDENT.sql
TABLE_ROWS = {rows.sql: rows for rows in (_FINE, _COARSE, _SCOPE, _DEPLOYMENT, _EDGE, _INCIDENT)}
"""The `INSERT`s the rollups send through `RollupTx.many`, by their one-row SQL."""
LOAD_DEPLOYMENTS = (
    "SELECT 0, deployment_id, service, namespace, environment, first_at, first_arr, actor,"
    " end_at, success_at FROM analytics_deployments WHERE deployment_id IN "
)
IN_LIST = 500
"""Values bound in one `IN (…)`."""


def incident_values(service: str, environment: str, incident: IncidentSpan) -> tuple[Any, ...]:
    """The `analytics_incidents` row of an incident."""
    restored = incident.restored or (None, None)
    lasted = None if incident.restored is None else incident.restored[0] - incident.failed[0]
    return (service, environment, *incident.failed, incident.namespace, *restored, lasted)


Later = Callable[[], list[tuple[Any, ...]]]
"""The rows of a read sent earlier (`RollupTx.read_later`)."""


@dataclass(frozen=True, slots=True)
class RollupTx:
    """A write transaction as the rollups use it, on any backend: `rows` runs one read
    (`?` placeholders) and returns its rows, `many` runs a write once per argument tuple.
    `batch` wraps writes whose outcome nothing reads before the commit: PostgreSQL sends
    them in one pipeline (one round trip instead of one per statement). `later` sends a
    read whose rows are fetched when asked for: in PostgreSQL's pipelined append it travels
    in the append's first round trip (absent: the read runs at once)."""

    rows: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
    many: Callable[[str, Sequence[Sequence[Any]]], None]
    batch: Callable[[], AbstractContextManager[Any]] = nullcontext
    later: Callable[[str, Sequence[Any]], Later] | None = None
    facts_read: Callable[[Sequence[str]], tuple[str, Sequence[Any]]] | None = None
    """The read of many deployments' stored facts and the edges naming them parents, where
    a backend words it its own way (`rollup_fold` has one for any backend)."""
    incidents_read: Callable[[Sequence[tuple[str, str]]], tuple[str, Sequence[Any]]] | None = None
    """The read of many slots' latest incidents, likewise."""

    def read_later(self, sql: str, args: Sequence[Any]) -> Later:
        """Send a read now; call what it returns for its rows."""
        if self.later is not None:
            return self.later(sql, args)
        found = self.rows(sql, args)
        return lambda: found


def placeholders(count: int) -> str:
    """`(?, ?, …)` for an `IN` list of `count` values."""
    return "(" + ", ".join("?" * count) + ")"


def chunks(values: Sequence[Any], size: int = IN_LIST) -> Iterable[Sequence[Any]]:
    """`values` in slices of at most `size`."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Deltas:
    """Counts to add to the count tables, summed per key until `flush`."""

    __slots__ = ("_coarse", "_fine", "scopes")

    def __init__(self) -> None:
        self._fine: dict[tuple[str, str, int, str, str, str], list[int]] = {}
        self._coarse: dict[tuple[str, int, str, str], list[int]] = {}
        self.scopes: set[tuple[str, str, str]] = set()

    def __len__(self) -> int:
        return len(self._fine)

    def add(self, found: Contribution | None, sign: int = 1) -> None:
        """Count one contribution (`sign=-1`: take it back)."""
        if found is None:
            return
        service, namespace, environment = found.scope
        fine = (service, found.kind, found.bucket, namespace, environment, found.key)
        held = self._fine.setdefault(fine, [0, 0])
        held[0] += sign
        held[1] += sign * found.total
        coarse = (found.kind, found.bucket, environment, found.key)
        held = self._coarse.setdefault(coarse, [0, 0])
        held[0] += sign
        held[1] += sign * found.total

    def replace(self, old: Iterable[Contribution], new: Iterable[Contribution]) -> None:
        """Take `old` back and count `new` instead (what is in both cancels out)."""
        for found in old:
            self.add(found, -1)
        for found in new:
            self.add(found)

    def flush(self, tx: RollupTx) -> None:
        """Add the summed counts to the tables (those that cancelled out are skipped)."""
        fine = [(*key, n, total) for key, (n, total) in self._fine.items() if n or total]
        coarse = [(*key, n, total) for key, (n, total) in self._coarse.items() if n or total]
        if self.scopes:
            tx.many(_ADD_SCOPE, sorted(self.scopes))
        if fine:
            tx.many(_ADD_FINE, fine)
        if coarse:
            tx.many(_ADD_COARSE, coarse)
        self._fine.clear()
        self._coarse.clear()
        self.scopes.clear()
