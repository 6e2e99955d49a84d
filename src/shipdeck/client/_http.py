"""`RemoteClient`'s requests: one shared `httpx.AsyncClient`, its failures in words.

Transport failures (a timeout, a refused connection, a lost one) become an `EngineError`
naming the server; statuses are the caller's to read (`_wire` says them in words).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from ._wire import why
from .base import EngineError

RETRYABLE = (httpx.NetworkError, httpx.RemoteProtocolError)
"""Failures after which an action is sent once more (its `Idempotency-Key` makes it safe):
the connection broke, perhaps before the request arrived, perhaps before its answer came."""


class Transport:
    """The HTTP client of one server, created by `open()` and released by `close()`."""

    def __init__(
        self, label: str, headers: Mapping[str, str], *, timeout: float, connect_timeout: float
    ) -> None:
        """Describe the client; nothing is created before `open()`.

        Args:
            label: the server's base URL, without a trailing `/`.
            headers: sent with every request (the API key).
            timeout: seconds a request may wait for the server's answer.
            connect_timeout: seconds to establish a connection.
        """
        self.label = label
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._headers = dict(headers)
        self._client: httpx.AsyncClient | None = None

    @property
    def started(self) -> bool:
        """Whether `open()` made the HTTP client (and `close()` has not released it)."""
        return self._client is not None

    def open(self) -> None:
        """Create the HTTP client (nothing connects before the first request)."""
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        self._client = httpx.AsyncClient(
            base_url=self.label, headers=self._headers, timeout=timeout
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def client(self) -> httpx.AsyncClient:
        """The HTTP client; an `EngineError` before `open()`."""
        if self._client is None:
            raise EngineError(f"the client for {self.label} is not started")
        return self._client

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        json: object = None,
    ) -> httpx.Request:
        return self.client().build_request(method, path, params=params, headers=headers, json=json)

    async def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET `path`; transport failures become an `EngineError` (statuses are the caller's)."""
        return await self.send(self.request("GET", path, params=params, headers=headers))

    async def send(self, request: httpx.Request, *, retries: int = 0) -> httpx.Response:
        """Send `request`, again up to `retries` times if the connection breaks.

        Transport failures become an `EngineError` (statuses are the caller's).
        """
        for attempt in range(retries + 1):
            try:
                return await self.client().send(request)
            except httpx.TimeoutException as exc:
                connecting = isinstance(exc, httpx.ConnectTimeout)
                limit = self.connect_timeout if connecting else self.timeout
                raise EngineError(f"{self.label} did not answer within {limit:g} s") from exc
            except RETRYABLE as exc:
                if attempt == retries:
                    raise EngineError(f"cannot reach {self.label}: {why(exc)}") from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"cannot reach {self.label}: {why(exc)}") from exc
        raise AssertionError("unreachable")  # the last attempt returned or raised
