"""Key verification on both backends: requests in flight together with one token read the
store once; a request that goes away does not fail the others; a key changed meanwhile is
read anew."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from shipdeck.domain import Role, to_micros, utc_now
from shipdeck.engine import Engine
from shipdeck.engine.keys import Principal


def count_reads(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The key ids the store is asked for, as they are asked (the real store answers)."""
    asked: list[str] = []
    find_key: Callable[[str], Any] = engine.store.find_key

    def counted(key_id: str) -> Any:
        asked.append(key_id)
        return find_key(key_id)

    monkeypatch.setattr(engine.store, "find_key", counted)
    return asked


async def test_requests_in_flight_together_read_a_key_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal, token = await engine.keys.create("ci", Role.DEPLOYER)
    asked = count_reads(engine, monkeypatch)
    answers = await asyncio.gather(*(engine.keys.authenticate(token) for _ in range(32)))
    assert answers == [principal] * 32
    assert asked == [principal.key_id]
    engine.keys.forget()  # as when the cache lapses under load
    answers = await asyncio.gather(*(engine.keys.authenticate(token) for _ in range(32)))
    assert answers == [principal] * 32
    assert asked == [principal.key_id] * 2


async def test_a_request_that_goes_away_leaves_the_others_their_answer(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal, token = await engine.keys.create("ci", Role.DEPLOYER)
    asked = count_reads(engine, monkeypatch)
    first = asyncio.create_task(engine.keys.authenticate(token))
    others = [asyncio.create_task(engine.keys.authenticate(token)) for _ in range(5)]
    await asyncio.sleep(0)
    first.cancel()
    assert await asyncio.gather(*others) == [principal] * 5
    assert asked == [principal.key_id]


async def test_a_key_revoked_during_a_read_is_read_anew(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal, token = await engine.keys.create("ci", Role.DEPLOYER)
    assert principal.key_id is not None
    find_key = engine.store.find_key
    release = threading.Event()
    entered = threading.Event()

    def slow(key_id: str) -> Any:
        record = find_key(key_id)  # read before the revocation
        entered.set()
        release.wait(10)
        return record

    monkeypatch.setattr(engine.store, "find_key", slow)
    before: asyncio.Task[Principal | None] = asyncio.create_task(engine.keys.authenticate(token))
    await asyncio.to_thread(entered.wait, 10)
    assert engine.store.revoke_key(principal.key_id, to_micros(utc_now()))
    engine.keys.forget()  # what the revocation's notice does on every replica
    monkeypatch.setattr(engine.store, "find_key", find_key)
    assert await engine.keys.authenticate(token) is None  # not joined to the older read
    release.set()
    assert await before == principal  # it began before the revocation
    assert await engine.keys.authenticate(token) is None  # and its answer was not cached
