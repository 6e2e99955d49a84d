"""Hostile HTTP against a real server: clean refusals within time limits, others unaffected."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, create_key

from .conftest import SERVER_TOML

ROW = (
    b'{"deployment_id":"d","service":"api","environment":"dev","status":"success",'
    b'"happened_at":"2026-05-28T09:00:00Z"}'
)


@pytest.fixture
def hostile_config(tmp_path: Path) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(SERVER_TOML + "\n[http]\nbody_timeout = 2.0\n")
    return path


@pytest.fixture
def hostile_server(
    db_url: str, hostile_config: Path, server_factory: type[ServerProcess]
) -> tuple[ServerProcess, str]:
    key = create_key(db_url, "ci")
    return server_factory(db_url, hostile_config).start(), key


async def raw(port: int, request: bytes, *, read_timeout: float = 10.0) -> bytes:
    """Send raw bytes, read the answer until the server closes or the headers+body arrive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), read_timeout)
    finally:
        writer.transport.abort()


def post(path: str, body: bytes, key: str, extra: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nX-Api-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + extra
        + b"\r\n"
        + body
    )


async def test_bodies_over_the_limit_are_413(hostile_server: tuple[ServerProcess, str]) -> None:
    server, key = hostile_server
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Api-Key": key}) as client:
        big = b'{"deployment_id":"' + b"x" * 70_000 + b'"}'
        huge = b'{"lines":[' + b"x" * (11 * 1024 * 1024) + b"]}"
        for path, body in (
            ("/api/deployments", big),
            ("/api/deploys", big),
            ("/api/deployments/d/logs", huge),
            ("/api/fetcher/state/gh", big),
        ):
            method = client.put if "fetcher" in path else client.post
            response = await method(path, content=body)
            assert response.status_code == 413, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
        # A lying Content-Length is refused before the body is read.
        answer = await raw(
            server.port,
            post("/api/deployments", b"{}", key).replace(
                b"Content-Length: 2", b"Content-Length: 99999999"
            ),
        )
        assert answer.startswith(b"HTTP/1.1 413")


async def test_deeply_nested_and_invalid_utf8_are_422(
    hostile_server: tuple[ServerProcess, str],
) -> None:
    server, key = hostile_server
    async with httpx.AsyncClient(base_url=server.url, headers={"X-Api-Key": key}) as client:
        nested = b"[" * 30_000 + b"]" * 30_000
        started = time.monotonic()
        for body in (nested, b'{"a":' * 10_000 + b"1" + b"}" * 10_000):
            response = await client.post("/api/deployments", content=body)
            assert response.status_code in (413, 422), response.text
        assert time.monotonic() - started < 10  # refused, not chewed on
        bad_utf8 = ROW.replace(b'"api"', b'"\xff\xfe"')
        response = await client.post("/api/deployments", content=bad_utf8)
        assert response.status_code == 422
        assert response.json()["type"].endswith("/validation")
        response = await client.post("/api/deploys", content=b"\x00\x01\x02")
        assert response.status_code == 422


async def test_huge_headers_are_refused_cleanly(hostile_server: tuple[ServerProcess, str]) -> None:
    server, key = hostile_server
    huge = b"X-Junk: " + b"a" * 200_000 + b"\r\n"
    with contextlib.suppress(ConnectionError):
        answer = await raw(server.port, post("/api/deployments", ROW, key, huge))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    many = b"".join(f"X-H{i}: v\r\n".encode() for i in range(10_000))
    with contextlib.suppress(ConnectionError):
        answer = await raw(server.port, post("/api/deployments", ROW, key, many))
        assert answer.startswith(b"HTTP/1.1 431"), answer[:100]
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_a_body_sent_one_byte_per_second_times_out_and_others_are_served(
    hostile_server: tuple[ServerProcess, str],
) -> None:
    server, key = hostile_server
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    head = post("/api/deployments", ROW, key)
    writer.write(head[: len(head) - len(ROW)])
    await writer.drain()

    async def trickle() -> None:
        for byte in ROW:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)

    dripping = asyncio.create_task(trickle())
    try:
        # Meanwhile everyone else is served as usual.
        async with httpx.AsyncClient(base_url=server.url, headers={"X-Api-Key": key}) as client:
            for _ in range(20):
                response = await client.post("/api/deployments", content=ROW)
                assert response.status_code == 201
                assert (await client.get("/api/matrix")).status_code == 200
        # The answer closes the connection: read to its end (head and body may come apart).
        answer = await asyncio.wait_for(reader.read(), 15)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"did not arrive within 2 s" in answer
    finally:
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await dripping
        writer.transport.abort()
