"""A deployment's log over the engine's WebSocket, resumed after every loss.

The server sends the stored lines after `?after=N`, then live ones, one JSON `LogLine` per
text message, and closes `1000` once the deployment is over and every line was sent. Any
other loss (`1001` at shutdown, a dropped connection, a server that is down) is followed by
a reconnection with `after=<last seq delivered>`, behind full-jitter backoff, so the reader
misses nothing and sees nothing twice. A refusal (`4401` bad key, `4404` unknown deployment,
a `4xx` handshake) ends the stream: retrying cannot help. With several servers (replicas of
one engine), each connection goes to the one the client uses now, and a loss that says the
server stopped answering moves on to the next one at once (the backoff waits between full
rounds of servers that all failed).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException
from websockets.frames import Close

from ..domain import LogLine, utc_now
from ._backoff import Attempts, Backoff
from ._logbatch import MAX_BATCH, LogOut, link
from ._replicas import FAILOVER_STATUSES, Replicas
from ._wire import deployment_path, problem_of, why
from .base import LinkState, LogLinkChanged, LogStreamEnded

WS_NORMAL = 1000
"""The deployment is over and every line was sent."""
WS_GOING_AWAY = 1001
"""The server is shutting down: reconnect."""
WS_UNAUTHORIZED = 4401
WS_NOT_FOUND = 4404
CLOSE_TIMEOUT = 2.0
"""Seconds to wait for the server's answer to our close frame before dropping the socket."""
MAX_MESSAGE = 1024 * 1024
"""The largest message accepted (a line is at most 8 KiB of text, escaped as JSON)."""
MAX_QUEUE = MAX_BATCH
"""Messages websockets buffers before it stops reading the socket. Its default (16) would
hand a burst over a dozen lines at a time, and the reader would get a dozen per batch."""


def stream_url(base_url: str, deployment_id: str) -> str:
    """The `ws(s)://` URL of a deployment's log stream under an `http(s)://` base URL."""
    scheme, netloc, prefix, _, _ = urlsplit(base_url)
    path = f"{prefix.rstrip('/')}{deployment_path(deployment_id)}/logs/stream"
    return urlunsplit(({"https": "wss"}.get(scheme, "ws"), netloc, path, "", ""))


class _Stop(Exception):
    """Retrying cannot help; the message says why, in words."""


class _Ended(Exception):
    """The server closed `1000`: the deployment is over and every line arrived."""


class _Lost(Exception):
    """The connection is gone or could not be made; reconnecting may help."""

    def __init__(self, reason: str, *, failover: bool = True) -> None:
        super().__init__(reason)
        self.failover = failover
        """Whether the server stopped answering (try the next one) rather than answered."""


@dataclass
class LogSocket:
    """Follows one deployment's log stream, reconnecting until it ends or is refused."""

    replicas: Replicas
    """The servers, and the one in use (shared with the client's requests and feed)."""
    deployment_id: str
    headers: Mapping[str, str]
    backoff: Backoff
    connect_timeout: float = 5.0
    idle_timeout: float = 45.0
    """Seconds a silent connection may go unanswered (pings included) before it is dropped."""
    healthy_after: float = 5.0
    """Seconds a connection must last for the backoff to start over."""
    min_interval: float = 1.0
    """The least time between two connection attempts, in seconds."""
    last: int = 0
    """The `seq` of the last line queued: the next connection resumes after it."""
    _attempts: Attempts = field(init=False)

    def __post_init__(self) -> None:
        self._attempts = Attempts(self.healthy_after)

    async def pump(self, out: LogOut) -> None:
        """Queue lines and link changes until the stream ends or is refused."""
        loop = asyncio.get_running_loop()
        replicas = self.replicas
        while True:
            tried_at, live_at = loop.time(), None
            index, moved = replicas.index, True
            try:
                async with self._connect(replicas.urls[index]) as socket:
                    live_at = loop.time()
                    await out.put(link(LinkState.LIVE, replica=replicas.replica(index)))
                    await self._read(socket, out)
            except _Ended:
                await out.put(LogStreamEnded())
                return
            except _Stop as exc:
                await out.put(link(LinkState.OFFLINE, since=utc_now(), detail=str(exc)))
                return
            except _Lost as exc:
                reason, moved = str(exc), exc.failover
            if moved:
                replicas.failed(index)
            # A healthy connection starts the count over.
            status = self._attempts.lost(live_at, loop.time(), reason)
            await out.put(LogLinkChanged(replace(status, replica=replicas.replica())))
            step = replicas.backoff_step(status.attempt, moved=moved)
            if step is not None:
                spacing = self.min_interval - (loop.time() - tried_at)
                await asyncio.sleep(max(self.backoff.delay(step), spacing))

    @contextlib.asynccontextmanager
    async def _connect(self, base_url: str) -> AsyncIterator[ClientConnection]:
        """A connection to the server at `base_url` resuming after `last`; failures to open
        become `_Lost` or `_Stop`."""
        ping = self.idle_timeout / 2
        url = stream_url(base_url, self.deployment_id)
        try:
            socket = await connect(
                f"{url}?after={self.last}",
                additional_headers=dict(self.headers),
                open_timeout=self.connect_timeout,
                ping_interval=ping,
                ping_timeout=ping,
                close_timeout=CLOSE_TIMEOUT,
                max_size=MAX_MESSAGE,
                max_queue=MAX_QUEUE,
            )
        except InvalidStatus as exc:
            raise _refused(exc.response.status_code, bytes(exc.response.body or b"")) from exc
        except InvalidURI as exc:
            raise _Stop(f"{url} is not a WebSocket address") from exc
        except TimeoutError as exc:
            raise _Lost(f"no answer within {self.connect_timeout:g} s") from exc
        except (OSError, WebSocketException) as exc:
            raise _Lost(why(exc)) from exc
        try:
            yield socket
        finally:
            await socket.close()

    async def _read(self, socket: ClientConnection, out: LogOut) -> None:
        """Queue each new line until the server closes (raises how it closed)."""
        while True:
            try:
                message = await socket.recv()
            except ConnectionClosed as exc:
                raise _closed(exc.rcvd) from exc
            try:
                line = LogLine.model_validate_json(message)
            except ValidationError:
                continue  # not a line (a newer server's message type?): nothing to show
            if line.seq > self.last:  # a repeat would be a server's bug: never show it twice
                self.last = line.seq
                await out.put(line)


def _closed(close: Close | None) -> Exception:
    """What the server's close frame (or its absence) means for the stream."""
    if close is None:
        return _Lost("the connection was lost")
    code, reason = close.code, close.reason
    if code == WS_NORMAL:
        return _Ended()
    if code == WS_GOING_AWAY:
        return _Lost("the server is shutting down")
    if code == WS_UNAUTHORIZED:
        return _Stop(f"the server refused the key: {reason or 'missing or invalid API key'}")
    if code == WS_NOT_FOUND:
        return _Stop(reason or "the server knows no such deployment")
    if 4000 <= code < 5000:  # the application said no: the same request gets the same answer
        return _Stop(reason or f"the server refused the log stream (code {code})")
    said = f"the server closed the stream (code {code}{': ' + reason if reason else ''})"
    return _Lost(said, failover=False)


def _refused(status: int, body: bytes) -> Exception:
    """What an HTTP answer instead of a WebSocket means: `4xx` stops, others may pass."""
    problem = problem_of(body)
    detail = problem.get("detail") if problem else None
    said = detail if isinstance(detail, str) and detail else f"HTTP {status}"
    if status == 401:
        return _Stop(f"the server refused the key: {said}")
    # No such route: a server without log streams (Starlette refuses a WebSocket to a path
    # it does not route with a bare 403; a refusal of ours carries a problem document).
    if status in (404, 405, 501) or (status == 403 and problem is None):
        return _Stop(f"this server has no log stream ({said})")
    if 400 <= status < 500:  # 403 and the like: the same request gets the same answer
        return _Stop(f"the server refused the log stream: {said}")
    return _Lost(f"the server answered {said}", failover=status in FAILOVER_STATUSES)
