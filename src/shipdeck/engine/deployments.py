"""Reads of the deployment log and the slots: listings, single rows, names, run states."""

from __future__ import annotations

from ..domain import DeploymentEvent, DeploymentEventPage, DeploymentFilters, order_environments
from .cursors import check_limit, decode_cursor, encode_cursor
from .errors import NotFound
from .exclusion import ServiceExclusion, compile_exclusion, hidden_rows
from .logs import Runner
from .store import DeploymentQuery, Store


class DeploymentReader:
    """Deployment rows and what the slots name (`engine.deployments`).

    Rows of services excluded by configuration (`[ingest] exclude_services`) are left out of
    every listing, for every caller (the API, an embedded dashboard): ingest refuses them,
    but rows stored before a service was excluded are still in the log. The patterns are
    matched against the stored names (`hidden_rows`) and the listing's query leaves those
    names out, so a page is as full as if the rows were not stored.
    """

    def __init__(
        self,
        store: Store,
        environment_order: list[str],
        read: Runner,
        exclusion: ServiceExclusion | None = None,
    ) -> None:
        self.store = store
        self.environment_order = environment_order
        self._read = read
        self.exclusion = exclusion or compile_exclusion(())

    async def execution_state(self, deployment_id: str) -> str | None:
        """`queued`, `running` or `done` for a run of the executor; `None` otherwise."""
        record = await self._read(self.store.execution, deployment_id)
        return None if record is None else record.state

    async def documents(
        self,
        filters: DeploymentFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> tuple[list[str], str | None]:
        """A page of row documents, newest first, and the cursor of the next page.

        Excluded services' rows are left out by the query itself: a page holds `limit`
        rows unless it is the last.
        """
        check_limit(limit)
        filters = filters or DeploymentFilters()
        before = None if cursor is None else decode_cursor(cursor)
        rows = await self._read(self._list, filters, before, limit + 1)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1][0], rows[-1][1])
        return [doc for _, _, doc in rows], next_cursor

    def _list(
        self, filters: DeploymentFilters, before: tuple[int, str] | None, limit: int
    ) -> list[tuple[int, str, str]]:
        """The listing's rows (on a reader thread: the names to leave out, then the rows)."""
        hidden = hidden_rows(self.store, self.exclusion)
        query = DeploymentQuery(filters, before, limit, hidden.services, hidden.identities)
        return self.store.list_deployments(query)

    async def page(
        self,
        filters: DeploymentFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 100,
    ) -> DeploymentEventPage:
        """`documents` as typed models."""
        docs, next_cursor = await self.documents(filters, cursor=cursor, limit=limit)
        items = [DeploymentEvent.model_validate_json(doc) for doc in docs]
        return DeploymentEventPage(items=items, next_cursor=next_cursor)

    async def document(self, row_id: str) -> str:
        """One row's JSON document.

        Raises:
            NotFound: no row has that id.
        """
        doc = await self._read(self.store.get_deployment, row_id)
        if doc is None:
            raise NotFound(f"no deployment event has id {row_id}")
        return doc

    async def get(self, row_id: str) -> DeploymentEvent:
        """One row.

        Raises:
            NotFound: no row has that id.
        """
        return DeploymentEvent.model_validate_json(await self.document(row_id))

    async def environments(self) -> list[str]:
        """Every environment in display order (configured, conventional, alphabetical);
        those only excluded services' rows are in left out."""
        names = await self._read(self._visible_environments)
        return order_environments(names, self.environment_order)

    async def services(self) -> list[str]:
        """Every service that has a row, sorted; those every row of which is excluded left
        out (a service with rows in a namespace that is not excluded stays)."""
        return sorted(await self._read(self._visible_services))

    def _visible_environments(self) -> list[str]:
        names = self.store.environments()
        hidden = hidden_rows(self.store, self.exclusion).environments
        return [name for name in names if name not in hidden]

    def _visible_services(self) -> list[str]:
        names = self.store.services()
        hidden = hidden_rows(self.store, self.exclusion).empty
        return [name for name in names if name not in hidden]


__all__ = ["DeploymentReader"]
