"""The matrix index and windows: what they say is what the whole matrix says, on both backends.

The index (every service, its last change, the counts) is checked against the whole matrix
of the same moment, and a service's last change against what the dashboard's model computes
from that matrix; windows and pages are checked row for row against it while rows arrive.
"""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipdeck.domain import (
    DeploymentEventIngest,
    Matrix,
    Status,
    fuzzy_match,
    fuzzy_pattern,
    parse_rfc3339,
    to_micros,
)
from shipdeck.engine import Engine, InvalidRequest
from shipdeck.engine.matrix import MatrixQuery
from shipdeck.engine.matrix_index import CURSOR_PATTERN, decode_cursor, encode_cursor
from shipdeck.tui.model import MatrixModel

BASE = datetime(2026, 3, 1, tzinfo=UTC)
ENVIRONMENTS = ["dev", "qa", "staging", "prod", "zeta"]


def estate(count: int) -> list[str]:
    """Service names with shared letters (so filters keep some and drop others)."""
    words = ["api", "web", "ledger", "search", "Cart", "auth"]
    return [f"{words[i % len(words)]}-{i:03d}" for i in range(count)]


def random_row(rnd: random.Random, n: int, services: list[str]) -> DeploymentEventIngest:
    return DeploymentEventIngest.model_validate_json(
        json.dumps(
            {
                "deployment_id": f"d-{n}",
                "service": rnd.choice(services),
                "environment": rnd.choice(ENVIRONMENTS),
                "status": rnd.choice(list(Status)).value,
                # Few distinct times: ties and late rows are common.
                "happened_at": (BASE + timedelta(seconds=rnd.randint(0, 40))).isoformat(),
                "version": f"1.{n}",
            }
        )
    )


async def ingest(engine: Engine, rnd: random.Random, services: list[str], rows: int) -> None:
    for _ in range(rows):
        await engine.ingest(random_row(rnd, rnd.randrange(10**9), services))


def full_rows(body: bytes) -> dict[str, Any]:
    return {row["service"]: row["slots"] for row in json.loads(body)["rows"]}


async def expected_index(engine: Engine, sort: str, q: str | None) -> dict[str, Any]:
    """The index as the whole matrix implies it (last changes as the dashboard's model)."""
    document = await engine.matrix.document()
    matrix = Matrix.model_validate_json(document.body)
    changes = MatrixModel.from_matrix(matrix).last_change
    names = sorted(row.service for row in matrix.rows if not q or fuzzy_match(q, row.service))
    if sort == "change":
        names.sort(key=lambda name: (-changes[name], name))
    counts: dict[str, dict[str, int]] = {}
    for row in matrix.rows:
        if row.service in names:
            for env, slot in row.slots.items():
                by_status = counts.setdefault(env, {})
                by_status[slot.current.status.value] = (
                    by_status.get(slot.current.status.value, 0) + 1
                )
    return {
        "seq": document.seq,
        "environments": matrix.environments,
        "total": len(names),
        "counts": counts,
        "services": [(name, changes[name]) for name in names],
    }


def served_index(body: bytes) -> dict[str, Any]:
    doc = json.loads(body)
    return {
        "seq": doc["seq"],
        "environments": doc["environments"],
        "total": doc["total"],
        "counts": doc["counts"],
        "services": [
            (item["service"], to_micros(parse_rfc3339(item["last_change"])))
            for item in doc["services"]
        ],
    }


async def page_through(engine: Engine, sort: str, q: str | None, limit: int) -> list[Any]:
    """Every page of the index, following `next_cursor` to the end."""
    seen: list[Any] = []
    cursor = None
    for _ in range(1000):
        doc = json.loads((await engine.matrix.index(sort, q, limit, cursor)).body)
        assert len(doc["services"]) <= limit
        seen += [item["service"] for item in doc["services"]]
        cursor = doc["next_cursor"]
        if cursor is None:
            return seen
        assert len(doc["services"]) == limit
    raise AssertionError("paging did not end")


# -- the index equals the whole matrix ------------------------------------------------------


async def test_index_is_what_the_whole_matrix_implies(engine: Engine) -> None:
    rnd = random.Random(0)
    services = estate(30)
    for _ in range(8):  # the index is refreshed between batches: kept up incrementally
        await ingest(engine, rnd, services, 25)
        for sort in ("name", "change"):
            for q in (None, "", "a", "ap0", "CART", "zzz", rnd.choice(services)[1:4]):
                served = served_index((await engine.matrix.index(sort, q)).body)
                assert served == await expected_index(engine, sort, q), (sort, q)
            # What the in-process dashboard loads first: the same, from one aggregate.
            overview, expected = (
                await engine.matrix.overview(sort),
                await expected_index(engine, sort, None),
            )
            assert overview.services == expected["services"], sort
            assert overview.environments == expected["environments"]
    # Every service's last change as the dashboard computes it from /api/matrix.
    matrix = await engine.matrix.get()
    changes = MatrixModel.from_matrix(matrix).last_change
    page = await engine.matrix.index_page("change")
    assert {entry.service: entry.last_change for entry in page.services} == changes
    assert page.total == len(matrix.rows) == len(changes)


async def test_a_fresh_engine_builds_the_same_index(engine: Engine, db_url: str) -> None:
    rnd = random.Random(11)
    services = estate(40)
    for _ in range(5):
        await ingest(engine, rnd, services, 30)
        await engine.matrix.index("change")  # kept up as rows arrive
    fresh = await Engine.open(db_url)
    try:
        for sort in ("name", "change"):
            for q in (None, "eb"):
                kept = (await engine.matrix.index(sort, q)).body.split(b',"seq"')[1]
                built = (await fresh.matrix.index(sort, q)).body.split(b',"seq"')[1]
                assert kept == built
    finally:
        await fresh.close()


async def test_paging_gives_every_service_once(engine: Engine) -> None:
    rnd = random.Random(5)
    services = estate(23)
    await ingest(engine, rnd, services, 120)
    for sort in ("name", "change"):
        for q in (None, "e", "a-0"):
            expected = [name for name, _ in (await expected_index(engine, sort, q))["services"]]
            for limit in (1, 2, 5, 22, 23, 100):
                assert await page_through(engine, sort, q, limit) == expected, (sort, q, limit)


# -- windows and pages equal the whole matrix, while rows arrive ----------------------------


async def test_any_window_filter_and_order_shows_what_the_whole_matrix_shows(
    engine: Engine,
) -> None:
    rnd = random.Random(100)
    services = estate(25)
    cursors: list[str] = []
    for _ in range(150):
        await ingest(engine, rnd, services, rnd.randint(1, 4))  # live rows in between
        document = await engine.matrix.document()
        full = full_rows(document.body)
        changes = MatrixModel.from_matrix(Matrix.model_validate_json(document.body)).last_change
        kind = rnd.choice(["window", "page", "page", "index"])
        if kind == "window":
            wanted = rnd.sample([*services, "nope", "x-1"], rnd.randint(1, 12))
            body = json.loads((await engine.matrix.window(wanted)).body)
            names = [row["service"] for row in body["rows"]]
            assert names == sorted(name for name in set(wanted) if name in full)
        else:
            sort = rnd.choice(["name", "change"])
            q = rnd.choice([None, "a", "e-0", "rt", rnd.choice(services)[-3:]])
            limit = rnd.choice([None, 1, 3, 8])
            cursor = rnd.choice([None, None, *cursors[-3:]])
            if kind == "index":
                doc = json.loads((await engine.matrix.index(sort, q, limit, cursor)).body)
                names = [item["service"] for item in doc["services"]]
            else:
                query = MatrixQuery(sort=sort, q=q, limit=limit, cursor=cursor)
                body = json.loads((await engine.matrix.select(query)).body)
                names = [row["service"] for row in body["rows"]]
                doc = body
            expected = [name for name, _ in (await expected_index(engine, sort, q))["services"]]
            start = 0
            if cursor is not None:  # a position, perhaps from before the latest rows
                at, after = decode_cursor(cursor)
                if sort == "name":
                    start = sum(1 for name in expected if name <= after)
                else:
                    start = sum(1 for n in expected if (-changes[n], n) <= (-at, after))
            stop = len(expected) if limit is None else start + limit
            assert names == expected[start:stop], (sort, q, limit, cursor)
            if limit is not None or cursor is not None:
                assert doc["total"] == len(expected)
                assert (doc["next_cursor"] is None) == (stop >= len(expected))
                if doc["next_cursor"] is not None:
                    cursors.append(doc["next_cursor"])
            else:
                assert "next_cursor" not in doc or kind == "index"
            if kind == "index":
                continue
        rows = {row["service"]: row["slots"] for row in body["rows"]}
        assert rows == {name: full[name] for name in names}


async def test_a_window_reads_only_its_services(engine: Engine, db_url: str) -> None:
    rnd = random.Random(3)
    services = estate(20)
    await ingest(engine, rnd, services, 150)
    fresh = await Engine.open(db_url)
    try:
        wanted = services[3:9]
        window = await fresh.matrix.window(wanted)
        # No fragment of the whole matrix was built: only these services were read.
        assert fresh.matrix._fragments._by_service == {}
        whole = full_rows((await engine.matrix.document()).body)
        assert full_rows(window.body) == {name: whole[name] for name in wanted if name in whole}
        head = json.loads(window.body)
        assert (
            head["environments"]
            == json.loads((await engine.matrix.document()).body)["environments"]
        )
    finally:
        await fresh.close()


async def test_the_default_matrix_is_unchanged(engine: Engine) -> None:
    rnd = random.Random(8)
    await ingest(engine, rnd, estate(12), 80)
    engine.clock = lambda: BASE
    plain = await engine.matrix.document()
    assert (await engine.matrix.select(MatrixQuery())).body == plain.body
    one = await engine.matrix.document("api-000")
    assert (await engine.matrix.select(MatrixQuery(service="api-000"))).body == one.body
    assert (await engine.matrix.select(MatrixQuery(q=""))).body == plain.body


# -- the store's reads ----------------------------------------------------------------------


async def test_store_reads_the_light_columns_and_named_slots(engine: Engine) -> None:
    rnd = random.Random(9)
    services = estate(15)
    await ingest(engine, rnd, services, 100)
    store = engine.store
    slots = store.slots()
    expected = sorted(
        (
            s.service,
            s.environment,
            s.state.current.status.value,
            max(s.state.current.happened_at, (s.state.latest_other or s.state.current).happened_at),
            s.changed_seq,
        )
        for s in slots
        if s.state.current is not None
    )
    assert sorted(store.slot_summaries()) == expected
    middle = sorted(s.changed_seq for s in slots)[len(slots) // 2]
    assert sorted(store.slot_summaries(changed_after=middle)) == [
        row for row in expected if row[4] > middle
    ]
    wanted = [*services[2:5], "unknown", services[2]]
    named = sorted((s.service, s.environment, s.state) for s in store.service_slots(wanted))
    assert named == sorted(
        (s.service, s.environment, s.state) for s in slots if s.service in wanted
    )
    many = [f"s-{i}" for i in range(1200)] + services  # past one `IN (…)`
    assert len(store.service_slots(many)) == len(slots)


# -- refusals -------------------------------------------------------------------------------


BAD: list[dict[str, Any]] = [
    {"sort": "newest"},
    {"limit": 0},
    {"limit": 100_001},
    {"cursor": "abc"},
    {"cursor": "1.abc"},
    {"cursor": "1.AB"},
    {"cursor": "1.ab\n"},
    {"q": "x" * 257},
]


async def test_an_empty_store_and_bad_parameters(engine: Engine) -> None:
    doc = json.loads((await engine.matrix.index()).body)
    assert (doc["total"], doc["services"], doc["counts"], doc["next_cursor"]) == (0, [], {}, None)
    assert (await engine.matrix.overview("change")).services == []
    with pytest.raises(InvalidRequest):
        await engine.matrix.overview("newest")
    assert json.loads((await engine.matrix.window(["a", "b"])).body)["rows"] == []
    for kwargs in BAD:
        with pytest.raises(InvalidRequest):
            await engine.matrix.index(**kwargs)
        with pytest.raises(InvalidRequest):
            await engine.matrix.select(MatrixQuery(**kwargs))


# -- the pure parts -------------------------------------------------------------------------

NAME_CHARS = st.characters(codec="utf-8") | st.sampled_from(list("aAbB-.*+?[]^$\\(){}|İıßẞ"))


@settings(max_examples=400, deadline=None)
@given(
    query=st.text(NAME_CHARS, max_size=6),
    name=st.text(NAME_CHARS, max_size=20),
)
def test_the_fuzzy_pattern_is_fuzzy_match(query: str, name: str) -> None:
    assert (fuzzy_pattern(query).match(name.lower()) is not None) == fuzzy_match(query, name)


def test_the_fuzzy_pattern_is_linear() -> None:
    # A pattern that backtracks would take ages here (`a.*?a.*?…` against `aaa…b`).
    name = "a" * 5000 + "b"
    assert fuzzy_pattern("a" * 200 + "c").match(name) is None
    assert fuzzy_pattern(string.ascii_lowercase).match(name) is None


@settings(max_examples=300, deadline=None)
@given(at=st.integers(-(2**62), 2**62), name=st.text(st.characters(codec="utf-8")))
def test_a_cursor_names_its_position(at: int, name: str) -> None:
    cursor = encode_cursor(at, name)
    assert decode_cursor(cursor) == (at, name)


@settings(max_examples=100, deadline=None)
@given(cursor=st.from_regex(CURSOR_PATTERN, fullmatch=True))
def test_every_text_of_the_cursor_form_is_a_position(cursor: str) -> None:
    at, name = decode_cursor(cursor)
    assert isinstance(at, int)
    assert isinstance(name, str)
