"""`python -m benchmarks [name …]`: run benchmarks in turn, then print a summary table."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sqlite3
import sys
import time
import traceback

from . import BENCHMARKS, _harness
from ._harness import Report, say, verdict


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (all by default); exit 1 if one of them crashed."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Run shipdeck's benchmarks and print their figures (never assertions).",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the servers under cProfile and print where their time went (slower)",
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of: {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args(argv)
    _harness.PROFILE_SERVERS = args.profile
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    say(machine())
    reports: list[Report] = []
    failed: list[str] = []
    for name in args.names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        say(f"\n== {name}: {module.SUMMARY}")
        started = time.perf_counter()
        try:
            reports.append(module.run())
        except Exception:
            traceback.print_exc()
            failed.append(name)
        say(f"== {name} took {time.perf_counter() - started:.0f} s; {load()}")
    print_summary(reports, failed)
    return 1 if failed else 0


def machine() -> str:
    """What the figures were measured on."""
    return (
        f"{os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {load()}"
    )


def load() -> str:
    """The machine's load average: other work on a shared machine moves every figure."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def print_summary(reports: list[Report], failed: list[str]) -> None:
    """One table of every figure, with its target and verdict."""
    rows = [("benchmark", "figure", "value", "target", "met")]
    for report in reports:
        for figure in report.figures:
            target = figure.target or ""
            rows.append((report.name, figure.label, figure.text(), target, verdict(figure.met)))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    say("\nSummary")
    for index, row in enumerate(rows):
        cells = [
            cell.rjust(w) if i == 2 else cell.ljust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        say("  ".join(cells).rstrip())
        if index == 0:
            say("  ".join("-" * w for w in widths))
    for report in reports:
        for note in report.notes:
            say(f"note ({report.name}): {note}")
    for name in failed:
        say(f"{name}: CRASHED (traceback above)")


if __name__ == "__main__":
    sys.exit(main())
