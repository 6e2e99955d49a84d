"""The matrix: every service's slots per environment, as the API sends it.

Built from the slot table (never from the log): each slot's JSON fragment is kept and
refreshed from the slots that changed, and a snapshot is cached per event position.
At 10,000 services a client reads the index first (`index`: every service with its last
change, from `ServiceIndex`, no slot bodies) and then the rows on screen (`window`: just
those services' slots, read by name), never the whole matrix.

Services excluded by configuration (`[ingest] exclude_services`: those every stored row of
which an exclusion pattern matches, `HiddenRows.empty`) are in none of these: not in the
matrix, its index (nor its `total` and `counts`) or a window; an environment only they have
rows in is no column.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ..domain import Matrix, SlotView, format_rfc3339, order_environments, view_slot
from .exclusion import NOTHING_HIDDEN, HiddenRows, ServiceExclusion, hidden_rows
from .logs import Runner
from .matrix_index import IndexPage, IndexQuery, ServiceChange, ServiceIndex
from .store import Store

_DIRECT = 1_000
"""Rows of up to this many services are read by name; more come from the fragments."""


@dataclass(frozen=True, slots=True)
class MatrixDocument:
    """The matrix as the API sends it, with the event position it reflects."""

    seq: int
    body: bytes

    @property
    def etag(self) -> str:
        """Weak ETag: the snapshot changes exactly when the event log moves."""
        return f'W/"m-{self.seq}"'


@dataclass(frozen=True, slots=True)
class MatrixIndexDocument:
    """The index (`GET /api/matrix/services`) as JSON, with the event position it reflects."""

    seq: int
    body: bytes

    @property
    def etag(self) -> str:
        """Weak ETag: changes exactly when the event log moves."""
        return f'W/"s-{self.seq}"'


@dataclass(frozen=True, slots=True)
class MatrixIndexPage:
    """The index as typed values (what `MatrixIndexDocument.body` says)."""

    seq: int
    environments: list[str]
    total: int
    """Services matching the filter, over every page."""
    counts: dict[str, dict[str, int]]
    """Per environment, per current status: how many of those services' slots."""
    services: list[ServiceChange]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MatrixOverview:
    """Every service with its last change, in an order: what a dashboard in the engine's
    own process loads before the rows on screen (`MatrixReader.overview`)."""

    seq: int
    environments: list[str]
    services: list[tuple[str, int]]
    """`(service, last change in µs)`: plain tuples, 10,000 of them are made at a start."""


@dataclass(frozen=True, slots=True)
class MatrixQuery:
    """Which rows of the matrix: every parameter of `GET /api/matrix`, all optional."""

    service: str | None = None
    services: tuple[str, ...] | None = None
    """Exactly these services' rows (those with no row are left out)."""
    sort: str | None = None
    """`name` or `change` (see `Sort`); `None`: by name, and not through the index."""
    q: str | None = None
    limit: int | None = None
    cursor: str | None = None

    @property
    def paged(self) -> bool:
        """The body also says `total` and `next_cursor`."""
        return self.limit is not None or self.cursor is not None

    @property
    def indexed(self) -> bool:
        """Sorted, filtered or paged: chosen through the index."""
        return self.sort is not None or bool(self.q) or self.paged

    def index_query(self) -> IndexQuery:
        """The index's part of the query."""
        return IndexQuery(self.sort or "name", self.q, self.limit, self.cursor)


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

    def rows_json(
        self,
        store: Store,
        services: Sequence[str] | None,
        rank: dict[str, int],
        hidden: frozenset[str] = frozenset(),
    ) -> bytes:
        """The matrix's `rows` array (of these services, in this order; `None`: every one by
        name), environments in `rank` order, without the `hidden` services."""
        with self._lock:  # reader threads may race; one refresh at a time
            for record in store.slots(changed_after=self._seen):
                self._seen = max(self._seen, record.changed_seq)
                view = view_slot(record.state)
                if view is not None:
                    slots = self._by_service.setdefault(record.service, {})
                    slots[record.environment] = _slot_json(record.environment, view)
            names = sorted(self._by_service) if services is None else services
            rows = [(name, self._by_service.get(name)) for name in names if name not in hidden]
        return _rows_json(rows, rank)


def _rows_json(rows: Iterable[tuple[str, dict[str, str] | None]], rank: dict[str, int]) -> bytes:
    """The `rows` array of services' slot fragments (those with none are left out)."""
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
        exclusion: ServiceExclusion | None = None,
    ) -> None:
        self.store = store
        self.exclusion = exclusion
        self.environment_order = environment_order
        self._read = read
        self._head = head
        self.clock = clock
        self._cache: dict[str | None, tuple[int, bytes, bytes]] = {}
        self._fragments = _MatrixFragments()
        self._services = ServiceIndex()
        self._pages: dict[object, tuple[int, bytes]] = {}
        self._order: tuple[int, list[str]] = (-1, [])
        self._hidden_at: tuple[int, HiddenRows] = (-1, NOTHING_HIDDEN)

    def _hidden(self) -> HiddenRows:
        """What the exclusion hides, as of the event position at least (on a reader thread;
        read once a position, and only with patterns configured)."""
        if self.exclusion is None or not self.exclusion.active:
            return NOTHING_HIDDEN
        seq = self._head()
        kept_seq, hidden = self._hidden_at
        if kept_seq != seq:
            hidden = hidden_rows(self.store, self.exclusion)
            self._hidden_at = (seq, hidden)
        return hidden

    def _ordered_environments(self, hidden: HiddenRows) -> list[str]:
        """The environments in engine order, those only hidden rows are in left out."""
        names = self.store.environments()
        if hidden.environments:
            names = [name for name in names if name not in hidden.environments]
        return order_environments(names, self.environment_order)

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
        hidden = self._hidden()
        order = self._ordered_environments(hidden)
        rank = {name: index for index, name in enumerate(order)}
        names = None if service is None else [service]
        rows_json = self._fragments.rows_json(self.store, names, rank, hidden.empty)
        return json.dumps(order).encode(), rows_json

    async def get(self, service: str | None = None) -> Matrix:
        """The matrix as typed models."""
        return Matrix.model_validate_json((await self.document(service)).body)

    # -- the index and windows -------------------------------------------------------

    async def index(
        self,
        sort: str = "name",
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> MatrixIndexDocument:
        """Every service (matching `q`) with its last change, in `sort` order (`name`, or
        `change`: newest first), a page at a time: the body of `GET /api/matrix/services`.

        Raises:
            InvalidRequest: a parameter out of range, or a cursor this server did not issue.
        """
        query = IndexQuery(sort, q, limit, cursor)
        query.check()
        seq = self._head()
        tail = await self._cached(("index", query), seq, self._index_json, query, seq)
        body = b'{"generated_at":%s,"seq":%d,%s' % (self._generated(), seq, tail)
        return MatrixIndexDocument(seq, body)

    async def index_page(
        self,
        sort: str = "name",
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> MatrixIndexPage:
        """`index` as typed values."""
        query = IndexQuery(sort, q, limit, cursor)
        query.check()
        seq = self._head()
        order, page = await self._read(self._index_page, query, seq)
        assert page.counts is not None
        return MatrixIndexPage(seq, order, page.total, page.counts, page.services, page.next_cursor)

    async def overview(self, sort: str = "name") -> MatrixOverview:
        """Every service with its last change, by name or (`change`) newest first — the
        index without its counts and pages, as values.

        Read with one aggregate over the slot table, not through `ServiceIndex`: the index's
        first build reads every slot into Python (0.2–0.3 s at 80,000 slots), which an
        in-process dashboard would wait for before its first paint and then never use.

        Raises:
            InvalidRequest: an unknown sort.
        """
        IndexQuery(sort).check()
        seq = self._head()
        return await self._read(self._overview, sort, seq)

    def _overview(self, sort: str, seq: int) -> MatrixOverview:
        order = self._environments(seq)
        hidden = self._hidden().empty
        found = self.store.service_changes()
        if hidden:
            found = [entry for entry in found if entry[0] not in hidden]
        if sort == "change":
            found.sort(key=lambda entry: (-entry[1], entry[0]))
        else:
            found.sort()  # names are unique: by name
        return MatrixOverview(seq, order, found)

    async def window(self, services: Sequence[str]) -> MatrixDocument:
        """The matrix with the rows of exactly these services, by name (those with no row
        are left out); read by name, whatever the size of the matrix."""
        return await self.select(MatrixQuery(services=tuple(services)))

    async def select(self, query: MatrixQuery) -> MatrixDocument:
        """The matrix's rows that `query` chooses (`GET /api/matrix` with its parameters);
        paged, the body also has `total` and `next_cursor`.

        Raises:
            InvalidRequest: a parameter out of range, or a cursor this server did not issue.
        """
        if query.services is None and not query.indexed:
            return await self.document(query.service)
        query.index_query().check()
        seq = self._head()
        tail = await self._cached(("rows", query), seq, self._rows_page_json, query, seq)
        body = b'{"generated_at":%s,%s' % (self._generated(), tail)
        return MatrixDocument(seq, body)

    def _generated(self) -> bytes:
        return json.dumps(format_rfc3339(self.clock())).encode()

    async def _cached(
        self, key: object, seq: int, build: Callable[..., bytes], *args: object
    ) -> bytes:
        cached = self._pages.get(key)
        if cached is not None and cached[0] == seq:
            return cached[1]
        body = await self._read(build, *args)
        # Only answers of the newest position are ever reused: the others go at once (a
        # window of 500 rows is ~3 MB).
        pages = {k: v for k, v in self._pages.items() if v[0] == seq}
        self._pages = pages if len(pages) < 64 else {}
        self._pages[key] = (seq, body)
        return body

    def _environments(self, seq: int) -> list[str]:
        """The environments in engine order, as of `seq` at least (on a reader thread)."""
        kept_seq, order = self._order
        if kept_seq != seq:
            order = self._ordered_environments(self._hidden())
            self._order = (seq, order)
        return order

    def _index_page(self, query: IndexQuery, seq: int) -> tuple[list[str], IndexPage]:
        order = self._environments(seq)
        hidden = self._hidden().empty
        return order, self._services.page(self.store, query, counts=order, hidden=hidden)

    def _index_json(self, query: IndexQuery, seq: int) -> bytes:
        order = self._environments(seq)
        tail = self._services.page_json(self.store, query, order, self._hidden().empty)
        return b'"environments":%s,%s' % (json.dumps(order).encode(), tail)

    def _rows_page_json(self, query: MatrixQuery, seq: int) -> bytes:
        order = self._environments(seq)
        rank = {name: index for index, name in enumerate(order)}
        extra = b""
        hidden = self._hidden().empty
        if query.indexed:
            only: set[str] | None = None if query.services is None else set(query.services)
            if query.service is not None:
                only = {query.service} if only is None else only & {query.service}
            page = self._services.page(self.store, query.index_query(), only, hidden=hidden)
            names = [entry.service for entry in page.services]
            if query.paged:
                tail = "null" if page.next_cursor is None else f'"{page.next_cursor}"'
                extra = f',"total":{page.total},"next_cursor":{tail}'.encode()
        else:
            names = sorted(set(query.services or ()) - hidden)
            if query.service is not None:
                names = [name for name in names if name == query.service]
        rows = self._rows_of(names, rank)
        return b'"environments":%s,"rows":%s%s}' % (json.dumps(order).encode(), rows, extra)

    def _rows_of(self, names: list[str], rank: dict[str, int]) -> bytes:
        """The `rows` of these services, in this order (on a reader thread)."""
        if len(names) > _DIRECT:
            return self._fragments.rows_json(self.store, names, rank)
        by_service: dict[str, dict[str, str]] = {}
        for record in self.store.service_slots(names):
            view = view_slot(record.state)
            if view is not None:
                slots = by_service.setdefault(record.service, {})
                slots[record.environment] = _slot_json(record.environment, view)
        return _rows_json(((name, by_service.get(name)) for name in names), rank)


__all__ = [
    "MatrixDocument",
    "MatrixIndexDocument",
    "MatrixIndexPage",
    "MatrixQuery",
    "MatrixReader",
]
