"""Reads of the deployment log and the slots: listings, single rows, names, run states."""

from __future__ import annotations

from ..domain import DeploymentEvent, DeploymentEventPage, DeploymentFilters, order_environments
from .cursors import check_limit, decode_cursor, encode_cursor
from .errors import NotFound
from .exclusion import ServiceExclusion, compile_exclusion
from .logs import Runner
from .store import DeploymentQuery, Store


class DeploymentReader:
    """Deployment rows and what the slots name (`engine.deployments`).

    Rows of services excluded by configuration (`[ingest] exclude_services`) are left out of
    every listing, for every caller (the API, an embedded dashboard): ingest refuses them,
    but rows stored before a service was excluded are still in the log.
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

        Excluded services' rows are dropped after the page is read, so such a page may hold
        fewer than `limit` rows; its cursor still leads on from the last row read.
        """
        check_limit(limit)
        query = DeploymentQuery(
            filters or DeploymentFilters(),
            before=None if cursor is None else decode_cursor(cursor),
            limit=limit + 1,
        )
        rows = await self._read(self.store.list_deployments, query)
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = encode_cursor(rows[-1][0], rows[-1][1])
        return self.exclusion.visible_documents([doc for _, _, doc in rows]), next_cursor

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
        """Every environment in display order (configured, conventional, alphabetical)."""
        names = await self._read(self.store.environments)
        return order_environments(names, self.environment_order)

    async def services(self) -> list[str]:
        """Every service that has a row, sorted (names excluded everywhere left out)."""
        return self.exclusion.visible_names(sorted(await self._read(self.store.services)))


__all__ = ["DeploymentReader"]
