"""The Insights screen's charts, drawn in block characters at a given width (pure).

Each function turns the analytics documents into lines of `Text` that fit `width` cells:
bars are block characters, a status is a glyph and a word, a heatmap cell a shade, so every
chart reads without colour; names from outside (services, actors) are sanitised.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text

from ...domain import Status
from ...domain.analytics import Incident, Insights
from ..format import GLYPHS, STATUS_STYLES, WORDS
from ..sanitize import sanitize, truncate
from .insight_figures import bar, cells, number, percent, span

SUCCESS_CELL, FAILURE_CELL = "█", "▒"
"""How a day's successes and failures fill its bar (told apart without colour)."""
OVER_MARK = "▲"
"""After a day's failure rate above DORA's elite line."""
SHADES = "░▒▓█"
"""Heatmap cells, from quiet to the busiest hour; `·` is none."""
_WEEK = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (0, "Sun"))
"""Heatmap rows: (the API's day of week, 0 is Sunday; its name)."""

Lines = list[Text]


def _line() -> Text:
    return Text(no_wrap=True, overflow="ellipsis", end="")


def daily(insights: Insights, width: int) -> Lines:
    """One line a day: successes and failures as a bar and counts, and the failure rate."""
    frequency = insights.frequency.buckets
    rates = {bucket.date: bucket.rate for bucket in insights.change_failure_rate.buckets}
    elite = insights.change_failure_rate.elite_threshold
    most = max((b.success + b.failure for b in frequency), default=0)
    digits = len(str(max((max(b.success, b.failure) for b in frequency), default=0)))
    room = max(4, width - 7 - (2 * digits + 6) - 8)
    lines = []
    for bucket in frequency:
        line = _line()
        line.append(f"{bucket.date:%a} {bucket.date.day:>2} ", style="bold")
        bad = cells(bucket.failure, most, room)  # first: a failure never rounds away
        ok = min(cells(bucket.success, most, room), room - bad)
        line.append(SUCCESS_CELL * ok, style="green")
        line.append(FAILURE_CELL * bad, style="red")
        line.append(" " * (room - ok - bad))
        line.append(f" {bucket.success:>{digits}} ✓", style="green")
        line.append(f" {bucket.failure:>{digits}} ✗", style="red" if bucket.failure else "")
        rate = rates.get(bucket.date, 0.0)
        over = rate > elite
        line.append(f" {rate * 100:>3.0f} %", style="bold red" if over else "dim")
        line.append(f" {OVER_MARK}" if over else "", style="bold red")
        lines.append(line)
    if not most:
        lines.append(Text("No deployment succeeded or failed in these days.", style="dim"))
    legend = f"{SUCCESS_CELL} ✓ success  {FAILURE_CELL} ✗ failure  · failure rate a day"
    lines.append(Text(legend, style="dim", no_wrap=True, overflow="ellipsis"))
    lines.append(
        Text(f"{OVER_MARK} above {percent(elite)}: DORA's elite line", style="dim", no_wrap=True)
    )
    return lines


def durations(insights: Insights, width: int) -> Lines:
    """How long deployments took: one bar per bin, then the median and 95th percentile."""
    histogram = insights.duration_histogram
    labels = [f"{b.label} min" for b in histogram.bins]
    pad = max(map(len, labels), default=0)
    most = max((b.count for b in histogram.bins), default=0)
    digits = len(str(most))
    room = max(4, width - pad - digits - 2)
    lines = []
    for label, found in zip(labels, histogram.bins, strict=True):
        line = _line()
        line.append(label.rjust(pad) + " ")
        line.append(bar(found.count, most, room), style="cyan")
        line.append(f" {found.count:>{digits}}")
        lines.append(line)
    if histogram.p50_minutes is None or histogram.p95_minutes is None:
        lines.append(Text("No deployment finished with a duration in these days.", style="dim"))
    else:
        median, p95 = number(histogram.p50_minutes), number(histogram.p95_minutes)
        lines.append(Text(f"median {median} min · 95th percentile {p95} min", style="bold"))
    return lines


def funnel(insights: Insights, width: int) -> Lines:
    """Deployments started in each environment of the ladder, and how many went on."""
    stages = insights.promotion_funnel.stages
    names = [sanitize(stage.environment) for stage in stages]
    pad = min(16, max(map(cell_len, names), default=0))
    most = max((stage.count for stage in stages), default=0)
    digits = len(str(most))
    room = max(4, width - pad - digits - 2 - 10)
    lines = []
    for index, (name, stage) in enumerate(zip(names, stages, strict=True)):
        line = _line()
        line.append(truncate(name, pad).ljust(pad) + " ", style="bold")
        line.append(bar(stage.count, most, room), style="cyan")
        line.append(f" {stage.count:>{digits}}")
        if stage.conversion is not None and index + 1 < len(stages):
            line.append(f"  → {percent(stage.conversion)}", style="dim")
        lines.append(line)
    if not most:
        lines.append(Text("No deployment started in these days.", style="dim"))
    return lines


def statuses(insights: Insights, width: int) -> Lines:
    """Rows per status (those seen), glyph and word, packed into lines of `width`."""
    items = [
        (f"{GLYPHS[found.status]} {WORDS[found.status]} {found.count}", found.status)
        for found in insights.status_distribution.statuses
        if found.count
    ]
    if not items:
        return [Text("No rows in these days.", style="dim")]
    lines, line = [], _line()
    for label, status in items:
        if line.cell_len and line.cell_len + 3 + cell_len(label) > width:
            lines.append(line)
            line = _line()
        if line.cell_len:
            line.append(" · ", style="dim")
        line.append(label, style=STATUS_STYLES[Status(status)])
    lines.append(line)
    return lines


def heatmap(insights: Insights, width: int) -> Lines:
    """Rows by weekday and UTC hour, each cell a shade of the busiest hour's count."""
    counts = {(c.day_of_week, c.hour): c.count for c in insights.heatmap.cells}
    most = max(counts.values(), default=0)
    step = 3 if width >= 4 + 24 * 3 else 2
    axis = [" "] * (4 + 24 * step)
    for hour in range(0, 24, 6 if step == 2 else 3):
        for offset, char in enumerate(str(hour)):
            axis[4 + hour * step + offset] = char
    lines = [Text("".join(axis).rstrip() + "  UTC", style="dim", no_wrap=True)]
    for day, name in _WEEK:
        line = _line()
        line.append(f"{name} ", style="bold")
        for hour in range(24):
            count = counts.get((day, hour), 0)
            if count:
                level = min(len(SHADES), -(-count * len(SHADES) // most))
                line.append(SHADES[level - 1] * step, style="magenta")
            else:
                line.append("·".ljust(step), style="dim")
        lines.append(line)
    legend = f"· none  {'  '.join(SHADES)} up to the busiest hour's {most} rows"
    lines.append(Text(legend, style="dim", no_wrap=True, overflow="ellipsis"))
    return lines


def deployers(insights: Insights, width: int) -> Lines:
    """Who started the deployments that succeeded, most first."""
    found = insights.top_deployers.deployers
    if not found:
        return [Text("No deployment succeeded in these days.", style="dim")]
    names = [sanitize(d.actor) for d in found]
    pad = min(20, max(map(cell_len, names)))
    most = found[0].count if found else 0
    digits = len(str(max(d.count for d in found)))
    room = max(4, width - pad - digits - 2)
    lines = []
    for name, deployer in zip(names, found, strict=True):
        line = _line()
        shown = truncate(name, pad)
        line.append(shown + " " * (pad - cell_len(shown) + 1), style="bold")
        line.append(bar(deployer.count, most, room), style="cyan")
        line.append(f" {deployer.count:>{digits}}")
        lines.append(line)
    return lines


def incidents(insights: Insights, width: int) -> Lines:
    """Incidents that began in the window: open ones first, each with its slot and length."""
    found = insights.incidents.incidents
    if not found:
        return [Text("No incident began in these days.", style="dim")]
    return [_incident(incident, width) for incident in found]


def incidents_title(insights: Insights) -> str:
    """`Incidents: 1 open, 3 restored`."""
    found = insights.incidents.incidents
    still = sum(1 for incident in found if incident.restored_at is None)
    return f"Incidents: {still} open, {len(found) - still} restored"


def _incident(incident: Incident, width: int) -> Text:
    """`✗ open     payments → uat            since 26 May 16:40  critical`."""
    line = _line()
    start = f"{incident.failed_at:%d %b %H:%M}"
    if incident.restored_at is None:
        line.append(f"{GLYPHS[Status.FAILURE]} open     ", style="bold red")
        when = f"{'':7} since {start}"
    else:
        line.append(f"{GLYPHS[Status.SUCCESS]} restored ", style="green")
        when = f"{span(incident.duration_minutes or 0.0):>7}  from {start}"
    room = max(8, width - line.cell_len - len(when) - 2 - 10)
    slot = truncate(f"{sanitize(incident.service)} → {sanitize(incident.environment)}", room)
    line.append(slot + " " * (room - cell_len(slot)), style="bold")
    line.append(f"  {when}  ")
    severe = incident.severity.value in ("high", "critical")
    line.append(incident.severity.value, style="bold red" if severe else "yellow")
    return line


__all__ = [
    "FAILURE_CELL",
    "OVER_MARK",
    "SHADES",
    "SUCCESS_CELL",
    "daily",
    "deployers",
    "durations",
    "funnel",
    "heatmap",
    "incidents",
    "incidents_title",
    "statuses",
]
