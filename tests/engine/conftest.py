"""Fixtures of the engine suite."""

from __future__ import annotations

import pytest

from ..conftest import BACKENDS, backend_url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> str:
    """Every test of this suite runs on SQLite and on PostgreSQL."""
    return backend_url(request)
