"""Templates: only the job's plain values may be spliced in."""

from __future__ import annotations

import pytest

from shipdeck.engine.drivers import DeployJob
from shipdeck.engine.drivers.base import check_template, render


def test_render_splices_every_placeholder(job: DeployJob) -> None:
    template = "{service}/{environment}/{version}/{deployment_id}"
    assert render(check_template(template), job) == "checkout-api/prod/1.4.3/dep-0001"


def test_doubled_braces_stay_literal(job: DeployJob) -> None:
    assert render(check_template("{{service}}={service}"), job) == "{service}=checkout-api"


@pytest.mark.parametrize(
    ("template", "named"),
    [
        ("{region}", "{region}"),
        ("x-{}", "{}"),
        ("{0}", "{0}"),
        ("{service.__class__}", "{service.__class__}"),
        ("{version!r}", "{version!r}"),
        ("{version:>20}", "{version:>20}"),
    ],
)
def test_unknown_or_fancy_placeholders_are_refused(template: str, named: str) -> None:
    with pytest.raises(ValueError, match="unknown placeholder") as caught:
        check_template(template)
    assert named in str(caught.value)
    assert "{service}" in str(caught.value)  # says what is allowed


def test_unbalanced_brace_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid template"):
        check_template("deploy {service")
