"""`shipdeck deploy|promote|rollback`: request an action from a server, and with `--wait`
follow the deployment it made to its end; every outcome an exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ..client import ActionAccepted, ActionRefused, EngineError
from ..client.remote import RemoteClient
from ..domain import Status
from ..tui.sanitize import sanitize
from .follow import DeploymentFollower, Say
from .report import CiError, Exit

Request = Callable[[RemoteClient], Awaitable[ActionAccepted]]
"""Asks the server for the action (a deploy, a promotion, a rollback)."""


async def act(
    url: str,
    token: str | None,
    request: Request,
    *,
    wait: bool,
    timeout: float,
    say: Say,
) -> Exit:
    """Request the action; with `wait`, follow its deployment for up to `timeout` seconds.

    Raises:
        CiError: refused, unauthorised, unreachable, or still running at the timeout.
    """
    client = RemoteClient(url, token, timeout=min(timeout, 30.0))
    await client.start()
    try:
        accepted = await _requested(client, request)
        say(_accepted_line(accepted))
        if not wait:
            return Exit.OK
        follower = DeploymentFollower(
            client, url, token, accepted.deployment_id, say, promotion_id=accepted.promotion_id
        )
        try:
            async with asyncio.timeout(timeout):
                final = await follower.wait()
        except TimeoutError:
            raise CiError(
                f"deployment {accepted.deployment_id} did not finish within {timeout:g} s "
                "(it goes on; raise --timeout to wait longer)",
                Exit.TIMED_OUT,
            ) from None
    finally:
        await client.close()
    say(f"deployment {sanitize(accepted.deployment_id)} ended {final.value}")
    return Exit.OK if final is Status.SUCCESS else Exit.FAILED


async def _requested(client: RemoteClient, request: Request) -> ActionAccepted:
    """The accepted action, or a `CiError` with the server's sentence."""
    try:
        return await request(client)
    except ActionRefused as exc:
        code = Exit.AUTH if exc.status in (401, 403) else Exit.REFUSED
        raise CiError(str(exc), code) from exc
    except EngineError as exc:
        raise CiError(str(exc), Exit.UNREACHABLE) from exc


def _accepted_line(accepted: ActionAccepted) -> str:
    """What the server accepted, in its words, each sanitised."""
    line = (
        f"{sanitize(accepted.action)} accepted: deployment {sanitize(accepted.deployment_id)} — "
        f"{sanitize(accepted.service)} {sanitize(accepted.version)} → "
        f"{sanitize(accepted.environment)}, {sanitize(accepted.status)}"
    )
    if accepted.promotion_id is not None:
        line += f" (promotion {sanitize(accepted.promotion_id)} awaits approval)"
    return line


__all__ = ["Request", "act"]
