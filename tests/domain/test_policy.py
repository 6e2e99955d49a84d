"""Freeze windows and approval policies: boundaries, timezones, weekly recurrence over DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from shipdeck.domain import Role
from shipdeck.domain.policy import EnvironmentPolicy, FreezeWindow

BERLIN = ZoneInfo("Europe/Berlin")


def one_off(start: str, end: str) -> FreezeWindow:
    return FreezeWindow.model_validate({"name": "year-end", "start": start, "end": end})


def weekly(start: str, end: str, tz: str = "Europe/Berlin") -> FreezeWindow:
    return FreezeWindow.model_validate(
        {"name": "weekend", "from": start, "to": end, "timezone": tz}
    )


def test_one_off_start_inclusive_end_exclusive() -> None:
    window = one_off("2026-12-20T00:00:00+01:00", "2027-01-04T00:00:00+01:00")
    start = datetime(2026, 12, 19, 23, 0, tzinfo=UTC)  # = 00:00 in +01:00
    assert window.contains(start)
    assert not window.contains(start - timedelta(microseconds=1))
    end = datetime(2027, 1, 3, 23, 0, tzinfo=UTC)
    assert not window.contains(end)
    assert window.contains(end - timedelta(microseconds=1))


def test_weekly_window_wraps_over_the_weekend() -> None:
    window = weekly("fri 16:00", "mon 08:00")
    assert window.contains(datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN))  # friday 16:00
    assert not window.contains(datetime(2026, 11, 20, 15, 59, tzinfo=BERLIN))
    assert window.contains(datetime(2026, 11, 22, 12, 0, tzinfo=BERLIN))  # sunday
    assert window.contains(datetime(2026, 11, 23, 7, 59, tzinfo=BERLIN))  # monday morning
    assert not window.contains(datetime(2026, 11, 23, 8, 0, tzinfo=BERLIN))
    assert not window.contains(datetime(2026, 11, 25, 12, 0, tzinfo=BERLIN))  # wednesday


def test_weekly_window_follows_the_wall_clock_across_dst() -> None:
    window = weekly("sun 01:30", "sun 04:00")
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 → 03:00 (UTC+1 → UTC+2).
    assert window.contains(datetime(2026, 3, 29, 0, 30, tzinfo=UTC))  # 01:30 local (+01)
    assert window.contains(datetime(2026, 3, 29, 1, 59, tzinfo=UTC))  # 03:59 local (+02)
    assert not window.contains(datetime(2026, 3, 29, 2, 0, tzinfo=UTC))  # 04:00 local (+02)
    # A week later (summer time) 04:00 local is 02:00 UTC; 01:30 local is 23:30 UTC.
    assert window.contains(datetime(2026, 4, 4, 23, 30, tzinfo=UTC))
    assert not window.contains(datetime(2026, 4, 5, 2, 0, tzinfo=UTC))
    # And back in autumn (2026-10-25, 03:00 → 02:00): 04:00 local is 03:00 UTC.
    assert window.contains(datetime(2026, 10, 25, 2, 59, tzinfo=UTC))
    assert not window.contains(datetime(2026, 10, 25, 3, 0, tzinfo=UTC))


def test_weekly_window_in_another_timezone() -> None:
    window = weekly("fri 16:00", "fri 18:00", "America/New_York")
    assert window.contains(datetime(2026, 11, 20, 21, 0, tzinfo=UTC))  # 16:00 EST
    assert not window.contains(datetime(2026, 11, 20, 16, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "x"},
        {"name": "x", "start": "2026-01-01T00:00:00Z"},
        {"name": "x", "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"},
        {"name": "x", "start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00Z"},
        {"name": "x", "from": "friday 16:00", "to": "mon 08:00"},
        {"name": "x", "from": "fri 16:00", "to": "fri 16:00"},
        {"name": "x", "from": "fri 16:00", "to": "mon 08:00", "timezone": "Mars/Olympus"},
        {"name": "x", "from": "fri 16:00", "to": "mon 08:00", "start": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_windows_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        FreezeWindow.model_validate(fields)


def test_policy_approvers_and_summary() -> None:
    policy = EnvironmentPolicy(approvals_required=2, approvers=["approver", "carol"])
    assert policy.may_approve("anyone", Role.APPROVER)
    assert policy.may_approve("carol", Role.DEPLOYER)
    assert not policy.may_approve("dave", Role.ADMIN)
    assert policy.summary() == "2 approvals required from approver, carol (not the requester)"
    assert EnvironmentPolicy().summary() == "no approval required"
    frozen = EnvironmentPolicy(freeze=[weekly("fri 16:00", "mon 08:00")])
    assert frozen.active_freeze(datetime(2026, 11, 21, 12, 0, tzinfo=BERLIN)) is not None
    assert "weekend (every fri 16:00 to mon 08:00 Europe/Berlin)" in frozen.summary()


# -- the next freeze (the matrix announces it) -------------------------------------------


def test_the_next_freeze_is_the_earliest_to_start() -> None:
    policy = EnvironmentPolicy(
        freeze=[
            {
                "name": "weekend",
                "from": "fri 16:00",
                "to": "mon 08:00",
                "timezone": "Europe/Berlin",
            },
            {"name": "launch", "start": "2026-06-01T00:00:00Z", "end": "2026-06-02T00:00:00Z"},
        ]
    )
    thursday = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)
    window, start = policy.next_freeze(thursday) or (None, None)
    assert window is not None and window.name == "weekend"
    assert start == datetime(2026, 5, 29, 14, 0, tzinfo=UTC)  # 16:00 in Berlin (CEST)
    during = datetime(2026, 5, 29, 15, 0, tzinfo=UTC)  # the weekend froze: launch is next
    assert policy.next_freeze(during) == (policy.freeze[1], policy.freeze[1].start)
    assert policy.next_freeze(datetime(2026, 6, 3, tzinfo=UTC))[0].name == "weekend"  # type: ignore[index]


def test_a_weekly_freeze_starts_on_the_wall_clock_across_dst() -> None:
    window = FreezeWindow(
        name="weekend", weekly_from="fri 16:00", weekly_to="mon 08:00", timezone="Europe/Berlin"
    )
    winter = window.next_start(datetime(2026, 3, 1, tzinfo=UTC))
    summer = window.next_start(datetime(2026, 4, 1, tzinfo=UTC))
    assert winter is not None and summer is not None
    assert (winter.astimezone(UTC).hour, summer.astimezone(UTC).hour) == (15, 14)
    assert (
        FreezeWindow(
            name="once", start="2026-01-01T00:00:00Z", end="2026-01-02T00:00:00Z"
        ).next_start(datetime(2026, 5, 1, tzinfo=UTC))
        is None
    )
