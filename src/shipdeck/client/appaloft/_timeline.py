"""A deployment's timeline stream (`GET /deployments/{id}/timeline/stream`), as Appaloft
1.10.5 sends it, and the two followers built on it.

The stream is SSE with comment heartbeats (`:` every 5 s) and no `id:` lines: every frame is
`event: message` whose data is a `deployments.timeline/v1` envelope (`kind` `entry`,
`heartbeat`, `gap`, `closed`, `error`), then `event: done` once the deployment ended. An
unknown deployment is answered `200` with one `event: error` frame (`NOT_FOUND`). A cut
stream resumes with `?cursor=` set to the last entry's `cursor`, so nothing is seen twice.

`follow_phases` turns a running deployment's `status` entries into rows (its phases, live)
for the feed; `LogFollower` turns every entry into a log line for the logs pane.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import SSEError, aconnect_sse

from ...domain import DeploymentEvent, utc_now
from .._backoff import Attempts, Backoff
from .._logbatch import LogOut, link
from .._platform_http import JsonObject, PlatformHttp, SignInNeeded, error_code
from .._wire import why
from ..base import LinkState, LogStreamEnded
from ._wire import log_line, phase_row

IDLE_TIMEOUT = 30.0
"""Seconds a timeline stream may stay silent (its heartbeats come every 5 s)."""


class TimelineGone(Exception):
    """Appaloft knows no such deployment (or no longer): following it cannot help."""


class TimelineCut(Exception):
    """The stream was lost before it closed; resuming with the cursor may help."""


def timeline_path(deployment_id: str) -> str:
    """`/deployments/{id}/timeline`, the id one quoted segment."""
    return f"/deployments/{quote(deployment_id, safe='')}/timeline"


async def envelopes(
    http: PlatformHttp, deployment_id: str, cursor: str | None
) -> AsyncIterator[JsonObject]:
    """The envelopes of one connection, after `cursor`, until the stream closes.

    Raises:
        SignInNeeded: the token was refused.
        TimelineGone: no such deployment.
        TimelineCut: the connection was lost, or the stream ended without closing.
    """
    params = {"follow": "true", **({"cursor": cursor} if cursor else {})}
    timeout = httpx.Timeout(http.timeout.connect or 5.0, read=IDLE_TIMEOUT)
    path = f"{timeline_path(deployment_id)}/stream"
    try:
        async with aconnect_sse(http.client, "GET", path, params=params, timeout=timeout) as source:
            response = source.response
            if response.status_code != 200:
                await response.aread()
                _refuse(http, response, deployment_id, path)
            if "text/event-stream" not in response.headers.get("content-type", ""):
                await response.aread()  # a proxy's page, say: what it is, not SSE's words
                raise TimelineCut(str(http.unexpected(response, path, "an event stream")))
            async for sse in source.aiter_sse():
                if sse.event == "done":
                    return
                envelope = _parse(sse.data)
                if sse.event == "error" or envelope.get("kind") == "error":
                    _error(envelope, deployment_id)
                yield envelope
                if envelope.get("kind") == "closed":
                    return
    except (httpx.HTTPError, httpx.StreamError, SSEError) as exc:
        raise TimelineCut(why(exc)) from exc
    raise TimelineCut("the stream ended before the deployment did")


def _parse(data: str) -> JsonObject:
    try:
        doc = json.loads(data)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _refuse(http: PlatformHttp, response: httpx.Response, deployment_id: str, path: str) -> None:
    if response.status_code == 401:
        raise http.refused(response)
    if response.status_code == 404 and error_code(response) is not None:  # its own 404
        raise TimelineGone(f"Appaloft knows no deployment {deployment_id}")
    raise TimelineCut(str(http.failed(response, path)))


def _error(envelope: JsonObject, deployment_id: str) -> None:
    """An error frame: oRPC's `{code, status, message}` or a domain error in `error`."""
    error: Any = envelope.get("error", envelope)
    status = error.get("status") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if status == 404 or code in ("NOT_FOUND", "not_found"):
        raise TimelineGone(f"Appaloft knows no deployment {deployment_id}")
    message = error.get("message") if isinstance(error, dict) else None
    raise TimelineCut(f"Appaloft's timeline stream failed: {message or 'an error frame'}")


@dataclass
class TimelineReader:
    """Follows one deployment's timeline across cuts, resuming after the last cursor."""

    http: PlatformHttp
    deployment_id: str
    backoff: Backoff
    cursor: str | None = None

    async def entries(
        self, on_cut: Callable[[str, int], Any] | None = None, *, attempts: int = 8
    ) -> AsyncIterator[JsonObject]:
        """Every entry once, until the stream closes (returns) or cannot go on (raises).

        Args:
            on_cut: told (reason, attempt) after each cut, before the wait.
            attempts: cuts in a row before giving up (`TimelineCut`).
        """
        tries = Attempts(healthy_after=5.0)
        loop = asyncio.get_running_loop()
        while True:
            live_at = loop.time()
            try:
                async for envelope in envelopes(self.http, self.deployment_id, self.cursor):
                    cursor = envelope.get("cursor")
                    entry = envelope.get("entry")
                    if isinstance(entry, dict):
                        cursor = entry.get("cursor", cursor)
                    if isinstance(cursor, str) and cursor:
                        self.cursor = cursor
                    if envelope.get("kind") in ("entry", "gap") and isinstance(entry, dict):
                        yield entry
                return
            except TimelineCut as cut:
                status = tries.lost(live_at, loop.time(), str(cut))
                if status.attempt > attempts:
                    raise
                if on_cut is not None:
                    await on_cut(str(cut), status.attempt)
                await asyncio.sleep(self.backoff.delay(status.attempt))


async def follow_phases(
    reader: TimelineReader,
    running: DeploymentEvent,
    report: Callable[[list[DeploymentEvent]], bool],
) -> None:
    """Pass on a running deployment's phases as rows until its stream closes, then ask for a
    refresh (its end is read from its document). Failures end it quietly: the feed's
    refreshes go on."""
    try:
        async for entry in reader.entries():
            row = phase_row(entry, running)
            if row is not None:
                report([row])
    except (TimelineGone, TimelineCut, SignInNeeded):
        pass
    report([])  # wake the feed: the deployment's end is in its next refresh


@dataclass
class LogFollower:
    """A deployment's log for the logs pane: history, then live, each line once."""

    reader: TimelineReader
    last: int = 0
    """The sequence of the last line queued."""

    async def pump(self, out: LogOut) -> None:
        """Queue lines and link changes until the stream closes or cannot go on."""
        await out.put(link(LinkState.LIVE))
        since = None

        async def cut(reason: str, attempt: int) -> None:
            nonlocal since
            since = since or utc_now()
            await out.put(link(LinkState.RECONNECTING, attempt=attempt, since=since, detail=reason))

        try:
            async for entry in self.reader.entries(cut):
                if since is not None:
                    since = None
                    await out.put(link(LinkState.LIVE))
                line = log_line(entry)
                if line is not None and line.seq > self.last:
                    self.last = line.seq
                    await out.put(line)
        except (TimelineGone, TimelineCut, SignInNeeded) as exc:
            await out.put(link(LinkState.OFFLINE, since=utc_now(), detail=str(exc)))
            return
        await out.put(LogStreamEnded())


__all__ = [
    "LogFollower",
    "TimelineCut",
    "TimelineGone",
    "TimelineReader",
    "envelopes",
    "follow_phases",
    "timeline_path",
]
