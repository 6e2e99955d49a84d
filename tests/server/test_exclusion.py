"""Service exclusion (`[ingest] exclude_services`): refused on ingest, hidden from reads.

The patterns are those upstream's suite configures (`SERVICE_EXCLUDE=
"svc-exclude-probe,probe-ns/probe-*"`, `service-exclude.spec.ts`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shipdeck.cli import main
from shipdeck.domain import DeploymentEventIngest, Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.engine.config import ConfigError, load_config
from shipdeck.engine.exclusion import IngestConfig, ServiceExcluded, compile_exclusion
from shipdeck.engine.importer import Input, import_lines
from shipdeck.engine.store import open_store
from shipdeck.server import create_app

from .test_api import assert_problem, ingest, row

PATTERNS = ["svc-exclude-probe", "probe-ns/probe-*"]


def _client(engine: Engine) -> httpx.AsyncClient:
    app = create_app(engine)
    app.state.engine = engine
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def excluding(db_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client of an engine that excludes `PATTERNS`, and a reporter's key on it."""
    config = EngineConfig(ingest=IngestConfig(exclude_services=PATTERNS))
    engine = await Engine.open(db_url, config)
    try:
        _, key = await engine.keys.create("ci", Role.REPORTER)
        async with _client(engine) as client:
            yield client, key
    finally:
        await engine.close()


@pytest.mark.parametrize(
    ("service", "namespace"),
    [
        ("svc-exclude-probe", None),
        ("svc-exclude-probe", "any-ns"),
        ("SVC-Exclude-Probe", None),
        ("probe-svc", "probe-ns"),
        ("probe-anything", "probe-ns"),
    ],
)
async def test_an_excluded_service_is_refused_with_a_403_problem(
    excluding: tuple[httpx.AsyncClient, str], service: str, namespace: str | None
) -> None:
    client, key = excluding
    body = row(service=service) if namespace is None else row(service=service, namespace=namespace)
    response = await client.post("/api/deployments", json=body, headers={"X-Api-Key": key})
    problem = assert_problem(response, 403)
    assert problem["type"].endswith("/service-excluded")
    assert "exclude_services" in problem["detail"]
    assert problem["errors"] == [{"pointer": "/service", "message": problem["detail"]}]
    assert (await client.get("/api/deployments")).json()["items"] == []


@pytest.mark.parametrize(
    ("service", "namespace"),
    [
        ("allowed-probe-svc", None),
        ("probe-svc", None),  # a namespace pattern never matches a row without one
        ("probe-svc", "other-ns"),
        ("svc-exclude-probe-2", None),  # globs match whole names
    ],
)
async def test_other_services_are_accepted(
    excluding: tuple[httpx.AsyncClient, str], service: str, namespace: str | None
) -> None:
    client, key = excluding
    body = row(service=service) if namespace is None else row(service=service, namespace=namespace)
    stored = await ingest(client, key, body)
    assert stored["service"] == service
    assert (await client.get("/api/services")).json()["items"] == [service]


async def test_the_key_is_checked_before_the_exclusion(
    excluding: tuple[httpx.AsyncClient, str],
) -> None:
    client, _ = excluding
    response = await client.post("/api/deployments", json=row(service="svc-exclude-probe"))
    assert_problem(response, 401)


async def test_rows_stored_before_the_exclusion_are_hidden_from_reads(db_url: str) -> None:
    before = await Engine.open(db_url, EngineConfig())
    try:
        _, key = await before.keys.create("ci", Role.REPORTER)
        async with _client(before) as client:
            await ingest(client, key, row(deployment_id="x", service="svc-exclude-probe"))
            await ingest(
                client, key, row(deployment_id="y", service="probe-svc", namespace="probe-ns")
            )
            await ingest(client, key, row(deployment_id="z", service="probe-svc"))
            await ingest(client, key, row(deployment_id="k", service="kept"))
    finally:
        await before.close()
    after = await Engine.open(db_url, EngineConfig(ingest=IngestConfig(exclude_services=PATTERNS)))
    try:
        async with _client(after) as client:
            services = (await client.get("/api/services")).json()["items"]
            # `probe-svc` still has a row outside `probe-ns`: the name stays listed.
            assert services == ["kept", "probe-svc"]
            listed = (await client.get("/api/deployments")).json()["items"]
            assert sorted(item["deployment_id"] for item in listed) == ["k", "z"]
            only = await client.get("/api/deployments", params={"service": "svc-exclude-probe"})
            assert only.json()["items"] == []
    finally:
        await after.close()


def test_patterns_read_from_toml_and_from_the_upstream_style_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "engine.toml"
    path.write_text('[ingest]\nexclude_services = ["a", "ns/b-*"]\n', encoding="utf-8")
    assert load_config(path).ingest.exclude_services == ["a", "ns/b-*"]
    monkeypatch.setenv("SHIPDECK_INGEST__EXCLUDE_SERVICES", "svc-exclude-probe, probe-ns/probe-*")
    assert load_config(path).ingest.exclude_services == PATTERNS
    monkeypatch.setenv("SHIPDECK_INGEST__EXCLUDE_SERVICES", '["one", "two"]')
    assert load_config(None).ingest.exclude_services == ["one", "two"]


@pytest.mark.parametrize("bad", ['["a/b/c"]', '["/b"]', '[""]', '"["'])
def test_malformed_patterns_are_a_config_error(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(f"[ingest]\nexclude_services = {bad}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="exclude_services"):
        load_config(path)


def test_glob_characters_other_than_star_and_question_mark_are_literal() -> None:
    exclusion = compile_exclusion(("a.b", "c?d", "e[f]"))
    assert exclusion.excludes("a.b") and not exclusion.excludes("axb")
    assert exclusion.excludes("cxd") and not exclusion.excludes("cd")
    assert exclusion.excludes("e[f]") and not exclusion.excludes("ef")
    assert not compile_exclusion(()).active


def test_the_api_docs_toml_example_loads(tmp_path: Path) -> None:
    docs = Path(__file__).parents[2] / "docs" / "api.md"
    text = docs.read_text(encoding="utf-8")
    section = text[text.index("## Namespaces, excluded services") :]
    block = section[
        section.index("```toml\n") + 8 : section.index("```\n", section.index("```toml"))
    ]
    path = tmp_path / "engine.toml"
    path.write_text(block, encoding="utf-8")
    config = load_config(path)
    assert config.ingest.exclude_services == PATTERNS
    assert config.presets[0].settings["failOnly"] is True


# -- every writer obeys it --------------------------------------------------------------


async def test_the_engine_refuses_and_hides_whoever_writes_or_reads(db_url: str) -> None:
    """The exclusion is the engine's, not the route's: an embedded dashboard, the demo and
    webhooks ingest through `Engine.ingest`, and read through `engine.deployments`."""
    engine = await Engine.open(db_url, EngineConfig(ingest=IngestConfig(exclude_services=PATTERNS)))
    try:
        with pytest.raises(ServiceExcluded, match="probe-ns/probe-svc"):
            await engine.ingest(
                DeploymentEventIngest.model_validate_json(
                    json.dumps(row(service="probe-svc", namespace="probe-ns"))
                )
            )
        kept, _ = await engine.ingest(
            DeploymentEventIngest.model_validate_json(json.dumps(row(service="kept")))
        )
        assert kept.service == "kept"
        assert await engine.deployments.services() == ["kept"]
    finally:
        await engine.close()


def _lines(tmp_path: Path) -> Path:
    path = tmp_path / "export.ndjson"
    bodies = [
        row(deployment_id="1", service="kept"),
        row(deployment_id="2", service="svc-exclude-probe"),
        row(deployment_id="3", service="probe-x", namespace="probe-ns"),
        row(deployment_id="4", service="probe-x", namespace="other-ns"),
    ]
    path.write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
    return path


def test_the_importer_rejects_excluded_services_as_the_api_does(
    sqlite_url: str, tmp_path: Path
) -> None:
    store = open_store(sqlite_url)
    try:
        with Input.open(str(_lines(tmp_path))) as source:
            result = import_lines(store, source, parallel=False, exclude_services=PATTERNS)
    finally:
        store.close()
    assert (result.imported, result.rejected) == (2, 2)
    assert result.rejections == [
        (2, "service 'svc-exclude-probe' is excluded by [ingest] exclude_services"),
        (3, "service 'probe-ns/probe-x' is excluded by [ingest] exclude_services"),
    ]


def test_shipdeck_import_takes_the_exclusion_from_the_engine_config(
    sqlite_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "engine.toml"
    config.write_text(f"[ingest]\nexclude_services = {json.dumps(PATTERNS)}\n", encoding="utf-8")
    out = CliRunner().invoke(
        main,
        ["import", "--database", sqlite_url, "--config", str(config), str(_lines(tmp_path))],
    )
    assert out.exit_code == 1, out.output  # some lines rejected
    assert "Imported 2 rows" in out.output
    assert "line 2: service 'svc-exclude-probe' is excluded" in out.output
