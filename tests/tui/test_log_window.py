"""`LogWindow`: the bounded run of lines a log view holds, and where each line's rows are."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.style import Style

from shipdeck.domain import LogLine
from shipdeck.tui.widgets.log_line import line_segments
from shipdeck.tui.widgets.log_window import LogWindow, held_line

AT = datetime(2026, 5, 28, 12, 0, tzinfo=UTC)


def lines(first: int, last: int) -> list[LogLine]:
    return [
        LogLine(seq=seq, at=AT, level="info", stream="stdout", message="x" * (seq % 7))
        for seq in range(first, last + 1)
    ]


def rows_of(line) -> int:
    """A wrap measure: 1 to 3 rows by message length."""
    return 1 + len(line.message) // 3


# Operations a view performs: a batch arrives (following or not), a range is fetched back,
# the window is trimmed around a line.
operation = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 300), st.booleans()),
    st.tuples(st.just("fetch"), st.integers(1, 2000), st.integers(1, 300)),
    st.tuples(st.just("trim"), st.integers(1, 2000), st.booleans()),
)


@settings(max_examples=200, deadline=None)
@given(
    ops=st.lists(operation, max_size=40),
    max_lines=st.integers(4, 200),
    wrap=st.booleans(),
)
def test_window_stays_bounded_contiguous_and_rows_map_both_ways(ops, max_lines, wrap) -> None:
    window = LogWindow(max_lines)
    if wrap:
        window.set_measure(rows_of)
    for op in ops:
        if op[0] == "append":
            count, following = op[1], op[2]
            window.append(lines(window.total + 1, window.total + count), following=following)
        elif op[0] == "fetch":
            first = min(op[1], max(1, window.total))
            window.merge(lines(first, first + op[2]))
        else:
            window.trim(min(op[1], max(1, window.total)))
        if len(window.lines) > max_lines:
            window.trim(window.total)
        assert len(window.lines) <= max_lines
        assert [line.seq for line in window.lines] == list(range(window.lo, window.hi + 1))
        assert window.hi <= window.total
    expected_rows = window.total + sum(rows_of(line) - 1 for line in window.lines) * wrap
    assert window.rows() == expected_rows
    for seq in range(1, window.total + 1):
        row = window.row_of(seq)
        assert window.at_row(row) == (seq, 0)
        held = window.get(seq)
        for sub in range(1, rows_of(held) if wrap and held is not None else 1):
            assert window.at_row(row + sub) == (seq, sub)


def test_repeats_are_dropped_and_a_gap_while_paused_is_not_held() -> None:
    window = LogWindow(100)
    assert window.append(lines(1, 10), following=True)
    assert not window.append(lines(5, 10), following=True)  # a resend after a reconnect
    assert window.append(lines(8, 12), following=True)
    assert [line.seq for line in window.lines] == list(range(1, 13))
    window.trim(1)  # under the bound: nothing happens
    window.clear()
    assert window.append(lines(13, 20), following=False)  # nothing held: starts a window
    window.merge(lines(1, 5))  # far from the window: replaces it
    assert (window.lo, window.hi, window.total) == (1, 5, 20)
    assert window.append(lines(21, 22), following=False)
    assert (window.hi, window.total) == (5, 22)  # paused elsewhere: counted, not held
    window.merge(lines(6, 30))  # touches the window; lines past total are the stream's
    assert (window.lo, window.hi) == (1, 22)


def test_trim_keeps_the_lines_around_the_reader_and_those_on_screen() -> None:
    window = LogWindow(100)
    window.append(lines(1, 101), following=True)
    window.trim(101)  # following: the end is kept
    assert (window.lo, window.hi) == (27, 101)
    window.append(lines(102, 130), following=True)
    window.trim(60)  # paused in the middle: the run around line 60
    assert window.lo <= 60 <= window.hi and len(window.lines) == 75
    window.append(lines(131, 140), following=False)  # paused: past the window, not held
    assert window.hi < 131 and window.total == 140
    window.append(lines(141, 150), following=True)  # following again: a new window
    assert (window.lo, window.hi) == (141, 150)

    window = LogWindow(100)
    window.append(lines(1, 101), following=True)
    window.trim(101, shown=(20, 30))  # the screen still shows 20..30 until the next frame
    assert (window.lo, window.hi) == (20, 101)
    window.append(lines(102, 200), following=True)
    window.trim(200, shown=(20, 30))  # too far to keep within the bound: the end wins
    assert (window.lo, window.hi) == (126, 200)


def test_a_match_cut_by_wrapping_is_marked_on_both_rows() -> None:
    mark = Style(bgcolor="yellow")
    styles = {"match": mark, "match-current": mark}
    line = held_line(lines(1, 1)[0].model_copy(update={"message": "a" * 30 + "NEEDLE" + "b"}))
    needle = re.compile("needle", re.IGNORECASE)

    def marked(sub: int) -> str:
        segments = line_segments(
            line,
            sub,
            50,
            wrap=True,
            needle=needle,
            current=False,
            style=lambda name: styles.get(name, Style()),
        )
        return "".join(s.text for s in segments if s.style is not None and s.style.bgcolor)

    # 50 cells leave 34 for the message (time without milliseconds): "NEEDLE" spans rows.
    assert (marked(0), marked(1)) == ("NEED", "LE")
