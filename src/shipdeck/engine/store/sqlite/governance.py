"""Promotions, their approvals, environment states and executions."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from operator import attrgetter

from ..codec import (
    EXECUTION_COLUMNS,
    columns,
    execution_from_row,
    execution_values,
    field_names,
    placeholders,
    where,
)
from ..records import ApprovalRecord, EnvironmentRecord, ExecutionRecord, PromotionRecord, Writes
from .connection import Connections

# These tables hold their records field for field, in the records' order.
_PROMOTION_COLUMNS = field_names(PromotionRecord)
_APPROVAL_COLUMNS = field_names(ApprovalRecord)
_ENVIRONMENT_COLUMNS = field_names(EnvironmentRecord)

_SELECT_PROMOTIONS = f"SELECT {columns(_PROMOTION_COLUMNS)} FROM promotions"
_SELECT_EXECUTIONS = f"SELECT {columns(EXECUTION_COLUMNS)} FROM executions"


def _insert(table: str, names: tuple[str, ...], *, replace: bool = False) -> str:
    verb = "INSERT OR REPLACE" if replace else "INSERT"
    return f"{verb} INTO {table} ({columns(names)}) VALUES ({placeholders(names)})"


_PUT_PROMOTION = _insert("promotions", _PROMOTION_COLUMNS, replace=True)
_ADD_APPROVAL = _insert("approvals", _APPROVAL_COLUMNS)
_PUT_ENVIRONMENT = _insert("environment_state", _ENVIRONMENT_COLUMNS, replace=True)
_ADD_EXECUTION = _insert("executions", EXECUTION_COLUMNS)

_promotion_values = attrgetter(*_PROMOTION_COLUMNS)
_approval_values = attrgetter(*_APPROVAL_COLUMNS)
_environment_values = attrgetter(*_ENVIRONMENT_COLUMNS)


def write_governance(conn: sqlite3.Connection, writes: Writes) -> None:
    """Apply the executions, promotions, approvals and environments of `writes`."""
    conn.executemany(_ADD_EXECUTION, [execution_values(e) for e in writes.executions])
    conn.executemany(
        "UPDATE executions SET state = ? WHERE deployment_id = ?",
        [(state, deployment_id) for deployment_id, state in writes.states],
    )
    conn.executemany(
        "UPDATE executions SET owner = ?, lease_until = ? WHERE deployment_id = ?",
        [(owner, until, deployment_id) for deployment_id, owner, until in writes.leases],
    )
    conn.executemany(_PUT_PROMOTION, [_promotion_values(p) for p in writes.promotions])
    conn.executemany(_ADD_APPROVAL, [_approval_values(a) for a in writes.approvals])
    conn.executemany(_PUT_ENVIRONMENT, [_environment_values(e) for e in writes.environments])


class Governance(Connections):
    """Reads of promotions, approvals, environment states and executions."""

    def promotion(self, promotion_id: str) -> PromotionRecord | None:
        row = self._conn.execute(_SELECT_PROMOTIONS + " WHERE id = ?", (promotion_id,)).fetchone()
        return None if row is None else PromotionRecord(*row)

    def promotion_of_deployment(self, deployment_id: str) -> PromotionRecord | None:
        row = self._conn.execute(
            _SELECT_PROMOTIONS + " WHERE deployment_id = ?", (deployment_id,)
        ).fetchone()
        return None if row is None else PromotionRecord(*row)

    def promotions(
        self,
        *,
        status: str | None = None,
        service: str | None = None,
        environment: str | None = None,
        before: str | None = None,
        limit: int = 100,
    ) -> list[PromotionRecord]:
        sql, args = where(
            ("status = ?", status),
            ("service = ?", service),
            ("to_environment = ?", environment),
            ("id < ?", before),
        )
        sql = _SELECT_PROMOTIONS + sql + " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [PromotionRecord(*row) for row in self._conn.execute(sql, args)]

    def approvals(self, promotion_id: str) -> list[ApprovalRecord]:
        rows = self._conn.execute(
            f"SELECT {columns(_APPROVAL_COLUMNS)} FROM approvals"
            " WHERE promotion_id = ? ORDER BY at, principal",
            (promotion_id,),
        )
        return [ApprovalRecord(*row) for row in rows]

    def environment_records(self) -> list[EnvironmentRecord]:
        rows = self._conn.execute(
            f"SELECT {columns(_ENVIRONMENT_COLUMNS)} FROM environment_state ORDER BY environment"
        )
        return [EnvironmentRecord(*row) for row in rows]

    def execution(self, deployment_id: str) -> ExecutionRecord | None:
        row = self._conn.execute(
            _SELECT_EXECUTIONS + " WHERE deployment_id = ?", (deployment_id,)
        ).fetchone()
        return None if row is None else execution_from_row(row)

    def executions(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        states: Sequence[str] = (),
    ) -> list[ExecutionRecord]:
        sql, args = where(
            ("service = ?", service),
            ("environment = ?", environment),
            (f"state IN ({', '.join('?' * len(states))})", tuple(states) or None),
        )
        sql = _SELECT_EXECUTIONS + sql + " ORDER BY requested_at, rowid"
        return [execution_from_row(row) for row in self._conn.execute(sql, args)]
