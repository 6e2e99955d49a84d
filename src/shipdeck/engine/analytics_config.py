"""`[analytics]` in the engine's TOML file (or `SHIPDECK_ANALYTICS__*` variables).

Upstream's API reads three variables; shipdeck reads the same settings here:

- `ANALYTICS_FUNNEL_ENVIRONMENTS=dev,staging,prod`: `funnel_environments = ["dev",
  "staging", "prod"]` (or `SHIPDECK_ANALYTICS__FUNNEL_ENVIRONMENTS=dev,staging,prod`);
- `ANALYTICS_WINDOW_GRANULARITY=hour`: `granularity = "hour"`;
- `HISTORY_RETENTION_DAYS=365`: `retention_days = 365`.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_settings import NoDecode

DEFAULT_FUNNEL = ("dev", "staging", "qa", "preprod", "prod")
"""Upstream's default promotion ladder."""


def _names(value: object) -> object:
    """Upstream's comma-separated form as well as a list (or a JSON array in text)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part for part in text.split(",")]
    return value


class AnalyticsConfig(BaseModel):
    """How the analytics documents are computed (`[analytics]`)."""

    model_config = ConfigDict(extra="forbid")

    funnel_environments: Annotated[
        list[Annotated[str, Field(max_length=64)]],
        NoDecode,  # a variable's text reaches `_names` as it is: commas or JSON
        BeforeValidator(_names),
        Field(max_length=64),
    ] = Field(default_factory=lambda: list(DEFAULT_FUNNEL))
    """The promotion ladder, in order; the last is the production environment lead time
    is measured to. Matched ignoring case; blank entries are dropped, and none at all
    means the default (dev, staging, qa, preprod, prod)."""
    granularity: Literal["day", "hour"] = "day"
    """What a window's end is rounded down to: the start of the UTC day (figures, and
    their ETags, stay the same all day; today's rows count from tomorrow) or hour."""
    retention_days: int = Field(default=365, ge=1, le=36_500)
    """How far back analytics may look: a longer window is shortened (`clamped: true`)."""

    @field_validator("funnel_environments")
    @classmethod
    def _ladder(cls, names: list[str]) -> list[str]:
        ladder = [name.strip().lower() for name in names if name.strip()]
        return ladder or list(DEFAULT_FUNNEL)


__all__ = ["DEFAULT_FUNNEL", "AnalyticsConfig"]
