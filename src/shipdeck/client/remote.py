"""`RemoteClient`: an engine over HTTP (the deployment-dashboard API and shipdeck's additions).

Reads and actions are JSON requests on a shared `httpx.AsyncClient` (`_http`; answers in
words: `_wire`). The live feed follows the SSE stream from a background task and, after any
loss, reconnects with `Last-Event-ID` behind a jittered exponential backoff, so a client that
reconnects misses nothing and sees nothing twice (`_feed`). A deployment's log follows its
WebSocket the same way (`_logsocket`).

Given several URLs (replicas of one engine on one database), the client uses one at a time
and moves on to the next when it stops answering (`_replicas`): requests that are safe to
resend are sent there again, and the feed and log streams resume there.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from urllib.parse import quote, urlencode

from pydantic import BaseModel

from ..domain import (
    ActionResult,
    DeploymentEvent,
    DeploymentEventPage,
    LogPage,
    Matrix,
    MatrixRow,
    PromotionPlanDoc,
    RollbackPlanDoc,
)
from ..domain.analytics import AnalyticsQuery, Insights
from ..domain.promotions import EnvironmentView, PromotionPage, PromotionView
from . import _results
from ._analytics import fetch_insights
from ._backoff import Backoff
from ._feed import QUEUE_SIZE, FeedOut, SseFeed
from ._http import Transport
from ._logbatch import batched
from ._logsocket import LogSocket
from ._matrix import WINDOW_LIMIT, index_from_json, index_from_matrix, seq_of_etag, window_of
from ._pump import Pumps
from ._wire import deployment_path, error_text, parse, promotion_path, refusal
from .base import (
    ActionAccepted,
    Capabilities,
    DeploymentFilters,
    EngineError,
    FeedItem,
    LogItem,
    MatrixIndex,
    MatrixWindow,
    NotOffered,
    PromotionPlan,
    Replica,
    RollbackPlan,
)

NO_ACTIONS = "this server offers no actions (read-only)"
NO_APPROVALS = "this server has no approval queue"
_FIELDS = ("service", "environment", "status", "deployment_id", "actor")
_ABSENT = (404, 405, 501)
"""Answers of a server that does not have an endpoint (a contract-only server)."""


class _ItemList(BaseModel):
    items: list[str]


class _EnvironmentList(BaseModel):
    items: list[EnvironmentView]


class RemoteClient:
    """An `EngineClient` over HTTP to `shipdeck serve` or any deployment-dashboard server."""

    def __init__(
        self,
        urls: str | Sequence[str],
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
            urls: the server's base URL (`http://host:port`, optionally with a path prefix),
                or several: servers of one engine (replicas on one database), used one at a
                time, in turn while the one in use does not answer.
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
        self._headers = {"X-Api-Key": token} if token else {}
        self._http = Transport(
            [urls] if isinstance(urls, str) else urls,
            self._headers,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self._idle_timeout, self._healthy_after = idle_timeout, healthy_after
        self._backoff = Backoff(backoff_base, backoff_factor, backoff_cap, rng or random.Random())
        self._log_retry_interval = log_retry_interval
        self._pumps = Pumps()
        self._matrix_cache: tuple[str, Matrix] | None = None

    @property
    def label(self) -> str:
        """The base URL of the server in use, for the header."""
        return self._http.label

    @property
    def current_url(self) -> str:
        """The base URL of the server in use (it changes when that one stops answering)."""
        return self._http.replicas.current

    @property
    def urls(self) -> tuple[str, ...]:
        """Every server's base URL, in the order they are tried."""
        return self._http.replicas.urls

    @property
    def replica(self) -> Replica:
        """The server in use, its place in the list and the list's length."""
        return self._http.replicas.replica()

    async def start(self) -> None:
        if not self._http.started:
            self._pumps.closed.clear()
            self._http.open()

    async def close(self) -> None:
        await self._pumps.close()
        await self._http.close()

    # -- reads -------------------------------------------------------------------------

    async def matrix(self) -> Matrix:
        cached = self._matrix_cache
        response = await self._http.get(
            "/api/matrix", headers={"If-None-Match": cached[0]} if cached else None
        )
        if response.status_code == 304 and cached is not None:
            return cached[1]
        matrix = parse(response, Matrix)
        etag = response.headers.get("ETag")
        self._matrix_cache = (etag, matrix) if etag else None
        return matrix

    async def matrix_index(self, sort: str = "name") -> MatrixIndex:
        response = await self._http.get("/api/matrix/services", {"sort": sort})
        if response.is_success:
            with contextlib.suppress(ValueError):  # e.g. an app's HTML for unknown paths
                return index_from_json(response.content)
        elif response.status_code not in _ABSENT:
            raise EngineError(error_text(response))
        # A contract-only server: the whole matrix, once, with its index built here.
        whole = await self.matrix()
        cached = self._matrix_cache
        return index_from_matrix(whole, seq_of_etag(cached[0] if cached else None), sort)

    async def matrix_window(self, services: list[str]) -> MatrixWindow:
        rows: list[MatrixRow] = []
        seq, matrix = 0, None
        for start in range(0, max(1, len(services)), WINDOW_LIMIT):
            names = services[start : start + WINDOW_LIMIT]
            query = urlencode([("services", name) for name in names])
            response = await self._http.get(f"/api/matrix?{query}")
            matrix = parse(response, Matrix)
            # The oldest position of the parts: live rows after it are replayed on them all.
            part = seq_of_etag(response.headers.get("ETag"))
            seq = part if start == 0 else min(seq, part)
            rows.extend(matrix.rows)
        assert matrix is not None
        if len(services) > WINDOW_LIMIT:  # the parts' rows, by name as one answer's are
            rows.sort(key=lambda row: row.service)
            matrix = matrix.model_copy(update={"rows": rows})
        # A server that ignores `services` sends every row: keep those asked for.
        wanted = set(services)
        if any(row.service not in wanted for row in matrix.rows):
            matrix = window_of(matrix, services)
        return MatrixWindow(seq, matrix)

    async def environments(self) -> list[str]:
        return parse(await self._http.get("/api/environments"), _ItemList).items

    async def deployments(
        self, filters: DeploymentFilters, cursor: str | None = None, limit: int = 100
    ) -> DeploymentEventPage:
        params: dict[str, str | int] = {"limit": limit}
        params |= {name: str(v) for name in _FIELDS if (v := getattr(filters, name)) is not None}
        if filters.text:
            params["q"] = filters.text  # an extension: a contract-only server ignores it
        if cursor is not None:
            params["cursor"] = cursor
        page = parse(await self._http.get("/api/deployments", params), DeploymentEventPage)
        # Filter again: a contract-only server ignores `q` and `actor`, ours matches `q`
        # against field names too. The page boundary (next_cursor) stays the server's.
        items = [item for item in page.items if _matches(item, filters)]
        return DeploymentEventPage(items=items, next_cursor=page.next_cursor)

    async def deployment(self, row_id: str) -> DeploymentEvent:
        response = await self._http.get(f"/api/deployments/{quote(row_id, safe='')}")
        return parse(response, DeploymentEvent)

    async def capabilities(self) -> Capabilities:
        response = await self._http.get("/api/whoami")
        if response.status_code in (401, 403):
            return Capabilities(reason=f"the server refused the key: {error_text(response)}")
        if response.status_code in _ABSENT:
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
        body = _promotion_fields(service, from_environment, to_environment)
        return await self._act("/api/promotions", body)

    async def promotion_plan(
        self, service: str, from_environment: str, to_environment: str | None = None
    ) -> PromotionPlan:
        params = _promotion_fields(service, from_environment, to_environment)
        response = await self._http.get("/api/promotion-plan", params)
        if not response.is_success:
            raise refusal(response)
        return _results.plan(parse(response, PromotionPlanDoc))

    async def rollback_plan(self, deployment_id: str) -> RollbackPlan:
        response = await self._http.get(f"{deployment_path(deployment_id)}/rollback-plan")
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
        """POST one action; sent twice at most (or once to each server, with several),
        always with the same `Idempotency-Key`."""
        # One key per action a person asked for: a resend after a broken connection (or to
        # another replica, which shares the database) is the same action, and the server
        # answers it with the first answer instead of acting twice.
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        response = await self._http.send("POST", path, json=body, headers=headers, retries=1)
        if not response.is_success:
            raise refusal(response)
        return _results.accepted(parse(response, ActionResult))

    # -- promotions awaiting approval, environments ----------------------------------

    async def promotions(self, status: str | None = None, limit: int = 200) -> list[PromotionView]:
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = status
        response = await self._http.get("/api/promotions", params)
        if response.status_code in _ABSENT:
            raise NotOffered(NO_APPROVALS)
        return parse(response, PromotionPage).items

    async def pending_for_me(self) -> list[PromotionView]:
        response = await self._http.get("/api/promotions/pending-for-me")
        if response.status_code in (401, 403, *_ABSENT):
            return []  # no key (or no approvals on this server): nothing awaits this user
        return parse(response, PromotionPage).items

    async def promotion(self, promotion_id: str) -> PromotionView:
        return parse(await self._http.get(promotion_path(promotion_id)), PromotionView)

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
        response = await self._http.send("POST", path, json=body)
        if not response.is_success:
            raise refusal(response)
        return parse(response, PromotionView)

    async def environment_policies(self) -> list[EnvironmentView]:
        response = await self._http.get("/api/environment-policies")
        if response.status_code in _ABSENT:
            return []
        return parse(response, _EnvironmentList).items

    async def insights(self, query: AnalyticsQuery) -> Insights:
        return await fetch_insights(self._http, query)

    # -- logs --------------------------------------------------------------------------

    async def logs(self, deployment_id: str, after: int = 0, limit: int = 500) -> LogPage:
        params = {"after": after, "limit": limit}
        response = await self._http.get(f"{deployment_path(deployment_id)}/logs", params)
        return parse(response, LogPage)

    def follow_logs(self, deployment_id: str, after: int = 0) -> AsyncIterator[LogItem]:
        self._http.client()  # not started: fail here, not in the background
        socket = LogSocket(
            replicas=self._http.replicas,
            deployment_id=deployment_id,
            headers=self._headers,
            backoff=self._backoff,
            connect_timeout=self._http.connect_timeout,
            idle_timeout=self._idle_timeout,
            healthy_after=self._healthy_after,
            min_interval=self._log_retry_interval,
            last=after,
        )
        return batched(
            socket.pump,
            after=after,
            name=f"shipdeck logs {deployment_id} {self.label}",
            pumps=self._pumps,
        )

    # -- live feed ---------------------------------------------------------------------

    async def feed(self) -> AsyncIterator[FeedItem]:
        http = self._http
        http.client()  # not started: fail here, not in the background
        feed = SseFeed(
            http=http.client,
            replicas=http.replicas,
            backoff=self._backoff,
            timeout=http.timeout,
            connect_timeout=http.connect_timeout,
            idle_timeout=self._idle_timeout,
            healthy_after=self._healthy_after,
        )
        out: FeedOut = asyncio.Queue(QUEUE_SIZE)
        async with self._pumps.run(feed.pump, out, name=f"shipdeck feed {self.label}") as run:
            while (item := await run.next()) is not None:
                yield item


def _promotion_fields(
    service: str, from_environment: str, to_environment: str | None
) -> dict[str, str]:
    """A promotion's service and environments, as a request's body or query."""
    fields = {"service": service, "from_environment": from_environment}
    if to_environment is not None:
        fields["to_environment"] = to_environment
    return fields


def _matches(row: DeploymentEvent, filters: DeploymentFilters) -> bool:
    """Whether `row` passes `filters` (text: a case-insensitive substring of any value)."""
    if any((v := getattr(filters, f)) is not None and getattr(row, f) != v for f in _FIELDS):
        return False
    if not filters.text:
        return True
    needle = filters.text.casefold()
    values = row.model_dump(mode="json").values()
    parts = [str(p) for v in values for p in (v if isinstance(v, list) else [v])]
    return any(needle in part.casefold() for part in parts)
