"""The gitops driver's health check, against a tiny HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from shipdeck.engine.drivers import DeployJob, GitopsConfig

from .conftest import RecordingReporter, gitops


def test_health_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not an http"):
        GitopsConfig(repository=tmp_path, values_path="v.yaml", health_url="file:///etc/passwd")


class HealthServer:
    """Answers 503 to the first `failures` requests, then 200 (never, if `failures` < 0)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                healthy = 0 <= server.failures < len(server.paths)
                self.send_response(200 if healthy else 503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def health_server(request: pytest.FixtureRequest) -> Iterator[HealthServer]:
    server = HealthServer(request.param)
    thread = threading.Thread(target=server.httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize("health_server", [2], indirect=True)
async def test_health_check_passes_once_the_service_answers_200(
    clone: Path, job: DeployJob, reporter: RecordingReporter, health_server: HealthServer
) -> None:
    settings = {"health_url": health_server.url + "/healthz/{service}", "health_interval": 0.05}

    outcome = await gitops(clone, **settings).run(job, reporter)

    assert outcome.success, outcome.message
    assert outcome.message == "checkout-api 1.4.3 is live in prod"
    assert health_server.paths == ["/healthz/checkout-api"] * 3
    assert reporter.phases[-1] == "monitoring"
    messages = [line.message for line in reporter.lines]
    assert any("answered HTTP 503" in message for message in messages)


@pytest.mark.parametrize("health_server", [-1], indirect=True)
async def test_health_check_that_never_passes_times_out(
    clone: Path, job: DeployJob, reporter: RecordingReporter, health_server: HealthServer
) -> None:
    settings = {"health_url": health_server.url, "health_timeout": 0.5, "health_interval": 0.1}

    outcome = await gitops(clone, **settings).run(job, reporter)

    assert not outcome.success
    assert outcome.message.startswith("health check did not pass within 0.5 s")
    assert "HTTP 503" in outcome.message
    assert 2 <= len(health_server.paths) <= 10


async def test_health_check_without_a_listener_times_out(
    clone: Path, job: DeployJob, reporter: RecordingReporter
) -> None:
    with socket.socket() as sock:  # bound but not listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        settings = {
            "health_url": f"http://127.0.0.1:{sock.getsockname()[1]}/",
            "health_timeout": 0.3,
            "health_interval": 0.05,
        }
        outcome = await gitops(clone, **settings).run(job, reporter)

    assert not outcome.success
    assert "did not pass within 0.3 s" in outcome.message and "no connection" in outcome.message
