"""Opaque pagination cursors: a keyset position, base64url-encoded."""

from __future__ import annotations

import base64
import binascii
import json

from .errors import InvalidRequest

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def encode_cursor(happened_at: int, row_id: str) -> str:
    """The cursor that resumes listing after the row `(happened_at, row_id)`."""
    raw = json.dumps([happened_at, row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The keyset position a cursor names.

    Raises:
        InvalidRequest: the cursor was not made by `encode_cursor`.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        value = None
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
        and _INT64_MIN <= value[0] <= _INT64_MAX  # the store's integer range
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    raise InvalidRequest(
        "cursor is not one this server issued: pass next_cursor from a previous page",
        pointer="/cursor",
    )


MAX_PAGE = 500
"""The largest page any listing returns."""


def check_limit(limit: int) -> None:
    """Refuse a page size outside 1..`MAX_PAGE`.

    Raises:
        InvalidRequest: the limit is out of range.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", pointer="/limit")
