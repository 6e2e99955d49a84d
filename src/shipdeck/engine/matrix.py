"""The matrix: every service's slots per environment, as the API sends it.

Built from the slot table (never from the log): each slot's JSON fragment is kept and
refreshed from the slots that changed, and a snapshot is cached per event position.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..domain import Matrix, SlotView, format_rfc3339, order_environments, view_slot
from .logs import Runner
from .store import Store


@dataclass(frozen=True, slots=True)
class MatrixDocument:
    """The matrix as the API sends it, with the event position it reflects."""

    seq: int
    body: bytes

    @property
    def etag(self) -> str:
        """Weak ETag: the snapshot changes exactly when the event log moves."""
        return f'W/"m-{self.seq}"'


class _MatrixFragments:
    """Each slot's `"environment":{…}` JSON, refreshed from the slots that changed.

    A matrix snapshot then costs reading the slots changed since the previous snapshot
    plus joining every slot's fragment, instead of rebuilding all slots from the store.
    Slots are never deleted and their `changed_seq` follows commit order, so remembering
    the largest `changed_seq` seen is enough to pick up every later change.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen = 0
        self._by_service: dict[str, dict[str, str]] = {}

    def rows_json(self, store: Store, service: str | None, rank: dict[str, int]) -> bytes:
        """The matrix's `rows` array (of one service), environments in `rank` order."""
        with self._lock:  # reader threads may race; one refresh at a time
            for record in store.slots(changed_after=self._seen):
                self._seen = max(self._seen, record.changed_seq)
                view = view_slot(record.state)
                if view is not None:
                    slots = self._by_service.setdefault(record.service, {})
                    slots[record.environment] = _slot_json(record.environment, view)
            names = sorted(self._by_service) if service is None else [service]
            rows = [(name, self._by_service.get(name)) for name in names]
        last = len(rank)
        out = [
            f'{{"service":{json.dumps(name)},"slots":{{'
            + ",".join(slots[env] for env in sorted(slots, key=lambda e: rank.get(e, last)))
            + "}}"
            for name, slots in rows
            if slots
        ]
        return f"[{','.join(out)}]".encode()


def _slot_json(environment: str, view: SlotView[str]) -> str:
    parts = [f'"current":{view.current}']
    if view.last_successful is not None:
        parts.append(f'"last_successful":{view.last_successful}')
    if view.next is not None:
        parts.append(f'"next":{view.next}')
    if view.prev_failed:
        parts.append('"prev_failed":true')
    return f"{json.dumps(environment)}:{{{','.join(parts)}}}"


class MatrixReader:
    """The matrix of one store, cached per event position (`head`)."""

    def __init__(
        self,
        store: Store,
        environment_order: list[str],
        read: Runner,
        head: Callable[[], int],
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.environment_order = environment_order
        self._read = read
        self._head = head
        self.clock = clock
        self._cache: dict[str | None, tuple[int, bytes, bytes]] = {}
        self._fragments = _MatrixFragments()

    async def document(self, service: str | None = None) -> MatrixDocument:
        """The matrix as JSON, built from the slot table (never from the log)."""
        seq = self._head()  # read first: the body is at least this fresh
        cached = self._cache.get(service)
        if cached is not None and cached[0] == seq:
            environments, rows_json = cached[1], cached[2]
        else:
            environments, rows_json = await self._read(self.rows_json, service)
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[service] = (seq, environments, rows_json)
        generated = json.dumps(format_rfc3339(self.clock())).encode()
        body = b'{"generated_at":%s,"environments":%s,"rows":%s}' % (
            generated,
            environments,
            rows_json,
        )
        return MatrixDocument(seq, body)

    def rows_json(self, service: str | None) -> tuple[bytes, bytes]:
        """The matrix's `environments` and `rows` JSON (runs on a reader thread)."""
        order = order_environments(self.store.environments(), self.environment_order)
        rank = {name: index for index, name in enumerate(order)}
        rows_json = self._fragments.rows_json(self.store, service, rank)
        return json.dumps(order).encode(), rows_json

    async def get(self, service: str | None = None) -> Matrix:
        """The matrix as typed models."""
        return Matrix.model_validate_json((await self.document(service)).body)


__all__ = ["MatrixDocument", "MatrixReader"]
