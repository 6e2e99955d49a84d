"""`RemoteEngine`: an engine over HTTP (the deployment-dashboard API and shipdeck's additions).

Reads are JSON requests on one shared `httpx.AsyncClient`. The live feed follows the SSE
stream from a background task and, after any loss, reconnects with `Last-Event-ID` behind a
jittered exponential backoff, so a client that reconnects misses nothing and sees nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse
from pydantic import BaseModel, ValidationError

from ..domain import DeploymentEvent, DeploymentEventPage, Matrix, utc_now
from .base import (
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EngineError,
    FeedItem,
    HistoryFilters,
    LinkState,
    ResyncNeeded,
)

STREAM_PATH = "/api/events/stream"
NO_ACTIONS = "this server offers no actions (read-only)"
_FIELDS = ("service", "environment", "status", "deployment_id", "actor")
_Model = TypeVar("_Model", bound=BaseModel)
_Out = asyncio.Queue[FeedItem | None]


class _ItemList(BaseModel):
    items: list[str]


class _Refused(Exception):
    """The server refused our key on the stream: retrying cannot help."""


class _Lost(Exception):
    """The stream cannot be used; the message says why, in words."""


@dataclass
class _FeedState:
    """Where the feed is in the server's event sequence."""

    last_id: str | None = None
    """What to send as `Last-Event-ID`: the last id seen, integer or opaque."""
    last_seq: int | None = None
    live_at: float | None = None
    """Loop time at which the current connection went live."""

    def accept(self, sse: ServerSentEvent) -> list[FeedItem]:
        """The feed items one SSE event stands for (none for unknown types and repeats)."""
        items: list[FeedItem] = []
        seq = int(sse.id) if sse.id.isascii() and sse.id.isdigit() else None
        if sse.id and seq is None:
            self.last_id = sse.id  # opaque (e.g. a contract-only server's UUIDs): no gap check
        elif seq is not None:
            if sse.event != "resync" and self.last_seq is not None:
                if seq == self.last_seq:
                    return []  # delivered already (a server that replays inclusively)
                if seq != self.last_seq + 1:
                    items.append(ResyncNeeded())  # a gap, or a sequence that went back
            self.last_seq, self.last_id = seq, sse.id
        if sse.event == "resync":
            items.append(ResyncNeeded())
        elif sse.event == "deployment":
            try:
                event = DeploymentEvent.model_validate_json(sse.data)
            except ValidationError:
                return items or [ResyncNeeded()]  # an unreadable row: refetch rather than lose it
            items.append(DeploymentArrived(-1 if seq is None else seq, event))
        return items


class RemoteEngine:
    """An `EngineClient` over HTTP to `shipdeck serve` or any deployment-dashboard server."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        idle_timeout: float = 45.0,
        backoff_base: float = 0.5,
        backoff_factor: float = 2.0,
        backoff_cap: float = 30.0,
        healthy_after: float = 5.0,
        rng: random.Random | None = None,
    ) -> None:
        """Create the client; nothing connects before `start()`.

        Args:
            url: the server's base URL (`http://host:port`, optionally with a path prefix).
            token: an API key, sent as `X-Api-Key` on every request.
            timeout: seconds a request may wait for the server's answer.
            connect_timeout: seconds to establish a connection.
            idle_timeout: seconds the stream may stay silent (not even a ping) before the
                feed drops the connection and reconnects.
            backoff_base: the first reconnection's longest delay, in seconds.
            backoff_factor: how much the longest delay grows per failed attempt.
            backoff_cap: the longest delay between attempts, in seconds.
            healthy_after: seconds a stream must stay connected for the backoff to reset.
            rng: the source of jitter.
        """
        self.label = url.rstrip("/")
        self._headers = {"X-Api-Key": token} if token else {}
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._idle_timeout, self._healthy_after = idle_timeout, healthy_after
        self._backoff = (backoff_base, backoff_factor, backoff_cap)
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self._closed = asyncio.Event()
        self._pumps: set[asyncio.Task[None]] = set()
        self._matrix_cache: tuple[str, Matrix] | None = None

    async def start(self) -> None:
        if self._client is None:
            self._closed.clear()
            timeout = httpx.Timeout(self._timeout, connect=self._connect_timeout)
            self._client = httpx.AsyncClient(
                base_url=self.label, headers=self._headers, timeout=timeout
            )

    async def close(self) -> None:
        self._closed.set()
        for pump in self._pumps:
            pump.cancel()
        if self._pumps:
            await asyncio.wait(list(self._pumps))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            raise EngineError(f"the client for {self.label} is not started")
        return self._client

    # -- requests ----------------------------------------------------------------------

    async def _get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET `path`; transport failures become an `EngineError` (statuses are the caller's)."""
        try:
            return await self._http().get(path, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            connecting = isinstance(exc, httpx.ConnectTimeout)
            limit = self._connect_timeout if connecting else self._timeout
            raise EngineError(f"{self.label} did not answer within {limit:g} s") from exc
        except httpx.HTTPError as exc:
            raise EngineError(f"cannot reach {self.label}: {_why(exc)}") from exc

    async def matrix(self) -> Matrix:
        cached = self._matrix_cache
        response = await self._get(
            "/api/matrix", headers={"If-None-Match": cached[0]} if cached else None
        )
        if response.status_code == 304 and cached is not None:
            return cached[1]
        matrix = _parse(response, Matrix)
        etag = response.headers.get("ETag")
        self._matrix_cache = (etag, matrix) if etag else None
        return matrix

    async def environments(self) -> list[str]:
        return _parse(await self._get("/api/environments"), _ItemList).items

    async def deployments(
        self, filters: HistoryFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        params: dict[str, str | int] = {"limit": limit}
        params |= {name: str(v) for name in _FIELDS if (v := getattr(filters, name)) is not None}
        if filters.text:
            params["q"] = filters.text  # an extension: a contract-only server ignores it
        if cursor is not None:
            params["cursor"] = cursor
        page = _parse(await self._get("/api/deployments", params), DeploymentEventPage)
        # Filter again: a contract-only server ignores `q` and `actor`, ours matches `q`
        # against field names too. The page boundary (next_cursor) stays the server's.
        items = [item for item in page.items if _matches(item, filters)]
        return DeploymentEventPage(items=items, next_cursor=page.next_cursor)

    async def deployment(self, row_id: str) -> DeploymentEvent:
        response = await self._get(f"/api/deployments/{quote(row_id, safe='')}")
        return _parse(response, DeploymentEvent)

    async def capabilities(self) -> Capabilities:
        response = await self._get("/api/whoami")
        if response.status_code in (401, 403):
            return Capabilities(reason=f"the server refused the key: {_error_text(response)}")
        if response.status_code in (404, 405, 501):
            return Capabilities(reason=NO_ACTIONS)
        if not response.is_success:
            raise EngineError(_error_text(response))
        try:
            doc = response.json()
        except ValueError:  # e.g. a single-page app's HTML for every unknown path
            doc = None
        return _capabilities(doc) if isinstance(doc, dict) else Capabilities(reason=NO_ACTIONS)

    # -- live feed ---------------------------------------------------------------------

    async def feed(self) -> AsyncIterator[FeedItem]:
        self._http()  # not started: fail here, not in the background
        out: _Out = asyncio.Queue(1000)
        pump = asyncio.create_task(self._follow(out), name=f"shipdeck feed {self.label}")
        self._pumps.add(pump)
        # Wakes the reader when the pump ends; if the queue is full the loop test sees it.
        pump.add_done_callback(lambda _: _offer(out, None))
        try:
            while not (pump.done() and out.empty()):
                item = await out.get()
                if item is None or self._closed.is_set():
                    break
                yield item
        finally:
            pump.cancel()
            self._pumps.discard(pump)
            await asyncio.wait([pump])
            error = None if pump.cancelled() else pump.exception()
        if error is not None:
            raise error  # a bug, not a network failure: those never leave the pump

    async def _follow(self, out: _Out) -> None:
        """Connect, stream, and reconnect forever (until refused or cancelled)."""
        state = _FeedState()
        attempt, lost_since = 0, None
        await out.put(_changed(LinkState.CONNECTING))
        while True:
            state.live_at = None
            try:
                await self._stream(state, out, resync_on_live=attempt > 0)
                reason = "the server ended the stream"
            except _Refused as exc:
                detail = f"the server refused the key: {exc}"
                await out.put(_changed(LinkState.OFFLINE, since=utc_now(), detail=detail))
                return
            except _Lost as exc:
                reason = str(exc)
            except httpx.ReadTimeout:
                reason = f"nothing arrived for {self._idle_timeout:g} s"
            except (httpx.HTTPError, httpx.StreamError, SSEError) as exc:
                reason = _why(exc)
            now = asyncio.get_running_loop().time()
            if state.live_at is not None and now - state.live_at >= self._healthy_after:
                attempt, lost_since = 0, None  # that stream was healthy: start the backoff over
            attempt += 1
            lost_since = lost_since or utc_now()
            await out.put(
                _changed(LinkState.RECONNECTING, attempt=attempt, since=lost_since, detail=reason)
            )
            await asyncio.sleep(self._delay(attempt))

    async def _stream(self, state: _FeedState, out: _Out, *, resync_on_live: bool) -> None:
        """One connection: open it, report it live, pass its events on until it ends."""
        headers = {"Last-Event-ID": state.last_id} if state.last_id else {}
        timeout = httpx.Timeout(
            self._timeout, connect=self._connect_timeout, read=self._idle_timeout
        )
        async with aconnect_sse(
            self._http(), "GET", STREAM_PATH, headers=headers, timeout=timeout
        ) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                if response.status_code in (401, 403):
                    raise _Refused(_error_text(response, detail_only=True))
                raise _Lost(_error_text(response))
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise _Lost(f"{_where(response)} did not answer with an event stream")
            state.live_at = asyncio.get_running_loop().time()
            await out.put(_changed(LinkState.LIVE))
            if resync_on_live and state.last_id is None:
                await out.put(ResyncNeeded())  # nothing to resume from: events may be missed
            async for sse in source.aiter_sse():
                for item in state.accept(sse):
                    await out.put(item)

    def _delay(self, attempt: int) -> float:
        """Full jitter: uniform between 0 and the capped exponential bound."""
        base, factor, cap = self._backoff
        return self._rng.uniform(0.0, min(cap, base * factor ** min(attempt - 1, 64)))


def _changed(state: LinkState, **fields: Any) -> ConnectionChanged:
    return ConnectionChanged(ConnectionStatus(state, **fields))


def _offer(out: _Out, item: FeedItem | None) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        out.put_nowait(item)


def _why(exc: BaseException) -> str:
    """A transport failure in words."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "unknown host"
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, httpx.ConnectTimeout):
        return "the connection timed out"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return f"the connection was lost ({exc})" if str(exc) else "the connection was lost"
    return str(exc) or type(exc).__name__


def _where(response: httpx.Response) -> str:
    return str(response.url.copy_with(query=None))


def _error_text(response: httpx.Response, *, detail_only: bool = False) -> str:
    """A non-2xx answer in words: the problem's title and detail, or the status code."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("title"), str):
        title, detail = body["title"], body.get("detail")
        if isinstance(detail, str) and detail:
            return detail if detail_only else f"{title}: {detail}"
        return str(title)
    return f"HTTP {response.status_code} from {_where(response)}"


def _parse(response: httpx.Response, model: type[_Model]) -> _Model:
    """The answer as `model`, or an `EngineError` saying what was wrong with it."""
    if not response.is_success:
        raise EngineError(_error_text(response))
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise EngineError(f"{_where(response)} did not answer with valid JSON") from exc
        where = "/".join(str(part) for part in first["loc"]) or "the document"
        message = f"{_where(response)} sent an unexpected document ({where}: {first['msg']})"
        raise EngineError(message) from exc


def _matches(row: DeploymentEvent, filters: HistoryFilters) -> bool:
    """Whether `row` passes `filters` (text: a case-insensitive substring of any value)."""
    if any((v := getattr(filters, f)) is not None and getattr(row, f) != v for f in _FIELDS):
        return False
    if not filters.text:
        return True
    needle = filters.text.casefold()
    values = row.model_dump(mode="json").values()
    parts = [str(p) for v in values for p in (v if isinstance(v, list) else [v])]
    return any(needle in part.casefold() for part in parts)


def _capabilities(doc: dict[str, Any]) -> Capabilities:
    """Capabilities from a `/api/whoami` answer, read leniently (unknown fields ignored)."""
    principal, role, listed = doc.get("principal"), doc.get("role"), doc.get("actions")
    if isinstance(principal, dict):
        principal = principal.get("name")
    actions = frozenset(a for a in listed if isinstance(a, str)) if isinstance(listed, list) else []
    return Capabilities(
        read_only=not actions,
        principal=principal if isinstance(principal, str) else None,
        role=role if isinstance(role, str) else None,
        reason="" if actions else "your key may not act on this server",
        actions=frozenset(actions),
    )
