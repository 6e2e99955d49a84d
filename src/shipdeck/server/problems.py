"""Every error as RFC 9457 `application/problem+json`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..domain.status import STATUS_CHOICES
from ..domain.timestamps import RFC3339_MESSAGE
from ..engine import EngineError
from ..engine.store import StoreUnavailable

PROBLEM_BASE = "https://deployment-dashboard/errors/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemException(Exception):
    """Raise anywhere in a route to answer with a problem."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str | None = None,
        *,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.kind = kind
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers


def problem_response(
    request: Request,
    status: int,
    kind: str,
    title: str,
    detail: str | None = None,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A problem+json response for `request`."""
    body: dict[str, Any] = {"type": PROBLEM_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    if errors:
        body["errors"] = errors
    return Response(
        json.dumps(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def validation_problem(
    request: Request,
    errors: list[dict[str, str]],
    detail: str | None = None,
    *,
    title: str = "Payload validation failed",
) -> Response:
    """The `422` of a request that failed validation."""
    detail = detail or "; ".join(
        f"{e['pointer']} {e['message']}" if e["pointer"] else e["message"] for e in errors
    )
    return problem_response(request, 422, "validation", title, detail, errors=errors)


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "is not a known field (write bodies are closed)"
    if kind == "missing":
        return "is required"
    if kind == "enum":
        return f"must be one of {STATUS_CHOICES}"
    if kind in ("string_type", "str_type"):
        return "must be a string"
    if kind == "int_type":
        return "must be an integer"
    if kind in ("string_too_long", "too_long"):
        unit = "characters" if kind == "string_too_long" else "items"
        return f"must be at most {ctx.get('max_length')} {unit}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("list_type",):
        return "must be an array"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "the body must be a JSON object"
    if kind == "json_invalid":
        return f"the body is not valid JSON ({ctx.get('error', 'parse error')})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "datetime_type":
        return RFC3339_MESSAGE
    return error["msg"]


def _pointer(loc: Sequence[int | str]) -> str:
    """JSON Pointer of a pydantic location, without union-member tags."""
    parts: list[str] = []
    for index, part in enumerate(loc):
        if index == 0 or isinstance(part, int):
            parts.append(str(part).replace("~", "~0").replace("/", "~1"))
        else:
            break
    return "/" + "/".join(parts) if parts else ""


def pointer_errors(errors: Sequence[ErrorDetails], *, strip: int = 0) -> list[dict[str, str]]:
    """`errors[]` entries for pydantic errors, one per pointer (messages joined)."""
    merged: dict[str, list[str]] = {}
    for error in errors:
        loc = tuple(error["loc"])[strip:]
        if error["type"] in ("json_invalid", "model_type", "dict_type"):
            loc = ()
        messages = merged.setdefault(_pointer(loc), [])
        message = _message(error)
        if message not in messages:
            messages.append(message)
    return [{"pointer": p, "message": " or ".join(m)} for p, m in merged.items()]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path.

    Starlette's own `405` names only the first route that matched the path, but a path
    here is often served by one route per method (RFC 9110 §15.5.6 wants them all).
    """
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Render every error the app can raise as problem+json (never a bare 500)."""

    @app.exception_handler(ProblemException)
    async def _problem(request: Request, exc: ProblemException) -> Response:
        return problem_response(
            request,
            exc.status,
            exc.kind,
            exc.title,
            exc.detail,
            errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(EngineError)
    async def _engine(request: Request, exc: EngineError) -> Response:
        errors = None
        if exc.pointer is not None:
            errors = [{"pointer": exc.pointer, "message": exc.detail}]
        headers = {"WWW-Authenticate": "ApiKey"} if exc.status == 401 else None
        retry_after = getattr(exc, "retry_after", None)  # e.g. ingest paused by a reset
        if retry_after is not None:
            headers = {"Retry-After": str(retry_after)}
        return problem_response(
            request, exc.status, exc.kind, exc.title, exc.detail, errors=errors, headers=headers
        )

    @app.exception_handler(StoreUnavailable)
    async def _store_away(request: Request, exc: StoreUnavailable) -> Response:
        # The database is down or restarting: nothing was done; the caller may retry.
        return problem_response(
            request,
            503,
            "unavailable",
            "Service unavailable",
            "the database does not answer right now; nothing was changed, retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> Response:
        # Locations are ("query", name) / ("path", name) / ("header", name).
        return validation_problem(
            request, pointer_errors(exc.errors(), strip=1), title="Request validation failed"
        )

    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> Response:
        return validation_problem(request, pointer_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        title = titles.get(exc.status_code, "HTTP error")
        detail = f"no such path: {request.url.path}" if exc.status_code == 404 else str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
        return problem_response(
            request,
            exc.status_code,
            title.lower().replace(" ", "-"),
            title,
            detail,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        return problem_response(
            request,
            500,
            "internal",
            "Internal error",
            "the server failed to handle this request; it has been logged",
        )
