"""gzip on the wire: large JSON answers are compressed for callers that accept it; event
streams, WebSockets and small answers never are.

Against a real `shipdeck serve` on loopback (a buffering middleware would only show on a
real socket). Compression does not depend on the store, so these run on SQLite only.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from shipdeck.client.remote import RemoteClient
from shipdeck.server.app import GZIP_MINIMUM_SIZE
from tests.conftest import ServerProcess, sqlite_only

pytestmark = sqlite_only

WAIT = 10.0
"""Seconds to wait for something that must happen (a bound, never a sleep)."""
PROMPT = 1.0
"""An SSE frame posted after the stream is open arrives within this (nothing buffers it)."""
SERVICES = 40


def row(index: int, deployment_id: str | None = None, status: str = "success") -> dict[str, Any]:
    return {
        "deployment_id": deployment_id or f"gh-{index}",
        "service": f"service-{index:03d}",
        "environment": "prod",
        "version": f"1.{index}.0",
        "status": status,
        "happened_at": "2026-05-28T10:14:02Z",
        "actor": "alice",
        "message": "a sentence long enough that forty of them make a matrix worth compressing",
    }


@pytest.fixture
async def http(server: ServerProcess, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx client on the server (httpx asks for gzip unless told otherwise)."""
    headers = {"X-Api-Key": api_key}
    async with httpx.AsyncClient(base_url=server.url, timeout=WAIT, headers=headers) as client:
        yield client


@pytest.fixture
async def filled(http: httpx.AsyncClient) -> httpx.AsyncClient:
    """The server with a matrix of `SERVICES` slots (several kB of JSON)."""
    for index in range(SERVICES):
        response = await http.post("/api/deployments", json=row(index))
        assert response.status_code == 201, response.text
    return http


async def raw_get(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as it came on the wire (not decoded)."""
    async with http.stream("GET", path, headers=headers) as response:
        wire = b"".join([chunk async for chunk in response.aiter_raw()])
    return response, wire


async def test_a_large_json_answer_is_gzipped_for_a_caller_that_accepts_it(
    filled: httpx.AsyncClient,
) -> None:
    response, wire = await raw_get(filled, "/api/matrix", {"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(wire)
    document = json.loads(gzip.decompress(wire))
    assert len(document["rows"]) == SERVICES
    assert len(wire) < len(gzip.decompress(wire)) / 3
    # The listing too: every large JSON answer, not only the matrix.
    listing, _ = await raw_get(filled, "/api/deployments", {"Accept-Encoding": "gzip, br"})
    assert listing.headers["content-encoding"] == "gzip"


async def test_without_accept_encoding_the_answer_is_identity(filled: httpx.AsyncClient) -> None:
    for accept in ("identity", ""):
        response, wire = await raw_get(filled, "/api/matrix", {"Accept-Encoding": accept})
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert int(response.headers["content-length"]) == len(wire) > GZIP_MINIMUM_SIZE
        assert len(json.loads(wire)["rows"]) == SERVICES


async def test_etag_and_304_work_alike_compressed_or_not(filled: httpx.AsyncClient) -> None:
    zipped, _ = await raw_get(filled, "/api/matrix", {"Accept-Encoding": "gzip"})
    plain, _ = await raw_get(filled, "/api/matrix", {"Accept-Encoding": "identity"})
    etag = zipped.headers["etag"]
    assert etag == plain.headers["etag"] and etag.startswith('W/"')  # weak: shared by both
    for accept in ("gzip", "identity"):
        unchanged, wire = await raw_get(
            filled, "/api/matrix", {"Accept-Encoding": accept, "If-None-Match": etag}
        )
        assert unchanged.status_code == 304
        assert wire == b""
        assert "content-encoding" not in unchanged.headers
        assert unchanged.headers["etag"] == etag
    assert (await filled.post("/api/deployments", json=row(1, "gh-new", "failure"))).status_code
    changed, _ = await raw_get(
        filled, "/api/matrix", {"Accept-Encoding": "gzip", "If-None-Match": etag}
    )
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert changed.headers["content-encoding"] == "gzip"


async def test_small_answers_are_left_alone(http: httpx.AsyncClient) -> None:
    accept = {"Accept-Encoding": "gzip"}
    created = await http.post("/api/deployments", json=row(1), headers=accept)
    assert created.status_code == 201
    assert "content-encoding" not in created.headers
    assert int(created.headers["content-length"]) == len(created.content) < GZIP_MINIMUM_SIZE
    assert created.headers["location"] == f"/api/deployments/{created.json()['id']}"
    assert created.headers["x-request-id"]
    refused = await http.post("/api/deployments", json={}, headers={**accept, "X-Api-Key": ""})
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "content-encoding" not in refused.headers
    for path in ("/readyz", "/api/environments"):
        response = await http.get(path, headers=accept)
        assert response.status_code == 200
        assert "content-encoding" not in response.headers


async def test_the_event_stream_is_neither_compressed_nor_buffered(
    http: httpx.AsyncClient,
) -> None:
    headers = {"Accept-Encoding": "gzip", "Accept": "text/event-stream"}
    async with http.stream("GET", "/api/events/stream", headers=headers) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in stream.headers
        chunks = stream.aiter_raw()
        async with asyncio.timeout(PROMPT):
            assert b"retry:" in await anext(chunks)  # the preamble, at once
        posted = await http.post("/api/deployments", json=row(7))
        assert posted.status_code == 201
        sent = time.monotonic()
        received = b""
        async with asyncio.timeout(PROMPT):
            while posted.json()["id"].encode() not in received:
                received += await anext(chunks)  # raw bytes: plain text, never gzip
        assert time.monotonic() - sent < PROMPT
        assert b"event: deployment" in received


async def test_the_status_stream_is_not_compressed_either(http: httpx.AsyncClient) -> None:
    assert (await http.post("/api/deployments", json=row(3, "d-3", "in-progress"))).is_success
    headers = {"Accept-Encoding": "gzip"}
    async with http.stream("GET", "/api/deployments/d-3/status-stream", headers=headers) as stream:
        assert stream.status_code == 200
        assert "content-encoding" not in stream.headers
        chunks = stream.aiter_raw()
        async with asyncio.timeout(PROMPT):
            first = await anext(chunks)
        while b"event: status" not in first:
            async with asyncio.timeout(PROMPT):
                first += await anext(chunks)
        assert b"in-progress" in first


async def test_the_websocket_log_stream_still_works(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/api/deployments", json=row(5, "d-5", "in-progress"))).is_success
    lines = {"lines": [{"message": "history"}]}
    assert (await http.post("/api/deployments/d-5/logs", json=lines)).status_code == 201
    url = server.url.replace("http://", "ws://") + "/api/deployments/d-5/logs/stream"
    async with connect(url, open_timeout=WAIT, compression=None) as ws:
        async with asyncio.timeout(WAIT):
            assert json.loads(await ws.recv())["message"] == "history"
        live = {"lines": [{"message": "live"}]}
        assert (await http.post("/api/deployments/d-5/logs", json=live)).status_code == 201
        async with asyncio.timeout(WAIT):
            assert json.loads(await ws.recv())["message"] == "live"


async def test_the_remote_client_gets_the_matrix_gzipped(
    server: ServerProcess, filled: httpx.AsyncClient
) -> None:
    client = RemoteClient(server.url)
    seen: list[httpx.Response] = []

    async def on_response(response: httpx.Response) -> None:
        seen.append(response)

    await client.start()
    try:
        client._http.client().event_hooks["response"].append(on_response)
        matrix = await client.matrix()
        assert len(matrix.rows) == SERVICES
        [response] = seen
        # httpx asks for it by default (`gzip, deflate`); the client keeps that default.
        assert "gzip" in response.request.headers["accept-encoding"]
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        await response.aread()
        assert response.num_bytes_downloaded < len(response.content) / 3
        assert await client.matrix() == matrix  # its ETag still answers 304
        assert seen[-1].status_code == 304
    finally:
        await client.close()
