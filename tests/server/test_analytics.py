"""`GET /api/analytics/*`: every document over HTTP, its ETag, refusals and read access.

The figures themselves are checked in tests/engine/test_analytics.py on the same hand-made
log (`LOG`); here, that HTTP carries them unchanged and says no as the rest of the API does.
"""

from __future__ import annotations

import httpx
import pytest

from shipdeck.domain import Role
from shipdeck.domain.analytics import DOCUMENTS, AnalyticsKind, Insights
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.config import AuthConfig
from shipdeck.server import create_app

from ..conftest import sqlite_only
from ..engine.test_analytics import LOG, NOW, ingest

PATHS = [f"/api/analytics/{kind.value}" for kind in AnalyticsKind] + ["/api/analytics/insights"]
PROBLEM = "https://deployment-dashboard/errors/"


@pytest.fixture
async def logged(engine: Engine, client: httpx.AsyncClient) -> httpx.AsyncClient:
    engine.clock = lambda: NOW
    await ingest(engine, LOG)
    return client


async def test_each_document_with_its_etag(logged: httpx.AsyncClient) -> None:
    for kind in AnalyticsKind:
        path = f"/api/analytics/{kind.value}"
        response = await logged.get(path, params={"window": "14d"})
        assert response.status_code == 200, response.text
        document = DOCUMENTS[kind].model_validate_json(response.content)
        assert document.window.days == 14
        etag = response.headers["ETag"]
        assert etag.startswith('W/"') and response.headers["Cache-Control"] == "no-cache"
        for held in (etag, etag.removeprefix("W/"), f'"other", {etag}'):
            again = await logged.get(f"{path}?window=14d", headers={"If-None-Match": held})
            assert (again.status_code, again.content) == (304, b""), (kind, held)
        other = await logged.get(f"{path}?window=7d", headers={"If-None-Match": etag})
        assert other.status_code == 200 and other.headers["ETag"] != etag, kind


async def test_figures_and_nulls_travel_as_computed(logged: httpx.AsyncClient) -> None:
    frequency = (await logged.get("/api/analytics/frequency")).json()
    assert frequency["window"]["from"] == "2026-06-03T00:00:00Z"
    assert frequency["buckets"][2] == {"date": "2026-06-05", "success": 2, "failure": 2}
    deployers = (await logged.get("/api/analytics/top-deployers?limit=1")).json()["deployers"]
    assert deployers == [{"actor": "alice", "count": 1}]
    incidents = (await logged.get("/api/analytics/incidents?service=web")).json()["incidents"]
    assert incidents == [
        {
            "service": "web",
            "environment": "prod",
            "namespace": "shop",
            "failed_at": "2026-06-08T14:00:00Z",
            "restored_at": None,
            "duration_minutes": None,
            "severity": "critical",
        }
    ]
    funnel = (await logged.get("/api/analytics/promotion-funnel")).json()["stages"]
    assert funnel[-1] == {"environment": "prod", "count": 5, "conversion": None}
    dora = (await logged.get("/api/analytics/dora?environment=prod")).json()
    assert dora["lead_time"]["unit"] == "hours" and dora["lead_time"]["sparkline"] == []


async def test_insights_hold_the_nine_documents(logged: httpx.AsyncClient) -> None:
    response = await logged.get("/api/analytics/insights?window=7d&service=api&limit=5")
    assert response.status_code == 200, response.text
    insights = Insights.model_validate_json(response.content)
    for kind in AnalyticsKind:
        alone = await logged.get(f"/api/analytics/{kind.value}?window=7d&service=api&limit=5")
        part = getattr(insights, kind.value.replace("-", "_"))
        assert DOCUMENTS[kind].model_validate_json(alone.content) == part, kind


@sqlite_only  # refused before the store is asked
@pytest.mark.parametrize(
    ("query", "pointer"),
    [
        ("window=9d", "/window"),
        ("window=7D", "/window"),
        ("limit=0", "/limit"),
        ("limit=101", "/limit"),
        ("limit=ten", "/limit"),
        ("service=", "/service"),
        ("environment=" + "e" * 65, "/environment"),
        ("window=7d&window=14d", "/window"),
    ],
)
async def test_bad_parameters_are_422_problems(
    client: httpx.AsyncClient, query: str, pointer: str
) -> None:
    for path in ("/api/analytics/incidents", "/api/analytics/insights"):
        response = await client.get(f"{path}?{query}")
        assert response.status_code == 422, (path, query, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"] == PROBLEM + "validation"
        assert [error["pointer"] for error in body["errors"]] == [pointer]


async def test_reads_need_a_key_when_reads_are_closed(db_url: str) -> None:
    engine = await Engine.open(db_url, EngineConfig(auth=AuthConfig(read="key")))
    try:
        _, viewer = await engine.keys.create("watcher", Role.VIEWER)
        app = create_app(engine)
        app.state.engine = engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in PATHS:
                refused = await client.get(path)
                assert refused.status_code == 401, path
                assert refused.json()["type"] == PROBLEM + "unauthorized"
                bad = await client.get(path, headers={"X-Api-Key": "sd_nope"})
                assert bad.status_code == 401, path
                allowed = await client.get(path, headers={"X-Api-Key": viewer})
                assert allowed.status_code == 200, path
    finally:
        await engine.close()


@sqlite_only
async def test_the_openapi_document_describes_them(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for path in PATHS:
        operation = spec["paths"][path]["get"]
        assert operation["tags"] == ["analytics"]
        assert set(operation["responses"]) >= {"200", "304", "401", "422"}
        names = {p["name"] for p in operation["parameters"]}
        assert {"window", "service", "environment", "namespace"} <= names
    window = spec["components"]["schemas"]["AnalyticsWindow"]
    assert "from" in window["properties"] and "from" in window["required"]
    assert spec["paths"]["/api/analytics/dora"]["get"]["operationId"] == "getAnalyticsDora"
