"""RFC 3339 with a mandatory offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shipdeck.domain import format_rfc3339, parse_rfc3339, to_micros


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-28T10:14:02Z", "2026-05-28T10:14:02Z"),
        ("2026-05-28T12:14:02+02:00", "2026-05-28T10:14:02Z"),
        ("2026-05-28t10:14:02.5z", "2026-05-28T10:14:02.5Z"),
        ("2026-05-28T10:14:02.123456789-01:30", "2026-05-28T11:44:02.123456Z"),
        # Years before 1000 keep four digits (strftime's `%Y` drops them on Linux).
        ("0005-01-01T01:00:00+01:00", "0005-01-01T00:00:00Z"),
    ],
)
def test_parse_and_normalise_to_utc(text: str, expected: str) -> None:
    assert format_rfc3339(parse_rfc3339(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-28T10:14:02",
        "2026-05-28",
        "2026-13-28T10:14:02Z",
        "yesterday",
        "2026-05-28 10:14Z",
        "2026-05-28T10:14:02Z\n",  # matched in full
        "٢٠٢٦-05-28T10:14:02Z",  # ASCII digits only
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    ],
)
def test_refuses_text_without_an_offset_or_not_a_date(text: str) -> None:
    with pytest.raises(ValueError, match="timezone"):
        parse_rfc3339(text)


def test_micros_sort_key() -> None:
    assert to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
