"""An import's batches and where its source got to: the resume point an earlier run left,
each batch committed with its audit entry and the source's progress, and the summary.

A source's progress (`ImportProgress`, a row of `import_sources`: the last line done, the
input's bytes up to it and their hash, the counts, the first rejections) is written in the
same transaction as each batch's rows, so it names exactly the last line whose rows are
stored, and a resumed run starts on the line after it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import uuid_utils
from pydantic_core import ErrorDetails

from .import_reader import ImportRefused, Input, Parsed
from .ingest import row_of
from .store import AuditEntry, ImportProgress, Store

AUDIT_ACTION = "import"
"""The audit action of a committed batch (its target: the source)."""

Explain = Callable[[list[ErrorDetails]], str]


def explain_errors(errors: list[ErrorDetails]) -> str:
    """A line's validation errors in one sentence: `/pointer: message; …`."""
    parts = []
    for error in errors:
        where = "/".join(str(part) for part in error["loc"])
        parts.append(f"/{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)


def now_micros() -> int:
    """Now, in microseconds since the epoch (the progress's and the audit's times)."""
    return time.time_ns() // 1000


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'s' * (number != 1)}"


# -- the outcome ------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did (this run, and the earlier runs of its source)."""

    source: str
    imported: int = 0
    """Rows this run committed."""
    rejected: int = 0
    """Lines this run refused (in committed batches)."""
    earlier_imported: int = 0
    earlier_rejected: int = 0
    resumed_after: int = 0
    """The line earlier runs had reached (0: from the start)."""
    last_line: int = 0
    """The last line whose outcome is committed."""
    rejections: list[tuple[int, str]] = field(default_factory=list)
    """The first rejected lines of the source (earlier runs' included), `(line, reason)`."""
    seconds: float = 0.0
    stopped: str | None = None
    """Why the import ended before the input did (`None`: it read it all)."""
    resumable: bool = True

    @property
    def total_rejected(self) -> int:
        return self.earlier_rejected + self.rejected

    @property
    def rate(self) -> float:
        """Rows per second of this run."""
        return self.imported / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> list[str]:
        """The lines a person reads at the end."""
        lines = [
            f"Imported {_count(self.imported, 'row')} in {self.seconds:.1f} s "
            f"({self.rate:,.0f} rows/s); {_count(self.rejected, 'line')} rejected."
        ]
        if self.resumed_after:
            lines.append(
                f"Resumed after line {self.resumed_after:,}: earlier runs imported "
                f"{_count(self.earlier_imported, 'row')} and rejected "
                f"{_count(self.earlier_rejected, 'line')}."
            )
        if self.rejections:
            lines.append("Rejected lines:")
            lines += [f"  line {number}: {reason}" for number, reason in self.rejections]
            if self.total_rejected > len(self.rejections):
                lines.append(f"  and {self.total_rejected - len(self.rejections):,} more")
        if self.stopped:
            again = (
                "run the same command with --resume to continue"
                if self.resumable
                else "give the input a --source NAME to be able to resume"
            )
            lines.append(
                f"Stopped after line {self.last_line:,}: {self.stopped}. Every line up to "
                f"it is stored; {again}."
            )
        return lines


# -- the source's progress --------------------------------------------------------------


def resume_point(
    store: Store, source: Input, resume: bool
) -> tuple[ImportResult, ImportProgress | None]:
    """The result a run of `source` starts from, and the progress earlier runs left.

    Raises:
        ImportRefused: the source was imported before and `resume` is not set, or `resume`
            is asked of an input without a name.
    """
    if resume and not source.resumable:
        raise ImportRefused("stdin has no name to resume by: give it one with --source NAME")
    earlier = store.import_progress(source.source)
    if earlier is not None and not resume:
        raise ImportRefused(
            f"{source.name} was imported before, up to line {earlier.line:,}: pass --resume "
            "to continue after that line, or --source NAME to import it again as new rows"
        )
    result = ImportResult(source.source, resumable=source.resumable)
    if earlier is not None:
        result.earlier_imported = earlier.imported
        result.earlier_rejected = earlier.rejected
        result.resumed_after = result.last_line = earlier.line
        result.rejections = list(earlier.rejections)
    return result, earlier


@dataclass
class BatchWriter:
    """Commits one run's parsed batches of a source, and counts them in its result."""

    store: Store
    source: Input
    result: ImportResult
    who: str
    """The principal of the batches' audit entries."""
    started_at: int
    """When the source's first run started (µs since the epoch)."""
    explain: Explain = explain_errors
    request_id: str = field(default_factory=lambda: f"import-{uuid_utils.uuid7()}")

    def commit(self, parsed: Parsed) -> None:
        """Append one parsed batch with its audit entry and the source's new progress."""
        result, source = self.result, self.source
        rejections = result.rejections + [
            (line, why if isinstance(why, str) else self.explain(why))
            for line, why in parsed.reasons
        ]
        imported = result.earlier_imported + result.imported + len(parsed.rows)
        rejected = result.total_rejected + parsed.rejected
        now = now_micros()
        audit = AuditEntry(
            now,
            self.who,
            AUDIT_ACTION,
            source.source,
            self.request_id,
            "ok",
            f"lines {result.last_line + 1}-{parsed.line} of {source.name}: "
            f"{len(parsed.rows)} rows imported, {parsed.rejected} lines rejected",
        )
        progress = ImportProgress(
            source.source,
            parsed.line,
            parsed.read,
            parsed.digest,
            imported,
            rejected,
            tuple(rejections),
            self.started_at,
            now,
        )
        rows = [row_of(values) for values in parsed.rows]
        self.store.import_deployments(rows, audit, progress, result.last_line)
        result.imported += len(parsed.rows)
        result.rejected += parsed.rejected
        result.rejections = rejections
        result.last_line = parsed.line

    def reread(self) -> None:
        """After a stop, what the store holds (a batch may have committed as it was
        stopped)."""
        result = self.result
        with contextlib.suppress(Exception):  # the database is away: what this run counted
            stored = self.store.import_progress(result.source)
            if stored is not None and stored.line > result.last_line:
                result.imported = stored.imported - result.earlier_imported
                result.rejected = stored.rejected - result.earlier_rejected
                result.rejections = list(stored.rejections)
                result.last_line = stored.line


__all__ = [
    "AUDIT_ACTION",
    "BatchWriter",
    "Explain",
    "ImportResult",
    "explain_errors",
    "now_micros",
    "resume_point",
]
