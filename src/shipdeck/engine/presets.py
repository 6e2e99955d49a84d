"""Provided presets: named UI settings an operator offers every dashboard user (`[[presets]]`).

Upstream's frontend lists them (`GET /api/presets`) beside the presets a user saved in the
browser, read-only, "provided by {source}". Upstream's API stores bundles that sources
publish; shipdeck takes them from the engine's TOML file, so `fetched_at` is when the
configuration was read. `settings` is the frontend's own document (theme, view, filters…):
the engine keeps it as given and never interprets it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from ..domain.timestamps import format_rfc3339

MAX_SETTINGS_KEYS = 64
"""A preset's settings hold a few dozen UI fields; more is a mistake."""


class PresetConfig(BaseModel):
    """One `[[presets]]` entry."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=200)
    """Who provides it (shown as "provided by …"), e.g. `acme/infra`."""
    name: str = Field(min_length=1, max_length=100)
    """The preset's name, unique within its source."""
    version: int = Field(default=1, ge=1, le=1)
    """The frontend's preset envelope version (only `1` exists)."""
    settings: dict[str, Any] = Field(default_factory=dict, max_length=MAX_SETTINGS_KEYS)
    """The frontend's settings document, passed through as it is."""


class ProvidedPreset(BaseModel):
    """One item of `GET /api/presets`."""

    source: str
    name: str
    version: int
    settings: dict[str, Any]
    fetched_at: datetime

    @field_serializer("fetched_at")
    def _fetched_at_text(self, value: datetime) -> str:
        return format_rfc3339(value)


class ProvidedPresets(BaseModel):
    """`GET /api/presets`: every source's presets, by source then name."""

    items: list[ProvidedPreset]


def provided_presets(configured: list[PresetConfig], read_at: datetime) -> ProvidedPresets:
    """The catalog of the configured presets, as read at `read_at`."""
    ordered = sorted(configured, key=lambda p: (p.source, p.name))
    return ProvidedPresets(
        items=[
            ProvidedPreset(
                source=p.source,
                name=p.name,
                version=p.version,
                settings=p.settings,
                fetched_at=read_at,
            )
            for p in ordered
        ]
    )


__all__ = ["PresetConfig", "ProvidedPreset", "ProvidedPresets", "provided_presets"]
