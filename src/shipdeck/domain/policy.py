"""Environment policies: approvals, who may approve, freeze windows, locks. Pure rules.

A freeze window is either one-off (`start` inclusive, `end` exclusive, both with an offset)
or weekly (`from`/`to` as `"fri 16:00"`, in a named timezone, start inclusive, end exclusive;
it may wrap over the week's end). Weekly windows are evaluated in local time of their
timezone, so "fri 16:00" stays 16:00 on the wall clock across daylight-saving changes.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, time, timedelta
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, available_timezones

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from .models import JsonInteger
from .roles import Role
from .timestamps import format_rfc3339, parse_rfc3339

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKLY_PATTERN = r"^(mon|tue|wed|thu|fri|sat|sun) ([01][0-9]|2[0-3]):([0-5][0-9])$"
"""A weekly time as the API documents it (the same text in Python and JSON Schema)."""
_WEEKLY = re.compile(WEEKLY_PATTERN)
MINUTES_PER_WEEK = 7 * 24 * 60
WINDOW_NAME_MAX = 100
MAX_EXPIRE_AFTER_HOURS = 10 * 366 * 24
"""Ten years: an instant that far ahead still fits the store's microsecond integers."""


@functools.cache
def timezone_names() -> tuple[str, ...]:
    """The IANA timezone names this host knows, sorted: exactly what `timezone` accepts."""
    return tuple(sorted(available_timezones()))


def _week_minute(text: str) -> int:
    match = _WEEKLY.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a weekly time; write it like 'fri 16:00'")
    day, hour, minute = match.groups()
    return DAYS.index(day) * 24 * 60 + int(hour) * 60 + int(minute)


def _freeze_window_schema(schema: dict[str, Any]) -> None:
    """The two kinds of window as a `oneOf` (pydantic would show one object of optionals).

    What JSON Schema cannot say is in the descriptions: a one-off window's `start` comes
    before its `end`, a weekly window's `from` differs from its `to`.
    """
    name = {"type": "string", "minLength": 1, "maxLength": WINDOW_NAME_MAX}
    instant = {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 with an offset, within years 0001 to 9999 in UTC.",
    }
    weekly = {
        "type": "string",
        "pattern": WEEKLY_PATTERN,
        "description": "A day and a time on the wall clock of `timezone`, e.g. `fri 16:00`.",
    }
    timezone = {
        "type": "string",
        "enum": list(timezone_names()),
        "default": "UTC",
        "description": "IANA name of the weekly window's timezone; one-off windows ignore it.",
    }
    absent = {"type": "null", "description": "Belongs to the other kind of window."}
    description = schema.get("description", "")
    schema.clear()
    schema["description"] = description
    schema["oneOf"] = [
        {
            "title": "OneOffFreezeWindow",
            "description": "From `start` (inclusive) to `end` (exclusive); `start` < `end`.",
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "start", "end"],
            "properties": {
                "name": name,
                "start": instant,
                "end": instant,
                "from": absent,
                "to": absent,
                "timezone": timezone,
            },
        },
        {
            "title": "WeeklyFreezeWindow",
            "description": "Every week from `from` (inclusive) to `to` (exclusive), which "
            "differ; `to` before `from` wraps over Sunday night.",
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "from", "to"],
            "properties": {
                "name": name,
                "from": weekly,
                "to": weekly,
                "timezone": timezone,
                "start": absent,
                "end": absent,
            },
        },
    ]


class FreezeWindow(BaseModel):
    """A time when deploys and promotions into an environment are refused."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        frozen=True,
        json_schema_extra=_freeze_window_schema,
    )

    name: Annotated[str, Field(min_length=1, max_length=WINDOW_NAME_MAX)]
    """Named in the refusal, e.g. `year-end` or `weekend`."""
    start: datetime | None = None
    """One-off: the first instant of the freeze (RFC 3339 with an offset)."""
    end: datetime | None = None
    """One-off: the first instant after it."""
    weekly_from: str | None = Field(default=None, alias="from")
    """Weekly: e.g. `fri 16:00` (local time of `timezone`)."""
    weekly_to: str | None = Field(default=None, alias="to")
    """Weekly: e.g. `mon 08:00`; before `from` means the window wraps over Sunday night."""
    timezone: str = "UTC"
    """IANA name of the weekly window's timezone, e.g. `Europe/Berlin`."""

    @field_validator("start", "end", mode="plain")
    @classmethod
    def _aware(cls, value: object) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError("must have a timezone offset")
            return value
        if isinstance(value, str):
            return parse_rfc3339(value)
        raise ValueError("must be an RFC 3339 date-time with an offset")

    @field_serializer("start", "end")
    def _text(self, value: datetime | None) -> str | None:
        return None if value is None else format_rfc3339(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        # Exactly the names the schema lists: ZoneInfo would also open odd files
        # (`posixrules`, `localtime`) that no document promises.
        if value not in timezone_names():
            raise ValueError(f"unknown timezone {value!r}; use an IANA name like Europe/Berlin")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        one_off = self.start is not None or self.end is not None
        weekly = self.weekly_from is not None or self.weekly_to is not None
        if one_off == weekly:
            raise ValueError("give either start and end, or from and to (weekly)")
        if one_off:
            if self.start is None or self.end is None or self.end <= self.start:
                raise ValueError("a one-off window needs start < end")
        else:
            if self.weekly_from is None or self.weekly_to is None:
                raise ValueError("a weekly window needs both from and to")
            if _week_minute(self.weekly_from) == _week_minute(self.weekly_to):
                raise ValueError("a weekly window cannot start and end at the same time")
        return self

    def contains(self, at: datetime) -> bool:
        """Whether `at` (timezone-aware) falls in the window (start in, end out)."""
        if self.start is not None and self.end is not None:
            return self.start <= at < self.end
        assert self.weekly_from is not None and self.weekly_to is not None
        local = at.astimezone(ZoneInfo(self.timezone))
        minute = local.weekday() * 24 * 60 + local.hour * 60 + local.minute
        begin, finish = _week_minute(self.weekly_from), _week_minute(self.weekly_to)
        if begin < finish:
            return begin <= minute < finish
        return minute >= begin or minute < finish

    def next_start(self, after: datetime) -> datetime | None:
        """The first instant of the window's next occurrence strictly after `after`
        (aware); `None` for a one-off window that began already."""
        if self.start is not None:
            return self.start if self.start > after else None
        assert self.weekly_from is not None
        zone = ZoneInfo(self.timezone)
        minute = _week_minute(self.weekly_from)
        local = after.astimezone(zone)
        monday = local.date() - timedelta(days=local.weekday())
        for week in (0, 1):
            day = monday + timedelta(days=minute // (24 * 60) + 7 * week)
            at = time(minute // 60 % 24, minute % 60)
            candidate = datetime.combine(day, at, tzinfo=zone)
            if candidate > after:
                return candidate
        raise AssertionError("a weekly window starts within two weeks")

    def describe(self) -> str:
        """The window in words, for a refusal."""
        if self.start is not None and self.end is not None:
            return f"{self.name} ({format_rfc3339(self.start)} to {format_rfc3339(self.end)})"
        return f"{self.name} (every {self.weekly_from} to {self.weekly_to} {self.timezone})"


class EnvironmentPolicy(BaseModel):
    """What an environment demands before something runs there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals_required: Annotated[int, JsonInteger] = Field(default=0, ge=0, le=20)
    """Distinct principals that must approve a promotion into it (0: none)."""
    self_approval: bool = False
    """Whether the requester of a promotion may approve it themselves."""
    approvers: list[str] = Field(default_factory=lambda: ["approver", "admin"])
    """Roles (`approver`, `admin`) or principal names allowed to approve."""
    expire_after_hours: float = Field(default=72.0, gt=0, le=MAX_EXPIRE_AFTER_HOURS)
    """A promotion still awaiting approval after this long expires (at most ten years)."""
    freeze: list[FreezeWindow] = Field(default_factory=list)
    """Freeze windows of the environment."""

    def may_approve(self, principal: str, role: Role) -> bool:
        """Whether a principal may approve promotions into the environment."""
        return role.value in self.approvers or principal in self.approvers

    def active_freeze(self, at: datetime) -> FreezeWindow | None:
        """The freeze window in force at `at`, if any."""
        return next((window for window in self.freeze if window.contains(at)), None)

    def next_freeze(self, at: datetime) -> tuple[FreezeWindow, datetime] | None:
        """The freeze window that starts next after `at`, and when, if any does."""
        starts = [
            (start, window)
            for window in self.freeze
            if (start := window.next_start(at)) is not None
        ]
        if not starts:
            return None
        start, window = min(starts, key=lambda pair: pair[0])
        return window, start

    def summary(self) -> str:
        """The policy in words."""
        if self.approvals_required == 0:
            words = "no approval required"
        else:
            who = ", ".join(self.approvers)
            n = self.approvals_required
            words = f"{n} approval{'s' if n != 1 else ''} required from {who}"
            words += "" if self.self_approval else " (not the requester)"
        if self.freeze:
            words += f"; freeze windows: {', '.join(w.describe() for w in self.freeze)}"
        return words


__all__ = ["DAYS", "WEEKLY_PATTERN", "EnvironmentPolicy", "FreezeWindow", "timezone_names"]
