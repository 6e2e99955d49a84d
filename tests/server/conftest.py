"""In-process HTTP client over the app (for non-streaming requests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from shipdeck.domain import Role
from shipdeck.engine import Engine
from shipdeck.server import create_app

from ..conftest import BACKENDS, backend_url


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process (no lifespan: the engine is given)."""
    app = create_app(engine)
    app.state.engine = engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://shipdeck.test") as c:
        yield c


@pytest.fixture
async def reporter_key(engine: Engine) -> str:
    """A reporter's key on the fixture engine."""
    _, token = await engine.keys.create("ci", Role.REPORTER)
    return token


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test of this suite runs on SQLite and on PostgreSQL."""
    return backend_url(request)
