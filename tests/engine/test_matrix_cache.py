"""The matrix served while rows arrive equals the matrix of a fresh engine, and the log's."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from shipdeck.domain import (
    DeploymentEvent,
    DeploymentEventIngest,
    SlotEntry,
    Status,
    reduce_slot,
    to_micros,
    view_slot,
)
from shipdeck.engine import Engine

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def random_row(rnd: random.Random, n: int) -> DeploymentEventIngest:
    return DeploymentEventIngest.model_validate_json(
        json.dumps(
            {
                "deployment_id": f"d-{n}",
                "service": rnd.choice(["a", "b", "c"]),
                "environment": rnd.choice(["dev", "qa", "prod"]),
                "status": rnd.choice(list(Status)).value,
                # Few distinct times: ties and out-of-order arrivals are common.
                "happened_at": (BASE + timedelta(seconds=rnd.randint(0, 8))).isoformat(),
                "version": str(n),
            }
        )
    )


def matrix_from_log(docs: list[str]) -> dict[str, dict[str, dict[str, object]]]:
    """The contract's reduction of the whole log, computed from scratch."""
    slots: dict[tuple[str, str], list[SlotEntry[str]]] = {}
    for arrival, doc in enumerate(docs):
        event = DeploymentEvent.model_validate_json(doc)
        slots.setdefault((event.service, event.environment), []).append(
            SlotEntry(to_micros(event.happened_at), arrival, event.status, doc)
        )
    out: dict[str, dict[str, dict[str, object]]] = {}
    for (service, env), entries in slots.items():
        view = view_slot(reduce_slot(entries))
        if view is None:
            continue
        cell: dict[str, object] = {"current": json.loads(view.current)}
        if view.last_successful is not None:
            cell["last_successful"] = json.loads(view.last_successful)
        if view.next is not None:
            cell["next"] = json.loads(view.next)
        if view.prev_failed:
            cell["prev_failed"] = True
        out.setdefault(service, {})[env] = cell
    return out


def rows(body: bytes) -> dict[str, dict[str, object]]:
    return {row["service"]: row["slots"] for row in json.loads(body)["rows"]}


@pytest.mark.parametrize("seed", range(4))
async def test_served_matrix_equals_fresh_engine_and_log(
    engine: Engine, db_url: str, seed: int
) -> None:
    rnd = random.Random(seed)
    docs: list[str] = []
    for n in range(150):
        _, doc = await engine.ingest(random_row(rnd, n))
        docs.append(doc)
        if rnd.random() < 0.3:  # read in the middle of the stream, sometimes filtered
            service = rnd.choice([None, "a", "b"])
            served = rows((await engine.matrix.document(service)).body)
            expected = matrix_from_log(docs)
            if service is not None:
                expected = {k: v for k, v in expected.items() if k == service}
            assert served == expected
    fresh = await Engine.open(db_url)
    try:
        assert rows((await fresh.matrix.document()).body) == matrix_from_log(docs)
        assert (await fresh.matrix.document()).body.split(b',"rows"')[1] == (
            await engine.matrix.document()
        ).body.split(b',"rows"')[1]
    finally:
        await fresh.close()
