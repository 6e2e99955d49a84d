"""`shipdeck import`: append NDJSON ingest bodies to a store, as `POST /api/deployments` would.

Each line is one `DeploymentEventIngest` (the body of `POST /api/deployments`), validated by
the same model and built into the same row (`ingest_row`); the store appends each batch of
rows through its own batch write (the row, its slot's fold, its event numbered on from the
event head; on PostgreSQL the head's lock and its `NOTIFY`), with one audit entry for the
batch and the source's progress (`ImportProgress`: the last line done), in one
transaction. After a crash or a kill the stored progress names exactly the last line whose
rows are stored, and `resume=True` starts on the line after it: every row is imported once.

The input and its parsing (in a child process for a large input, so that parsing and
writing use two cores) are in `import_reader.py`; the batches, the source's progress and
the summary in `import_batches.py`. This module runs one import and names what callers use.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from .import_batches import (
    AUDIT_ACTION,
    BatchWriter,
    Explain,
    ImportResult,
    explain_errors,
    now_micros,
    resume_point,
)
from .import_reader import (
    BATCH_LINES,
    LISTED,
    MAX_LINE_BYTES,
    PARALLEL_BYTES,
    ImportFailed,
    ImportRefused,
    Input,
    InputChanged,
    Parsed,
    has_fd,
    parse,
    parsed_elsewhere,
)
from .ingest import TRIGGER, ingest_row
from .keys import local_user as local_principal
from .store import Store, StoreError

Progress = Callable[[int, int], None]
"""Told `(bytes read, lines read)` as batches commit."""


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
    exclude_services: Sequence[str] = (),
) -> ImportResult:
    """Import every line of `source` into `store` (see the module docstring).

    Each committed batch gets one audit entry (action `import`, target the source, its
    lines and counts as the reason) in its transaction. `parallel` parses in a child
    process (default: for stdin and files of `PARALLEL_BYTES` or more). Lines of services
    `exclude_services` names (the engine's `[ingest] exclude_services`) are rejected, as the
    API refuses them: every writer of the log obeys the exclusion.

    Raises:
        ImportRefused: the source was imported before and `resume` is not set, `resume` is
            asked of an input without a name, or (`InputChanged`) the input does not begin
            with the lines imported before; nothing was written.
    """
    result, earlier = resume_point(store, source, resume)
    writer = BatchWriter(
        store,
        source,
        result,
        principal or local_principal(),
        now_micros() if earlier is None else earlier.started_at,
        explain,
    )
    if parallel is None:
        parallel = source.size is None or source.size >= PARALLEL_BYTES
    options: dict[str, Any] = {
        "skip": result.resumed_after,
        "skipped": "" if earlier is None else earlier.digest,
        "listed": LISTED - len(result.rejections),
        "batch_lines": batch_lines,
        "progress_reporter": progress_reporter,
        "exclude_services": list(exclude_services),
    }
    clock = time.perf_counter()
    with contextlib.ExitStack() as stack:
        try:
            batches = (
                stack.enter_context(parsed_elsewhere(source.stream, options))
                if parallel and has_fd(source.stream)
                else parse(source.stream, **options)
            )
            for parsed in batches:
                writer.commit(parsed)
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
        writer.reread()
    result.seconds = time.perf_counter() - clock
    return result


__all__ = [
    "AUDIT_ACTION",
    "BATCH_LINES",
    "MAX_LINE_BYTES",
    "TRIGGER",
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
