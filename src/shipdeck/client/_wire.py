"""HTTP answers and failures in words: what `RemoteClient` tells a person when a call fails."""

from __future__ import annotations

import json
import socket
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from .base import ActionRefused, EngineError

_Model = TypeVar("_Model", bound=BaseModel)

_KINDS = {401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict"}
"""Problem kinds to assume when a refusal names no `type` (or `about:blank`)."""


def deployment_path(deployment_id: str) -> str:
    """`/api/deployments/{deployment_id}`: a `/` in the id stays a path separator (the
    server reads the rest of the path), anything else is quoted, and `.`/`..` segments are
    escaped so that nothing on the way resolves them."""
    segments = [quote(part, safe="") for part in deployment_id.split("/")]
    segments = [s.replace(".", "%2E") if s in (".", "..") else s for s in segments]
    return "/api/deployments/" + "/".join(segments)


def promotion_path(promotion_id: str) -> str:
    """`/api/promotions/{promotion_id}`, the id one quoted segment (`.` and `..` escaped)."""
    segment = quote(promotion_id, safe="")
    if segment in (".", ".."):
        segment = segment.replace(".", "%2E")
    return f"/api/promotions/{segment}"


def why(exc: BaseException) -> str:
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


def where(response: httpx.Response) -> str:
    """The URL that answered, without its query."""
    return str(response.url.copy_with(query=None))


def problem_of(content: bytes) -> dict[str, Any] | None:
    """The problem document in a body (a JSON object with a string `title`), if any."""
    try:
        body = json.loads(content)
    except ValueError:  # not JSON, or not UTF-8
        return None
    return body if isinstance(body, dict) and isinstance(body.get("title"), str) else None


def error_text(response: httpx.Response, *, detail_only: bool = False) -> str:
    """A non-2xx answer in words: the problem's title and detail, or the status code."""
    problem = problem_of(response.content)
    if problem is not None:
        title, detail = problem["title"], problem.get("detail")
        if isinstance(detail, str) and detail:
            return detail if detail_only else f"{title}: {detail}"
        return str(title)
    return f"HTTP {response.status_code} from {where(response)}"


def refusal(response: httpx.Response) -> EngineError:
    """The error a non-2xx answer to an action stands for.

    A `4xx` problem is the engine saying no: an `ActionRefused` whose message is the
    problem's sentence. Anything else (a `5xx`, a proxy's HTML page) is an `EngineError`.
    """
    problem = problem_of(response.content)
    status = response.status_code
    if problem is None or not 400 <= status < 500:
        return EngineError(error_text(response))
    detail = problem.get("detail")
    sentence = detail if isinstance(detail, str) and detail else str(problem["title"])
    kind_url = problem.get("type")
    if isinstance(kind_url, str) and kind_url.strip("/") and kind_url != "about:blank":
        kind = kind_url.rstrip("/").rsplit("/", 1)[-1]
    else:
        kind = _KINDS.get(status, "validation" if status == 422 else "action-refused")
    return ActionRefused(sentence, kind=kind, status=status)


def parse(response: httpx.Response, model: type[_Model]) -> _Model:
    """The answer as `model`, or an `EngineError` saying what was wrong with it."""
    if not response.is_success:
        raise EngineError(error_text(response))
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise EngineError(f"{where(response)} did not answer with valid JSON") from exc
        at = "/".join(str(part) for part in first["loc"]) or "the document"
        message = f"{where(response)} sent an unexpected document ({at}: {first['msg']})"
        raise EngineError(message) from exc
