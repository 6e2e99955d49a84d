"""`shipdeck config` (where shipdeck's files are, and the configuration in effect) and
`shipdeck completion` (click's own shell completion, as a script to source)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SHIPDECK_COMPLETE"
MASK = "********"
"""What a secret value is shown as."""
_SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "auth")
"""A URL's query parameter whose name holds one of these is a credential."""


@click.command("config")
@click.option(
    "--config",
    "config_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="TUI config file to read (default: config.toml in the user config folder).",
)
@click.option(
    "--engine",
    "engine_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also show this engine TOML (as `shipdeck serve --config` reads it, with the "
    "SHIPDECK_* variables applied).",
)
def config(config_file: Path | None, engine_file: Path | None) -> None:
    """Print where shipdeck keeps its files and the configuration in effect.

    Keys are never printed: a profile shows the variable its key is read from and whether
    it is set; secrets of an engine file (webhook secrets, the literal values masked in
    logs, the command driver's environment, credentials in URLs) show as ********.
    """
    from .locations import config_dir, data_dir
    from .tui.config import TuiConfigError, default_config_path, load_tui_config

    path = config_file or default_config_path()
    state = "found" if path.is_file() else "not found: defaults in use"
    click.echo(f"config file:     {path} ({state})")
    click.echo(f"config folder:   {config_dir()}")
    click.echo(f"data folder:     {data_dir()}")
    click.echo(f"local database:  sqlite:///{data_dir() / 'shipdeck.db'} (the embedded engine)")
    click.echo(f"server key:      $SHIPDECK_TOKEN ({_set('SHIPDECK_TOKEN')})")
    click.echo(f'completion:      eval "$(shipdeck completion {_shell()})"')
    try:
        tui = load_tui_config(config_file)
    except TuiConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    effective = tui.model_dump(mode="json", exclude_none=True)
    for name, profile in tui.profiles.items():
        shown = effective["profiles"][name]
        if profile.token_env:
            shown["token_env"] = f"{profile.token_env} ({_set(profile.token_env)})"
        # A server URL or a database URL may carry a user's password (`postgresql://u:pw@…`).
        _hide_in(shown, "url", hide_url)
        _hide_in(shown, "urls", hide_url)
        _hide_in(shown, "database", hide_url)
    click.echo("\ndashboard configuration in effect:")
    click.echo(json.dumps(effective, indent=2, ensure_ascii=False))
    if engine_file is not None:
        _show_engine(engine_file)


def _show_engine(path: Path) -> None:
    from .engine import ConfigError, load_config

    try:
        engine = load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"\nengine configuration in effect ({path}):")
    click.echo(json.dumps(redact_engine(engine.model_dump(mode="json", by_alias=True)), indent=2))
    if engine.control.key_sha256:
        click.echo("control.key_sha256 is the SHA-256 of the control key, not the key itself.")


def redact_engine(dump: dict[str, Any]) -> dict[str, Any]:
    """An engine configuration's JSON dump (as `model_dump(mode="json")` makes it) with every
    secret masked. `SecretStr` fields (webhook secrets) come masked already; these are plain
    strings in the models because the engine uses their values as they are:

    - `[logs] secrets`: the literal values the engine masks in log lines;
    - `[drivers.NAME] env`: the command driver's environment, credentials as a rule;
    - a gitops driver's `remote` and `health_url`: a URL may carry `user:password@` or a
      `?token=`.
    """
    logs = dump.get("logs")
    if isinstance(logs, dict) and isinstance(logs.get("secrets"), dict):
        logs["secrets"] = {
            service: [MASK for _ in values] if isinstance(values, list) else MASK
            for service, values in logs["secrets"].items()
        }
    drivers = dump.get("drivers")
    for driver in drivers.values() if isinstance(drivers, dict) else ():
        if not isinstance(driver, dict):
            continue
        if isinstance(driver.get("env"), dict):
            driver["env"] = dict.fromkeys(driver["env"], MASK)
        _hide_in(driver, "remote", hide_url)
        _hide_in(driver, "health_url", hide_url)
    return dump


def hide_url(url: str) -> str:
    """`url` with its credentials masked: the password of `user:password@`, a user alone
    (`https://TOKEN@host`: a token in the user's place), and the values of query parameters
    named like a credential (`?password=`, `?token=`…). Anything else is returned as is."""
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:  # not a URL (a git remote's name, a malformed port): nothing to hide
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if has_password else f"{MASK}@{host}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(_secret_name(name) for name, _ in pairs):
        hidden = [(name, MASK if _secret_name(name) else value) for name, value in pairs]
        query = urlencode(hidden, safe="*{}")
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _hide_in(doc: dict[str, Any], field: str, hide: Callable[[str], str]) -> None:
    """Apply `hide` to `doc[field]` (a string, or a list of them), when present."""
    value = doc.get(field)
    if isinstance(value, str):
        doc[field] = hide(value)
    elif isinstance(value, list):
        doc[field] = [hide(item) if isinstance(item, str) else item for item in value]


def _set(variable: str) -> str:
    return "set" if os.environ.get(variable) else "not set"


def _shell() -> str:
    name = Path(os.environ.get("SHELL", "bash")).name
    return name if name in SHELLS else "bash"


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS), required=False)
@click.pass_context
def completion(ctx: click.Context, shell: str | None) -> None:
    """Print the shell completion script of `shipdeck` (click's own) for SHELL (default: the
    login shell). Enable it for this shell, or for good from your shell's startup file:

    \b
      eval "$(shipdeck completion bash)"     # ~/.bashrc
      eval "$(shipdeck completion zsh)"      # ~/.zshrc
      shipdeck completion fish | source     # ~/.config/fish/config.fish
    """
    root = ctx.find_root().command
    chosen = shell or _shell()
    cls = get_completion_class(chosen)
    assert cls is not None, chosen  # every choice is one of click's shells
    script = cls(root, {}, "shipdeck", COMPLETE_VAR).source()
    click.echo(script)


__all__ = ["completion", "config", "hide_url", "redact_engine"]
