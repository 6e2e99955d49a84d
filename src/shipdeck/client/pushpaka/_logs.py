"""A Pushpaka deployment's log: its WebSocket (`/logs/{id}/stream?token=<JWT>`), followed.

The socket sends every stored line first, then new ones as they are written, one JSON
`DeploymentLog` per message, and never closes by itself. Pushpaka numbers no lines: they are
told apart by their `id` and numbered here in the order they came. A reconnection gets the
history again, and only lines not seen yet are passed on. The stream ends when the deployment
does (its status is read every `check_interval` seconds), a moment after, so the last lines
arrive. A refused token or an unknown deployment stops it, saying so. The token travels only
in the URL's query, as Pushpaka requires: never in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from ...domain import utc_now
from .._backoff import Attempts, Backoff
from .._logbatch import LogOut, link
from .._platform_http import PlatformHttp, SignInNeeded
from .._wire import why
from ..base import EngineError, LinkState, LogLinkChanged, LogStreamEnded
from ._wire import log_line

FINAL = frozenset({"running", "failed", "stopped"})
"""Pushpaka statuses after which a deployment writes no more lines."""
GRACE = 1.0
"""Once the deployment ended, the socket is read until it stays quiet this many seconds."""


class _Stop(Exception):
    """Following cannot go on; the message says why."""


def stream_url(api_url: str, deployment_id: str, token: str | None) -> str:
    """The `ws(s)://` URL of a deployment's log stream (the token in its query)."""
    scheme, netloc, path, _, _ = urlsplit(api_url)
    query = urlencode({"token": token}) if token else ""
    target = f"{path.rstrip('/')}/logs/{quote(deployment_id, safe='')}/stream"
    return urlunsplit(({"https": "wss"}.get(scheme, "ws"), netloc, target, query, ""))


@dataclass
class PushpakaLogs:
    """Follows one deployment's log until it ends, is refused, or is unknown."""

    http: PlatformHttp
    deployment_id: str
    backoff: Backoff
    after: int = 0
    """Lines up to this place were delivered before: not again."""
    check_interval: float = 2.0
    failure: str | None = None
    """Why following stopped, when the deployment could not be read."""
    _seen: dict[str, int] = field(default_factory=dict)
    """Each line's `id` → its place."""
    _count: int = 0

    async def pump(self, out: LogOut) -> None:
        """Queue lines and link changes until the stream ends or stops."""
        tries = Attempts(healthy_after=5.0)
        loop = asyncio.get_running_loop()
        watcher = asyncio.create_task(self._until_final())
        try:
            while True:
                live_at = None
                try:
                    async with self._connect() as socket:
                        live_at = loop.time()
                        await out.put(link(LinkState.LIVE))
                        if await self._read(socket, out, watcher):
                            await out.put(LogStreamEnded())
                            return
                except _Stop as stop:
                    await out.put(link(LinkState.OFFLINE, since=utc_now(), detail=str(stop)))
                    return
                except (OSError, WebSocketException, TimeoutError) as exc:
                    reason = why(exc) if not isinstance(exc, TimeoutError) else "no answer"
                    status = tries.lost(live_at, loop.time(), reason)
                    await out.put(LogLinkChanged(status))
                    await asyncio.sleep(self.backoff.delay(status.attempt))
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[ClientConnection]:
        url = stream_url(self.http.api_url, self.deployment_id, self.http.token)
        try:
            socket = await connect(url, open_timeout=5.0, close_timeout=2.0)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise _Stop(f"Pushpaka refused the token: {self.http.sign_in}") from None
            if 400 <= status < 500:
                raise _Stop(f"Pushpaka has no log stream here (HTTP {status})") from None
            raise OSError(f"Pushpaka answered HTTP {status}") from None
        try:
            yield socket
        finally:
            await socket.close()

    async def _read(
        self, socket: ClientConnection, out: LogOut, watcher: asyncio.Task[None]
    ) -> bool:
        """Queue new lines until the deployment ended and the socket went quiet (True), or
        the socket closed (raises)."""
        receiving: asyncio.Future[str | bytes] = asyncio.ensure_future(socket.recv())
        ended = False
        try:
            while True:
                wait: set[asyncio.Future[Any]] = {receiving} if ended else {receiving, watcher}
                timeout = GRACE if ended else None
                await asyncio.wait(wait, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if not receiving.done():
                    if ended:  # quiet for GRACE seconds after the end: every line is here
                        return True
                    if self.failure is not None:
                        raise _Stop(self.failure)
                    ended = True  # the deployment is over: read what is still coming
                    continue
                try:
                    message = receiving.result()
                except ConnectionClosed as exc:
                    if ended:
                        return True
                    raise OSError("the connection was lost") from exc
                await self._take(message, out)
                receiving = asyncio.ensure_future(socket.recv())
        finally:
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await receiving

    async def _take(self, message: str | bytes, out: LogOut) -> None:
        try:
            doc = json.loads(message)
        except ValueError:
            return
        if not isinstance(doc, dict):
            return
        key = str(doc.get("id") or f"#{self._count + 1}")
        if key in self._seen:
            return
        self._count += 1
        self._seen[key] = self._count
        line = log_line(doc, self._count)
        if line is not None and line.seq > self.after:
            await out.put(line)

    async def _until_final(self) -> None:
        """Return once the deployment is over (or cannot be read: `failure` says why)."""
        path = f"/deployments/{quote(self.deployment_id, safe='')}"
        while True:
            try:
                response = await self.http.send("GET", path)
            except SignInNeeded as refused:
                self.failure = str(refused)
                return
            except EngineError:
                response = None
            if response is not None and response.status_code == 404:
                self.failure = f"Pushpaka knows no deployment {self.deployment_id}"
                return
            if response is not None and response.is_success:
                with contextlib.suppress(ValueError):
                    doc = response.json()
                    if isinstance(doc, dict) and doc.get("status") in FINAL:
                        return
            await asyncio.sleep(self.check_interval)


__all__ = ["PushpakaLogs", "stream_url"]
