"""Fetcher adapters' cursors: where each adapter resumes reading its source."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from ..domain import FetcherState, to_micros
from .errors import NotFound
from .logs import Runner
from .rows import micros_to_datetime
from .store import Store


class FetcherCursors:
    """Adapters' stored cursors (`engine.fetchers`)."""

    def __init__(
        self, store: Store, read: Runner, write: Runner, clock: Callable[[], datetime]
    ) -> None:
        self.store = store
        self._read = read
        self._write = write
        self.clock = clock

    async def get(self, adapter: str) -> FetcherState:
        """An adapter's stored cursor.

        Raises:
            NotFound: nothing is stored for the adapter yet.
        """
        found = await self._read(self.store.get_fetcher_state, adapter)
        if found is None:
            raise NotFound(f"no cursor is stored for adapter {adapter!r} yet")
        cursor, updated = found
        return FetcherState(adapter=adapter, cursor=cursor, updated_at=micros_to_datetime(updated))

    async def put(self, adapter: str, cursor: str) -> FetcherState:
        """Store an adapter's cursor (latest write wins)."""
        now = self.clock()
        await self._write(self.store.put_fetcher_state, adapter, cursor, to_micros(now))
        return FetcherState(adapter=adapter, cursor=cursor, updated_at=now)


__all__ = ["FetcherCursors"]
