"""`--wait`: follow one deployment to its end, printing its phases and its log lines.

The status comes from the deployment's status stream (`GET …/status-stream`, SSE: the
current status at once, then each change, closed after the final one), followed again
after a lost connection; the lines from its log stream (`RemoteClient.follow_logs`, which
reconnects by itself). A promotion waiting for approval says who must approve.

Everything printed that the server said (phases, messages, log lines, ids, refusals) goes
through `sanitize`: no escape sequence or other control character reaches the terminal or
the CI log. A log line stays one printed line (its line breaks become spaces, as in the
dashboard's log view), so a message cannot forge a line of this command's own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx
from httpx_sse import aconnect_sse
from pydantic import ValidationError

from ..client import EngineError, LogLinesArrived, LogStreamEnded
from ..client._wire import deployment_path
from ..client.remote import RemoteClient
from ..domain import FINAL, Status
from ..domain.stream import StatusChange
from ..tui.sanitize import sanitize
from .report import CiError, problem_sentence, refusal_code

RECONNECT_S = 1.0
DRAIN_S = 5.0
"""How long the last log lines may take to arrive after the final status."""

Say = Callable[[str], None]


class DeploymentFollower:
    """Follows one deployment of one server; `wait()` answers its final status."""

    def __init__(
        self,
        client: RemoteClient,
        url: str,
        token: str | None,
        deployment_id: str,
        say: Say,
        *,
        promotion_id: str | None = None,
    ) -> None:
        self.client = client
        self.url = url.rstrip("/")
        self.headers = {"X-Api-Key": token} if token else {}
        self.deployment_id = deployment_id
        self.say = say
        self.promotion_id = promotion_id
        self._last: tuple[Status, str | None] | None = None

    async def wait(self) -> Status:
        """The deployment's final status (`success`, `failure`, `cancelled`, `rejected`)."""
        logs = asyncio.create_task(self._print_logs())
        try:
            final = await self._follow_status()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(logs), DRAIN_S)
            return final
        finally:
            logs.cancel()
            with contextlib.suppress(asyncio.CancelledError, EngineError):
                await logs

    async def _follow_status(self) -> Status:
        path = self.url + deployment_path(self.deployment_id) + "/status-stream"
        timeout = httpx.Timeout(10.0, read=60.0)  # pings come every 15 s
        async with httpx.AsyncClient(headers=self.headers, timeout=timeout) as http:
            while True:
                try:
                    final = await self._read_stream(http, path)
                except httpx.HTTPError as exc:
                    self.say(f"status stream lost ({type(exc).__name__}); following it again")
                    final = None
                if final is not None:
                    return final
                await asyncio.sleep(RECONNECT_S)

    async def _read_stream(self, http: httpx.AsyncClient, path: str) -> Status | None:
        async with aconnect_sse(http, "GET", path) as source:
            response = source.response
            if response.status_code >= 500:
                raise httpx.HTTPStatusError("", request=response.request, response=response)
            if response.status_code != 200:
                await response.aread()
                raise CiError(problem_sentence(response), refusal_code(response))
            async for frame in source.aiter_sse():
                if frame.event != "status":
                    continue
                try:
                    change = StatusChange.model_validate_json(frame.data)
                except ValidationError:
                    continue
                await self._show(change)
                if change.status in FINAL:
                    return change.status
        return None

    async def _show(self, change: StatusChange) -> None:
        """One line per new status or phase (a reconnection repeats none)."""
        key = (change.status, change.phase)
        if key == self._last:
            return
        self._last = key
        line = f"status {change.status.value}"
        if change.phase:
            line += f" ({sanitize(change.phase)})"
        if change.message:
            line += f": {sanitize(change.message)}"
        self.say(line)
        if change.status is Status.WAITING and self.promotion_id is not None:
            await self._who_approves()

    async def _who_approves(self) -> None:
        assert self.promotion_id is not None
        try:
            promotion = await self.client.promotion(self.promotion_id)
        except EngineError as exc:
            self.say(
                f"waiting for approval (promotion {sanitize(self.promotion_id)}: {sanitize(exc)})"
            )
            return
        blocked = sanitize(promotion.blocked_by or "approvals needed")
        promotion_id = sanitize(promotion.id)
        self.say(
            f"waiting for approval of promotion {promotion_id}: {blocked}; "
            f"policy: {sanitize(promotion.policy)}. Approve it in shipdeck (A, then a) "
            f"or with POST /api/promotions/{promotion_id}/approve"
        )

    async def _print_logs(self) -> None:
        async for item in self.client.follow_logs(self.deployment_id):
            if isinstance(item, LogLinesArrived):
                for line in item.lines:
                    self.say(f"  {sanitize(line.level):<5} {sanitize(line.message)}")
            elif isinstance(item, LogStreamEnded):
                return


__all__ = ["DeploymentFollower"]
