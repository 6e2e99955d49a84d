"""A slot without a version shows what a person would look for: the commit, or the ref."""

from __future__ import annotations

import pytest

from shipdeck.domain import DeploymentEvent
from shipdeck.tui.format import version_text

from .conftest import row


def event(**fields: object) -> DeploymentEvent:
    body = row("gh-1", "api", "prod", "success", 0, "1.0").model_dump() | fields
    return DeploymentEvent.model_validate({"id": "r1", **body})


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({}, "1.0"),
        ({"version": None}, "@3f2c1a9"),  # the short sha, marked
        ({"version": None, "sha": "0123456789abcdef"}, "@0123456"),
        ({"version": None, "sha": None}, "@main"),  # refs/heads/main
        ({"version": None, "sha": None, "ref": "refs/tags/v2"}, "@v2"),
        ({"version": None, "sha": None, "ref": None}, "-"),  # never the deployment id
        ({"version": None, "sha": "\x1b[31mdead\x07"}, "@dead"),  # sanitised
    ],
)
def test_version_or_what_stands_for_it(fields: dict[str, object], shown: str) -> None:
    assert version_text(event(**fields)) == shown
