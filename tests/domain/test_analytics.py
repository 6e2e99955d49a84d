"""The arithmetic of analytics: windows, histograms, bands and incidents (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shipdeck.domain.analytics import Classification, Severity
from shipdeck.domain.analytics_fold import (
    IncidentChange,
    IncidentSpan,
    Terminal,
    change_of,
    reduce_incidents,
)
from shipdeck.domain.analytics_math import (
    MINUTE_US,
    Histogram,
    bucket_of,
    classify_change_failure_rate,
    classify_frequency,
    classify_lead_time,
    classify_time_to_restore,
    resolve_window,
    severity,
    trend_delta,
)

NOW = datetime(2026, 6, 10, 12, 34, 56, tzinfo=UTC)


def histogram(*minutes: float) -> Histogram:
    found = Histogram()
    for value in minutes:
        duration = int(value * MINUTE_US)
        found.add(bucket_of(duration), 1, duration)
    return found


def test_a_window_ends_at_the_start_of_the_day_or_hour() -> None:
    week = resolve_window(NOW, "7d", 365)
    assert week.document.to == datetime(2026, 6, 10, tzinfo=UTC)
    assert week.document.from_ == datetime(2026, 6, 3, tzinfo=UTC)
    assert week.dates == tuple(date(2026, 6, day) for day in range(3, 10))
    assert not week.document.clamped
    hourly = resolve_window(NOW, "14d", 365, "hour")
    assert hourly.document.to == datetime(2026, 6, 10, 12, tzinfo=UTC)
    assert hourly.document.days == 14 and len(hourly.dates) == 14


def test_a_window_longer_than_the_retention_is_clamped() -> None:
    window = resolve_window(NOW, "30d", 10)
    assert (window.document.days, window.document.clamped) == (10, True)
    assert window.document.retention_days == 10 and len(window.dates) == 10


def test_percentiles_and_bins_of_durations() -> None:
    found = histogram(5, 10, 20, 30, 45)
    assert found.median() == pytest.approx(20 * MINUTE_US)
    assert found.p95() == pytest.approx(45 * MINUTE_US)  # nearest rank: the 5th of 5
    # An edge belongs to the bin above it: 10 min is 10-20, 30 min is 30-60.
    assert found.bin_counts() == [1, 1, 1, 2, 0, 0]
    even = histogram(10, 20, 30, 40)
    assert even.median() == pytest.approx(25 * MINUTE_US)  # the middle two, averaged
    assert Histogram().median() is None and Histogram().p95() is None


def test_close_durations_keep_their_order_and_equal_ones_their_value() -> None:
    # Buckets are 2 % wide: 5 % apart are two buckets, equal durations keep their value.
    found = histogram(60, 63, 63, 63, 200)
    assert found.median() == pytest.approx(63 * MINUTE_US)
    assert bucket_of(60 * MINUTE_US) < bucket_of(63 * MINUTE_US) < bucket_of(200 * MINUTE_US)


@pytest.mark.parametrize(
    ("per_day", "band"),
    [
        (None, "low"),
        (1.0, "elite"),
        (1 / 7, "high"),
        (0.99, "high"),
        (1 / 30, "medium"),
        (0.01, "low"),
    ],
)
def test_deployment_frequency_bands(per_day: float | None, band: str) -> None:
    assert classify_frequency(per_day) is Classification(band)


def test_the_other_bands() -> None:
    assert classify_lead_time(None) is Classification.LOW
    assert classify_lead_time(24) is Classification.ELITE
    assert classify_lead_time(24.5) is Classification.HIGH
    assert classify_lead_time(6 * 30 * 24 + 1) is Classification.LOW
    assert classify_change_failure_rate(None) is Classification.ELITE
    assert classify_change_failure_rate(0.15) is Classification.ELITE
    assert classify_change_failure_rate(0.3) is Classification.HIGH
    assert classify_change_failure_rate(0.99) is Classification.MEDIUM
    assert classify_change_failure_rate(1.0) is Classification.LOW
    assert classify_time_to_restore(None) is Classification.ELITE
    assert classify_time_to_restore(61) is Classification.HIGH
    assert classify_time_to_restore(7 * 24 * 60 + 1) is Classification.LOW


def test_severities_and_trends() -> None:
    assert [severity(m) for m in (None, 60, 61, 240, 241, 1440, 1441)] == [
        Severity.CRITICAL,
        Severity.LOW,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.HIGH,
        Severity.CRITICAL,
    ]
    assert trend_delta(3, 2) == pytest.approx(0.5)
    assert trend_delta(1, 0) is None and trend_delta(None, 1) is None


F1, S2, F3, F4, S5 = (
    Terminal(1, 1, True),
    Terminal(2, 2, False),
    Terminal(3, 3, True),
    Terminal(4, 4, True),
    Terminal(5, 5, False),
)


def test_incidents_of_a_timeline() -> None:
    assert reduce_incidents([F1, S2, F3, F4, S5]) == [
        IncidentSpan((1, 1), "", (2, 2)),
        IncidentSpan((3, 3), "", (5, 5)),
    ]
    assert reduce_incidents([S2, F3]) == [IncidentSpan((3, 3), "")]


@pytest.mark.parametrize(
    ("previous", "following", "row", "change"),
    [
        (None, None, F1, IncidentChange.OPEN),
        (F1, None, F3, IncidentChange.NONE),  # another failure of an open incident
        (S2, F3, Terminal(2, 9, True), IncidentChange.EARLIER),
        (F1, None, S2, IncidentChange.CLOSE),
        (F3, F4, Terminal(3, 9, False), IncidentChange.CLOSE),  # splits 3 → 5 in two
        (S2, None, S5, IncidentChange.NONE),  # a success while healthy
        (S2, S5, F3, IncidentChange.OPEN),  # a new incident that S5 ends
    ],
)
def test_what_one_terminal_row_changes(
    previous: Terminal | None, following: Terminal | None, row: Terminal, change: IncidentChange
) -> None:
    assert change_of(previous, following, row) is change
