"""The matrix grid's pure layout: column widths, cell text at each width, truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.cells import cell_len

from shipdeck.domain import DeploymentEvent, Status
from shipdeck.tui.model import Cell, MatrixModel, PendingAction
from shipdeck.tui.widgets.matrix_cells import (
    MIN_CELL,
    GridLayout,
    cell_padding,
    cell_parts,
    grid_layout,
    parts_width,
    service_label,
    truncate_parts,
)

NOW = datetime(2026, 5, 28, 10, 0, tzinfo=UTC)


def event(
    status: Status,
    version: str = "1.4.3",
    *,
    deployment_id: str = "gh-5",
    ago: int = 45,
    phase: str | None = None,
) -> DeploymentEvent:
    return DeploymentEvent(
        id=f"{deployment_id}-{status.value}",
        deployment_id=deployment_id,
        service="checkout-api",
        environment="prod",
        version=version,
        status=status,
        phase=phase,
        happened_at=NOW - timedelta(seconds=ago),
    )


def cell_of(*events: DeploymentEvent) -> Cell | None:
    model = MatrixModel()
    for row in events:
        model.apply(row)
    return model.cell("checkout-api", "prod")


def text(parts: list[tuple[str, str]]) -> str:
    return "".join(t for t, _ in parts)


# -- column widths -----------------------------------------------------------------------


def test_the_service_column_fits_the_longest_name_plus_a_gap() -> None:
    layout = grid_layout(200, ["api", "checkout-api"], ["dev", "prod"])
    assert layout == GridLayout(service_width=14, cell_width=93)


def test_the_service_column_is_at_least_ten_and_at_most_twenty_eight() -> None:
    assert grid_layout(300, ["a"], ["dev"]).service_width == 10
    assert grid_layout(300, ["x" * 60], ["dev"]).service_width == 28
    assert grid_layout(300, [], ["dev"]).service_width == 10


def test_the_service_column_gives_way_until_cells_have_sixteen() -> None:
    # 4 environments at 80 columns: 28 would leave 13 a cell; it shrinks to 16 each.
    layout = grid_layout(80, ["x" * 40], ["dev", "qa", "uat", "prod"])
    assert layout == GridLayout(service_width=16, cell_width=16)


def test_cells_never_go_below_the_minimum() -> None:
    layout = grid_layout(40, ["checkout-api"], [f"env{i}" for i in range(10)])
    assert layout.service_width == 10
    assert layout.cell_width == MIN_CELL


def test_no_environment_counts_as_one_column() -> None:
    assert grid_layout(50, ["api"], []) == GridLayout(10, 40)


def test_wide_names_are_measured_in_cells() -> None:
    assert grid_layout(300, ["服务服务服务"], ["dev"]).service_width == 14


# -- the service column ------------------------------------------------------------------


def test_a_short_name_is_padded_to_the_column() -> None:
    assert service_label("api", 10) == "api       "


def test_a_long_name_is_cut_with_an_ellipsis_and_keeps_a_gap() -> None:
    label = service_label("checkout-api-gateway", 10)
    assert label == "checkout… "
    assert len(label) == 10


def test_a_name_that_just_fits_keeps_its_gap() -> None:
    assert service_label("123456789", 10) == "123456789 "
    assert service_label("1234567890", 10) == "12345678… "


def test_a_service_name_is_sanitised() -> None:
    assert service_label("api\x1b[31m", 10) == "api       "


# -- truncation --------------------------------------------------------------------------


def test_parts_that_fit_are_kept_whole() -> None:
    parts = [("✓", "success"), (" ok", "success")]
    assert truncate_parts(parts, 4) == parts
    assert parts_width(parts) == 4


def test_the_first_part_that_does_not_fit_is_cut_and_the_rest_dropped() -> None:
    parts = [("✓", "success"), (" success", "success"), (" 1.4.3", "version")]
    assert truncate_parts(parts, 6) == [("✓", "success"), (" suc…", "success")]


def test_a_part_with_one_cell_left_is_dropped_not_cut() -> None:
    parts = [("✓", "success"), (" success", "success")]
    assert truncate_parts(parts, 2) == [("✓", "success")]


def test_padding_fills_the_cell_to_its_width() -> None:
    parts = [("✓", "success"), (" ok", "success")]
    assert cell_padding(parts, 10) == 6


# -- cell text at each width -------------------------------------------------------------


def test_an_empty_slot_shows_a_dot() -> None:
    assert cell_parts(None, 30, NOW) == [("·", "empty")]


def test_an_empty_slot_with_a_sent_action_shows_the_mark_and_the_action() -> None:
    sent = PendingAction("deploy", "1.4.3")
    assert text(cell_parts(None, 30, NOW, sent)) == "◌ deploy"
    assert text(cell_parts(None, 5, NOW, sent)) == "◌ de…"


def test_a_wide_cell_has_word_version_and_age() -> None:
    parts = cell_parts(cell_of(event(Status.SUCCESS)), 30, NOW)
    assert text(parts) == "✓ success 1.4.3 45s"
    assert [kind for _, kind in parts] == ["success", "success", "version", "dim"]


def test_a_narrower_cell_drops_the_age_then_shortens_the_word() -> None:
    cell = cell_of(event(Status.SUCCESS))
    assert text(cell_parts(cell, 29, NOW)) == "✓ success 1.4.3"
    assert text(cell_parts(cell, 17, NOW)) == "✓ ok 1.4.3"


def test_a_running_slot_shows_its_phase() -> None:
    cell = cell_of(event(Status.IN_PROGRESS, phase="validating"))
    assert text(cell_parts(cell, 29, NOW)) == "◐ validating 1.4.3"
    assert text(cell_parts(cell, 17, NOW)) == "◐ val 1.4.3"


def test_the_next_version_shows_when_there_is_room() -> None:
    cell = cell_of(
        event(Status.SUCCESS, ago=600),
        event(Status.QUEUED, "1.5.0", deployment_id="gh-6"),
    )
    assert text(cell_parts(cell, 29, NOW)) == "✓ success 1.4.3 ▸◷ 1.5.0"
    assert text(cell_parts(cell, 23, NOW)) == "✓ success 1.4.3 ▸◷"


def test_a_sent_action_comes_first() -> None:
    cell = cell_of(event(Status.SUCCESS))
    sent = PendingAction("rollback", None)
    assert text(cell_parts(cell, 29, NOW, sent)) == "◌✓ success 1.4.3"


@pytest.mark.parametrize("width", [MIN_CELL - 1, 10, 15, 17, 20, 23, 29, 40])
def test_a_cell_never_overflows_its_width(width: int) -> None:
    cell = cell_of(
        event(Status.FAILURE, "2.0.0-rc.1+build.77", ago=7200),
        event(Status.IN_PROGRESS, "2.0.1-rc.2", deployment_id="gh-7", phase="monitoring"),
    )
    parts = cell_parts(cell, width, NOW, PendingAction("retry", None))
    assert parts_width(parts) <= width
    assert cell_len(text(parts)) == parts_width(parts)
