"""`shipdeck config` (where shipdeck's files are, and the configuration in effect) and
`shipdeck completion` (click's own shell completion, as a script to source)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SHIPDECK_COMPLETE"


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
    it is set; secrets of an engine file show as ********.
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
        if profile.token_env:
            effective["profiles"][name]["token_env"] = (
                f"{profile.token_env} ({_set(profile.token_env)})"
            )
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
    click.echo(json.dumps(engine.model_dump(mode="json", by_alias=True), indent=2))


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


__all__ = ["completion", "config"]
