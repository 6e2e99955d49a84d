"""What both backends ask of their database in the same words: reads, `commit`, keys.

SQL here is written once with `?` placeholders (the PostgreSQL backend turns them into its
own); a backend provides the connections (`_rows`, `_one`, `_write`), what a write
transaction appends (`_append_row`, `_append_audit`, `_apply`), and the few phrases its
dialect says differently (`_LIKE`, `_EXECUTION_ORDER`, `_JSON_PAIRS`, `_message`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from ...domain import Role, to_micros
from .base import SlotSummary
from .codec import (
    AUDIT_COLUMNS,
    EXECUTION_COLUMNS,
    SELECT_KEYS,
    SLOT_COLUMNS,
    columns,
    execution_from_row,
    field_names,
    key_from_row,
    scope_value,
    slot_from_row,
    where,
)
from .control import ControlQueries
from .records import (
    ApprovalRecord,
    AuditEntry,
    AuditRecord,
    Committed,
    DeploymentQuery,
    EnvironmentRecord,
    ExecutionRecord,
    IdempotencyConflict,
    ImportConflict,
    ImportProgress,
    KeyRecord,
    NewDeploymentRow,
    PromotionRecord,
    SlotRecord,
    StoredEvent,
    StoredLogLine,
    StoreError,
    Writes,
)
from .rollup_reads import AnalyticsQueries

SELECT_SLOTS = f"SELECT {columns(SLOT_COLUMNS)} FROM slots"
_LAST_CHANGE = "CASE WHEN oth_at > cur_at THEN oth_at ELSE cur_at END"
"""A slot's last change: the newer of its current and latest other row."""
_SELECT_SLOT_SUMMARIES = (
    f"SELECT service, environment, cur_status, {_LAST_CHANGE}, changed_seq"
    " FROM slots WHERE cur_at IS NOT NULL"
)
_SERVICE_CHANGES = (
    f"SELECT service, MAX({_LAST_CHANGE}) AS at FROM slots WHERE cur_at IS NOT NULL"
    " GROUP BY service"
)
_ENVIRONMENTS = (
    "WITH RECURSIVE e(name) AS (SELECT MIN(environment) FROM slots UNION ALL"
    " SELECT (SELECT MIN(environment) FROM slots WHERE environment > e.name) FROM e"
    " WHERE e.name IS NOT NULL) SELECT name FROM e WHERE name IS NOT NULL"
)
"""The distinct environments, one index probe each (`DISTINCT` reads the whole index: 80,000
entries at 10,000 × 8, each read of the matrix's columns)."""
_IN_LIST = 500
"""Values bound in one `IN (…)` (far below every backend's limit on parameters)."""
_SELECT_PROMOTIONS = f"SELECT {columns(field_names(PromotionRecord))} FROM promotions"
_SELECT_EXECUTIONS = f"SELECT {columns(EXECUTION_COLUMNS)} FROM executions"
_SELECT_AUDIT = f"SELECT seq, {columns(AUDIT_COLUMNS)}, prev_hash, hash FROM audit"


def _not_in(column: str, values: Sequence[Any], width: int = 1) -> str:
    """`column NOT IN (…)` of `values` (`width` placeholders a value), in lists of at most
    `_IN_LIST` values joined by `AND`. Row values are compared with `VALUES` lists, which
    SQLite and PostgreSQL both take."""
    row = "?" if width == 1 else f"({', '.join('?' * width)})"
    parts = []
    for start in range(0, len(values), _IN_LIST):
        chunk = len(values[start : start + _IN_LIST])
        listed = ", ".join([row] * chunk)
        parts.append(
            f"{column} NOT IN ({listed})" if width == 1 else f"{column} NOT IN (VALUES {listed})"
        )
    return " AND ".join(parts)


def _hidden(query: DeploymentQuery) -> list[tuple[str, tuple[Any, ...] | None]]:
    """The `where` conditions that leave out the query's hidden rows."""
    services, identities = query.hidden_services, query.hidden_identities
    conditions: list[tuple[str, tuple[Any, ...] | None]] = []
    if services:
        conditions.append((_not_in("service", services), tuple(services)))
    if identities:
        # A row without a namespace is no identity's (and `NULL NOT IN` is not true).
        clause = _not_in("(namespace, service)", identities, 2)
        flat = tuple(value for pair in identities for value in pair)
        conditions.append((f"(namespace IS NULL OR ({clause}))", flat))
    return conditions


def _now() -> int:
    return time.time_ns() // 1000


class Queries(ControlQueries, AnalyticsQueries):
    """The shared part of a `Store` (see the module docstring)."""

    _LIKE: ClassVar[str] = "LIKE"
    """Case-insensitive for ASCII on SQLite; PostgreSQL says `ILIKE`."""
    _EXECUTION_ORDER: ClassVar[str] = "requested_at, rowid"
    """Queued runs oldest request first; ties in insertion order."""
    _JSON_PAIRS: ClassVar[str] = "json_group_array(json_array(service, at))"
    """An aggregate of the rows' `(service, at)` as one JSON array of pairs."""

    # -- what a backend provides -----------------------------------------------------

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _one(self, sql: str, args: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _append_row(self, tx: Any, row: NewDeploymentRow, now: int) -> StoredEvent:
        raise NotImplementedError

    def _append_audit(self, tx: Any, entry: AuditEntry) -> None:
        raise NotImplementedError

    def _apply(self, tx: Any, writes: Writes, now: int) -> list[StoredEvent]:
        """Append the rows, governance changes, events and audit entries of `writes`."""
        raise NotImplementedError

    def _message(self, stored: Any) -> str:
        """A log message as it was given (the backend may have escaped it)."""
        return str(stored)

    # -- writes --------------------------------------------------------------------

    def append_deployment(
        self, row: NewDeploymentRow, audit: AuditEntry | None = None
    ) -> StoredEvent:
        return self.append_deployments([(row, audit)])[0]

    def append_deployments(
        self, items: Sequence[tuple[NewDeploymentRow, AuditEntry | None]]
    ) -> list[StoredEvent]:
        now = _now()
        with self._write() as tx:
            stored = []
            for row, audit in items:
                stored.append(self._append_row(tx, row, now))
                if audit is not None:
                    self._append_audit(tx, audit)
        return stored

    def commit(
        self,
        decide: Callable[[], Writes],
        idempotency: tuple[str, str, str] | None = None,
    ) -> Committed:
        now = _now()
        with self._write() as tx:
            if idempotency is not None:
                principal, key, fingerprint = idempotency
                kept = tx.execute(
                    "SELECT fingerprint, response FROM idempotency_keys"
                    " WHERE principal = ? AND key = ?",
                    (principal, key),
                ).fetchone()
                if kept is not None:
                    kept_fingerprint, kept_response = kept
                    if kept_fingerprint != fingerprint:
                        raise IdempotencyConflict(
                            f"the Idempotency-Key {key!r} was already used for another "
                            "request; send a new key for a new request"
                        )
                    return Committed([], str(kept_response), replayed=True)
            # Every earlier write is committed and no other can start before this one
            # ends: what `decide` reads is current.
            writes = decide()
            events = self._apply(tx, writes, now)
            if idempotency is not None:
                tx.execute(
                    "INSERT INTO idempotency_keys (principal, key, fingerprint, response,"
                    " created_at) VALUES (?, ?, ?, ?, ?)",
                    (*idempotency, writes.response, now),
                )
        return Committed(events, writes.response, writes.value)

    def create_key(
        self,
        principal: str,
        role: Role,
        key_id: str,
        secret_hash: str,
        created_at: int,
        services: Sequence[str] | None = None,
        environments: Sequence[str] | None = None,
    ) -> None:
        with self._write() as tx:
            found = tx.execute(
                "SELECT role FROM principals WHERE name = ?", (principal,)
            ).fetchone()
            if found is None:
                tx.execute(
                    "INSERT INTO principals (name, role, created_at) VALUES (?, ?, ?)",
                    (principal, role.value, created_at),
                )
            elif (stored_role := found[0]) != role.value:
                raise StoreError(
                    f"principal {principal!r} already exists with role {stored_role};"
                    " keys of one principal share its role"
                )
            tx.execute(
                "INSERT INTO api_keys (key_id, principal, secret_hash, created_at, services,"
                " environments) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key_id,
                    principal,
                    secret_hash,
                    created_at,
                    scope_value(services),
                    scope_value(environments),
                ),
            )

    # -- deployments and slots -------------------------------------------------------

    def list_deployments(self, query: DeploymentQuery) -> list[tuple[int, str, str]]:
        filters = query.filters
        text = None
        if filters.text:
            escaped = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            text = f"%{escaped}%"
        sql, args = where(
            ("service = ?", filters.service),
            ("environment = ?", filters.environment),
            ("deployment_id = ?", filters.deployment_id),
            ("namespace = ?", filters.namespace),
            ("actor = ?", filters.actor),
            (f"doc {self._LIKE} ? ESCAPE '\\'", text),
            ("status = ?", None if filters.status is None else filters.status.value),
            ("happened_at >= ?", None if filters.since is None else to_micros(filters.since)),
            ("happened_at < ?", None if filters.until is None else to_micros(filters.until)),
            # A row value, not `a < ? OR (a = ? AND b < ?)`: the index is sought to the
            # position instead of scanned from the top (0.1 ms at any depth, not 128 ms).
            ("(happened_at, id) < (?, ?)", query.before),
            # Excluded services' rows: left out before the `LIMIT`, not after it.
            *_hidden(query),
        )
        sql = "SELECT happened_at, id, doc FROM deployments" + sql
        sql += " ORDER BY happened_at DESC, id DESC LIMIT ?"
        args.append(query.limit)
        return [
            (int(happened_at), str(row_id), str(doc))
            for happened_at, row_id, doc in self._rows(sql, args)
        ]

    def get_deployment(self, row_id: str) -> str | None:
        row = self._one("SELECT doc FROM deployments WHERE id = ?", (row_id,))
        return None if row is None else str(row[0])

    def slots(
        self, service: str | None = None, *, changed_after: int | None = None
    ) -> list[SlotRecord]:
        sql, args = where(("service = ?", service), ("changed_seq > ?", changed_after))
        sql = SELECT_SLOTS + sql + " ORDER BY service, environment"
        return [slot_from_row(row) for row in self._rows(sql, args)]

    def slot_summaries(self, *, changed_after: int | None = None) -> list[SlotSummary]:
        sql = _SELECT_SLOT_SUMMARIES
        if changed_after is None:
            return self._rows(sql)
        return self._rows(sql + " AND changed_seq > ?", (changed_after,))

    def service_changes(self) -> list[tuple[str, int]]:
        # One JSON value, not 10,000 rows: fetching each row takes the GIL back, and at a
        # dashboard's start the UI thread holds it often (the rows took 8× as long then).
        found = self._one(f"SELECT {self._JSON_PAIRS} FROM ({_SERVICE_CHANGES}) AS c")
        value = None if found is None else found[0]
        pairs = json.loads(value) if isinstance(value, str | bytes) else value or []
        return [(str(name), int(at)) for name, at in pairs]

    def service_slots(self, services: Sequence[str]) -> list[SlotRecord]:
        wanted = list(dict.fromkeys(services))
        found: list[SlotRecord] = []
        for start in range(0, len(wanted), _IN_LIST):
            names = wanted[start : start + _IN_LIST]
            sql = SELECT_SLOTS + f" WHERE service IN ({', '.join('?' * len(names))})"
            found.extend(slot_from_row(row) for row in self._rows(sql, names))
        return found

    def services(self) -> list[str]:
        return [str(s) for (s,) in self._rows("SELECT DISTINCT service FROM slots")]

    def environments(self) -> list[str]:
        return [str(e) for (e,) in self._rows(_ENVIRONMENTS)]

    # -- events and fetchers -----------------------------------------------------------

    def events_after(self, seq: int, limit: int) -> list[StoredEvent]:
        rows = self._rows(
            "SELECT seq, type, service, data FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [
            StoredEvent(int(event_seq), str(type_), service, str(data))
            for event_seq, type_, service, data in rows
        ]

    def event_seq_of_row(self, row_id: str) -> int | None:
        row = self._one("SELECT seq FROM events WHERE row_id = ?", (row_id,))
        return None if row is None else int(row[0])

    def get_fetcher_state(self, adapter: str) -> tuple[str, int] | None:
        row = self._one(
            "SELECT cursor, updated_at FROM fetcher_state WHERE adapter = ?", (adapter,)
        )
        if row is None:
            return None
        cursor, updated_at = row
        return str(cursor), int(updated_at)

    # -- logs ------------------------------------------------------------------------

    def logs(self, deployment_id: str, after_seq: int, limit: int) -> list[StoredLogLine]:
        rows = self._rows(
            "SELECT seq, at, level, stream, message FROM deployment_logs"
            " WHERE deployment_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (deployment_id, after_seq, limit),
        )
        message = self._message
        return [
            StoredLogLine(int(seq), int(at), str(level), str(stream), message(text))
            for seq, at, level, stream, text in rows
        ]

    def last_log_seq(self, deployment_id: str) -> int:
        row = self._one(
            "SELECT MAX(seq) FROM deployment_logs WHERE deployment_id = ?", (deployment_id,)
        )
        return 0 if row is None or row[0] is None else int(row[0])

    # -- governance ------------------------------------------------------------------

    def promotion(self, promotion_id: str) -> PromotionRecord | None:
        row = self._one(_SELECT_PROMOTIONS + " WHERE id = ?", (promotion_id,))
        return None if row is None else PromotionRecord(*row)

    def promotion_of_deployment(self, deployment_id: str) -> PromotionRecord | None:
        row = self._one(_SELECT_PROMOTIONS + " WHERE deployment_id = ?", (deployment_id,))
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
        return [PromotionRecord(*row) for row in self._rows(sql, args)]

    def approvals(self, promotion_id: str) -> list[ApprovalRecord]:
        rows = self._rows(
            f"SELECT {columns(field_names(ApprovalRecord))} FROM approvals"
            " WHERE promotion_id = ? ORDER BY at, principal",
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
        row = self._one(_SELECT_EXECUTIONS + " WHERE deployment_id = ?", (deployment_id,))
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
        sql = _SELECT_EXECUTIONS + sql + f" ORDER BY {self._EXECUTION_ORDER}"
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
            ("principal = ?", principal),
            ("action = ?", action),
            ("target = ?", target),
            ("seq < ?", before),
            ("seq > ?", after),
        )
        sql = (
            _SELECT_AUDIT + sql + f" ORDER BY seq {'ASC' if after is not None else 'DESC'} LIMIT ?"
        )
        args.append(limit)
        return [
            AuditRecord(int(seq), AuditEntry(*entry), str(prev_hash), str(hash_))
            for seq, *entry, prev_hash, hash_ in self._rows(sql, args)
        ]

    def find_key(self, key_id: str) -> KeyRecord | None:
        row = self._one(SELECT_KEYS + " WHERE k.key_id = ?", (key_id,))
        return None if row is None else key_from_row(row)

    def list_keys(self) -> list[KeyRecord]:
        return [
            key_from_row(row)
            for row in self._rows(SELECT_KEYS + " ORDER BY k.created_at, k.key_id")
        ]

    # -- imports -------------------------------------------------------------------

    def _append_rows(self, tx: Any, rows: Sequence[NewDeploymentRow], now: int) -> int:
        """`_append_row` of many rows (a backend may do it in fewer statements); the last
        event's number (0 without rows)."""
        last = 0
        for row in rows:
            last = self._append_row(tx, row, now).seq
        return last

    def import_deployments(
        self,
        rows: Sequence[NewDeploymentRow],
        audit: AuditEntry | None,
        progress: ImportProgress,
        after: int,
    ) -> int:
        now = _now()
        with self._write() as tx:
            found = tx.execute(
                "SELECT line FROM import_sources WHERE source = ?", (progress.source,)
            ).fetchone()
            line = 0 if found is None else int(found[0])
            if line != after:
                raise ImportConflict(
                    f"the import of {progress.source} is at line {line}, not {after}: another"
                    " import of the same source ran meanwhile (run one at a time)"
                )
            last = self._append_rows(tx, rows, now)
            if audit is not None:
                self._append_audit(tx, audit)
            tx.execute(
                "INSERT INTO import_sources (source, line, bytes, digest, imported, rejected,"
                " rejections, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source) DO UPDATE SET line = excluded.line,"
                " bytes = excluded.bytes, digest = excluded.digest,"
                " imported = excluded.imported, rejected = excluded.rejected,"
                " rejections = excluded.rejections, updated_at = excluded.updated_at",
                (
                    progress.source,
                    progress.line,
                    progress.bytes,
                    progress.digest,
                    progress.imported,
                    progress.rejected,
                    json.dumps([list(r) for r in progress.rejections], ensure_ascii=False),
                    progress.started_at,
                    progress.updated_at,
                ),
            )
        return last

    def import_progress(self, source: str) -> ImportProgress | None:
        row = self._one(
            "SELECT source, line, bytes, digest, imported, rejected, rejections, started_at,"
            " updated_at FROM import_sources WHERE source = ?",
            (source,),
        )
        if row is None:
            return None
        source, line, size, digest, imported, rejected, rejections, started_at, updated_at = row
        return ImportProgress(
            str(source),
            int(line),
            int(size),
            str(digest),
            int(imported),
            int(rejected),
            tuple((int(n), str(reason)) for n, reason in json.loads(rejections)),
            int(started_at),
            int(updated_at),
        )
