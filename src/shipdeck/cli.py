"""The `shipdeck` command."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from . import __version__
from .client import EngineClient
from .domain import Role

ROLE_CHOICE = click.Choice([role.value for role in Role], case_sensitive=False)


_database_option = click.option(
    "--database",
    "database",
    metavar="URL",
    default=None,
    help="Database URL: sqlite:///path/to/shipdeck.db, or "
    "postgresql://user:password@host:5432/db for several replicas "
    "(default: shipdeck.db in the user data folder).",
)


def _database(url: str | None) -> str:
    from .locations import default_database_url

    return url or default_database_url()


@click.group(
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="shipdeck")
@click.option("--profile", metavar="NAME", help="A profile from the config file.")
@click.option(
    "--url",
    "urls",
    metavar="URL",
    multiple=True,
    help="A shipdeck (or deployment-dashboard) server; the API key is read from $SHIPDECK_TOKEN. "
    "Repeat it for several replicas of one engine: they are used one at a time, the next "
    "when the one in use stops answering.",
)
@click.option("--read-only", is_flag=True, help="Hide every action; only watch.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TUI config file (default: config.toml in the user config folder).",
)
@click.pass_context
def main(
    ctx: click.Context,
    profile: str | None,
    urls: tuple[str, ...],
    read_only: bool,
    config_file: Path | None,
) -> None:
    """shipdeck: a keyboard-driven dashboard for deployments, and the engine behind it.

    With no command, opens the dashboard: on --url (repeated: on replicas, failing over
    between them), on --profile, on the config's default profile, or else on the embedded
    engine in the user data folder.

    \b
    Try it with simulated traffic:                shipdeck demo
    Run the engine for CI and remote dashboards:  shipdeck serve --port 8080
    Give CI a key to report with:                 shipdeck keys create --name ci --role reporter
    """
    if ctx.invoked_subcommand is not None:
        return
    from .launch import client_for, resolve_profile
    from .tui.app import ShipdeckApp
    from .tui.config import TuiConfigError, load_tui_config

    try:
        config = load_tui_config(config_file)
        name, chosen = resolve_profile(config, profile, urls)
    except TuiConfigError as exc:
        raise click.ClickException(str(exc)) from exc

    def factory(profile_name: str) -> EngineClient:
        return client_for(config.profiles[profile_name])

    ShipdeckApp(
        client_for(chosen),
        profile=name,
        tui_config=config,
        read_only=read_only,
        client_factory=factory,
    ).run()


@main.command()
@click.option("--no-traffic", is_flag=True, help="Seed the demo but generate no live traffic.")
@click.option("--read-only", is_flag=True, help="Hide every action; only watch.")
def demo(no_traffic: bool, read_only: bool) -> None:
    """The dashboard on a throwaway embedded engine with demo services and live CI traffic."""
    from .launch import demo_client
    from .tui.app import ShipdeckApp
    from .tui.config import TuiConfigError, load_tui_config

    try:
        config = load_tui_config()
    except TuiConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    # The demo's database lives only as long as the dashboard is open.
    with tempfile.TemporaryDirectory(prefix="shipdeck-demo-") as folder:
        client = demo_client(traffic=not no_traffic, database=Path(folder) / "demo.db")
        ShipdeckApp(client, profile="demo", tui_config=config, read_only=read_only).run()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to listen on (0 picks a free one).",
)
@_database_option
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Engine TOML file (environment order, auth, stream).",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Log every request (paths only; keys are never logged).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Serve the demo: its services, history and simulate driver (on a throwaway "
    "database unless --database is given; seeded only when empty).",
)
@click.option(
    "--demo-traffic",
    is_flag=True,
    help="With --demo: also generate live simulated CI traffic.",
)
def serve(
    host: str,
    port: int,
    database: str | None,
    config_file: Path | None,
    access_log: bool,
    demo: bool,
    demo_traffic: bool,
) -> None:
    """Serve the engine over HTTP: the deployment-dashboard API, SSE, WebSocket logs,
    actions and probes.

    /readyz answers 200 once it serves. Try remote mode in two terminals:
    `shipdeck serve --demo --demo-traffic` here, `shipdeck --url http://127.0.0.1:8080`
    there (with SHIPDECK_TOKEN set to a deployer key from `shipdeck keys create` to act).
    """
    from .engine import ConfigError, StoreError, load_config
    from .server.serve import run

    if demo_traffic and not demo:
        raise click.UsageError("--demo-traffic needs --demo")
    if demo and config_file is not None:
        raise click.UsageError("--demo brings its own configuration; drop --config")
    try:
        with contextlib.ExitStack() as stack:
            if demo:
                from .launch import demo_config, seed_demo_once
                from .launch import demo_traffic as traffic

                config = demo_config()
                if database is None:
                    folder = stack.enter_context(
                        tempfile.TemporaryDirectory(prefix="shipdeck-serve-demo-")
                    )
                    database = f"sqlite:///{Path(folder) / 'demo.db'}"
                    click.echo(f"demo database: {database} (removed on exit)", err=True)
                run(
                    host=host,
                    port=port,
                    database_url=database,
                    config=config,
                    access_log=access_log,
                    prepare=seed_demo_once,
                    background=traffic if demo_traffic else None,
                )
                return
            run(
                host=host,
                port=port,
                database_url=_database(database),
                config=load_config(config_file),
                access_log=access_log,
            )
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@_database_option
@click.option("--name", required=True, help="The principal the key belongs to (e.g. ci).")
@click.option(
    "--role",
    required=True,
    type=ROLE_CHOICE,
    help="The principal's role: viewer < reporter < deployer < approver < admin.",
)
@click.option(
    "--services",
    metavar="A,B",
    default=None,
    help="Limit the key's actions to these services (comma-separated; default: all).",
)
@click.option(
    "--environments",
    metavar="X,Y",
    default=None,
    help="Limit the key's actions to these environments (comma-separated; default: all).",
)
def keys_create(
    database: str | None,
    name: str,
    role: str,
    services: str | None,
    environments: str | None,
) -> None:
    """Create a key. It is printed once, as the last line; only its hash is stored.

    Approvals count once per principal, whichever of its keys is used.
    """
    from .engine import Engine, StoreError

    service_list = _names(services, "--services")
    environment_list = _names(environments, "--environments")

    async def create() -> tuple[str, str]:
        engine = await Engine.open(_database(database))
        try:
            principal, token = await engine.keys.create(
                name, Role(role.lower()), services=service_list, environments=environment_list
            )
        finally:
            await engine.close()
        return principal.key_id or "", token

    try:
        key_id, token = asyncio.run(create())
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    scope = ""
    if service_list:
        scope += f", services {', '.join(service_list)}"
    if environment_list:
        scope += f", environments {', '.join(environment_list)}"
    click.echo(f"Created key {key_id} for {name} ({role.lower()}{scope}). It is shown only now:")
    click.echo(token)


def _names(value: str | None, option: str) -> list[str] | None:
    """A comma-separated list of names (`None` when not given)."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise click.BadParameter(
            "give at least one name, e.g. checkout-api,payments", param_hint=option
        )
    return names


@keys.command("list")
@_database_option
def keys_list(database: str | None) -> None:
    """List keys (ids, principals, roles; never secrets)."""
    from .domain import format_rfc3339
    from .engine.store import StoreError, open_store

    try:
        store = open_store(_database(database))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        records = store.list_keys()
    finally:
        store.close()
    from datetime import UTC, datetime

    def when(micros: int | None) -> str:
        return "-" if micros is None else format_rfc3339(datetime.fromtimestamp(micros / 1e6, UTC))

    click.echo(f"{'KEY':<14}{'PRINCIPAL':<24}{'ROLE':<10}{'CREATED':<30}{'REVOKED':<30}SCOPE")
    for r in records:
        scope = []
        if r.services:
            scope.append("services=" + ",".join(r.services))
        if r.environments:
            scope.append("environments=" + ",".join(r.environments))
        click.echo(
            f"{r.key_id:<14}{r.principal:<24}{r.role.value:<10}{when(r.created_at):<30}"
            f"{when(r.revoked_at):<30}{' '.join(scope) or 'all'}"
        )


@keys.command("revoke")
@_database_option
@click.argument("key_id")
def keys_revoke(database: str | None, key_id: str) -> None:
    """Revoke a key by its id (as `keys list` shows it)."""
    from .domain import to_micros, utc_now
    from .engine.store import StoreError, open_store

    try:
        store = open_store(_database(database))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        done = store.revoke_key(key_id, to_micros(utc_now()))
    finally:
        store.close()
    if not done:
        raise click.ClickException(f"no active key has id {key_id!r} (see shipdeck keys list)")
    click.echo(f"Revoked key {key_id}.")


@main.group()
def audit() -> None:
    """Check the audit log."""


@audit.command("verify")
@_database_option
def audit_verify(database: str | None) -> None:
    """Walk the audit log's hash chain; exit 1 and name the first broken entry if any."""
    from .engine.audit import verify_chain
    from .engine.store import StoreError, open_store

    try:
        store = open_store(_database(database))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        verdict = verify_chain(store)
    finally:
        store.close()
    if not verdict.ok:
        click.echo(f"audit log BROKEN at entry {verdict.broken_at}: {verdict.detail}", err=True)
        raise SystemExit(1)
    click.echo(f"audit log intact: {verdict.entries} entries")


class _ImportUsageError(click.ClickException):
    """`shipdeck import` cannot start: one sentence, exit status 2."""

    exit_code = 2


@main.command("import")
@_database_option
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
def import_(
    database: str | None, file: str, resume: bool, source: str | None, batch_lines: int
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
    Invalid and blank lines are rejected by number; the others are imported.

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

    from .engine.importer import ImportRefused, Input, import_lines
    from .engine.store import StoreError, open_store

    try:
        source_input = Input.open(file, source)
    except ImportRefused as exc:
        raise _ImportUsageError(str(exc)) from None
    with contextlib.ExitStack() as stack:
        stack.callback(source_input.close)
        try:
            store = open_store(_database(database))
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
