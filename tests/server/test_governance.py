"""Roles and scopes, approvals, freeze windows, locks, audit and rate limits, over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from shipdeck.cli import main
from shipdeck.domain import Role
from shipdeck.engine import Engine, EngineConfig
from shipdeck.server import create_app
from tests.rawdb import RawDB

PROBLEM = "https://deployment-dashboard/errors/"
BASE = datetime(2026, 5, 28, 9, 0, tzinfo=UTC)
NOW = datetime.now(UTC)


def config(**extra: Any) -> EngineConfig:
    fields: dict[str, Any] = {
        "environments": [{"name": e} for e in ("dev", "qa", "prod")],
        "executor": {"driver": "fast"},
        "drivers": {"fast": {"kind": "simulate", "scale": 0.002, "failure_rate": 0.0}},
        "policies": {"prod": {"approvals_required": 2}},
        **extra,
    }
    return EngineConfig(**fields)


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[Engine]:
    engine = await Engine.open(db_url, config())
    try:
        yield engine
    finally:
        await engine.close()


async def http(engine: Engine) -> httpx.AsyncClient:
    app = create_app(engine)
    app.state.engine = engine
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture
async def api(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with await http(engine) as client:
        yield client


async def key(engine: Engine, name: str, role: Role, **scopes: list[str]) -> dict[str, str]:
    _, token = await engine.keys.create(name, role, **scopes)
    return {"X-Api-Key": token}


async def seed(api: httpx.AsyncClient, engine: Engine) -> None:
    ci = await key(engine, "ci", Role.REPORTER)
    for env, version, minutes in (("dev", "2.0", 2), ("qa", "2.0", 1), ("prod", "1.0", 0)):
        for service in ("api", "web"):
            body = {
                "deployment_id": f"ci-{service}-{env}",
                "service": service,
                "environment": env,
                "status": "success",
                "version": version,
                "happened_at": (BASE + timedelta(minutes=minutes)).isoformat(),
            }
            assert (await api.post("/api/deployments", json=body, headers=ci)).status_code == 201


def problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + kind, body
    return body


# -- authorization table --------------------------------------------------------------

ROLES = ["viewer", "reporter", "deployer", "approver", "admin"]
SCOPES: dict[str, dict[str, list[str]]] = {
    "all": {},
    "api-only": {"services": ["api"]},
    "dev-only": {"environments": ["dev"]},
}


def expected(role: str, scope: str, action: str, service: str, environment: str) -> int:
    """The table: what the engine must answer."""
    if Role(role).rank < Role.DEPLOYER.rank:
        return 403
    if scope == "api-only" and service != "api":
        return 403
    if scope == "dev-only" and environment != "dev":
        return 403
    if action == "deploy" and environment == "prod" and role != "admin":
        return 409  # prod asks for approvals: deploying straight into it is refused
    return 202


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("scope", list(SCOPES))
async def test_authorization_table(
    api: httpx.AsyncClient, engine: Engine, role: str, scope: str
) -> None:
    await seed(api, engine)
    headers = await key(engine, f"p-{role}-{scope}", Role(role), **SCOPES[scope])
    for service in ("api", "web"):
        for environment in ("dev", "prod"):
            cases = {
                "deploy": (
                    "/api/deploys",
                    {"service": service, "environment": environment, "version": "9"},
                ),
                "rollback": (f"/api/deployments/ci-{service}-{environment}/rollback", None),
            }
            for action, (path, body) in cases.items():
                response = await api.post(path, json=body, headers=headers)
                want = expected(role, scope, action, service, environment)
                if action == "rollback" and want == 202:
                    want = 409  # each slot has only one success: nothing to roll back to
                assert response.status_code == want, (role, scope, action, service, environment)
                if want == 403:
                    assert response.json()["type"] == PROBLEM + "forbidden"


# -- approvals ----------------------------------------------------------------------------


async def promote_to_prod(api: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await api.post(
        "/api/promotions", json={"service": "api", "from_environment": "qa"}, headers=headers
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "waiting" and body["promotion_id"]
    return body


async def test_promotion_waits_for_approvals_then_runs(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    await seed(api, engine)
    alice = await key(engine, "alice", Role.DEPLOYER)
    bob = await key(engine, "bob", Role.APPROVER)
    carol = await key(engine, "carol", Role.ADMIN)
    asked = await promote_to_prod(api, alice)
    promotion_id = asked["promotion_id"]
    slot = (await api.get("/api/matrix")).json()
    prod = next(r for r in slot["rows"] if r["service"] == "api")["slots"]["prod"]
    assert prod["next"]["status"] == "waiting"
    assert prod["next"]["deployment_id"] == asked["deployment_id"]
    shown = (await api.get(f"/api/promotions/{promotion_id}")).json()
    assert (
        shown["status"] == "awaiting-approval" and shown["blocked_by"] == "2 more approvals needed"
    )
    assert (await api.get("/api/promotions/pending-for-me", headers=bob)).json()["items"][0][
        "id"
    ] == promotion_id
    assert (await api.get("/api/promotions/pending-for-me", headers=alice)).json()["items"] == []
    one = await api.post(
        f"/api/promotions/{promotion_id}/approve", json={"comment": "ok"}, headers=bob
    )
    assert one.status_code == 200 and one.json()["blocked_by"] == "1 more approval needed"
    problem(
        await api.post(f"/api/promotions/{promotion_id}/approve", headers=bob),
        409,
        "already-decided",
    )
    two = await api.post(f"/api/promotions/{promotion_id}/approve", headers=carol)
    assert two.json()["status"] == "approved"
    rows = (
        await api.get("/api/deployments", params={"deployment_id": asked["deployment_id"]})
    ).json()
    statuses = [r["status"] for r in reversed(rows["items"])]
    assert statuses[:2] == ["waiting", "queued"]
    problem(
        await api.post(f"/api/promotions/{promotion_id}/reject", headers=carol),
        409,
        "promotion-closed",
    )


async def test_self_approval_refused_through_any_key(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    await seed(api, engine)
    dana = await key(engine, "dana", Role.APPROVER)
    dana_again = await key(engine, "dana", Role.APPROVER)
    asked = await promote_to_prod(api, dana)
    for headers in (dana, dana_again):
        refused = problem(
            await api.post(f"/api/promotions/{asked['promotion_id']}/approve", headers=headers),
            403,
            "self-approval",
        )
        assert "ask another approver" in refused["detail"]
    # Two keys of one other principal count once.
    erin = await key(engine, "erin", Role.APPROVER)
    erin_again = await key(engine, "erin", Role.APPROVER)
    assert (
        await api.post(f"/api/promotions/{asked['promotion_id']}/approve", headers=erin)
    ).status_code == 200
    problem(
        await api.post(f"/api/promotions/{asked['promotion_id']}/approve", headers=erin_again),
        409,
        "already-decided",
    )


async def test_fifty_concurrent_approvals_start_exactly_one_deployment(db_url: str) -> None:
    engine = await Engine.open(
        db_url, config(policies={"prod": {"approvals_required": 3}}, rate_limit={"burst": 1000})
    )
    try:
        async with await http(engine) as api:
            await seed(api, engine)
            asked = await promote_to_prod(api, await key(engine, "req", Role.DEPLOYER))
            approvers = [await key(engine, f"a{i}", Role.APPROVER) for i in range(50)]
            answers = await asyncio.gather(
                *(
                    api.post(f"/api/promotions/{asked['promotion_id']}/approve", headers=h)
                    for h in approvers
                )
            )
            codes = sorted(a.status_code for a in answers)
            assert codes.count(200) == 3 and codes.count(409) == 47
            rows = (
                await api.get("/api/deployments", params={"deployment_id": asked["deployment_id"]})
            ).json()["items"]
            assert [r["status"] for r in rows].count("queued") == 1
            assert await engine.deployments.execution_state(asked["deployment_id"]) is not None
    finally:
        await engine.close()


async def test_reject_and_withdraw(api: httpx.AsyncClient, engine: Engine) -> None:
    await seed(api, engine)
    alice = await key(engine, "alice", Role.DEPLOYER)
    bob = await key(engine, "bob", Role.APPROVER)
    first = await promote_to_prod(api, alice)
    rejected = await api.post(
        f"/api/promotions/{first['promotion_id']}/reject",
        json={"comment": "not today"},
        headers=bob,
    )
    assert rejected.json()["status"] == "rejected"
    rows = (
        await api.get("/api/deployments", params={"deployment_id": first["deployment_id"]})
    ).json()
    assert rows["items"][0]["status"] == "rejected"
    assert rows["items"][0]["message"] == "rejected by bob: not today"
    second = await promote_to_prod(api, alice)
    problem(
        await api.post(f"/api/promotions/{second['promotion_id']}/cancel", headers=bob),
        403,
        "forbidden",
    )
    withdrawn = await api.post(f"/api/promotions/{second['promotion_id']}/cancel", headers=alice)
    assert withdrawn.json()["status"] == "cancelled"
    listed = (await api.get("/api/promotions", params={"status": "cancelled"})).json()
    assert [p["id"] for p in listed["items"]] == [second["promotion_id"]]


async def test_promotions_expire(api: httpx.AsyncClient, engine: Engine) -> None:
    await seed(api, engine)
    asked = await promote_to_prod(api, await key(engine, "alice", Role.DEPLOYER))
    assert await engine.governance.expire_promotions(datetime.now(UTC) + timedelta(hours=71)) == 0
    assert await engine.governance.expire_promotions(datetime.now(UTC) + timedelta(hours=73)) == 1
    shown = (await api.get(f"/api/promotions/{asked['promotion_id']}")).json()
    assert shown["status"] == "expired"
    rows = (
        await api.get("/api/deployments", params={"deployment_id": asked["deployment_id"]})
    ).json()
    assert rows["items"][0]["status"] == "cancelled"
    assert rows["items"][0]["message"].startswith("expired: no decision within 72 h")


async def test_promotion_events_reach_the_global_stream(engine: Engine) -> None:
    async with await http(engine) as api:
        await seed(api, engine)
        async with engine.subscribe(after=engine.head) as subscription:
            await promote_to_prod(api, await key(engine, "alice", Role.DEPLOYER))
            engine.flush_events()
            types = []
            for _ in range(2):
                item = await subscription.next(timeout=5)
                types.append(getattr(item, "type", None))
            assert types == ["deployment", "promotion"]


# -- freeze windows and locks ---------------------------------------------------------


async def test_freeze_window_refuses_and_admin_override_is_audited(db_url: str) -> None:
    window = {
        "name": "launch-week",
        "start": (NOW - timedelta(hours=1)).isoformat(),
        "end": (NOW + timedelta(hours=1)).isoformat(),
    }
    engine = await Engine.open(db_url, config(policies={"qa": {"freeze": [window]}}))
    try:
        async with await http(engine) as api:
            await seed(api, engine)
            alice = await key(engine, "alice", Role.DEPLOYER)
            root = await key(engine, "root", Role.ADMIN)
            body = {"service": "api", "environment": "qa", "version": "3.0"}
            refused = problem(
                await api.post("/api/deploys", json=body, headers=alice), 409, "freeze-window"
            )
            assert "qa is frozen: launch-week" in refused["detail"]
            problem(await api.post("/api/deploys", json=body, headers=root), 409, "freeze-window")
            problem(
                await api.post(
                    "/api/deploys", json={**body, "override_reason": "hotfix"}, headers=alice
                ),
                409,
                "freeze-window",
            )
            ok = await api.post(
                "/api/deploys", json={**body, "override_reason": "hotfix CVE-1"}, headers=root
            )
            assert ok.status_code == 202
            # Rollbacks stay possible during a freeze.
            assert (
                (await api.get("/api/environment-policies"))
                .json()["items"][1]["frozen"]
                .startswith("launch-week")
            )
            audit = (await api.get("/api/audit", params={"action": "deploy"}, headers=root)).json()
            outcomes = [(e["principal"], e["outcome"], e["reason"]) for e in audit["items"]]
            assert outcomes[0] == ("root", "ok", "freeze override (launch-week): hotfix CVE-1")
            assert ("alice", "refused: freeze-window") in [(p, o) for p, o, _ in outcomes]
    finally:
        await engine.close()


async def test_lock_blocks_every_action_until_unlocked(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    await seed(api, engine)
    root = await key(engine, "root", Role.ADMIN)
    alice = await key(engine, "alice", Role.DEPLOYER)
    problem(
        await api.post("/api/environments/dev/lock", json={"reason": "x"}, headers=alice),
        403,
        "forbidden",
    )
    locked = await api.post(
        "/api/environments/dev/lock", json={"reason": "db migration"}, headers=root
    )
    assert locked.json()["lock"]["by"] == "root"
    body = {"service": "api", "environment": "dev", "version": "3"}
    for headers in (alice, root):
        refused = problem(
            await api.post("/api/deploys", json=body, headers=headers), 409, "environment-locked"
        )
        assert "locked by root: db migration" in refused["detail"]
    problem(
        await api.post("/api/deployments/ci-api-dev/retry", headers=alice),
        409,
        "environment-locked",
    )
    assert (await api.post("/api/environments/dev/unlock", headers=root)).json()["lock"] is None
    problem(await api.post("/api/environments/dev/unlock", headers=root), 409, "not-locked")
    assert (await api.post("/api/deploys", json=body, headers=alice)).status_code == 202


async def test_policy_set_through_the_api(api: httpx.AsyncClient, engine: Engine) -> None:
    await seed(api, engine)
    root = await key(engine, "root", Role.ADMIN)
    alice = await key(engine, "alice", Role.DEPLOYER)
    policy = {"approvals_required": 1, "approvers": ["carol"], "self_approval": False}
    problem(
        await api.put("/api/environments/qa/policy", json=policy, headers=alice), 403, "forbidden"
    )
    problem(
        await api.put("/api/environments/qa/policy", json={"approvals_required": -1}, headers=root),
        422,
        "validation",
    )
    shown = (await api.put("/api/environments/qa/policy", json=policy, headers=root)).json()
    assert shown["summary"] == "1 approval required from carol (not the requester)"
    asked = await api.post(
        "/api/promotions", json={"service": "api", "from_environment": "dev"}, headers=alice
    )
    assert asked.json()["status"] == "waiting"


# -- audit and rate limits ------------------------------------------------------------


async def test_audit_entries_equal_decisions_and_verify_finds_tampering(
    api: httpx.AsyncClient, engine: Engine, db_url: str
) -> None:
    await seed(api, engine)
    root = await key(engine, "root", Role.ADMIN)
    viewer = await key(engine, "vic", Role.VIEWER)
    problem(await api.get("/api/audit", headers=viewer), 403, "forbidden")
    await api.post(
        "/api/deploys", json={"service": "api", "environment": "dev", "version": "5"}, headers=root
    )
    await api.post(
        "/api/deploys",
        json={"service": "api", "environment": "dev", "version": "5"},
        headers=viewer,
    )
    await api.post("/api/deploys", json={"service": "api", "environment": "dev", "version": "5"})
    entries = (await api.get("/api/audit", headers=root, params={"limit": 500})).json()["items"]
    decisions = [(e["principal"], e["action"], e["outcome"]) for e in entries[:3]]
    assert decisions == [
        (None, "deploy", "refused: unauthorized"),
        ("vic", "deploy", "refused: forbidden"),
        ("root", "deploy", "ok"),
    ]
    assert sum(1 for e in entries if e["action"] == "ingest") == 6
    assert all(e["request_id"] for e in entries)
    assert (await api.get("/api/audit/verify", headers=root)).json()["ok"] is True
    runner = CliRunner()
    intact = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert intact.exit_code == 0 and f"intact: {len(entries)} entries" in intact.output
    victim = entries[-3]["seq"]
    with RawDB(db_url) as raw:
        raw.execute("UPDATE audit SET principal = 'mallory' WHERE seq = ?", (victim,))
    broken = runner.invoke(main, ["audit", "verify", "--database", db_url])
    assert broken.exit_code == 1 and f"BROKEN at entry {victim}" in broken.output


async def test_rate_limit_per_key(db_url: str) -> None:
    engine = await Engine.open(db_url, config(rate_limit={"per_second": 1, "burst": 5}))
    try:
        async with await http(engine) as api:
            noisy = await key(engine, "noisy", Role.REPORTER)
            quiet = await key(engine, "quiet", Role.REPORTER)
            body = {
                "deployment_id": "d",
                "service": "api",
                "environment": "dev",
                "status": "success",
                "happened_at": BASE.isoformat(),
            }
            answers = [
                await api.post("/api/deployments", json=body, headers=noisy) for _ in range(50)
            ]
            codes = [a.status_code for a in answers]
            assert codes[:5] == [201] * 5 and codes.count(429) >= 44
            for answer in answers:
                if answer.status_code == 429:
                    assert int(answer.headers["Retry-After"]) >= 1
                    assert answer.json()["type"] == PROBLEM + "rate-limited"
            assert (await api.post("/api/deployments", json=body, headers=quiet)).status_code == 201
    finally:
        await engine.close()


async def test_keys_with_scopes_from_the_cli(db_url: str) -> None:
    runner = CliRunner()
    created = await asyncio.to_thread(
        runner.invoke,
        main,
        [
            "keys",
            "create",
            "--database",
            db_url,
            "--name",
            "ops",
            "--role",
            "deployer",
            "--services",
            "api,web",
            "--environments",
            "dev",
        ],
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    engine = await Engine.open(db_url, config())
    try:
        async with await http(engine) as api:
            who = (await api.get("/api/whoami", headers={"X-Api-Key": token})).json()
            assert (who["services"], who["environments"]) == (["api", "web"], ["dev"])
    finally:
        await engine.close()
    listed = runner.invoke(main, ["keys", "list", "--database", db_url])
    assert "services=api,web environments=dev" in listed.output
    assert json.dumps(who)


async def test_revoked_key_is_refused_once_the_cache_lapses(
    api: httpx.AsyncClient, engine: Engine
) -> None:
    from shipdeck.domain import to_micros, utc_now
    from shipdeck.engine.keys import KEY_CACHE_S

    principal, token = await engine.keys.create("temp", Role.DEPLOYER)
    headers = {"X-Api-Key": token}
    assert (await api.get("/api/whoami", headers=headers)).status_code == 200  # cached now
    assert principal.key_id is not None
    assert engine.store.revoke_key(principal.key_id, to_micros(utc_now()))
    await asyncio.sleep(KEY_CACHE_S + 0.05)  # KEY_CACHE_S < 1 s: "refused within a second"
    assert KEY_CACHE_S < 1.0
    problem(await api.get("/api/whoami", headers=headers), 401, "unauthorized")
    body = {"service": "api", "environment": "dev", "version": "1"}
    problem(await api.post("/api/deploys", json=body, headers=headers), 401, "unauthorized")
