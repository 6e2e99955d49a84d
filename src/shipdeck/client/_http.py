"""`RemoteClient`'s requests: one `httpx.AsyncClient` per server, failures in words.

Transport failures (a timeout, a refused connection, a lost one) become an `EngineError`
naming the server; statuses are the caller's to read (`_wire` says them in words). With
several servers (replicas of one engine), a request that finds the one in use not
answering — a transport failure, or `502`/`503`/`504` — moves the client on to the next one,
and is sent there again when that is safe: a read, or an action with its `Idempotency-Key`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from ._replicas import FAILOVER_STATUSES, Replicas
from ._wire import why
from .base import EngineError

RETRYABLE = (httpx.NetworkError, httpx.RemoteProtocolError)
"""Failures after which an action is sent once more (its `Idempotency-Key` makes it safe):
the connection broke, perhaps before the request arrived, perhaps before its answer came."""
SAFE_METHODS = frozenset({"GET", "HEAD"})
IDEMPOTENCY_KEY = "Idempotency-Key"


def _speaks_tls(url: str) -> bool:
    return url[:6].lower() == "https:"


class Transport:
    """The HTTP clients of one engine's servers, created by `open()`, released by `close()`."""

    def __init__(
        self,
        urls: Sequence[str],
        headers: Mapping[str, str],
        *,
        timeout: float,
        connect_timeout: float,
    ) -> None:
        """Describe the clients; nothing is created before `open()`.

        Args:
            urls: the servers' base URLs (one engine's replicas; trailing `/` dropped).
            headers: sent with every request (the API key).
            timeout: seconds a request may wait for the server's answer.
            connect_timeout: seconds to establish a connection.
        """
        self.replicas = Replicas(urls)
        self.timeout, self.connect_timeout = timeout, connect_timeout
        self._headers = dict(headers)
        self._clients: dict[str, httpx.AsyncClient] = {}

    @property
    def label(self) -> str:
        """The base URL of the server in use."""
        return self.replicas.current

    @property
    def started(self) -> bool:
        """Whether `open()` made the HTTP clients (and `close()` has not released them)."""
        return bool(self._clients)

    def open(self) -> None:
        """Create the HTTP clients (nothing connects before the first request)."""
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout)
        # One verifying TLS context for every https server, and none for plain HTTP: httpx
        # builds one per client otherwise (30–60 ms each, on the UI thread before the first
        # frame). `False` is safe there: such a client never speaks TLS (no redirect is
        # followed, so no https URL is reached through it).
        urls = self.replicas.urls
        tls = httpx.create_ssl_context() if any(map(_speaks_tls, urls)) else None
        self._clients = {
            url: httpx.AsyncClient(
                base_url=url,
                headers=self._headers,
                timeout=timeout,
                verify=tls if tls is not None and _speaks_tls(url) else False,
            )
            for url in urls
        }

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    def client(self, url: str | None = None) -> httpx.AsyncClient:
        """The HTTP client of `url` (default: the server in use); an `EngineError` before
        `open()`."""
        url = self.replicas.current if url is None else url
        client = self._clients.get(url)
        if client is None:
            raise EngineError(f"the client for {url} is not started")
        return client

    async def get(
        self,
        path: str,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """GET `path`; transport failures become an `EngineError` (statuses are the caller's)."""
        return await self.send("GET", path, params=params, headers=headers)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        json: object = None,
        retries: int = 0,
    ) -> httpx.Response:
        """Send a request to the server in use, again up to `retries` times if the
        connection breaks (for a request that is safe to send twice).

        A request that is safe to send again (a read, or one with an `Idempotency-Key`) is
        also sent to each other server, in turn, while the one in use does not answer.

        Transport failures become an `EngineError` (statuses are the caller's).
        """
        replicas = self.replicas
        keyed = any(name.lower() == IDEMPOTENCY_KEY.lower() for name in headers or {})
        safe = method in SAFE_METHODS or keyed
        tries = max(retries + 1, replicas.count if safe else 1)
        failures: list[str] = []
        for attempt in range(tries):
            index = replicas.index
            url = replicas.urls[index]
            client = self.client(url)
            request = client.build_request(method, path, params=params, headers=headers, json=json)
            last = attempt == tries - 1
            try:
                response = await client.send(request)
            except httpx.TimeoutException as exc:
                connecting = isinstance(exc, httpx.ConnectTimeout)
                limit = self.connect_timeout if connecting else self.timeout
                failures.append(f"{url} did not answer within {limit:g} s")
                replicas.failed(index)
                if last or replicas.count == 1:  # one server: a slow answer is not resent
                    raise EngineError(_unreachable(failures, replicas.count)) from exc
            except RETRYABLE as exc:
                failures.append(f"cannot reach {url}: {why(exc)}")
                replicas.failed(index)
                if last:
                    raise EngineError(_unreachable(failures, replicas.count)) from exc
            except httpx.HTTPError as exc:
                raise EngineError(f"cannot reach {url}: {why(exc)}") from exc
            else:
                if response.status_code not in FAILOVER_STATUSES or replicas.count == 1:
                    return response
                replicas.failed(index)
                if last or not safe:
                    return response
                failures.append(f"{url} answered HTTP {response.status_code}")
        raise AssertionError("unreachable")  # the last attempt returned or raised


def _unreachable(failures: list[str], servers: int) -> str:
    """Why a request got no answer: the last failure, or each server's in turn."""
    if servers == 1 or len(failures) == 1:
        return failures[-1]
    return "no server answered: " + "; ".join(failures)
