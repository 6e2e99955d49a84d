"""Reads of the PostgreSQL backend (each on a pooled connection, in autocommit)."""

from __future__ import annotations

from collections.abc import Sequence

from ....domain import to_micros
from ..codec import (
    AUDIT_COLUMNS,
    EXECUTION_COLUMNS,
    SELECT_KEYS,
    columns,
    execution_from_row,
    field_names,
    key_from_row,
    slot_from_row,
    where,
)
from ..records import (
    ApprovalRecord,
    AuditEntry,
    AuditRecord,
    DeploymentQuery,
    EnvironmentRecord,
    ExecutionRecord,
    KeyRecord,
    PromotionRecord,
    SlotRecord,
    StoredEvent,
    StoredLogLine,
)
from .connection import Connections, unescape_nul
from .writes import SELECT_SLOTS

_SELECT_PROMOTIONS = f"SELECT {columns(field_names(PromotionRecord))} FROM promotions"
_SELECT_EXECUTIONS = f"SELECT {columns(EXECUTION_COLUMNS)} FROM executions"
_SELECT_AUDIT = f"SELECT seq, {columns(AUDIT_COLUMNS)}, prev_hash, hash FROM audit"


class Reads(Connections):
    """Everything the store answers without writing."""

    # -- deployments and slots -------------------------------------------------------

    def list_deployments(self, query: DeploymentQuery) -> list[tuple[int, str, str]]:
        filters = query.filters
        text = None
        if filters.text:
            escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            text = f"%{escaped}%"
        sql, args = where(
            ("service = %s", filters.service),
            ("environment = %s", filters.environment),
            ("deployment_id = %s", filters.deployment_id),
            ("actor = %s", filters.actor),
            # ILIKE: SQLite's LIKE ignores ASCII case, and `q` means the same on both.
            ("doc ILIKE %s ESCAPE '\\'", text),
            ("status = %s", None if filters.status is None else filters.status.value),
            ("happened_at >= %s", None if filters.since is None else to_micros(filters.since)),
            ("happened_at < %s", None if filters.until is None else to_micros(filters.until)),
            ("(happened_at, id) < (%s, %s)", query.before),
        )
        sql = "SELECT happened_at, id, doc FROM deployments" + sql
        sql += " ORDER BY happened_at DESC, id DESC LIMIT %s"
        args.append(query.limit)
        return [
            (int(happened_at), str(row_id), str(doc))
            for happened_at, row_id, doc in self._rows(sql, args)
        ]

    def get_deployment(self, row_id: str) -> str | None:
        row = self._one("SELECT doc FROM deployments WHERE id = %s", (row_id,))
        return None if row is None else str(row[0])

    def slots(
        self, service: str | None = None, *, changed_after: int | None = None
    ) -> list[SlotRecord]:
        sql, args = where(("service = %s", service), ("changed_seq > %s", changed_after))
        sql = SELECT_SLOTS + sql + " ORDER BY service, environment"
        return [slot_from_row(row) for row in self._rows(sql, args)]

    def services(self) -> list[str]:
        return [str(s) for (s,) in self._rows("SELECT DISTINCT service FROM slots")]

    def environments(self) -> list[str]:
        return [str(e) for (e,) in self._rows("SELECT DISTINCT environment FROM slots")]

    # -- events ----------------------------------------------------------------------

    def last_seq(self) -> int:
        row = self._one("SELECT seq FROM event_head WHERE id = 1")
        return 0 if row is None else int(row[0])

    def first_seq(self) -> int:
        # One statement, one snapshot for both.
        row = self._one(
            "SELECT (SELECT MIN(seq) FROM events), (SELECT seq FROM event_head WHERE id = 1)"
        )
        if row is None:
            return 1
        first, head = row
        return int(head) + 1 if first is None else int(first)

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = self._rows(
            "SELECT seq, type, service, data FROM events WHERE seq > %s ORDER BY seq LIMIT %s",
            (seq, limit),
        )
        return [
            StoredEvent(int(event_seq), str(type_), service, str(data))
            for event_seq, type_, service, data in rows
        ]

    def event_seq_of_row(self, row_id: str) -> int | None:
        row = self._one("SELECT seq FROM events WHERE row_id = %s", (row_id,))
        return None if row is None else int(row[0])

    def get_fetcher_state(self, adapter: str) -> tuple[str, int] | None:
        row = self._one(
            "SELECT cursor, updated_at FROM fetcher_state WHERE adapter = %s", (adapter,)
        )
        if row is None:
            return None
        cursor, updated_at = row
        return str(cursor), int(updated_at)

    # -- logs ------------------------------------------------------------------------

    def logs(self, deployment_id: str, after_seq: int, limit: int) -> list[StoredLogLine]:
        rows = self._rows(
            "SELECT seq, at, level, stream, message FROM deployment_logs"
            " WHERE deployment_id = %s AND seq > %s ORDER BY seq LIMIT %s",
            (deployment_id, after_seq, limit),
        )
        return [
            StoredLogLine(int(seq), int(at), str(level), str(stream), unescape_nul(message))
            for seq, at, level, stream, message in rows
        ]

    def last_log_seq(self, deployment_id: str) -> int:
        row = self._one(
            "SELECT MAX(seq) FROM deployment_logs WHERE deployment_id = %s", (deployment_id,)
        )
        return 0 if row is None or row[0] is None else int(row[0])

    # -- governance ------------------------------------------------------------------

    def promotion(self, promotion_id: str) -> PromotionRecord | None:
        row = self._one(_SELECT_PROMOTIONS + " WHERE id = %s", (promotion_id,))
        return None if row is None else PromotionRecord(*row)

    def promotion_of_deployment(self, deployment_id: str) -> PromotionRecord | None:
        row = self._one(_SELECT_PROMOTIONS + " WHERE deployment_id = %s", (deployment_id,))
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
            ("status = %s", status),
            ("service = %s", service),
            ("to_environment = %s", environment),
            ("id < %s", before),
        )
        sql = _SELECT_PROMOTIONS + sql + " ORDER BY id DESC LIMIT %s"
        args.append(limit)
        return [PromotionRecord(*row) for row in self._rows(sql, args)]

    def approvals(self, promotion_id: str) -> list[ApprovalRecord]:
        rows = self._rows(
            f"SELECT {columns(field_names(ApprovalRecord))} FROM approvals"
            " WHERE promotion_id = %s ORDER BY at, principal",
            (promotion_id,),
        )
        return [ApprovalRecord(*row) for row in rows]

    def environment_records(self) -> list[EnvironmentRecord]:
        rows = self._rows(
            f"SELECT {columns(field_names(EnvironmentRecord))} FROM environment_state"
            " ORDER BY environment"
        )
        return [EnvironmentRecord(*row) for row in rows]

    def execution(self, deployment_id: str) -> ExecutionRecord | None:
        row = self._one(_SELECT_EXECUTIONS + " WHERE deployment_id = %s", (deployment_id,))
        return None if row is None else execution_from_row(row)

    def executions(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        states: Sequence[str] = (),
    ) -> list[ExecutionRecord]:
        sql, args = where(
            ("service = %s", service),
            ("environment = %s", environment),
            ("state = ANY(%s)", list(states) or None),
        )
        sql = _SELECT_EXECUTIONS + sql + " ORDER BY requested_at, deployment_id"
        return [execution_from_row(row) for row in self._rows(sql, args)]

    # -- audit and keys --------------------------------------------------------------

    def audit_entries(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        before: int | None = None,
        after: int | None = None,
        limit: int = 100,
    ) -> list[AuditRecord]:
        sql, args = where(
            ("principal = %s", principal),
            ("action = %s", action),
            ("target = %s", target),
            ("seq < %s", before),
            ("seq > %s", after),
        )
        order = "ASC" if after is not None else "DESC"
        sql = _SELECT_AUDIT + sql + f" ORDER BY seq {order} LIMIT %s"
        args.append(limit)
        return [
            AuditRecord(int(seq), AuditEntry(*entry), str(prev_hash), str(hash_))
            for seq, *entry, prev_hash, hash_ in self._rows(sql, args)
        ]

    def find_key(self, key_id: str) -> KeyRecord | None:
        row = self._one(SELECT_KEYS + " WHERE k.key_id = %s", (key_id,))
        return None if row is None else key_from_row(row)

    def list_keys(self) -> list[KeyRecord]:
        return [
            key_from_row(row)
            for row in self._rows(SELECT_KEYS + " ORDER BY k.created_at, k.key_id")
        ]
