"""Who calls a route: the caller's principal, as a dependency.

`Annotated[Principal, authorized(Action.DEPLOY)]` is the caller's principal once its key
holds at least the role (a refusal is audited under the action's name, and the key's rate
limit applies). `target` names what is changed: a dependency reading the path parameter,
so a malformed path is a `422` before any key is looked at, as with FastAPI's own checks.
`CurrentPrincipal` is any key's principal, for a read that depends on who asks.
"""

# No `from __future__ import annotations`: `authorized` builds its dependency in a closure,
# and FastAPI reads that dependency's annotations (which name the closure's `target`) at
# run time.

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, Request

from ..domain import Role
from ..domain.actions import Action
from ..domain.authz import Permission
from ..engine import Principal
from .deps import EngineDep, authorize


class Change(StrEnum):
    """The audit log's names of the changes that are no domain `Action`."""

    WITHDRAW = "cancel-promotion"
    """The requester (or an admin) withdraws a promotion (`POST …/{promotion_id}/cancel`)."""
    SET_POLICY = Permission.SET_POLICY.value
    INGEST = Permission.INGEST.value
    """Report one deployment row."""
    APPEND_LOGS = "append-logs"
    PUT_FETCHER_STATE = "put-fetcher-state"


Audited = Action | Change
"""What a changing request is audited as."""
Target = Callable[..., Awaitable[str]]
"""A dependency answering what a request changes (a path parameter's value)."""


async def current_principal(request: Request, engine: EngineDep) -> Principal:
    """Any key's principal, for a read that depends on who asks (nothing is audited)."""
    return await authorize(engine, request.headers.get("x-api-key"), Role.VIEWER)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def untargeted() -> str:
    """The target of a change that names none in its path (deploy, promote)."""
    return ""


def authorized(action: Audited, target: Target = untargeted, *, role: Role = Role.VIEWER) -> Any:
    """A dependency: the caller's principal, allowed to try `action` on `target`.

    Raises (from the dependency):
        Unauthorized: no key, or an unknown or revoked one (audited).
        Forbidden: the key's role is below `role` (audited).
        ProblemException: 429, the key's rate limit is spent.
    """

    async def dependency(
        request: Request, engine: EngineDep, on: Annotated[str, Depends(target)]
    ) -> Principal:
        api_key = request.headers.get("x-api-key")
        return await authorize(engine, api_key, role, action=action.value, target=on)

    return Depends(dependency)


__all__ = [
    "Audited",
    "Change",
    "CurrentPrincipal",
    "Principal",
    "Target",
    "authorized",
    "current_principal",
    "untargeted",
]
