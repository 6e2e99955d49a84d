"""How the analytics figures read on the Insights screen: numbers, units, bands, trends, bars.

Every figure is the engine's (`/api/analytics/*`), rounded the same way wherever it shows;
a band is a word (`elite`, `high`, `medium`, `low`) and a trend an arrow, a percentage and
`better` or `worse` — colour only repeats what the words say (16 colours suffice).
"""

from __future__ import annotations

from datetime import datetime

from ...domain.analytics import AnalyticsKpi, AnalyticsWindow, Classification, KpiUnit

CLASS_STYLES: dict[Classification, str] = {
    Classification.ELITE: "bold green",
    Classification.HIGH: "cyan",
    Classification.MEDIUM: "yellow",
    Classification.LOW: "bold red",
}
"""Rich styles of the DORA bands (the word is always shown with it)."""

UNITS: dict[KpiUnit, str] = {
    KpiUnit.PER_DAY: "/day",
    KpiUnit.HOURS: " h",
    KpiUnit.RATIO: " %",
    KpiUnit.MINUTES: " min",
}
APPROXIMATE = "≈"
"""Before a value the engine approximates (lead time: the log has no commits)."""
NO_VALUE = "—"
_EIGHTHS = " ▏▎▍▌▋▊▉"


def number(value: float) -> str:
    """Three significant figures at most, never an exponent: `0.86`, `47.9`, `312`."""
    size = abs(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def percent(ratio: float) -> str:
    """A ratio as a percentage: `0.2857` → `28.6 %`, `0.15` → `15 %`, `0` → `0 %`."""
    shown = number(ratio * 100)
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    return f"{shown} %"


def span(minutes: float) -> str:
    """A length of time to read at a glance: `45 min`, `5.8 h`, `2.3 d`."""
    if minutes < 100:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 1440:.1f} d"


def kpi_value(kpi: AnalyticsKpi) -> str:
    """`1.00/day`, `≈47.9 h`, `28.6 %`, `45.0 min`; `—` when there is nothing to measure."""
    if kpi.value is None:
        return NO_VALUE
    shown = percent(kpi.value) if kpi.unit is KpiUnit.RATIO else number(kpi.value)
    unit = "" if kpi.unit is KpiUnit.RATIO else UNITS[kpi.unit]
    return f"{APPROXIMATE if kpi.approximated else ''}{shown}{unit}"


def trend(kpi: AnalyticsKpi, better_up: bool) -> tuple[str, str]:
    """The trend as words and their style: `▲ 88 % better`, `▼ 10 % worse`, `= same`.

    Args:
        kpi: One DORA key.
        better_up: Whether a rise is an improvement (deployment frequency) or not (the
            other three keys).
    """
    delta = kpi.trend_delta
    if delta is None:
        return "no trend", "dim"
    if delta == 0:
        return "= same", ""
    better = (delta > 0) == better_up
    arrow = "▲" if delta > 0 else "▼"
    word = "better" if better else "worse"
    return f"{arrow} {abs(delta) * 100:.0f} % {word}", "green" if better else "red"


def window_text(window: AnalyticsWindow) -> str:
    """`7 days to 28 May 00:00 UTC` (and why a window is shorter than asked)."""
    text = f"{window.days} day{'s' if window.days != 1 else ''} to {_utc(window.to)} UTC"
    if window.clamped:
        text += f" (cut to the {window.retention_days}-day retention)"
    return text


def _utc(moment: datetime) -> str:
    return f"{moment.day} {moment:%b %H:%M}"


def cells(count: float, most: float, width: int) -> int:
    """Whole cells of a bar of `count` out of `most` over `width`; at least 1 if not 0."""
    if count <= 0 or most <= 0 or width <= 0:
        return 0
    return max(1, round(count / most * width))


def bar(count: float, most: float, width: int) -> str:
    """A bar in eighths of a cell (`█████▍`), padded to `width`; a sliver if not 0."""
    if count <= 0 or most <= 0 or width <= 0:
        return " " * max(0, width)
    eighths = max(1, round(count / most * width * 8))
    full, part = divmod(min(eighths, width * 8), 8)
    drawn = "█" * full + (_EIGHTHS[part] if part else "")
    return drawn.ljust(width)


__all__ = [
    "APPROXIMATE",
    "CLASS_STYLES",
    "NO_VALUE",
    "bar",
    "cells",
    "kpi_value",
    "number",
    "percent",
    "span",
    "trend",
    "window_text",
]
