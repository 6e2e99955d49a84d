"""`SyncMixin`: the app's half of keeping what is shown the server's — refetching after a
resync, `ctrl+r`, and saying `catching up` instead of `live` until the refetch is in.

A server that cannot replay what a reconnecting client missed (a contract-only server, a
foreign platform) makes the feed ask for a resync before it reports `live`. The app then
refetches the matrix, and the header says `catching up` over the feed's `live` until the
matrix it shows is the server's. A refetch that fails while catching up is tried again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from textual import work
from textual.app import App
from textual.reactive import reactive

from ..client import ConnectionStatus, LinkState
from .messages import ConnectionUpdated, broadcast
from .notify import tell

RELOAD_RETRY_S = 2.0
"""After a refetch failed while catching up, the next try comes this much later."""


class SyncMixin(App[None]):
    """Refetches on demand and after a resync; keeps `connection` honest meanwhile."""

    connection: reactive[ConnectionStatus]
    _feed_status: ConnectionStatus
    _catching_up: bool
    _loaded: bool
    # The app's and the governance mixin's (annotations only: the MRO finds theirs).
    _load_matrix: Callable[[], Awaitable[None]]
    refresh_governance: Callable[[], None]

    @work(exclusive=True, group="reload", exit_on_error=False)
    async def reload_matrix(self) -> None:
        """Refetch the matrix (after a resync, or asked for); `live` again once it is here."""
        await self._load_matrix()
        self._catch_up(False)

    def reload(self) -> None:
        """Fetch the matrix, approvals and what the screens show again (the screens reload
        on the `ResyncRequested` the new matrix brings)."""
        if not self._loaded:
            tell(self, "hint", "Still loading from the engine")
            return
        self.reload_matrix()
        self.refresh_governance()
        tell(self, "hint", "Reloading from the engine")

    def action_reload(self) -> None:
        """`ctrl+r`: reload everything shown."""
        self.reload()

    def feed_changed(self, status: ConnectionStatus) -> None:
        """The feed's new state; one that stopped for good (a refused key, an expired
        token) is also told in full (the header has one line for it)."""
        was = self._feed_status.state
        # Not at start (the connection's own error says it then): only a feed that ran.
        stopped = status.state is LinkState.OFFLINE and was not in (
            LinkState.OFFLINE,
            LinkState.CONNECTING,
        )
        self._feed_status = status
        if stopped and status.detail:
            tell(self, "error", status.detail, title="The live feed stopped")
        self._catch_up(self._catching_up)

    def _catch_up(self, catching_up: bool) -> None:
        """Say `catching up` instead of `live` while a refetch runs (or stop saying it)."""
        self._catching_up = catching_up
        status = self._feed_status
        if catching_up and status.state is LinkState.LIVE:
            status = replace(status, state=LinkState.CATCHING_UP)
        if status != self.connection:
            self.connection = status
            broadcast(self, ConnectionUpdated(status))

    def _retry_reload(self) -> None:
        """Refetch again after a failed one, while still catching up on a live feed."""
        if self._catching_up and self._feed_status.state is LinkState.LIVE:
            self.reload_matrix()
