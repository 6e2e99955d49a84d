"""The matrix index and windows as both clients read them (`GET /api/matrix/services`).

The index body is parsed with `json.loads`, not a pydantic model: at 10,000 services it is
the one large read of a start, and plain dicts cost a fraction of validated models.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..domain import Matrix, rfc3339_micros, to_micros
from .base import MatrixIndex

WINDOW_LIMIT = 200
"""Services per window request (the server takes up to 500; URLs stay short)."""

_ETAG_SEQ = re.compile(r'(?:W/)?"[a-z]-(\d+)"')


def seq_of_etag(etag: str | None) -> int:
    """The event position in a shipdeck ETag (`W/"m-42"`); 0 when there is none."""
    match = _ETAG_SEQ.fullmatch(etag or "")
    return int(match.group(1)) if match else 0


def index_from_json(body: bytes | str) -> MatrixIndex:
    """The index from the body of `GET /api/matrix/services`.

    Raises:
        ValueError: the body is not such a document.
    """
    try:
        doc: dict[str, Any] = json.loads(body)
        items = doc["services"]
        services = [str(item["service"]) for item in items]
        last_change = {
            str(item["service"]): rfc3339_micros(item["last_change"])
            for item in items
            if item.get("last_change")
        }
        counts = {
            str(env): {str(k): int(v) for k, v in by_status.items()}
            for env, by_status in (doc.get("counts") or {}).items()
        }
        return MatrixIndex(
            int(doc.get("seq") or 0),
            [str(env) for env in doc["environments"]],
            services,
            last_change,
            counts,
        )
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a matrix index: {exc}") from exc


def index_from_matrix(matrix: Matrix, seq: int, sort: str) -> MatrixIndex:
    """The index of a whole matrix (an engine without the index sends the matrix)."""
    last_change: dict[str, int] = {}
    counts: dict[str, dict[str, int]] = {}
    for row in matrix.rows:
        newest = 0
        for env, slot in row.slots.items():
            newest = max(newest, to_micros(slot.current.happened_at))
            if slot.next is not None:
                newest = max(newest, to_micros(slot.next.happened_at))
            by_status = counts.setdefault(env, {})
            by_status[slot.current.status.value] = by_status.get(slot.current.status.value, 0) + 1
        last_change[row.service] = newest
    services = sorted(last_change)
    if sort == "change":
        services.sort(key=lambda name: -last_change[name])
    return MatrixIndex(seq, list(matrix.environments), services, last_change, counts, matrix)


def window_of(matrix: Matrix, services: list[str]) -> Matrix:
    """The rows of `services` in a whole matrix."""
    wanted = set(services)
    rows = [row for row in matrix.rows if row.service in wanted]
    return Matrix(generated_at=matrix.generated_at, environments=matrix.environments, rows=rows)


__all__ = ["WINDOW_LIMIT", "index_from_json", "index_from_matrix", "seq_of_etag", "window_of"]
