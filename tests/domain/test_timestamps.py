"""RFC 3339 with a mandatory offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shipdeck.domain import format_rfc3339, parse_rfc3339, rfc3339_micros, to_micros


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
    with pytest.raises(ValueError, match="timezone"):
        rfc3339_micros(text)


def test_micros_sort_key() -> None:
    assert to_micros(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005


@settings(max_examples=300, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    offset=st.integers(-23 * 60 - 59, 23 * 60 + 59),
    digits=st.integers(0, 9),
)
def test_micros_of_text_is_micros_of_the_parsed_instant(
    moment: datetime, offset: int, digits: int
) -> None:
    """The fast path (what `format_rfc3339` writes) and every other form agree with
    `to_micros(parse_rfc3339(…))`."""
    written = format_rfc3339(moment)
    assert rfc3339_micros(written) == to_micros(parse_rfc3339(written)) == to_micros(moment)
    zone = f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    local = (moment + timedelta(minutes=offset)).replace(tzinfo=None).isoformat()
    fraction = f".{moment.microsecond:06d}{'7' * 3}"[: digits + 1] if digits else ""
    text = local.split(".")[0] + fraction + zone
    assert rfc3339_micros(text) == to_micros(parse_rfc3339(text))
