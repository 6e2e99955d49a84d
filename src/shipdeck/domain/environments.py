"""The order of environment columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

CONVENTIONAL_ORDER: tuple[str, ...] = (
    "dev",
    "test",
    "qa",
    "staging",
    "uat",
    "preprod",
    "prod",
    "production",
)
"""Used for names the configuration does not place: the usual path to production."""


def order_environments(names: Iterable[str], configured: Sequence[str] = ()) -> list[str]:
    """Return every known environment in display order.

    Configured environments come first, in their configured order (whether or not anything
    was deployed there yet); the others follow in the conventional order, then by name.
    """
    seen = set(configured)
    rest = {name for name in names if name not in seen}
    rank = {name: index for index, name in enumerate(CONVENTIONAL_ORDER)}
    tail = sorted(rest, key=lambda name: (rank.get(name, len(rank)), name))
    return [*dict.fromkeys(configured), *tail]
