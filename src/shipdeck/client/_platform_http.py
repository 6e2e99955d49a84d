"""A foreign platform's HTTP API, as connectors call it: one client, a bearer token, errors
in words.

Transport failures become an `EngineError` naming the platform; a `401` is `SignInNeeded`
(the token expired or is wrong: the message says how to sign in again); other refusals are
the platform's own sentence (`{"error": {"message": …}}` on Appaloft, `{"error": "…"}` on
Pushpaka). An answer that is not JSON where JSON was expected (a proxy's HTML error page, a
body cut short) is an `EngineError` that says so, with the URL, the status and the content
type. The token goes only into the `Authorization` header: never into a message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from ._wire import why
from .base import ActionRefused, EngineError

JsonObject = dict[str, Any]


class SignInNeeded(EngineError):
    """The platform refused the token (missing, expired or wrong); the message says how to
    sign in again."""


def said(response: httpx.Response) -> str:
    """The platform's own sentence in an error answer, else the status code."""
    try:
        body = json.loads(response.content)
    except ValueError:  # not JSON, or not UTF-8
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        if isinstance(body.get("message"), str) and body["message"]:
            return str(body["message"])
    return f"HTTP {response.status_code}"


def error_code(response: httpx.Response) -> str | None:
    """The platform's error code (`not_found`, `conflict`…), when it names one."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


class PlatformHttp:
    """One `httpx.AsyncClient` on a platform's API base URL, with its bearer token."""

    def __init__(
        self,
        platform: str,
        api_url: str,
        token: str | None,
        sign_in: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ) -> None:
        """Describe the client; nothing connects before `open()`.

        Args:
            platform: its name, for messages (`Appaloft`).
            api_url: the API's base URL (`http://host:3001/api`).
            token: the bearer token, or none.
            sign_in: how to sign in again, said when the platform refuses the token.
            timeout: seconds a request may wait for the answer.
            connect_timeout: seconds to establish a connection.
        """
        self.platform, self.api_url, self.sign_in = platform, api_url.rstrip("/"), sign_in
        self.token = token
        self.timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._client: httpx.AsyncClient | None = None

    @property
    def headers(self) -> dict[str, str]:
        """The `Authorization` header, when there is a token."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def open(self) -> None:
        """Create the HTTP client (nothing connects before the first request)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.api_url, headers=self.headers, timeout=self.timeout
            )

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client; an `EngineError` before `open()`."""
        if self._client is None:
            raise EngineError(f"the {self.platform} client is not started")
        return self._client

    def refused(self, response: httpx.Response) -> SignInNeeded:
        """The error of a `401`: how to sign in again, short enough for the header's line
        (the platform's own words, "session missing" and the like, add nothing to it)."""
        return SignInNeeded(f"{self.platform} refused the token: {self.sign_in}")

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: object = None,
    ) -> httpx.Response:
        """Send one request; transport failures and `401` raise, other statuses return."""
        try:
            response = await self.client.request(method, path, params=params, json=body)
        except httpx.TimeoutException as exc:
            raise EngineError(f"{self.platform} did not answer in time ({why(exc)})") from exc
        except httpx.HTTPError as exc:
            where = f"{self.platform} at {self.api_url}"
            raise EngineError(f"cannot reach {where}: {why(exc)}") from exc
        if response.status_code == 401:
            raise self.refused(response)
        return response

    def unexpected(
        self, response: httpx.Response, path: str, expected: str = "JSON"
    ) -> EngineError:
        """The error of an answer to `path` that is not the `expected` kind of document
        (JSON, an event stream): what came instead, and what to check (the URL, when it is
        a page meant for a browser). The body must have been read."""
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        what = f"something that is not {expected}" if response.content.strip() else "nothing"
        if "json" in kind and expected == "JSON":
            hint = "the answer was cut short or broken"
        else:
            hint = "is the URL right (or is a proxy answering for it)?"
        return EngineError(
            f"{self.platform} at {self.api_url} answered {path} with {what} "
            f"(HTTP {response.status_code}, {kind or 'no content type'}): {hint}"
        )

    def json(self, response: httpx.Response, path: str) -> Any:
        """The JSON document of an answer to `path`; `unexpected` when it is none."""
        try:
            return json.loads(response.content)
        except ValueError as exc:  # not JSON, or not UTF-8
            raise self.unexpected(response, path) from exc

    def failed(self, response: httpx.Response, path: str) -> EngineError:
        """The error of a non-2xx answer to `path`: the platform's own sentence, or what
        came instead of its JSON error document."""
        if response.content.strip() and not _is_json(response):
            return self.unexpected(response, path)
        return EngineError(f"{self.platform} answered {path}: {said(response)}")

    async def read(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        """GET a JSON document; any non-2xx answer is an `EngineError` in the platform's words."""
        response = await self.send("GET", path, params=params)
        if not response.is_success:
            raise self.failed(response, path)
        return self.json(response, path)

    async def act(self, path: str, body: object = None) -> JsonObject:
        """POST an action; a `4xx` is an `ActionRefused` in the platform's words."""
        response = await self.send("POST", path, body=body if body is not None else {})
        status = response.status_code
        if 400 <= status < 500:
            kind = error_code(response) or ("not-found" if status == 404 else "refused")
            raise ActionRefused(f"{self.platform}: {said(response)}", kind=kind, status=status)
        if not response.is_success:
            raise self.failed(response, path)
        doc = self.json(response, path)
        if not isinstance(doc, dict):
            raise EngineError(f"{self.platform} answered {path} with an unexpected document")
        return doc


def _is_json(response: httpx.Response) -> bool:
    """Whether an answer's body is a JSON document (an empty one is not)."""
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


def items(doc: Any, key: str = "items") -> list[JsonObject]:
    """The objects of a listing (`{"items": […]}` or `{"data": […]}`); others are skipped."""
    found = doc.get(key) if isinstance(doc, dict) else None
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


__all__ = ["JsonObject", "PlatformHttp", "SignInNeeded", "error_code", "items", "said"]
