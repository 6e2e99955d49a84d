"""Reset and recover as sagas: what counts as an ack, the ingest gate while data is cleared,
sagas across replicas (two engines on one database), and the audit of every control action.

Over a real socket (an in-process uvicorn) where a stream is read; the helpers are
test_control.py's.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from shipdeck.domain import DeploymentEventIngest, Role
from shipdeck.engine import Engine
from shipdeck.engine.control_config import ControlConfig
from shipdeck.engine.control_errors import IngestPaused

from .test_control import (
    ACKER,
    CONTROL,
    CONTROL_KEY,
    _config,
    _event,
    _ingest,
    serving,
    stream,
)
from .test_sse import until


@pytest.fixture
async def control_engine(db_url: str) -> AsyncIterator[Engine]:
    engine = await Engine.open(db_url, _config())
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def http(control_engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(control_engine) as client:
        yield client


def _started_after(seen: list[dict[str, str]]) -> float:
    """Seconds from `reset-initiated` to `reset-started` in a stream's frames."""
    at = {f["event"]: datetime.fromisoformat(json.loads(f["data"])["occurred_at"]) for f in seen}
    return (at["reset-started"] - at["reset-initiated"]).total_seconds()


async def _post_event(
    http: httpx.AsyncClient, key: str, body: dict[str, Any], **headers: str
) -> None:
    response = await http.post(
        "/api/control/events", json=body, headers={"X-Api-Key": key, **headers}
    )
    assert response.status_code == 204, response.text


async def test_an_ack_counts_only_when_it_names_the_saga(db_url: str) -> None:
    """The contract's ack gate: `X-Correlation-Id` is the key, the payload is never read,
    and the ack must be the operation's, from an expected component."""
    engine = await Engine.open(db_url, _config(ack_timeout_seconds=1.5))
    try:
        _, key = await engine.keys.create("ci", Role.REPORTER)
        async with serving(engine) as http, stream(http, "/api/control/stream", CONTROL) as frames:
            await asyncio.sleep(0.2)
            cid = (await http.post("/api/control/reset", headers=CONTROL)).json()["reset_id"]
            paused = {"state": "paused"}
            # An earlier revision's ack: the id in the payload, no header.
            await _post_event(
                http,
                key,
                _event(event_type="reset-ack", payload={"reset_id": cid}, **paused),
                **{"X-Component-Id": ACKER},
            )
            # The wrong operation's ack, and an ack from a component nobody waits for.
            await _post_event(
                http,
                key,
                _event(event_type="recover-ack", **paused),
                **{"X-Component-Id": ACKER, "X-Correlation-Id": cid},
            )
            await _post_event(
                http,
                key,
                _event(event_type="reset-ack", **paused),
                **{"X-Component-Id": "demo-driver", "X-Correlation-Id": cid},
            )
            slow = await frames.until("reset-completed")
            cid = (await http.post("/api/control/reset", headers=CONTROL)).json()["reset_id"]
            await _post_event(
                http,
                key,
                _event(event_type="reset-ack", **paused),
                **{"X-Component-Id": ACKER, "X-Correlation-Id": cid},
            )
            fast = await frames.until("reset-completed")
    finally:
        await engine.close()
    assert _started_after(slow) >= 1.4  # none of the three counted: the ack timeout passed
    assert _started_after(fast) < 1.0


async def test_ingest_answers_503_from_reset_started_until_reset_completed(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real window, held open: the erase (the store's own) waits for the test."""
    engine = await Engine.open(db_url, _config(expected_components=[]))
    release = threading.Event()
    erase = engine.store.erase_deployments

    def slow_erase(*args: Any) -> Any:
        release.wait(10)
        return erase(*args)

    monkeypatch.setattr(engine.store, "erase_deployments", slow_erase)
    try:
        _, key = await engine.keys.create("ci", Role.REPORTER)
        async with serving(engine) as http:
            assert (await _ingest(http, key, "before")).status_code == 201
            async with stream(http, "/api/control/stream", CONTROL) as frames:
                await asyncio.sleep(0.2)
                assert (await http.post("/api/control/reset", headers=CONTROL)).status_code == 202
                await frames.until("reset-started")
                closed = await _ingest(http, key, "during")
                release.set()
                await frames.until("reset-completed")
            reopened = await _ingest(http, key, "after")
            services = (await http.get("/api/services")).json()["items"]
    finally:
        release.set()
        await engine.close()
    assert closed.status_code == 503
    assert closed.headers["retry-after"] == "1"
    assert closed.headers["content-type"].startswith("application/problem+json")
    assert closed.json()["type"].endswith("/reset-in-progress")
    assert reopened.status_code == 201
    assert services == ["after"]


async def test_a_saga_whose_replica_stopped_is_ended_by_another(db_url: str) -> None:
    """Replica A accepts a reset and stops while draining; replica B ends the saga once A's
    lease lapses (`reset-completed`, audited as abandoned) and takes the next one. Nothing
    was erased: A stopped before the erase."""
    config = _config(ack_timeout_seconds=0.5, gate_max_ttl_seconds=1.0)
    a = await Engine.open(db_url, config)
    b = await Engine.open(db_url, config)
    try:
        _, key = await b.keys.create("ci", Role.REPORTER)
        async with serving(b) as http:
            assert (await _ingest(http, key, "kept")).status_code == 201
            async with stream(http, "/api/control/stream", CONTROL) as frames:
                await asyncio.sleep(0.2)
                accepted = await a.control.reset(a.control.check_key(CONTROL_KEY))
                busy = await http.post("/api/control/reset", headers=CONTROL)
                await a.close()  # the replica stops mid-drain
                seen = await frames.until("reset-completed")
            rows = (await http.get("/api/deployments")).json()["items"]
            again = await http.post("/api/control/reset", headers=CONTROL)
        actions = [(e.action, e.outcome) for e in (await b.audit.page()).items]
    finally:
        await b.close()
    assert busy.status_code == 409
    completed = json.loads(seen[-1]["data"])
    assert completed["correlation_id"] == accepted.correlation_id
    assert completed["type"] == "reset-completed"
    assert again.status_code == 202
    assert [row["service"] for row in rows] == ["kept"]
    assert ("control.reset.abandoned", "ok") in actions


async def test_another_replicas_reset_closes_ingest_here(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await Engine.open(db_url, _config(expected_components=[]))
    b = await Engine.open(db_url, _config(expected_components=[]))
    release = threading.Event()
    erase = a.store.erase_deployments

    def slow_erase(*args: Any) -> Any:
        release.wait(10)
        return erase(*args)

    monkeypatch.setattr(a.store, "erase_deployments", slow_erase)
    body = DeploymentEventIngest.model_validate_json(
        json.dumps(
            {
                "deployment_id": "d",
                "service": "svc",
                "environment": "dev",
                "status": "success",
                "happened_at": "2026-01-01T00:00:00Z",
            }
        )
    )
    try:
        await a.control.reset(a.control.check_key(CONTROL_KEY))
        await until(lambda: a.control.sagas.ingest_closed, "A clears data")
        await b.control.poll()
        with pytest.raises(IngestPaused):
            await b.ingest(body)
        release.set()
        await until(lambda: not a.control.sagas.ingest_closed, "A completed")
        await b.control.poll()
        stored, _ = await b.ingest(body)
    finally:
        release.set()
        await a.close()
        await b.close()
    assert stored.service == "svc"


async def test_control_refusals_are_audited_and_never_echo_a_key(
    http: httpx.AsyncClient, control_engine: Engine
) -> None:
    wrong = "wrong-control-key-abcdef"
    refused = await http.get("/api/control/stream", headers={"X-Control-API-Key": wrong})
    assert refused.status_code == 401
    accepted = await http.post("/api/control/recover", json={"days_back": 1}, headers=CONTROL)
    busy = await http.post("/api/control/reset", headers=CONTROL)
    assert (accepted.status_code, busy.status_code) == (202, 409)
    entries = (await control_engine.audit.page()).items
    outcomes = {(e.action, e.outcome) for e in entries}
    assert ("control.stream", "refused: unauthorized") in outcomes
    assert ("control.recover", "ok") in outcomes
    assert ("control.reset", "refused: control-busy") in outcomes
    for text in (refused.text, busy.text, *(str(e) for e in entries)):
        assert wrong not in text and CONTROL_KEY not in text
    verdict = await control_engine.audit.verify()
    assert verdict.ok, verdict.detail


def test_the_drain_must_fit_in_its_lease() -> None:
    with pytest.raises(ValidationError, match=r"shorter than control\.gate_max_ttl_seconds"):
        ControlConfig(ack_timeout_seconds=15, gate_max_ttl_seconds=15)
    assert ControlConfig(ack_timeout_seconds=3, gate_max_ttl_seconds=15).ack_timeout_seconds == 3


async def test_the_component_event_headers_are_documented_as_the_contract_has_them(
    http: httpx.AsyncClient,
) -> None:
    document = (await http.get("/openapi.json")).json()
    operation = document["paths"]["/api/control/events"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert headers["X-Component-Id"]["required"] is True
    assert headers["X-Component-Id"]["schema"]["pattern"] == "^[a-z0-9][a-z0-9.-]{0,127}$"
    assert headers["X-Correlation-Id"]["required"] is False
    assert headers["X-Correlation-Id"]["schema"]["maxLength"] == 128
