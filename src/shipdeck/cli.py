"""The `shipdeck` command."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import click

from . import __version__
from .cli_admin import audit, database_option, database_or_default, keys
from .cli_ci import COMMANDS as CI_COMMANDS
from .cli_config import completion, config
from .cli_import import import_
from .cli_web import web
from .client import EngineClient


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
    "when the one in use stops answering. Another platform through its connector: "
    "appaloft+http://HOST:PORT (an Appaloft session token in $SHIPDECK_TOKEN) or "
    "pushpaka+https://HOST (a Pushpaka JWT from POST /api/v1/auth/login in $SHIPDECK_TOKEN).",
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
    The same dashboard in a browser:              shipdeck web --demo
    Report a deployment from a CI job:            shipdeck report --status success ... (docs/ci.md)
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
@database_option
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
                database_url=database_or_default(database),
                config=load_config(config_file),
                access_log=access_log,
            )
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from exc


main.add_command(keys)
main.add_command(audit)
main.add_command(import_)
main.add_command(web)
main.add_command(config)
main.add_command(completion)
for _command in CI_COMMANDS:
    main.add_command(_command)
