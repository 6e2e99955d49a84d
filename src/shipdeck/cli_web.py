"""`shipdeck web`: the same dashboard in a browser, served by `textual-serve`.

Every browser tab runs its own `shipdeck` (or `shipdeck demo`) process behind a WebSocket,
with the options given here; that process acts with this machine's user and keys, so the
server listens on the loopback interface unless told otherwise, and answers only with the
random token it prints at start (no other user of the machine can drive it) and only pages
it served itself (no other site open in the same browser can drive it).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click


def dashboard_argv(options: dict[str, Any]) -> list[str]:
    """The command each browser session runs: this Python, `-m shipdeck`, the options."""
    argv = [sys.executable, "-m", "shipdeck"]
    if options.get("config_file") is not None:
        argv += ["--config", str(options["config_file"])]
    if options.get("demo"):
        argv.append("demo")
    else:
        if options.get("profile"):
            argv += ["--profile", options["profile"]]
        for url in options.get("urls") or ():
            argv += ["--url", url]
    if options.get("read_only"):
        argv.append("--read-only")
    return argv


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--allow-remote",
    is_flag=True,
    help="Allow a --host other than loopback. Whoever reaches the port then uses the "
    "dashboard as this machine's user, with its key and profiles.",
)
@click.option("--demo", is_flag=True, help="Serve `shipdeck demo` (each tab its own demo).")
@click.option("--profile", metavar="NAME", help="A profile from the config file.")
@click.option("--url", "urls", metavar="URL", multiple=True, help="A shipdeck server (repeat).")
@click.option("--read-only", is_flag=True, help="Hide every action; only watch.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TUI config file (default: config.toml in the user config folder).",
)
@click.pass_context
def web(ctx: click.Context, /, host: str, port: int, allow_remote: bool, **options: Any) -> None:
    """Serve the dashboard to a browser: http://127.0.0.1:8000 by default, opened with the
    token it prints (http://127.0.0.1:8000/?token=…); without it the page is refused.

    Every option of `shipdeck` works here (--url, --profile, --read-only, --config), given
    before or after `web`; `shipdeck web --demo` serves the demo. The API key is read from
    $SHIPDECK_TOKEN, as always, and never reaches the browser.
    """
    from .web import DashboardServer, is_loopback

    parent = ctx.parent.params if ctx.parent is not None else {}
    for name in ("profile", "urls", "read_only", "config_file"):
        options[name] = options.get(name) or parent.get(name)
    if not is_loopback(host) and not allow_remote:
        raise click.UsageError(
            f"--host {host} is not a loopback address: whoever reaches it would use the "
            "dashboard as this machine's user; pass --allow-remote to do it anyway"
        )
    if options["demo"] and (options["profile"] or options["urls"]):
        raise click.UsageError("--demo brings its own engine; drop --profile and --url")
    target = _check_target(options)
    server = DashboardServer(
        shlex.join(dashboard_argv(options)), host=host, port=port, target=target
    )
    click.echo(server.banner(remote=not is_loopback(host)), err=True)
    server.serve()


def _check_target(options: dict[str, Any]) -> str:
    """What the sessions will show, checked once here so a mistake is one line now."""
    if options["demo"]:
        return "the demo"
    from .launch import resolve_profile
    from .tui.config import TuiConfigError, load_tui_config

    try:
        config = load_tui_config(options["config_file"])
        name, profile = resolve_profile(config, options["profile"], options["urls"])
    except TuiConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return "the embedded engine" if profile.embedded else f"{name}"


__all__ = ["dashboard_argv", "web"]
