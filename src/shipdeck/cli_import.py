"""`shipdeck import`: deployment rows from an NDJSON file appended to a database directly."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from .cli_admin import database_option, database_or_default


class _ImportUsageError(click.ClickException):
    """`shipdeck import` cannot start: one sentence, exit status 2."""

    exit_code = 2


@click.command("import")
@database_option
@click.argument("file", metavar="FILE")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an import of FILE that stopped, or of a FILE that grew since: start "
    "after the last line stored. Harmless on a new FILE, so scripts may always pass it.",
)
@click.option(
    "--source",
    metavar="NAME",
    default=None,
    help="Keep the progress under NAME instead of FILE's path (a file that moves; stdin, "
    "which is resumable only by name). A new NAME imports the same lines again, as new rows.",
)
@click.option(
    "--batch",
    "batch_lines",
    metavar="LINES",
    type=click.IntRange(1, 100_000),
    default=5_000,
    show_default=True,
    help="Lines committed per transaction; fewer hold the write lock for less time while "
    "a server writes to the same database.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Engine TOML file: lines of services its [ingest] exclude_services names are "
    "rejected, as the API refuses them (SHIPDECK_INGEST__EXCLUDE_SERVICES applies too).",
)
def import_(
    database: str | None,
    file: str,
    resume: bool,
    source: str | None,
    batch_lines: int,
    config_file: Path | None,
) -> None:
    """Append the deployment rows of FILE to the database, as the API would.

    \b
    FILE is NDJSON ("-" reads stdin): one JSON object a line, each the body
    of POST /api/deployments (a DeploymentEventIngest), as exported from a
    deployment-dashboard:
      {"deployment_id": "d-1", "service": "api", "environment": "prod",
       "status": "success", "happened_at": "2024-05-01T12:00:00Z"}
    Each line is validated as the API validates a body, and stored as the
    API stores it: the row, its slot in the matrix, its event on the stream
    (a `shipdeck serve` on the same database shows the rows as they commit).
    Invalid and blank lines, and lines of services the engine excludes
    (--config's [ingest] exclude_services), are rejected by number; the
    others are imported.

    \b
    Resume: lines are committed in batches (--batch), each in one
    transaction with its audit entry (action "import", by the OS user) and
    how far the import got. Interrupted or killed, nothing is half-written:
    run the same command with --resume and it starts after the last line
    stored, so every row is imported exactly once; a FILE that grew since
    goes on with its new lines, one whose first lines changed is refused.
    Without --resume an input imported before is refused (rows have no
    natural key: importing it again would store every row twice).

    \b
    Exit status: 0 every line imported; 1 some lines rejected (the others
    imported); 2 the import could not start (no such file, bad database URL,
    imported before, changed since); 3 stopped by a database or read error
    (run it again with --resume); 130 interrupted (likewise).
    """
    import sys

    from pydantic_core import ErrorDetails

    from .engine import ConfigError, load_config
    from .engine.importer import ImportRefused, Input, import_lines
    from .engine.store import StoreError, open_store

    try:
        excluded = load_config(config_file).ingest.exclude_services
    except ConfigError as exc:
        raise _ImportUsageError(str(exc)) from None
    try:
        source_input = Input.open(file, source)
    except ImportRefused as exc:
        raise _ImportUsageError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        stack.callback(source_input.close)
        try:
            store = open_store(database_or_default(database))
        except StoreError as exc:
            raise _ImportUsageError(str(exc)) from None
        stack.callback(store.close)

        def explain(errors: list[ErrorDetails]) -> str:  # the words of the API's 422
            from .server.problems import pointer_errors  # loaded only when a line is bad

            found = pointer_errors(errors)
            return "; ".join(
                f"{e['pointer']}: {e['message']}" if e["pointer"] else e["message"] for e in found
            )

        progress = stack.enter_context(_import_progress(source_input.size, sys.stderr.isatty()))
        try:
            result = import_lines(
                store,
                source_input,
                resume=resume,
                explain=explain,
                on_progress=progress,
                batch_lines=batch_lines,
                exclude_services=excluded,
            )
        except (ImportRefused, StoreError) as exc:
            raise _ImportUsageError(str(exc)) from None
    for line in result.summary():
        click.echo(line)
    if result.stopped == "interrupted":
        raise SystemExit(130)
    if result.stopped:
        raise SystemExit(3)
    raise SystemExit(1 if result.total_rejected else 0)


@contextlib.contextmanager
def _import_progress(size: int | None, shown: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr (bytes of a file, lines of a pipe), or nothing."""
    if not shown:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        [
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[lines]:,} lines"),
            TimeRemainingColumn(),
        ]
        if size is not None
        else [TextColumn("{task.fields[lines]:,} lines read")]
    )
    with Progress(
        TextColumn("importing"), *columns, console=Console(stderr=True), transient=True
    ) as bar:
        task = bar.add_task("import", total=size, lines=0)

        def update(read: int, lines: int) -> None:
            bar.update(task, completed=read, lines=lines)

        yield update


__all__ = ["import_"]
