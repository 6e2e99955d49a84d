"""The rollups' share of an append: called by each backend inside the transaction that
inserts the rows, after the rows are in `deployments` and before the slots are written.
A backend that sends statements ahead (PostgreSQL's pipelined append) makes the
`AppendFold` first, before inserting the rows, so that its one read of stored facts
travels with the insert; `run` then uses what it read.

Counts are summed in memory and written once per transaction (`Deltas`); a logical
deployment's facts are read once, folded over the transaction's rows and written once.
Incidents are changed as each success or failure comes, since the next row's change may
depend on it; a row that arrives in timeline order (the usual case) needs no read of the
log, only one that arrives late asks the log for its neighbours in the slot. A success
that ends an incident needs the incident: a backend that sends reads ahead gets each
slot's latest incident with the facts, and an incident opened by this transaction is
known already; otherwise it is read when needed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...domain import SlotEntry, Status
from ...domain.analytics_fold import (
    DeploymentFacts,
    IncidentChange,
    IncidentSpan,
    Scope,
    Terminal,
    change_of,
    deployment_contributions,
    fold_deployment,
    lead_contribution,
    restore_contribution,
    status_contribution,
)
from ...domain.status import TERMINAL
from .records import NewDeploymentRow
from .rollup import (
    ADD_EDGE,
    ADD_INCIDENT,
    LOAD_DEPLOYMENTS,
    PUT_DEPLOYMENT,
    Deltas,
    Later,
    RollupTx,
    chunks,
    incident_values,
    placeholders,
)

Slot = tuple[str, str]

_NEIGHBOURS = (
    "SELECT happened_at, arrival, status, namespace FROM deployments"
    " WHERE service = ? AND environment = ? AND status IN ('success', 'failure')"
    " AND arrival < ? AND happened_at {op} ? ORDER BY happened_at {order}, arrival {order}"
    " LIMIT 1"
)
_BEFORE = _NEIGHBOURS.format(op="<=", order="DESC")
_AFTER = _NEIGHBOURS.format(op=">", order="ASC")
_INCIDENT_COLUMNS = "failed_at, failed_arr, namespace, restored_at, restored_arr"
_HOLDING = (
    f"SELECT {_INCIDENT_COLUMNS} FROM analytics_incidents WHERE service = ? AND environment = ?"
    " AND (failed_at, failed_arr) <= (?, ?) ORDER BY failed_at DESC, failed_arr DESC LIMIT 1"
)
_LATEST = (
    f"(SELECT service, environment, {_INCIDENT_COLUMNS} FROM analytics_incidents"
    " WHERE service = ? AND environment = ? ORDER BY failed_at DESC, failed_arr DESC LIMIT 1)"
)
"""A slot's latest incident (`_latest_of`: one statement for many slots)."""
_STARTING = (
    f"SELECT {_INCIDENT_COLUMNS} FROM analytics_incidents WHERE service = ? AND environment = ?"
    " AND failed_at = ? AND failed_arr = ?"
)
_DROP = (
    "DELETE FROM analytics_incidents WHERE service = ? AND environment = ? AND failed_at = ?"
    " AND failed_arr = ?"
)
_RESTORE = (
    "UPDATE analytics_incidents SET restored_at = ?, restored_arr = ?, lasted = ?"
    " WHERE service = ? AND environment = ? AND failed_at = ? AND failed_arr = ?"
)
_EDGES_OF = (
    " UNION ALL SELECT 1, parent_id, service, namespace, environment, at, child_arr, NULL,"
    " first_at, NULL FROM analytics_lead_edges WHERE parent_id IN "
)
"""The edges to the deployments read, in the same statement (one round trip)."""
_SET_EDGE_FIRST = (
    "UPDATE analytics_lead_edges SET first_at = ? WHERE parent_id = ? AND child_arr = ?"
)


def fold_appended(
    tx: RollupTx,
    rows: Sequence[NewDeploymentRow],
    arrivals: Sequence[int],
    terminals: Mapping[Slot, SlotEntry[str] | None],
) -> None:
    """Fold appended rows into the rollups (see the module docstring).

    Args:
        tx: the append's transaction.
        rows: the rows, in arrival order, already inserted.
        arrivals: their arrival numbers.
        terminals: for each slot the rows touch, its latest success or failure before them
            (the slot table's `last_terminal` as it was read for the append).
    """
    if rows:
        AppendFold(tx, rows).run(arrivals, terminals)


def _facts_of(deployments: Sequence[str]) -> tuple[str, list[str]]:
    """The stored facts of deployments and the edges naming them parents: one statement
    and its arguments."""
    sql = LOAD_DEPLOYMENTS + placeholders(len(deployments))
    return sql + _EDGES_OF + placeholders(len(deployments)), [*deployments, *deployments]


def _latest_of(slots: Sequence[Slot]) -> tuple[str, list[str]]:
    """The latest incident of each slot: one statement and its arguments."""
    sql = " UNION ALL ".join(f"SELECT * FROM {_LATEST} AS latest_{i}" for i in range(len(slots)))
    return sql, [value for slot in slots for value in slot]


def _incident_of(row: Sequence[Any]) -> IncidentSpan:
    failed_at, failed_arr, namespace, restored_at, restored_arr = row
    restored = None if restored_at is None else (int(restored_at), int(restored_arr))
    return IncidentSpan((int(failed_at), int(failed_arr)), str(namespace), restored)


def parents_of(doc: str) -> list[str]:
    """A row document's `parent_deployments` (none: `[]`)."""
    if '"parent_deployments"' not in doc:
        return []
    found = json.loads(doc).get("parent_deployments")
    return [str(parent) for parent in found] if isinstance(found, list) else []


def facts_from_row(row: Sequence[Any]) -> tuple[str, DeploymentFacts]:
    """A stored `analytics_deployments` row as `(deployment_id, facts)`."""
    deployment_id, service, namespace, environment, first_at, first_arr, actor, end, ok = row
    facts = DeploymentFacts(
        (str(service), str(namespace), str(environment)),
        int(first_at),
        int(first_arr),
        None if actor is None else str(actor),
        None if end is None else int(end),
        None if ok is None else int(ok),
    )
    return str(deployment_id), facts


def deployment_values(deployment_id: str, facts: DeploymentFacts) -> tuple[object, ...]:
    """The `analytics_deployments` row of a deployment's facts."""
    service, namespace, environment = facts.scope
    return (
        deployment_id,
        *(service, namespace, environment, facts.first_at, facts.first_arr, facts.actor),
        *(facts.end_at, facts.success_at),
    )


class AppendFold:
    """The rollups' share of one append transaction: made with the rows (which sends its
    read of the stored facts they need), then `run` once the rows are inserted."""

    def __init__(self, tx: RollupTx, rows: Sequence[NewDeploymentRow]) -> None:
        self.tx = tx
        self.rows = rows
        self.parents = {
            i: parents_of(row.doc) for i, row in enumerate(rows) if row.status in TERMINAL
        }
        wanted = {row.deployment_id for row in rows}
        wanted.update(parent for found in self.parents.values() for parent in found)
        self.pending: list[Later] = [
            tx.read_later(*(tx.facts_read or _facts_of)(part)) for part in chunks(sorted(wanted))
        ]
        """The stored facts of the deployments named, and the edges naming them parents
        (`_load`)."""
        self.ended = sorted({(r.service, r.environment) for r in rows if r.status in TERMINAL})
        """The slots of the rows that are successes or failures."""
        self.pending_incidents: list[tuple[Sequence[Slot], Later]] = (
            [
                (part, tx.read_later(*(tx.incidents_read or _latest_of)(part)))
                for part in chunks(self.ended)
            ]
            if tx.later is not None  # travels with the reads above: no round trip of its own
            else []
        )
        self.incidents: dict[Slot, IncidentSpan | None] = {}
        """Per slot, its latest incident (`None`: it has none) where that is known: read
        ahead, or opened by a row in timeline order. A late row makes its slot unknown."""
        self.deltas = Deltas()
        self.latest: dict[Slot, Terminal] = {}
        """Per slot, its latest success or failure so far."""
        self.stored: dict[str, DeploymentFacts] = {}
        self.facts: dict[str, DeploymentFacts] = {}
        self.edges: list[tuple[str, int, Scope, int]] = []
        """New lead edges: `(parent, child arrival, child scope, child happened_at)`."""
        self.stored_edges: dict[str, list[tuple[int, Scope, int, int | None]]] = {}
        """Stored edges by parent: `(child arrival, child scope, child happened_at, the
        parent's first row as stored)`."""

    def run(self, arrivals: Sequence[int], terminals: Mapping[Slot, SlotEntry[str] | None]) -> None:
        """Fold every row, then write what changed.

        Args:
            arrivals: the rows' arrival numbers, in their order.
            terminals: for each slot the rows touch, its latest success or failure before
                them (the slot table's `last_terminal` as it was read for the append).
        """
        self.latest = {
            slot: Terminal(entry.happened_at, entry.arrival, entry.status is Status.FAILURE)
            for slot, entry in terminals.items()
            if entry is not None
        }
        self._load()
        parents = self.parents
        touched: dict[str, None] = {}
        for index, (row, arrival) in enumerate(zip(self.rows, arrivals, strict=True)):
            scope = (row.service, row.namespace or "", row.environment)
            self.deltas.scopes.add(scope)
            self.deltas.add(status_contribution(scope, row.happened_at, row.status))
            held = self.facts.get(row.deployment_id)
            self.facts[row.deployment_id] = fold_deployment(
                held, scope, row.happened_at, arrival, row.status, row.actor
            )
            touched[row.deployment_id] = None
            if row.status in TERMINAL:
                self._terminal(row, arrival, scope)
                self.edges.extend((p, arrival, scope, row.happened_at) for p in parents[index])
        self._finish(list(touched))

    def _load(self) -> None:
        """The stored facts of the deployments named, and the edges that name them parents."""
        for pending in self.pending:
            for row in pending():
                if row[0] == 0:
                    deployment_id, facts = facts_from_row(row[1:])
                    self.stored[deployment_id] = self.facts[deployment_id] = facts
                else:
                    _, parent, service, namespace, environment, at, child, _, first, _ = row
                    scope = (str(service), str(namespace), str(environment))
                    edge = (int(child), scope, int(at), None if first is None else int(first))
                    self.stored_edges.setdefault(str(parent), []).append(edge)
        for part, pending in self.pending_incidents:
            self.incidents.update(dict.fromkeys(part))
            for service, environment, *incident in pending():
                self.incidents[(str(service), str(environment))] = _incident_of(incident)

    def _finish(self, touched: list[str]) -> None:
        changed = [d for d in touched if self.facts[d] != self.stored.get(d)]
        for deployment_id in changed:
            old = deployment_contributions(self.stored.get(deployment_id))
            self.deltas.replace(old, deployment_contributions(self.facts[deployment_id]))
        earlier = [
            d
            for d in changed
            if d not in self.stored or self.facts[d].first_at != self.stored[d].first_at
        ]
        with self.tx.batch():  # nothing below reads: one round trip on PostgreSQL
            self._move_edges(earlier)  # before this transaction's edges are stored
            self._add_edges()
            if changed:
                values = [deployment_values(d, self.facts[d]) for d in changed]
                self.tx.many(PUT_DEPLOYMENT, values)
            self.deltas.flush(self.tx)

    # -- lead time ---------------------------------------------------------------------

    def _first_of(self, deployment_id: str) -> int | None:
        facts = self.facts.get(deployment_id)
        return None if facts is None else facts.first_at

    def _move_edges(self, parents: Sequence[str]) -> None:
        """Stored edges to parents whose first row is new or earlier now."""
        updates = []
        for parent in parents:
            new_first = self._first_of(parent)
            for child, scope, at, first in self.stored_edges.get(parent, ()):
                self.deltas.add(lead_contribution(scope, at, first), -1)
                self.deltas.add(lead_contribution(scope, at, new_first))
                updates.append((new_first, parent, child))
        if updates:
            self.tx.many(_SET_EDGE_FIRST, updates)

    def _add_edges(self) -> None:
        values = []
        for parent, child, scope, at in self.edges:
            first = self._first_of(parent)
            self.deltas.add(lead_contribution(scope, at, first))
            values.append((parent, child, *scope, at, first))
        if values:
            self.tx.many(ADD_EDGE, values)

    # -- incidents ---------------------------------------------------------------------

    def _terminal(self, row: NewDeploymentRow, arrival: int, scope: Scope) -> None:
        slot = (row.service, row.environment)
        me = Terminal(row.happened_at, arrival, row.status is Status.FAILURE, scope[1])
        latest = self.latest.get(slot)
        if latest is None or me.key > latest.key:
            previous, following = latest, None
            self.latest[slot] = me
        else:  # late: where it falls in the slot's timeline decides
            self.incidents.pop(slot, None)  # it may change any of the slot's incidents
            previous, following = (
                self._neighbour(slot, me, _BEFORE),
                self._neighbour(slot, me, _AFTER),
            )
        change = change_of(previous, following, me)
        if change is IncidentChange.OPEN:
            restored = following.key if following is not None and not following.failed else None
            opened = IncidentSpan(me.key, me.namespace, restored)
            self._store(slot, opened)
            if self.latest[slot] is me:  # in timeline order: the slot's latest incident
                self.incidents[slot] = opened
        elif change is IncidentChange.EARLIER:
            assert following is not None
            self._start_earlier(slot, me, following)
        elif change is IncidentChange.CLOSE:
            assert previous is not None
            self._close(slot, me, previous, following)

    def _neighbour(self, slot: Slot, me: Terminal, sql: str) -> Terminal | None:
        found = self.tx.rows(sql, (*slot, me.arrival, me.at))
        if not found:
            return None
        at, arrival, status, namespace = found[0]
        return Terminal(int(at), int(arrival), status == "failure", namespace or "")

    def _store(self, slot: Slot, incident: IncidentSpan) -> None:
        self.tx.many(ADD_INCIDENT, [incident_values(*slot, incident)])
        self.deltas.add(restore_contribution(slot[0], slot[1], incident))

    def _drop(self, slot: Slot, incident: IncidentSpan) -> None:
        self.tx.many(_DROP, [(*slot, *incident.failed)])
        self.deltas.add(restore_contribution(slot[0], slot[1], incident), -1)

    def _incident(self, sql: str, slot: Slot, key: tuple[int, int]) -> IncidentSpan | None:
        found = self.tx.rows(sql, (*slot, *key))
        return _incident_of(found[0]) if found else None

    def _start_earlier(self, slot: Slot, me: Terminal, following: Terminal) -> None:
        old = self._incident(_STARTING, slot, following.key)
        if old is None:  # never the case while the rollups follow the log
            return
        self._drop(slot, old)
        self._store(slot, IncidentSpan(me.key, me.namespace, old.restored))

    def _close(
        self, slot: Slot, me: Terminal, previous: Terminal, following: Terminal | None
    ) -> None:
        # In timeline order `previous` is the slot's latest success or failure before the
        # row, so the incident holding it is the slot's latest.
        in_order = self.latest[slot] is me
        if in_order and slot in self.incidents:
            old = self.incidents[slot]
        else:
            old = self._incident(_HOLDING, slot, previous.key)
        if old is None:  # never the case while the rollups follow the log
            return
        closed = IncidentSpan(old.failed, old.namespace, me.key)
        if in_order:
            self.incidents[slot] = closed
        self.tx.many(_RESTORE, [(*me.key, me.at - old.failed[0], *slot, *old.failed)])
        self.deltas.add(restore_contribution(slot[0], slot[1], old), -1)
        self.deltas.add(restore_contribution(slot[0], slot[1], closed))
        if following is not None and following.failed:  # failures after it: their own incident
            self._store(slot, IncidentSpan(following.key, following.namespace, old.restored))
