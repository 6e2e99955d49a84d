"""Where the stylesheets are: inside the wheel, or at the top of a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent


def styles_dir() -> Path:
    """`shipdeck/styles` in an installed wheel; `styles/` of the checkout otherwise."""
    bundled = _PACKAGE / "styles"
    return bundled if bundled.is_dir() else _PACKAGE.parent.parent / "styles"


def stylesheets() -> list[str | Path]:
    """Every `.tcss` file, app first."""
    folder = styles_dir()
    return [folder / "app.tcss", *sorted(p for p in folder.glob("*.tcss") if p.name != "app.tcss")]
