"""The matrix's index: every service with its last change and its slots' statuses, no bodies.

`ServiceIndex` keeps, per service, each slot's current status and last change, read from
the slot table's light columns (`Store.slot_summaries`) and refreshed from the slots changed
since the previous read — the `changed_seq` technique of the matrix's fragments. The
services are kept sorted both ways (by name; newest change first), so a request costs a
filter (cached per state and query), a bisect to its cursor and a join of cached JSON items.

A service's last change is the newest `happened_at` of its slots' current row and latest
non-effective row: exactly the newest of every `current` and `next` the matrix shows (a
non-effective row older than `current` is no `next`, but then `current` is the newer).
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_left, bisect_right, insort
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Literal, get_args

from ..domain import Status, format_rfc3339, fuzzy_pattern
from .errors import InvalidRequest
from .store import Store
from .store.base import SlotSummary

Sort = Literal["name", "change"]
"""`name`: by service name; `change`: newest last change first, ties by name."""

SORTS: tuple[str, ...] = get_args(Sort)

MAX_LIMIT = 100_000
"""The largest `limit` of the index or of a page of rows."""

MAX_WINDOW = 500
"""The most services one window names."""

MAX_QUERY = 256
"""The longest filter text."""

CURSOR_PATTERN = r"^-?[0-9]{1,19}\.(?:[0-9a-f]{2})*$"
"""Every cursor this server issues (and every text of this form is a position)."""

_CURSOR = re.compile(CURSOR_PATTERN.removeprefix("^").removesuffix("$"))
_STATUS_ORDER = {status.value: index for index, status in enumerate(Status)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_REBUILD = 256
"""Past this many services moved at once, both orders are sorted anew."""


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """Which services, in which order, from where: the parameters of the index and of a page
    of the matrix's rows."""

    sort: str = "name"
    """One of `SORTS` (`Sort`)."""
    q: str | None = None
    """Keep services whose name `fuzzy_match`es it (case-insensitive); empty: all."""
    limit: int | None = None
    """At most this many (1..`MAX_LIMIT`); `None`: all."""
    cursor: str | None = None
    """A `next_cursor`: continue after the service it names."""

    def check(self) -> None:
        """Refuse what no request may ask.

        Raises:
            InvalidRequest: an unknown sort, a limit out of range, a filter too long, or a
                cursor this server did not issue.
        """
        if self.sort not in SORTS:
            raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}", pointer="/sort")
        if self.limit is not None and not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}", pointer="/limit")
        if self.q is not None and len(self.q) > MAX_QUERY:
            raise InvalidRequest(f"q must be at most {MAX_QUERY} characters", pointer="/q")
        if self.cursor is not None:
            decode_cursor(self.cursor)


def encode_cursor(last_change: int, service: str) -> str:
    """The cursor that continues after `service` (whose last change is `last_change`, µs)."""
    return f"{last_change}.{service.encode('utf-8', 'surrogatepass').hex()}"


def decode_cursor(cursor: str) -> tuple[int, str]:
    """`(last_change, service)` of a cursor.

    Raises:
        InvalidRequest: the cursor is not of the form this server issues.
    """
    if not _CURSOR.fullmatch(cursor):
        raise InvalidRequest(
            "cursor is not one this server issued: pass next_cursor from a previous page",
            pointer="/cursor",
        )
    at, _, name = cursor.partition(".")
    raw = bytes.fromhex(name)
    try:
        return int(at), raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # any position is a position: it only has to compare
        return int(at), raw.decode("utf-8", "replace")


def from_micros(micros: int) -> datetime:
    """The instant `to_micros` made `micros` of."""
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class ServiceChange:
    """A service and its last change (µs since the epoch)."""

    service: str
    last_change: int


@dataclass(frozen=True, slots=True)
class IndexPage:
    """One page of the index, as the engine holds it."""

    services: list[ServiceChange]
    total: int
    """Services matching the query (and `only`), over every page."""
    next_cursor: str | None
    counts: dict[str, dict[str, int]] | None = None
    """Per environment, per current status: how many of the `total` services' slots."""


Key = tuple[int, str]
"""A service's place in an order: `(0, name)` by name, `(-last_change, name)` by change."""


class ServiceIndex:
    """Every service with a current row somewhere: its slots' statuses and last change.

    Thread-safe: reader threads refresh and read it one at a time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hidden: frozenset[str] = frozenset()
        """Services left out (excluded by configuration: `HiddenRows.empty`)."""
        self._reset()

    def _reset(self) -> None:
        """Forget every slot (the next refresh reads them all)."""
        self._seen = 0
        self._version = 0
        """Moves whenever anything below changed."""
        self._slots: dict[str, dict[str, str]] = {}
        """Per service, per environment: the current status."""
        self._change: dict[str, int] = {}
        """Per service: its last change. A slot's never goes back (its current and latest
        other rows are only ever replaced by later ones), so neither does a service's."""
        self._tally: Counter[tuple[str, str]] = Counter()
        """Slots per `(environment, current status)`, over every service."""
        self._lower: dict[str, str] = {}
        self._items: dict[str, str] = {}
        """Per service: its `{"service", "last_change"}` JSON, made when first sent."""
        self._orders: dict[str, list[Key]] = {"name": [], "change": []}
        self._selections: dict[tuple[str, str], tuple[int, list[Key]]] = {}
        self._matches: dict[str, tuple[int, set[str]]] = {}
        self._codes: dict[str, tuple[int, ...]] = {}
        """Per service, its slots as `_codes_of` numbers them (made when first counted)."""
        self._numbers: dict[tuple[str, str], int] = {}
        self._pairs: list[tuple[str, str]] = []
        self._counts: dict[str, tuple[int, dict[str, dict[str, int]]]] = {}

    # -- keeping up ----------------------------------------------------------------------

    def refresh(self, store: Store, hidden: frozenset[str] = frozenset()) -> None:
        """Read the slots changed since the last refresh (all of them the first time);
        `hidden` services are left out (another set than the last one: every slot is read
        anew, which happens as seldom as rows of a service come or go from hidden)."""
        with self._lock:
            self._refresh(store, hidden)

    def _refresh(self, store: Store, hidden: frozenset[str]) -> None:
        if hidden != self._hidden:
            version = self._version
            self._hidden = hidden
            self._reset()
            self._version = version + 1
        rows = store.slot_summaries(changed_after=self._seen or None)
        if hidden:
            # Hidden services' changes are read (and passed) too, never kept.
            self._seen = max(self._seen, max((row[4] for row in rows), default=0))
            rows = [row for row in rows if row[0] not in hidden]
        if not rows:
            return
        self._version += 1
        if not self._slots:
            self._build(rows)
            return
        slots, change, tally = self._slots, self._change, self._tally
        moved: dict[str, int | None] = {}
        """Per service whose last change moved: the one before this refresh."""
        seen = self._seen
        for service, env, status, at, changed in rows:
            seen = max(seen, changed)
            per = slots.get(service)
            if per is None:
                per = slots[service] = {}
            old = per.get(env)
            if old != status:
                self._codes.pop(service, None)
                if old is not None:
                    tally[(env, old)] -= 1
                tally[(env, status)] += 1
                per[env] = status
            before = change.get(service)
            if before is None or at > before:
                moved.setdefault(service, before)
                change[service] = at
        self._seen = seen
        for key in [key for key, n in tally.items() if n <= 0]:
            del tally[key]
        for service, before in moved.items():
            self._items.pop(service, None)
            if before is None:
                self._lower[service] = service.lower()
        if len(moved) > _REBUILD:
            self._sort()
            return
        by_name, by_change = self._orders["name"], self._orders["change"]
        for service, before in moved.items():
            if before is None:
                insort(by_name, (0, service))
            else:
                del by_change[bisect_left(by_change, (-before, service))]
            insort(by_change, (-change[service], service))

    def _build(self, rows: list[SlotSummary]) -> None:
        """The first refresh: every slot at once (80,000 in ~0.1 s)."""
        slots, change = self._slots, self._change
        seen = 0
        for service, env, status, at, changed in rows:
            per = slots.get(service)
            if per is None:
                slots[service] = {env: status}
                change[service] = at
            else:
                per[env] = status
                if at > change[service]:
                    change[service] = at
            if changed > seen:
                seen = changed
        self._seen = max(self._seen, seen)
        self._tally.update(chain.from_iterable(per.items() for per in slots.values()))
        self._lower = {name: name.lower() for name in change}
        self._sort()

    def _sort(self) -> None:
        change = self._change
        self._orders = {
            "name": [(0, name) for name in sorted(change)],
            "change": sorted([(-at, name) for name, at in change.items()]),
        }

    # -- reading -------------------------------------------------------------------------

    def page(
        self,
        store: Store,
        query: IndexQuery,
        only: Iterable[str] | None = None,
        *,
        counts: Sequence[str] | None = None,
        hidden: frozenset[str] = frozenset(),
    ) -> IndexPage:
        """A page of the services matching `query` (and, given `only`, among those); with
        `counts` (the environments, in order) their slots' statuses counted too. `hidden`
        services are neither listed nor counted (see `refresh`)."""
        with self._lock:
            self._refresh(store, hidden)
            names, total, cursor = self._slice(query, only)
            counted = None if counts is None else self._counted(query.q or "", counts)
            change = self._change
            services = [ServiceChange(name, change[name]) for name in names]
        return IndexPage(services, total, cursor, counted)

    def page_json(
        self,
        store: Store,
        query: IndexQuery,
        environments: Sequence[str],
        hidden: frozenset[str] = frozenset(),
    ) -> bytes:
        """The index's body from `"total"` to its end (`}` included); `hidden` as in
        `page`."""
        with self._lock:
            self._refresh(store, hidden)
            names, total, cursor = self._slice(query, None)
            counted = self._counted(query.q or "", environments)
            items, change = self._items, self._change
            out = []
            for name in names:
                item = items.get(name)
                if item is None:
                    item = items[name] = (
                        f'{{"service":{json.dumps(name)},"last_change":'
                        f'"{format_rfc3339(from_micros(change[name]))}"}}'
                    )
                out.append(item)
        tail = "null" if cursor is None else f'"{cursor}"'
        return (
            f'"total":{total},"counts":{json.dumps(counted, separators=(",", ":"))},'
            f'"services":[{",".join(out)}],"next_cursor":{tail}}}'
        ).encode()

    def _slice(
        self, query: IndexQuery, only: Iterable[str] | None
    ) -> tuple[list[str], int, str | None]:
        """The names of the page, how many match in all, and the next page's cursor."""
        keys = self._selected(query.sort, query.q or "")
        if only is not None:
            wanted = set(only)
            keys = [key for key in keys if key[1] in wanted]
        start = 0
        if query.cursor is not None:
            at, name = decode_cursor(query.cursor)
            start = bisect_right(keys, (0, name) if query.sort == "name" else (-at, name))
        end = len(keys) if query.limit is None else min(len(keys), start + query.limit)
        names = [name for _, name in keys[start:end]]
        cursor = None
        if names and end < len(keys):
            cursor = encode_cursor(self._change[names[-1]], names[-1])
        return names, len(keys), cursor

    def _selected(self, sort: str, q: str) -> list[Key]:
        """The services matching `q` in `sort` order (kept until anything changes)."""
        keys = self._orders[sort]
        if not q:
            return keys
        cached = self._selections.get((sort, q))
        if cached is None or cached[0] != self._version:
            matching = self._matching(q)
            cached = (self._version, [key for key in keys if key[1] in matching])
            if len(self._selections) > 32:
                self._selections.clear()
            self._selections[(sort, q)] = cached
        return cached[1]

    def _matching(self, q: str) -> set[str]:
        """The names matching `q` (kept until anything changes)."""
        cached = self._matches.get(q)
        if cached is None or cached[0] != self._version:
            match = fuzzy_pattern(q).match
            cached = (self._version, {name for name, low in self._lower.items() if match(low)})
            if len(self._matches) > 32:
                self._matches.clear()
            self._matches[q] = cached
        return cached[1]

    def _codes_of(self, service: str) -> tuple[int, ...]:
        """A number per `(environment, status)` of the service's slots: counting small
        numbers is several times cheaper than counting pairs."""
        codes = self._codes.get(service)
        if codes is None:
            numbers, pairs = self._numbers, self._pairs
            found = []
            for pair in self._slots[service].items():
                number = numbers.get(pair)
                if number is None:
                    number = numbers[pair] = len(pairs)
                    pairs.append(pair)
                found.append(number)
            codes = self._codes[service] = tuple(found)
        return codes

    def _counted(self, q: str, environments: Sequence[str]) -> dict[str, dict[str, int]]:
        cached = self._counts.get(q)
        if cached is not None and cached[0] == self._version:
            counted = cached[1]
        else:
            tally = self._tally
            if q:
                pairs = self._pairs
                codes = Counter(chain.from_iterable(map(self._codes_of, self._matching(q))))
                tally = Counter({pairs[code]: n for code, n in codes.items()})
            counted = {}
            for (env, status), n in sorted(tally.items(), key=lambda i: _STATUS_ORDER[i[0][1]]):
                counted.setdefault(env, {})[status] = n
            if len(self._counts) > 32:
                self._counts.clear()
            self._counts[q] = (self._version, counted)
        rank = {name: index for index, name in enumerate(environments)}
        last = len(rank)
        ordered = sorted(counted, key=lambda env: (rank.get(env, last), env))
        return {env: counted[env] for env in ordered}


__all__ = [
    "CURSOR_PATTERN",
    "MAX_LIMIT",
    "MAX_QUERY",
    "MAX_WINDOW",
    "SORTS",
    "IndexPage",
    "IndexQuery",
    "Key",
    "ServiceChange",
    "ServiceIndex",
    "Sort",
    "decode_cursor",
    "encode_cursor",
    "from_micros",
]
