"""Reading an import's NDJSON input: the input, its lines parsed in batches, and the child
process that parses a large input while the importer writes.

Each line is validated as `POST /api/deployments` validates a body and built into the row
it would store (`ingest_row_values`). Parsing costs as much as writing, and a thread would
share one interpreter lock with the writes: a large input is parsed by a child process
(`_worker`, the same `parse` function) while the importer writes, so the two use two cores.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import uuid_utils
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..domain import DeploymentEventIngest
from .exclusion import compile_exclusion
from .ingest import INGEST_BODY_LIMIT, RowValues, ingest_row_values

MAX_LINE_BYTES = INGEST_BODY_LIMIT
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

Reason = str | list[ErrorDetails]
"""Why a line was rejected: a sentence, or the validation errors (explained when listed)."""


class ImportRefused(Exception):
    """The import cannot start (the message says why and what to do)."""


class InputChanged(ImportRefused):
    """The input does not begin with the lines an earlier run imported (nothing written)."""


class ImportFailed(Exception):
    """Reading the input failed midway (the message says why)."""


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


def has_fd(stream: IO[bytes]) -> bool:
    """Whether a child process can read the stream (not an in-memory one)."""
    try:
        stream.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


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
    exclude_services: list[str] | tuple[str, ...] = (),
) -> Iterator[Parsed]:
    """The lines after line `skip` of an NDJSON stream, in batches; reasons for the first
    `listed` refused lines (the rest are counted). A line of a service `exclude_services`
    names (`[ingest] exclude_services`) is refused, as `POST /api/deployments` refuses it.

    Raises:
        InputChanged: the first `skip` lines do not hash to `skipped` (another input).
    """
    validate = DeploymentEventIngest.model_validate_json
    exclusion = compile_exclusion(tuple(exclude_services))
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
                if exclusion.active and exclusion.excludes(body.service, body.namespace):
                    reason = excluded_reason(body.service, body.namespace)
                else:
                    rows.append(ingest_row_values(body, progress_reporter=progress_reporter))
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


def excluded_reason(service: str, namespace: str | None) -> str:
    """Why a line of an excluded service is refused (the API's 403 in one sentence)."""
    identity = service if namespace is None else f"{namespace}/{service}"
    return f"service {identity!r} is excluded by [ingest] exclude_services"


# -- the child process that parses ------------------------------------------------------

_WORKER = "from shipdeck.engine.import_reader import _worker; _worker()"


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
def parsed_elsewhere(stream: IO[bytes], options: dict[str, Any]) -> Iterator[Iterator[Parsed]]:
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


__all__ = [
    "BATCH_LINES",
    "LISTED",
    "MAX_LINE_BYTES",
    "PARALLEL_BYTES",
    "ImportFailed",
    "ImportRefused",
    "Input",
    "InputChanged",
    "Parsed",
    "Reason",
    "excluded_reason",
    "has_fd",
    "parse",
    "parsed_elsewhere",
]
