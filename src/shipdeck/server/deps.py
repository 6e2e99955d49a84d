"""Shared route dependencies: the engine, authentication, bounded bodies."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from pydantic import BaseModel, ValidationError
from starlette.requests import HTTPConnection

from ..domain import Role
from ..engine import Engine, Forbidden, Principal, Unauthorized
from .problems import ProblemException, pointer_errors

_Model = TypeVar("_Model", bound=BaseModel)


async def get_engine(request: Request) -> Engine:
    """The engine the app serves."""
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
ApiKeyHeader = Annotated[str | None, Header(alias="X-Api-Key", include_in_schema=False)]


async def authorize(
    engine: Engine,
    api_key: str | None,
    role: Role,
    *,
    action: str | None = None,
    target: str = "",
) -> Principal:
    """The caller's principal if its key has at least `role`.

    With `action` the request changes something: a refusal is audited, and the key's rate
    limit applies (`429` with `Retry-After` when it is spent).

    Raises:
        Unauthorized: no key, or an unknown or revoked one.
        Forbidden: the key's role is below `role`.
        ProblemException: 429, the key's rate limit is spent.
    """
    try:
        principal = await _principal(engine, api_key)
    except Unauthorized as exc:
        if action is not None:
            await engine.audit.refusal(None, action, target, exc.kind, exc.detail)
        raise
    if not principal.role.at_least(role):
        detail = (
            f"principal {principal.name!r} has role {principal.role.value};"
            f" this needs {role.value} or above"
        )
        if action is not None:
            await engine.audit.refusal(principal, action, target, "forbidden", detail)
        raise Forbidden(detail)
    if action is not None:
        wait = engine.rate_limiter.take(principal.key_id or principal.name)
        if wait is not None:
            raise ProblemException(
                429,
                "rate-limited",
                "Too many requests",
                f"this key made more than {engine.rate_limiter.burst} changes in a burst "
                f"({engine.rate_limiter.per_second:g}/s sustained); retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
    return principal


async def _principal(engine: Engine, api_key: str | None) -> Principal:
    if not api_key:
        raise Unauthorized("send an API key in the X-Api-Key header")
    principal = await engine.keys.authenticate(api_key)
    if principal is None:
        raise Unauthorized("the X-Api-Key is unknown or revoked")
    return principal


def require_role(role: Role) -> Any:
    """A dependency admitting only keys whose role is at least `role`."""

    async def dependency(engine: EngineDep, api_key: ApiKeyHeader = None) -> Principal:
        return await authorize(engine, api_key, role)

    return Depends(dependency)


async def read_access(engine: EngineDep, api_key: ApiKeyHeader = None) -> None:
    """Reads are open unless the engine is configured with `auth.read = "key"`."""
    if engine.config.auth.read == "key":
        await _principal(engine, api_key)


ReadAccess = Depends(read_access)


REPEATABLE_QUERY: dict[str, frozenset[str]] = {"/api/matrix": frozenset({"services"})}
"""Per path, the query parameters documented as arrays (`?services=a&services=b`)."""


async def single_query_values(connection: HTTPConnection) -> None:
    """Each query parameter is documented as one value (but those of `REPEATABLE_QUERY`):
    given twice, it is a `422`.

    FastAPI would quietly keep one of them, and a caller would never learn which.
    """
    if connection.scope["type"] != "http":
        return
    arrays = REPEATABLE_QUERY.get(connection.scope["path"], frozenset())
    counts = Counter(
        name for name, _ in connection.query_params.multi_items() if name not in arrays
    )
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ProblemException(
            422,
            "validation",
            "Request validation failed",
            f"give each query parameter once ({', '.join(repeated)} came more than once)",
            errors=[{"pointer": f"/{n}", "message": "given more than once"} for n in repeated],
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (`413`) anything over `limit` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    engine: Engine = request.app.state.engine
    timeout = engine.config.http.body_timeout
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise ProblemException(
            408,
            "request-timeout",
            "Request timeout",
            f"the request body did not arrive within {timeout:g} s; send it at once",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def too_large(limit: int, what: str = "the request body") -> ProblemException:
    """The `413` for a body or field over its limit."""
    return ProblemException(
        413, "payload-too-large", "Payload too large", f"{what} is over {limit} bytes"
    )


async def parse_body(
    request: Request, model: type[_Model], limit: int, *, optional: bool = False
) -> _Model:
    """A JSON body read within `limit` bytes and validated strictly (as every write body:
    `0` is no boolean) as `model`; `optional`: no body at all reads as `{}`.

    Raises:
        ProblemException: 413 over the limit, 422 with `errors[]` pointers when invalid.
    """
    raw = await read_body(request, limit)
    if optional and not raw:  # no body at all; whitespace is no JSON document
        raw = b"{}"
    try:
        return model.model_validate_json(raw or b"null", strict=True)
    except ValidationError as exc:
        errors = pointer_errors(exc.errors())
        detail = "; ".join(
            f"{e['pointer']} {e['message']}" if e["pointer"] else e["message"] for e in errors
        )
        raise ProblemException(
            422, "validation", "Payload validation failed", detail, errors=errors
        ) from exc
