"""Promotions, their approvals, environment states and executions."""

from __future__ import annotations

import sqlite3
from operator import attrgetter

from ..codec import (
    EXECUTION_COLUMNS,
    columns,
    execution_values,
    field_names,
    placeholders,
)
from ..records import ApprovalRecord, EnvironmentRecord, PromotionRecord, Writes

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
