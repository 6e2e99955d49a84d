"""Environment column order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shipdeck.domain import CONVENTIONAL_ORDER, order_environments


def test_conventional_order_then_alphabetical() -> None:
    names = ["prod", "zeta", "dev", "alpha", "staging", "qa", "production", "uat"]
    assert order_environments(names) == [
        "dev",
        "qa",
        "staging",
        "uat",
        "prod",
        "production",
        "alpha",
        "zeta",
    ]


def test_configured_order_comes_first_and_includes_unused_environments() -> None:
    assert order_environments(["dev", "prod", "sandbox"], ["prod", "canary", "dev"]) == [
        "prod",
        "canary",
        "dev",
        "sandbox",
    ]


@given(
    st.lists(st.sampled_from([*CONVENTIONAL_ORDER, "a", "b", "zz"])),
    st.lists(st.sampled_from(["x", "dev", "prod"]), unique=True),
)
def test_every_name_once(names: list[str], configured: list[str]) -> None:
    result = order_environments(names, configured)
    assert sorted(result) == sorted(set(names) | set(configured))
    assert result[: len(configured)] == configured
