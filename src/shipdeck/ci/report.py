"""`shipdeck report`: one row posted to `POST /api/deployments`, retried while the server
cannot answer, and every outcome an exit code with one sentence.

Whatever the server says (a problem's detail, an id) is printed to a terminal or a CI log
that may be shown in one: it goes through `sanitize`, so an escape sequence in it cannot
retitle the window, clear the screen or plant a hyperlink.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import httpx

from ..domain import DeploymentEventIngest
from ..tui.sanitize import sanitize

BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""Answers after which the same report is sent again (as is any `5xx` and a lost
connection): the server was there but could not take it yet."""


class Exit(IntEnum):
    """The exit codes of the CI commands."""

    OK = 0
    """Accepted (report), or the deployment succeeded (`--wait`)."""
    FAILED = 1
    """The deployment ended `failure`, `cancelled` or `rejected` (`--wait`)."""
    USAGE = 2
    """Wrong options (click's own code)."""
    REFUSED = 3
    """The server refused the request: invalid input, unknown service, nothing to do."""
    AUTH = 4
    """No key, an unknown or revoked key, or a role too low (`401`, `403`)."""
    UNREACHABLE = 5
    """No answer, or only server errors, until the time ran out."""
    TIMED_OUT = 6
    """The deployment did not finish within `--timeout` (`--wait`)."""


class CiError(Exception):
    """A CI command failed; `str()` is one sentence, sanitised (it quotes servers, options
    and the job's environment), `code` the exit code."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(sanitize(message))
        self.code = code


@dataclass(frozen=True, slots=True)
class Answer:
    """The server accepted the row."""

    row_id: str
    attempts: int


def problem_sentence(response: httpx.Response) -> str:
    """A refusal in words, sanitised: the problem's detail (with its first pointer), or the
    status."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        return f"HTTP {response.status_code} from {response.url.copy_with(query=None)}"
    detail = problem.get("detail") or problem.get("title") or f"HTTP {response.status_code}"
    errors = problem.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        detail = f"{detail} ({first.get('pointer', '')}: {first.get('message', '')})"
    return sanitize(detail)


def refusal_code(response: httpx.Response) -> Exit:
    """The exit code of a `4xx` answer."""
    if response.status_code == 401:
        return Exit.AUTH
    if response.status_code == 403:
        kind = ""
        with contextlib.suppress(ValueError, AttributeError):
            kind = str(response.json().get("type", ""))
        return Exit.REFUSED if kind.endswith("service-excluded") else Exit.AUTH
    return Exit.REFUSED


def post_report(
    url: str,
    token: str | None,
    body: DeploymentEventIngest,
    *,
    reporter: str,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> Answer:
    """POST `body` to `url`; retried with a jittered exponential backoff after a lost
    connection, a `5xx` or a `429`, until `timeout` seconds have passed in all.

    Raises:
        CiError: refused (`REFUSED`, `AUTH`), or no answer in time (`UNREACHABLE`).
    """
    rng = rng or random.Random()
    headers = {"X-Progress-Reporter": reporter, "Content-Type": "application/json"}
    if token:
        headers["X-Api-Key"] = token
    payload = body.model_dump_json(exclude_none=True)
    deadline = time.monotonic() + timeout
    endpoint = url.rstrip("/") + "/api/deployments"
    attempt, why = 0, ""
    with httpx.Client(headers=headers) as client:
        while True:
            attempt += 1
            left = deadline - time.monotonic()
            response: httpx.Response | None = None
            try:
                response = client.post(endpoint, content=payload, timeout=max(left, 0.5))
            except httpx.HTTPError as exc:
                why = f"cannot reach {url}: {_transport(exc)}"
            else:
                if response.status_code == 201:
                    return Answer(_row_id(response), attempt)
                if response.status_code < 500 and response.status_code not in RETRY_STATUSES:
                    raise CiError(problem_sentence(response), refusal_code(response))
                why = f"{url} answered HTTP {response.status_code}: {problem_sentence(response)}"
            pause = _pause(attempt, response, rng)
            if time.monotonic() + pause >= deadline:
                raise CiError(f"{why} (gave up after {attempt} attempts)", Exit.UNREACHABLE)
            sleep(pause)


def _row_id(response: httpx.Response) -> str:
    """The stored row's id, sanitised (`""` if the answer does not say)."""
    try:
        answer = response.json()
    except ValueError:
        return ""
    return sanitize(answer.get("id", "")) if isinstance(answer, dict) else ""


def _pause(attempt: int, response: httpx.Response | None, rng: random.Random) -> float:
    """Seconds before the next attempt: the server's `Retry-After`, else a jittered backoff."""
    if response is not None:
        after = response.headers.get("Retry-After", "")
        if after.isdigit():
            return min(float(after), BACKOFF_CAP)
    return rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)))


def _transport(exc: httpx.HTTPError) -> str:
    """A transport failure in a few words."""
    if isinstance(exc, httpx.ConnectError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    return sanitize(exc) or type(exc).__name__


__all__ = ["Answer", "CiError", "Exit", "post_report", "problem_sentence", "refusal_code"]
