"""`RemoteClient`: an engine over HTTP (the deployment-dashboard API and shipdeck's additions).

Reads and actions are JSON requests on one shared `httpx.AsyncClient`. The live feed follows
the SSE stream from a background task and, after any loss, reconnects with `Last-Event-ID`
behind a jittered exponential backoff, so a client that reconnects misses nothing and sees
nothing twice. A deployment's log follows its WebSocket the same way (`_logsocket`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import ServerSentEvent, SSEError, aconnect_sse
from pydantic import BaseModel, ValidationError

from ..domain import (
    ActionResult,
    DeploymentEvent,
    DeploymentEventPage,
    LogPage,
    Matrix,
    PromotionPlanDoc,
    RollbackPlanDoc,
    utc_now,
)
from ..domain.promotions import EnvironmentView, PromotionPage, PromotionView
from . import _results
from ._backoff import Backoff
from ._logbatch import LogPump, batched
from ._logsocket import LogSocket, stream_url
from ._wire import deployment_path, error_text, parse, promotion_path, refusal, where, why
from .base import (
    ActionAccepted,
    Capabilities,
    ConnectionChanged,
    ConnectionStatus,
    DeploymentArrived,
    EngineError,
    EnvironmentChanged,
    FeedItem,
    HistoryFilters,
    LinkState,
    LogItem,
    PromotionChanged,
    PromotionPlan,
    ResyncNeeded,
    RollbackPlan,
)

STREAM_PATH = "/api/events/stream"
NO_ACTIONS = "this server offers no actions (read-only)"
_FIELDS = ("service", "environment", "status", "deployment_id", "actor")
_ABSENT = (404, 405, 501)
"""Answers of a server that does not have an endpoint (a contract-only server)."""
_RETRYABLE = (httpx.NetworkError, httpx.RemoteProtocolError)
"""Failures after which an action is sent once more (its `Idempotency-Key` makes it safe):
the connection broke, perhaps before the request arrived, perhaps before its answer came."""
_Out = asyncio.Queue[FeedItem | None]


class _ItemList(BaseModel):
    items: list[str]


class _EnvironmentList(BaseModel):
    items: list[EnvironmentView]


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
        elif sse.event in ("promotion", "environment"):
            try:
                items.append(_governance_item(sse))
            except ValidationError:
                return items or [ResyncNeeded()]
        return items


class RemoteClient:
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
        log_retry_interval: float = 1.0,
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
            log_retry_interval: the least time between two connection attempts of a log
                stream, in seconds.
            rng: the source of jitter.
        """
        self.label = url.rstrip("/")
        self._headers = {"X-Api-Key": token} if token else {}
        self._timeout, self._connect_timeout = timeout, connect_timeout
        self._idle_timeout, self._healthy_after = idle_timeout, healthy_after
        self._backoff = Backoff(backoff_base, backoff_factor, backoff_cap, rng or random.Random())
        self._log_retry_interval = log_retry_interval
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
        return await self._send(
            self._http().build_request("GET", path, params=params, headers=headers)
        )

    async def _send(self, request: httpx.Request, *, retries: int = 0) -> httpx.Response:
        """Send `request`, again up to `retries` times if the connection breaks.

        Transport failures become an `EngineError` (statuses are the caller's).
        """
        for attempt in range(retries + 1):
            try:
                return await self._http().send(request)
            except httpx.TimeoutException as exc:
                connecting = isinstance(exc, httpx.ConnectTimeout)
                limit = self._connect_timeout if connecting else self._timeout
                raise EngineError(f"{self.label} did not answer within {limit:g} s") from exc
            except _RETRYABLE as exc:
                if attempt == retries:
                    raise EngineError(f"cannot reach {self.label}: {why(exc)}") from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"cannot reach {self.label}: {why(exc)}") from exc
        raise AssertionError("unreachable")  # the last attempt returned or raised

    async def matrix(self) -> Matrix:
        cached = self._matrix_cache
        response = await self._get(
            "/api/matrix", headers={"If-None-Match": cached[0]} if cached else None
        )
        if response.status_code == 304 and cached is not None:
            return cached[1]
        matrix = parse(response, Matrix)
        etag = response.headers.get("ETag")
        self._matrix_cache = (etag, matrix) if etag else None
        return matrix

    async def environments(self) -> list[str]:
        return parse(await self._get("/api/environments"), _ItemList).items

    async def deployments(
        self, filters: HistoryFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        params: dict[str, str | int] = {"limit": limit}
        params |= {name: str(v) for name in _FIELDS if (v := getattr(filters, name)) is not None}
        if filters.text:
            params["q"] = filters.text  # an extension: a contract-only server ignores it
        if cursor is not None:
            params["cursor"] = cursor
        page = parse(await self._get("/api/deployments", params), DeploymentEventPage)
        # Filter again: a contract-only server ignores `q` and `actor`, ours matches `q`
        # against field names too. The page boundary (next_cursor) stays the server's.
        items = [item for item in page.items if _matches(item, filters)]
        return DeploymentEventPage(items=items, next_cursor=page.next_cursor)

    async def deployment(self, row_id: str) -> DeploymentEvent:
        response = await self._get(f"/api/deployments/{quote(row_id, safe='')}")
        return parse(response, DeploymentEvent)

    async def capabilities(self) -> Capabilities:
        response = await self._get("/api/whoami")
        if response.status_code in (401, 403):
            return Capabilities(reason=f"the server refused the key: {error_text(response)}")
        if response.status_code in (404, 405, 501):
            return Capabilities(reason=NO_ACTIONS)
        if not response.is_success:
            raise EngineError(error_text(response))
        try:
            doc = response.json()
        except ValueError:  # e.g. a single-page app's HTML for every unknown path
            doc = None
        if not isinstance(doc, dict):
            return Capabilities(reason=NO_ACTIONS)
        return _results.capabilities(doc)

    # -- actions -----------------------------------------------------------------------

    async def deploy(self, service: str, environment: str, version: str) -> ActionAccepted:
        body = {"service": service, "environment": environment, "version": version}
        return await self._act("/api/deploys", body)

    async def promote(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> ActionAccepted:
        body = {"service": service, "from_environment": from_environment}
        if to_environment is not None:
            body["to_environment"] = to_environment
        return await self._act("/api/promotions", body)

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlan:
        params = {"service": service, "from_environment": from_environment}
        if to_environment is not None:
            params["to_environment"] = to_environment
        response = await self._get("/api/promotion-plan", params)
        if not response.is_success:
            raise refusal(response)
        return _results.plan(parse(response, PromotionPlanDoc))

    async def rollback_plan(self, deployment_id: str) -> RollbackPlan:
        response = await self._get(f"{deployment_path(deployment_id)}/rollback-plan")
        if not response.is_success:
            raise refusal(response)
        return _results.rollback_plan(parse(response, RollbackPlanDoc))

    async def rollback(self, deployment_id: str, version: str | None = None) -> ActionAccepted:
        body = None if version is None else {"version": version}
        return await self._act(f"{deployment_path(deployment_id)}/rollback", body)

    async def cancel(self, deployment_id: str) -> ActionAccepted:
        return await self._act(f"{deployment_path(deployment_id)}/cancel")

    async def retry(self, deployment_id: str) -> ActionAccepted:
        return await self._act(f"{deployment_path(deployment_id)}/retry")

    async def _act(self, path: str, body: Mapping[str, str] | None = None) -> ActionAccepted:
        """POST one action; sent twice at most, always with the same `Idempotency-Key`."""
        # One key per action a person asked for: a resend after a broken connection is the
        # same action, and the server answers it with the first answer instead of acting twice.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        request = self._http().build_request("POST", path, json=body, headers=headers)
        response = await self._send(request, retries=1)
        if not response.is_success:
            raise refusal(response)
        return _results.accepted(parse(response, ActionResult))

    # -- promotions awaiting approval, environments ----------------------------------

    async def promotions(self, status: str | None = None, limit: int = 200) -> list[PromotionView]:
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        response = await self._get("/api/promotions", params)
        if response.status_code in _ABSENT:
            return []
        return parse(response, PromotionPage).items

    async def pending_for_me(self) -> list[PromotionView]:
        response = await self._get("/api/promotions/pending-for-me")
        if response.status_code in (401, 403, *_ABSENT):
            return []  # no key (or no approvals on this server): nothing awaits this user
        return parse(response, PromotionPage).items

    async def promotion(self, promotion_id: str) -> PromotionView:
        return parse(await self._get(promotion_path(promotion_id)), PromotionView)

    async def approve(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        return await self._decide(promotion_id, "approve", comment)

    async def reject(self, promotion_id: str, comment: str | None = None) -> PromotionView:
        return await self._decide(promotion_id, "reject", comment)

    async def withdraw_promotion(
        self, promotion_id: str, comment: str | None = None
    ) -> PromotionView:
        return await self._decide(promotion_id, "cancel", comment)

    async def _decide(self, promotion_id: str, verb: str, comment: str | None) -> PromotionView:
        """POST a decision; never resent (a second approval would be `already-decided`)."""
        body = {"comment": comment} if comment else None
        path = f"{promotion_path(promotion_id)}/{verb}"
        response = await self._send(self._http().build_request("POST", path, json=body))
        if not response.is_success:
            raise refusal(response)
        return parse(response, PromotionView)

    async def environment_policies(self) -> list[EnvironmentView]:
        response = await self._get("/api/environment-policies")
        if response.status_code in _ABSENT:
            return []
        return parse(response, _EnvironmentList).items

    # -- logs --------------------------------------------------------------------------

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        params = {"after": after, "limit": limit}
        response = await self._get(f"{deployment_path(deployment_id)}/logs", params)
        return parse(response, LogPage)

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        self._http()  # not started: fail here, not in the background
        socket = LogSocket(
            url=stream_url(self.label, deployment_id),
            headers=self._headers,
            backoff=self._backoff,
            connect_timeout=self._connect_timeout,
            idle_timeout=self._idle_timeout,
            healthy_after=self._healthy_after,
            min_interval=self._log_retry_interval,
            last=after,
        )
        pump: LogPump = socket.pump
        return batched(
            pump,
            after=after,
            name=f"shipdeck logs {deployment_id} {self.label}",
            tasks=self._pumps,
            closed=self._closed,
        )

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
                reason = why(exc)
            now = asyncio.get_running_loop().time()
            if state.live_at is not None and now - state.live_at >= self._healthy_after:
                attempt, lost_since = 0, None  # that stream was healthy: start the backoff over
            attempt += 1
            lost_since = lost_since or utc_now()
            await out.put(
                _changed(LinkState.RECONNECTING, attempt=attempt, since=lost_since, detail=reason)
            )
            await asyncio.sleep(self._backoff.delay(attempt))

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
                    raise _Refused(error_text(response, detail_only=True))
                raise _Lost(error_text(response))
            if "text/event-stream" not in response.headers.get("content-type", ""):
                raise _Lost(f"{where(response)} did not answer with an event stream")
            state.live_at = asyncio.get_running_loop().time()
            await out.put(_changed(LinkState.LIVE))
            if resync_on_live and state.last_id is None:
                await out.put(ResyncNeeded())  # nothing to resume from: events may be missed
            async for sse in source.aiter_sse():
                for item in state.accept(sse):
                    await out.put(item)


def _governance_item(sse: ServerSentEvent) -> PromotionChanged | EnvironmentChanged:
    """A `promotion` or `environment` event (raises `ValidationError` when unreadable)."""
    if sse.event == "promotion":
        return PromotionChanged(PromotionView.model_validate_json(sse.data))
    return EnvironmentChanged(EnvironmentView.model_validate_json(sse.data))


def _changed(state: LinkState, **fields: Any) -> ConnectionChanged:
    return ConnectionChanged(ConnectionStatus(state, **fields))


def _offer(out: _Out, item: FeedItem | None) -> None:
    with contextlib.suppress(asyncio.QueueFull):
        out.put_nowait(item)


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
