"""`shipdeck import`: append NDJSON ingest bodies to a store, as `POST /api/deployments` would.

Each line is one `DeploymentEventIngest` (the body of `POST /api/deployments`), validated by
the same model and built into the same row (`ingest_row`); the store appends each batch of
rows through its own batch write (the row, its slot's fold, its event numbered on from the
event head; on PostgreSQL the head's lock and its `NOTIFY`), with one audit entry for the
batch and the source's progress (`ImportProgress`: the last line done), in one
transaction. After a crash or a kill the stored progress names exactly the last line whose
rows are stored, and `resume=True` starts on the line after it: every row is imported once.

Parsing costs as much as writing, and a thread would share one interpreter lock with the
writes: a large input is parsed by a child process (`_worker`, the same `parse` function)
while this one writes, so the two use two cores.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import uuid_utils
from pydantic import ValidationError
from pydantic_core import ErrorDetails, to_json

from ..domain import DeploymentEvent, DeploymentEventIngest, Status, format_rfc3339
from .store import AuditEntry, ImportProgress, NewDeploymentRow, Store, StoreError

MAX_LINE_BYTES = 64 * 1024
"""A line longer than the API's body limit is refused, as `POST` refuses such a body."""
BATCH_LINES = 5_000
"""Lines committed in one transaction at most."""
BATCH_SECONDS = 1.0
"""A batch older than this is committed with the next line, however small (slow pipes)."""
LISTED = 20
"""Rejected lines a summary names (the rest are counted)."""
PARALLEL_BYTES = 8 * 1024 * 1024
"""From this size on a file is parsed by a child process (starting one takes most of a
second); a pipe always is."""
TRIGGER = "ingest"
"""Imported rows are ingested rows (`trigger` as `POST /api/deployments` sets it)."""
AUDIT_ACTION = "import"
"""The audit action of a committed batch (its target: the source)."""

_FIELDS = tuple(DeploymentEventIngest.model_fields)
assert (*_FIELDS, "id", "progress_reporter", "trigger") == tuple(DeploymentEvent.model_fields)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_STATUSES = {status.value: status for status in Status}

Explain = Callable[[list[ErrorDetails]], str]
Progress = Callable[[int, int], None]
"""Told `(bytes read, lines read)` as batches commit."""
RowValues = tuple[str, str, str, str, str, int, str | None, str]
"""A `NewDeploymentRow`'s fields, the status by its value: cheap to pickle."""
Reason = str | list[ErrorDetails]
"""Why a line was rejected: a sentence, or the validation errors (explained when listed)."""


class ImportRefused(Exception):
    """The import cannot start (the message says why and what to do)."""


class InputChanged(ImportRefused):
    """The input does not begin with the lines an earlier run imported (nothing written)."""


class ImportFailed(Exception):
    """Reading the input failed midway (the message says why)."""


def row_values(
    body: DeploymentEventIngest, *, progress_reporter: str | None = None, trigger: str = TRIGGER
) -> RowValues:
    """The row `Engine.ingest` appends for a validated body, as `NewDeploymentRow`'s values
    (the status by its value): the same document, byte for byte (a test holds them equal),
    built without a second model (twice as fast)."""
    row_id = str(uuid_utils.uuid7())
    doc: dict[str, Any] = {"id": row_id}
    for name, value in body.__dict__.items():  # the contract's order, as the row's
        if value is not None:
            doc[name] = value
    happened_at: datetime = doc["happened_at"]
    doc["happened_at"] = _utc_text(happened_at)
    status = doc["status"] = body.status.value
    if progress_reporter is not None:
        doc["progress_reporter"] = progress_reporter
    doc["trigger"] = trigger
    return (
        row_id,
        body.deployment_id,
        body.service,
        body.environment,
        status,
        (happened_at - _EPOCH) // _MICROSECOND,
        body.actor,
        to_json(doc).decode(),
    )


def _utc_text(moment: datetime) -> str:
    """`format_rfc3339` of a validated time (already in UTC), in half the time."""
    if moment.tzinfo is not UTC:
        return format_rfc3339(moment)
    text = moment.isoformat()[:-6]  # without "+00:00"
    return (text.rstrip("0") if moment.microsecond else text) + "Z"


def ingest_row(
    body: DeploymentEventIngest, *, progress_reporter: str | None = None, trigger: str = TRIGGER
) -> NewDeploymentRow:
    """`row_values` as the row itself."""
    return _row(row_values(body, progress_reporter=progress_reporter, trigger=trigger))


def _row(values: RowValues) -> NewDeploymentRow:
    row_id, deployment_id, service, environment, status, at, actor, doc = values
    return NewDeploymentRow(
        row_id, deployment_id, service, environment, _STATUSES[status], at, actor, doc
    )


def explain_errors(errors: list[ErrorDetails]) -> str:
    """A line's validation errors in one sentence: `/pointer: message; …`."""
    parts = []
    for error in errors:
        where = "/".join(str(part) for part in error["loc"])
        parts.append(f"/{where}: {error['msg']}" if where else str(error["msg"]))
    return "; ".join(parts)


def local_principal() -> str:
    """Who imports: the OS user (as an embedded engine names its local principal)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "local"


def _now() -> int:
    return time.time_ns() // 1000


# -- the input --------------------------------------------------------------------------


@dataclass
class Input:
    """An NDJSON input: its byte stream, its size (`None`: a pipe), the source it is."""

    stream: IO[bytes]
    source: str
    """What its progress is kept under: `--source`, or the file's absolute path."""
    size: int | None
    name: str
    """How a message names it (the path, or `stdin`)."""
    resumable: bool = True
    """`False` for stdin without a name (nothing tells a later run it is the same input)."""

    @classmethod
    def open(cls, path: str, source: str | None = None) -> Input:
        """The file at `path` (`-`: standard input), its progress kept as `source` if given.

        Raises:
            ImportRefused: the file cannot be read.
        """
        if path == "-":
            name = source or f"stdin-{uuid_utils.uuid7()}"
            stdin = sys.stdin.buffer
            return cls(stdin, name, _file_size(stdin), "stdin", resumable=source is not None)
        file = Path(path)
        if file.is_dir():
            raise ImportRefused(f"{path} is a folder, not an NDJSON file")
        try:
            stream = file.open("rb")
        except OSError as exc:
            raise ImportRefused(f"cannot read {path}: {exc.strerror or exc}") from exc
        return cls(stream, source or str(file.resolve()), _file_size(stream), path)

    def close(self) -> None:
        if self.stream is not sys.stdin.buffer:
            self.stream.close()

    def __enter__(self) -> Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _file_size(stream: IO[bytes]) -> int | None:
    """The bytes left in a stream that is a file (stdin redirected from one), else `None`."""
    try:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            return None
        return max(0, status.st_size - stream.tell())
    except (OSError, ValueError, io.UnsupportedOperation):
        return None


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'s' * (number != 1)}"


# -- parsing ----------------------------------------------------------------------------


@dataclass(slots=True)
class Parsed:
    """A batch of lines, parsed: the rows to append and the lines refused."""

    line: int
    """The batch's last line."""
    read: int
    """Bytes of the input read up to its end."""
    digest: str
    """SHA-256 (hex) of those bytes."""
    rows: list[RowValues]
    rejected: int
    reasons: list[tuple[int, Reason]]
    """Why lines were refused, for as many as the summary still lists."""


def parse(
    stream: IO[bytes],
    *,
    skip: int = 0,
    skipped: str = "",
    listed: int = LISTED,
    batch_lines: int = BATCH_LINES,
    progress_reporter: str | None = None,
) -> Iterator[Parsed]:
    """The lines after line `skip` of an NDJSON stream, in batches; reasons for the first
    `listed` refused lines (the rest are counted).

    Raises:
        InputChanged: the first `skip` lines do not hash to `skipped` (another input).
    """
    validate = DeploymentEventIngest.model_validate_json
    digest = hashlib.sha256()
    rows: list[RowValues] = []
    reasons: list[tuple[int, Reason]] = []
    rejected = read = number = 0
    start = skip
    started = time.monotonic()
    for number, raw in enumerate(stream, start=1):
        read += len(raw)
        digest.update(raw)
        if number <= skip:
            if number == skip and digest.hexdigest() != skipped:
                raise InputChanged(f"its first {skip:,} lines are not the ones imported")
            continue
        reason: Reason | None = None
        if len(raw) > MAX_LINE_BYTES:
            reason = f"longer than {MAX_LINE_BYTES:,} bytes, the API's body limit"
        elif raw.isspace():
            reason = "blank line (each line must be one JSON object)"
        else:
            try:
                body = validate(raw)
            except ValidationError as exc:
                reason = exc.errors(include_url=False, include_input=False)
            else:
                rows.append(row_values(body, progress_reporter=progress_reporter))
        if reason is not None:
            rejected += 1
            if listed > 0:
                listed -= 1
                reasons.append((number, reason))
        if number - start >= batch_lines or (
            not number & 63 and time.monotonic() - started > BATCH_SECONDS
        ):
            yield Parsed(number, read, digest.hexdigest(), rows, rejected, reasons)
            rows, reasons, rejected, start, started = [], [], 0, number, time.monotonic()
    if number < skip:
        raise InputChanged(f"it has {number:,} lines, fewer than the {skip:,} imported")
    if number > start:
        yield Parsed(number, read, digest.hexdigest(), rows, rejected, reasons)


# -- the child process that parses ------------------------------------------------------

_WORKER = "from shipdeck.engine.importer import _worker; _worker()"


def _worker() -> None:
    """A child's main: `parse` its stdin (`parse`'s options as JSON in argv) and write each
    batch to stdout as a pickle, rows as plain tuples; then `done` (or what stopped it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the importer decides when to stop
    options = json.loads(sys.argv[1])
    out = sys.stdout.buffer
    try:
        for parsed in parse(sys.stdin.buffer, **options):
            frame = (
                parsed.line,
                parsed.read,
                parsed.digest,
                parsed.rows,
                parsed.rejected,
                parsed.reasons,
            )
            pickle.dump(("batch", frame), out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
        pickle.dump(("done", None), out)
        out.flush()
    except (BrokenPipeError, KeyboardInterrupt):  # the importer is gone, or stopping
        pass
    except Exception as exc:
        kind = "changed" if isinstance(exc, InputChanged) else "error"
        text = str(exc) if kind == "changed" else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(BrokenPipeError):
            pickle.dump((kind, text), out)
            out.flush()
    # Not through the interpreter's exit: a closed pipe would only be reported again.
    sys.stderr.flush()
    os._exit(0)


@contextlib.contextmanager
def _parsed_elsewhere(stream: IO[bytes], options: dict[str, Any]) -> Iterator[Iterator[Parsed]]:
    """`parse(stream, **options)` in a child process reading `stream` (a file, or this
    process's stdin) while this one writes."""
    child = subprocess.Popen(  # noqa: S603  # this interpreter, this module, its options
        [sys.executable, "-c", _WORKER, json.dumps(options)],
        stdin=stream,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None
    pipe = child.stdout

    def frames() -> Iterator[Parsed]:
        while True:
            try:
                kind, value = pickle.load(pipe)  # noqa: S301  # from our own child
            except EOFError:
                raise ImportFailed("the process parsing the input ended unexpectedly") from None
            if kind == "done":
                return
            if kind == "changed":
                raise InputChanged(value)
            if kind == "error":
                raise ImportFailed(f"cannot read the input: {value}")
            yield Parsed(*value)

    try:
        yield frames()
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        pipe.close()


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


# -- the import -------------------------------------------------------------------------


def import_lines(
    store: Store,
    source: Input,
    *,
    resume: bool = False,
    progress_reporter: str | None = None,
    principal: str | None = None,
    explain: Explain = explain_errors,
    on_progress: Progress | None = None,
    batch_lines: int = BATCH_LINES,
    parallel: bool | None = None,
) -> ImportResult:
    """Import every line of `source` into `store` (see the module docstring).

    Each committed batch gets one audit entry (action `import`, target the source, its
    lines and counts as the reason) in its transaction. `parallel` parses in a child
    process (default: for stdin and files of `PARALLEL_BYTES` or more).

    Raises:
        ImportRefused: the source was imported before and `resume` is not set, `resume` is
            asked of an input without a name, or (`InputChanged`) the input does not begin
            with the lines imported before; nothing was written.
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
    started_at = _now()
    if earlier is not None:
        result.earlier_imported = earlier.imported
        result.earlier_rejected = earlier.rejected
        result.resumed_after = result.last_line = earlier.line
        result.rejections = list(earlier.rejections)
        started_at = earlier.started_at
    who = principal or local_principal()
    request_id = f"import-{uuid_utils.uuid7()}"
    if parallel is None:
        parallel = source.size is None or source.size >= PARALLEL_BYTES
    options: dict[str, Any] = {
        "skip": result.resumed_after,
        "skipped": "" if earlier is None else earlier.digest,
        "listed": LISTED - len(result.rejections),
        "batch_lines": batch_lines,
        "progress_reporter": progress_reporter,
    }
    clock = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            batches = (
                stack.enter_context(_parsed_elsewhere(source.stream, options))
                if parallel and _has_fd(source.stream)
                else parse(source.stream, **options)
            )
            for parsed in batches:
                _commit(store, result, parsed, source, who, request_id, started_at, explain)
                if on_progress is not None:
                    on_progress(parsed.read, parsed.line)
        except InputChanged as exc:
            raise InputChanged(
                f"{source.name} is not the input imported before under {source.source}: "
                f"{exc}; give it another --source NAME to import it as new rows"
            ) from None
        except KeyboardInterrupt:
            result.stopped = "interrupted"
        except ImportFailed as exc:
            result.stopped = str(exc)
        except OSError as exc:  # reading the input (in this process)
            result.stopped = f"cannot read the input: {exc.strerror or exc}"
        except StoreError as exc:
            result.stopped = str(exc)
        except Exception as exc:  # the database driver's own errors
            text = str(exc).strip().splitlines()
            result.stopped = f"the database refused a batch: {text[0] if text else exc!r}"
    if result.stopped is not None:
        _reread(store, result)
    result.seconds = time.perf_counter() - clock
    return result


def _reread(store: Store, result: ImportResult) -> None:
    """After a stop, what the store holds (a batch may have committed as it was stopped)."""
    with contextlib.suppress(Exception):  # the database is away: what this run counted
        stored = store.import_progress(result.source)
        if stored is not None and stored.line > result.last_line:
            result.imported = stored.imported - result.earlier_imported
            result.rejected = stored.rejected - result.earlier_rejected
            result.rejections = list(stored.rejections)
            result.last_line = stored.line


def _has_fd(stream: IO[bytes]) -> bool:
    """Whether a child process can read the stream (not an in-memory one)."""
    try:
        stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


def _commit(
    store: Store,
    result: ImportResult,
    parsed: Parsed,
    source: Input,
    who: str,
    request_id: str,
    started_at: int,
    explain: Explain,
) -> None:
    """Append one parsed batch with its audit entry and the source's new progress."""
    rejections = result.rejections + [
        (line, why if isinstance(why, str) else explain(why)) for line, why in parsed.reasons
    ]
    imported = result.earlier_imported + result.imported + len(parsed.rows)
    rejected = result.total_rejected + parsed.rejected
    now = _now()
    audit = AuditEntry(
        now,
        who,
        AUDIT_ACTION,
        source.source,
        request_id,
        "ok",
        f"lines {result.last_line + 1}-{parsed.line} of {source.name}: {len(parsed.rows)} rows"
        f" imported, {parsed.rejected} lines rejected",
    )
    progress = ImportProgress(
        source.source,
        parsed.line,
        parsed.read,
        parsed.digest,
        imported,
        rejected,
        tuple(rejections),
        started_at,
        now,
    )
    store.import_deployments([_row(r) for r in parsed.rows], audit, progress, result.last_line)
    result.imported += len(parsed.rows)
    result.rejected += parsed.rejected
    result.rejections = rejections
    result.last_line = parsed.line


__all__ = [
    "BATCH_LINES",
    "MAX_LINE_BYTES",
    "ImportFailed",
    "ImportRefused",
    "ImportResult",
    "Input",
    "InputChanged",
    "Parsed",
    "explain_errors",
    "import_lines",
    "ingest_row",
    "local_principal",
    "parse",
]
