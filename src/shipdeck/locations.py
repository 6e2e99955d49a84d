"""Where shipdeck keeps its files, per platform (platformdirs)."""

from __future__ import annotations

from pathlib import Path

from platformdirs import PlatformDirs

_DIRS = PlatformDirs("shipdeck", appauthor=False)


def config_dir() -> Path:
    """The folder of `config.toml` (profiles, keymap, theme)."""
    return Path(_DIRS.user_config_dir)


def data_dir() -> Path:
    """The folder of the embedded engine's database."""
    return Path(_DIRS.user_data_dir)


def default_database_url() -> str:
    """The embedded engine's database, created on first use."""
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'shipdeck.db'}"
