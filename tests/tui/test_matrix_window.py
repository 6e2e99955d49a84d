"""The windowed matrix: the TUI loads the index, then only the rows in view.

What a window shows must be what the whole matrix shows for those rows, whatever the
window, the filter and the order, with live rows arriving meanwhile (those for rows not
loaded yet are replayed when the rows come).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from shipdeck.client import DeploymentArrived, EngineClient, MatrixIndex, MatrixWindow
from shipdeck.client.embedded import EmbeddedClient
from shipdeck.client.remote import RemoteClient
from shipdeck.domain import DeploymentEventIngest, Status
from shipdeck.engine import Engine, EngineConfig
from shipdeck.tui.model import (
    MatrixModel,
    fuzzy_match,
    last_successful,
    matcher,
    previous_failed,
    upcoming,
)
from shipdeck.tui.widgets.matrix_grid import LOADING, MatrixGrid
from tests.conftest import create_key

from .conftest import NOW, make_app, screen_text, wait_for

ENVS = ["dev", "qa", "prod"]
STATUSES = ["queued", "in-progress", "success", "failure", "success", "success"]


def body(rng: random.Random, services: list[str], step: int) -> DeploymentEventIngest:
    """A random row: late or on time, any status, in any slot."""
    late = rng.random() < 0.2
    return DeploymentEventIngest(
        deployment_id=f"d-{rng.randrange(step + 1)}",
        service=rng.choice(services),
        environment=rng.choice(ENVS),
        status=Status(rng.choice(STATUSES)),
        version=f"1.{step}",
        happened_at=NOW - timedelta(minutes=rng.randrange(600) if late else 0, seconds=-step),
    )


def services_of(count: int) -> list[str]:
    return [f"svc-{index:04d}" for index in range(count)]


async def seeded(url: str, rng: random.Random, services: list[str], rows: int) -> None:
    engine = await Engine.open(url, EngineConfig())
    try:
        for step in range(rows):
            await engine.ingest(body(rng, services, step))
    finally:
        await engine.close()


def view(model: MatrixModel, service: str, env: str) -> tuple[object, ...] | None:
    """What the matrix shows of one slot: current, next, last successful, prev_failed."""
    cell = model.cell(service, env)
    if cell is None or (cell.current is None and upcoming(cell) is None):
        return None

    def ident(event: object) -> object:
        return None if event is None else (event.id, event.status)  # type: ignore[attr-defined]

    current = None if cell.current is None else cell.current.ref
    return (
        ident(current),
        ident(upcoming(cell)),
        ident(last_successful(cell)),
        previous_failed(cell),
    )


async def follow(client: EngineClient, model_of: list[MatrixModel]) -> None:
    """Fold every live row into the model in use (as the app does)."""
    async for item in client.feed():
        if isinstance(item, DeploymentArrived):
            model_of[0].apply(item.event, item.seq)


def order(index: MatrixIndex, query: str) -> list[str]:
    return [name for name in index.services if not query or fuzzy_match(query, name)]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_any_window_shows_what_the_whole_matrix_shows(sqlite_url: str, seed: int) -> None:
    rng = random.Random(seed)
    services = services_of(40)
    await seeded(sqlite_url, rng, services, 300)
    client = EmbeddedClient(sqlite_url)
    await client.start()
    try:
        model = MatrixModel.from_index(await client.matrix_index())
        assert model.windowed and not model.cells
        holder = [model]
        follower = asyncio.create_task(follow(client, holder))
        await asyncio.sleep(0.05)
        engine = client.engine
        for step in range(300, 520):
            roll = rng.random()
            if roll < 0.6:
                await engine.ingest(body(rng, services, step))
            elif roll < 0.9:
                sort = rng.choice(["name", "change"])
                query = rng.choice(["", "1", "svc-00", "s3", "9"])
                names = order(await client.matrix_index(sort), query)
                start = rng.randrange(max(1, len(names)))
                window = names[start : start + rng.randrange(1, 12)]
                missing = model.missing(window)
                if missing:
                    fetched = await client.matrix_window(missing)
                    await asyncio.sleep(rng.choice([0, 0, 0.01]))  # rows land meanwhile
                    assert model.load(fetched, missing)
            else:
                await asyncio.sleep(0.01)
        head = engine.head
        await wait_for_head(model, head)
        whole = MatrixModel.from_matrix(await client.matrix())
        loaded = [name for name in services if model.loaded(name)]
        assert loaded, "the walk loaded no window"
        for name in loaded:
            for env in ENVS:
                shown, expected = view(model, name, env), view(whole, name, env)
                if expected is None:
                    # The contract's matrix has no slot without a current row; live, a slot
                    # with only a queued row shows it as next (the TUI always did).
                    assert shown is None or shown[0] is None, (name, env, shown)
                else:
                    assert shown == expected, (name, env)
        assert model.services() == whole.services()
        assert model.last_change == whole.last_change
        # The engine's order by last change is the one the whole matrix implies.
        by_change = await client.matrix_index("change")
        expected = sorted(whole.services(), key=lambda s: (-whole.last_change[s], s))
        assert by_change.services == expected
        follower.cancel()
    finally:
        await client.close()


async def wait_for_head(model: MatrixModel, head: int) -> None:
    async with asyncio.timeout(10):
        while not model.recent or model.recent[-1][0] < head:  # noqa: ASYNC110  # a plain model
            await asyncio.sleep(0.01)


def test_matcher_is_fuzzy_match() -> None:
    rng = random.Random(7)
    alphabet = "abcdef-1A"
    for _ in range(3000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
        query = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4)))
        assert matcher(query)(name) == fuzzy_match(query, name), (query, name)


async def test_model_keeps_the_order_by_change_as_rows_arrive(sqlite_url: str) -> None:
    rng = random.Random(4)
    services = services_of(30)
    await seeded(sqlite_url, rng, services, 120)
    client = EmbeddedClient(sqlite_url)
    await client.start()
    try:
        model = MatrixModel.from_index(await client.matrix_index())
        model.set_order_by_change(await client.matrix_index("change"))
        # Half loaded: for those, last changes are counted as the engine counts them (only
        # in slots with a current row); for the rest, as rows come. Loaded later, exact.
        half = model.names[::2]
        assert model.load(await client.matrix_window(half), half)
        holder = [model]
        follower = asyncio.create_task(follow(client, holder))
        await asyncio.sleep(0.05)
        for step in range(120, 200):
            await client.engine.ingest(body(rng, [*services, "new-one"], step))
        await wait_for_head(model, client.engine.head)
        rest = model.missing(model.names)
        assert rest and model.load(await client.matrix_window(rest), rest)
        fresh = await client.matrix_index("change")
        assert model.by_change is not None
        assert [name for _, name in model.by_change] == fresh.services
        assert model.names == sorted(fresh.services)
        follower.cancel()
    finally:
        await client.close()


@pytest.fixture
async def big_estate(sqlite_url: str) -> AsyncIterator[str]:
    """600 services × 3 environments: a few screens, far more than the first window."""
    await seeded(sqlite_url, random.Random(9), services_of(600), 2400)
    yield sqlite_url


def _grid(app: object) -> MatrixGrid:
    return app.screen.query_one(MatrixGrid)  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("remote", [False, True], ids=["embedded", "remote"])
async def test_the_tui_loads_rows_as_they_scroll_into_view(
    big_estate: str, server_factory: type, remote: bool
) -> None:
    client: EngineClient
    if remote:
        server = server_factory(big_estate).start()
        client = RemoteClient(server.url)
    else:
        client = EmbeddedClient(big_estate)
    asked: list[list[str]] = []
    fetch = client.matrix_window

    async def recorded(services: list[str]) -> MatrixWindow:
        asked.append(list(services))
        return await fetch(services)

    client.matrix_window = recorded  # type: ignore[method-assign]
    app = make_app(client)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.matrix.names and "svc-0000" in screen_text(app))
        # Only what is near the screen was loaded, and it was painted without placeholders.
        assert len(app.matrix.cells) < 200
        assert LOADING not in screen_text(app)
        # The first paint waited for the rows on screen only; a screenful below came next.
        grid = _grid(app)
        # (The grid's height then: the panel under it may take a few of its rows since.)
        assert asked[0] == grid.services[: len(asked[0])]
        assert grid.size.height <= len(asked[0]) < 2 * grid.size.height
        await wait_for(pilot, lambda: all(map(app.matrix.loaded, grid.window())))
        # The rows around came a screenful per request (each is read on the UI's loop).
        assert len(asked) > 2
        assert all(len(services) < 2 * grid.size.height for services in asked)
        # A live row for a service far off screen, then scrolled to: its current state.
        await ingest_through(client, big_estate, "svc-0599", "prod", "9.9.9")
        await wait_for(pilot, lambda: app.matrix.last_change.get("svc-0599", 0) > 0)
        await pilot.press("G")
        await wait_for(pilot, lambda: app.matrix.loaded("svc-0599"))
        await wait_for(pilot, lambda: "9.9.9" in screen_text(app))
        assert _grid(app).focused_slot[0] == "svc-0599"
        # Filter: one keystroke at a time, on names the TUI has not loaded cells of.
        await pilot.press("/", "0", "4", "2")
        await wait_for(pilot, lambda: _grid(app).services[:1] == ["svc-0042"])
        await pilot.press("enter", "escape")
        # Sort by last change: the engine's order, the newest row first.
        await pilot.press("s")
        await wait_for(pilot, lambda: _grid(app).services[:1] == ["svc-0599"])
        await pilot.press("g")  # the cursor stayed on its service; to the top
        await wait_for(pilot, lambda: "9.9.9" in screen_text(app))
        await wait_for(pilot, lambda: LOADING not in screen_text(app).split("─" * 20)[0])


async def ingest_through(client: EngineClient, url: str, service: str, env: str, version: str):
    """Ingest a row as CI would: through the server when remote, the engine when embedded."""
    row = DeploymentEventIngest(
        deployment_id="late-1",
        service=service,
        environment=env,
        status=Status.SUCCESS,
        version=version,
        happened_at=NOW + timedelta(hours=1),
    )
    if isinstance(client, EmbeddedClient):
        await client.engine.ingest(row)
        return
    import httpx

    assert isinstance(client, RemoteClient)
    async with httpx.AsyncClient(base_url=client.current_url) as http:
        answer = await http.post(
            "/api/deployments",
            headers={"X-Api-Key": create_key(url)},
            content=row.model_dump_json(exclude_none=True),
        )
        assert answer.status_code == 201, answer.text
