"""The rollups made afresh from the whole log: migration 0011 runs it once over the rows
stored before it, and a database filled without the store (the benchmarks' bulk loader)
runs it after loading.

It reads the log once, in arrival order and in chunks, and folds it with the same
functions as the append path (`domain.analytics_fold`), except that each slot's incidents
come from its sorted timeline at the end instead of row by row; the tests hold the two
paths to the same tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from ...domain import Status
from ...domain.analytics_fold import (
    DeploymentFacts,
    Scope,
    Terminal,
    deployment_contributions,
    fold_deployment,
    lead_contribution,
    reduce_incidents,
    restore_contribution,
    status_contribution,
)
from .rollup import (
    ADD_EDGE,
    ADD_INCIDENT,
    ANALYTICS_TABLES,
    PUT_DEPLOYMENT,
    Deltas,
    RollupTx,
    incident_values,
)
from .rollup_fold import deployment_values, parents_of

CHUNK = 50_000
"""Rows read (and counts written) at a time."""
_STATUSES = {status.value: status for status in Status}
_READ = (
    "SELECT arrival, deployment_id, service, namespace, environment, status, happened_at,"
    " actor, CASE WHEN status IN ('success', 'failure') AND doc LIKE ? THEN doc END"
    " FROM deployments WHERE arrival > ? ORDER BY arrival LIMIT ?"
)
_WITH_PARENTS = '%"parent_deployments"%'
"""Only these documents are read (a pattern bound as a value: no `%` in shared SQL)."""


class _Rebuild:
    """The state of one rebuild (see the module docstring)."""

    def __init__(self, tx: RollupTx) -> None:
        self.tx = tx
        self.deltas = Deltas()
        self.facts: dict[str, DeploymentFacts] = {}
        self.timelines: dict[tuple[str, str], list[Terminal]] = defaultdict(list)
        self.edges: list[tuple[str, int, Scope, int]] = []

    def read(self) -> int:
        """Fold every row of the log; how many there were."""
        after, count = 0, 0
        while True:
            rows = self.tx.rows(_READ, (_WITH_PARENTS, after, CHUNK))
            for row in rows:
                self._row(row)
            count += len(rows)
            if len(rows) < CHUNK:
                return count
            after = int(rows[-1][0])
            self.deltas.flush(self.tx)  # row counts add up in the tables: keep memory flat

    def _row(self, row: Sequence[Any]) -> None:
        arrival, deployment_id, service, namespace, environment, status_text, at = row[:7]
        actor, doc = row[7], row[8]
        status = _STATUSES[status_text]
        scope = (service, namespace or "", environment)
        self.deltas.scopes.add(scope)
        self.deltas.add(status_contribution(scope, at, status))
        self.facts[deployment_id] = fold_deployment(
            self.facts.get(deployment_id), scope, at, arrival, status, actor
        )
        if status in (Status.SUCCESS, Status.FAILURE):
            terminal = Terminal(at, arrival, status is Status.FAILURE, scope[1])
            self.timelines[(service, environment)].append(terminal)
            if doc is not None:
                self.edges.extend((p, arrival, scope, at) for p in parents_of(doc))

    def write(self) -> None:
        """Store the deployments, incidents and edges, and every count."""
        values = []
        for deployment_id, facts in self.facts.items():
            values.append(deployment_values(deployment_id, facts))
            for found in deployment_contributions(facts):
                self.deltas.add(found)
        self.tx.many(PUT_DEPLOYMENT, values)
        incidents = []
        for (service, environment), timeline in self.timelines.items():
            timeline.sort(key=lambda terminal: terminal.key)
            for incident in reduce_incidents(timeline):
                incidents.append(incident_values(service, environment, incident))
                self.deltas.add(restore_contribution(service, environment, incident))
        self.tx.many(ADD_INCIDENT, incidents)
        edges = []
        for parent, child, scope, at in self.edges:
            held = self.facts.get(parent)
            first = None if held is None else held.first_at
            self.deltas.add(lead_contribution(scope, at, first))
            edges.append((parent, child, *scope, at, first))
        self.tx.many(ADD_EDGE, edges)
        self.deltas.flush(self.tx)


def rebuild_rollups(tx: RollupTx) -> int:
    """Empty the rollup tables and make them again from every row of the log, in `tx`.

    Returns how many rows were read.
    """
    for table in ANALYTICS_TABLES:
        tx.rows(f"DELETE FROM {table}", ())  # fixed names, never input
    rebuild = _Rebuild(tx)
    count = rebuild.read()
    rebuild.write()
    return count
