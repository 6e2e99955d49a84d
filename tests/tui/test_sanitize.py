"""Text from outside reaches the screen inert: no escape sequences, no controls, no markup."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from textual.app import App, ComposeResult
from textual.style import Style
from textual.visual import Visual
from textual.widgets import Static

from shipdeck.tui.sanitize import safe_content, safe_text, sanitize, truncate

from .conftest import screen_lines

ESC = "\x1b"
ST = ESC + "\\"

HOSTILE: list[tuple[str, str, str]] = [
    ("OSC 0 title ended by BEL", f"1.4.2{ESC}]0;pwned\x07-rc1", "1.4.2-rc1"),
    ("OSC 0 title ended by ST", f"1.4.2{ESC}]0;pwned{ST}-rc1", "1.4.2-rc1"),
    ("OSC 8 hyperlink", f"see {ESC}]8;;https://evil.example{ST}docs{ESC}]8;;{ST}!", "see docs!"),
    ("OSC 52 clipboard write", f"alice{ESC}]52;c;cm0gLXJmIH4K\x07", "alice"),
    ("DCS", f"a{ESC}P1$r0m{ST}b", "ab"),
    ("APC", f"a{ESC}_Gf=100;AAAA{ST}b", "ab"),
    ("PM", f"a{ESC}^private{ST}b", "ab"),
    ("SOS", f"a{ESC}Xstring{ST}b", "ab"),
    ("CSI 6n cursor report", f"main{ESC}[6n", "main"),
    ("CSI 2J clear screen", f"{ESC}[2J{ESC}[Hdeployed", "deployed"),
    ("SGR colours", f"{ESC}[1;31mfailed{ESC}[0m {ESC}[38;2;255;0;0mred{ESC}[m", "failed red"),
    ("private CSI", f"{ESC}[?1049h{ESC}[?25lx", "x"),
    ("ESC c full reset", f"{ESC}cok", "ok"),
    ("ESC 7 / ESC 8", f"{ESC}7a{ESC}8b", "ab"),
    ("charset designator", f"{ESC}(0lqk{ESC}(B", "lqk"),
    ("unterminated OSC drops the rest", f"v1{ESC}]0;title and everything after", "v1"),
    ("OSC cut short by another escape", f"a{ESC}]0;t{ESC}[31mb", "ab"),
    ("lone trailing ESC", f"v2{ESC}", "v2"),
    ("ESC then a non-ASCII char", f"{ESC}é", "é"),
    ("8-bit CSI", "\x9b31mred\x9b0m", "red"),
    ("8-bit OSC ended by 8-bit ST", "\x9d0;title\x9cok", "ok"),
    ("8-bit DCS ended by BEL", "\x90q#0;2;0;0;0\x07ok", "ok"),
    ("8-bit APC unterminated", "ok\x9fhidden", "ok"),
    ("stray C1 and NEL", "a\x85b\x9cc\x8ed", "abcd"),
    ("lone CR", "1.0\rFAKE", "1.0 FAKE"),
    ("CRLF", "a\r\nb", "a b"),
    ("newline", "a\nb", "a b"),
    ("line separators", "a\u2028b\u2029c", "a b c"),
    ("tab", "a\tb", "a b"),
    ("backspace", "safe\x08\x08\x08\x08evil", "safeevil"),
    ("BEL", "ding\x07", "ding"),
    ("NUL", "a\x00b", "ab"),
    ("DEL", "a\x7fb", "ab"),
    ("other C0", "a\x01\x0b\x0c\x1a\x1fb", "ab"),
    ("bidi override", "user\u202etxt.exe", "usertxt.exe"),
    ("bidi isolates", "\u2066a\u2067b\u2068c\u2069", "abc"),
    ("lone surrogate", "a\ud800b", "a\ufffdb"),
    ("markup [TODO]", "[TODO]", "[TODO]"),
    ("markup [/b]", "[/b]", "[/b]"),
    ("markup [0]", "[0]", "[0]"),
    ("markup [bold red]", "[bold red]x", "[bold red]x"),
    ("unclosed [", "v1 [", "v1 ["),
    ("markup link", "[link=https://evil]x[/link]", "[link=https://evil]x[/link]"),
    ("unicode is kept", "café 中文 👍🏽 ☃", "café 中文 👍🏽 ☃"),
]


@pytest.mark.parametrize(("raw", "expected"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_sanitize_hostile_inputs(raw: str, expected: str) -> None:
    assert sanitize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\r\nb\rc\nd", "a\nb\nc\nd"),
        ("a\u2028b", "a\nb"),
        ("line\x1b[K\r\n\x1b[1mnext", "line\nnext"),
        ("a\tb", "a b"),
    ],
)
def test_multiline_keeps_line_breaks_as_newlines(raw: str, expected: str) -> None:
    assert sanitize(raw, multiline=True) == expected


def test_tabs_kept_only_when_asked() -> None:
    assert sanitize("a\tb", tabs=True) == "a\tb"
    assert sanitize("a\tb\nc", multiline=True, tabs=True) == "a\tb\nc"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), (42, "42"), (1.5, "1.5"), (b"ok\xff\x1b[2J", "ok\ufffd")],
)
def test_non_strings(value: object, expected: str) -> None:
    assert sanitize(value) == expected


def test_long_hostile_input_is_handled_in_one_pass() -> None:
    # A backtracking pattern would never finish on these; each is ~1 MB.
    assert sanitize(f"{ESC}]" * 500_000) == ""
    assert sanitize(f"{ESC}[" + "1;" * 500_000 + "mok") == "ok"
    assert sanitize((ESC + " " * 50 + "é") * 20_000) == "é" * 20_000


# --- properties ----------------------------------------------------------------------------

FRAGMENTS = [
    ESC, "[", "]", "P", "X", "^", "_", "\\", "(", "B", "c", "7", "?", ";", "0", "8", "52",
    "31", "m", "H", "J", "\x07", "\x9b", "\x9c", "\x9d", "\x90", "\x98", "\x9e", "\x9f",
    "\x85", "\r", "\n", "\t", "\x08", "\x00", "\x7f", "\u202e", "\u2066", "\u2028", "\ud800",
    "[b]", "[/b]", "[TODO]", "[link=x]", "=", "https://evil", "é", "中",
]  # fmt: skip
any_text = st.text(st.characters(codec=None))
escape_soup = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=40).map("".join)
hostile = any_text | escape_soup


def assert_inert(text: str, allowed: str = "") -> None:
    """Nothing a terminal would act on is left in `text`."""
    for char in text:
        code = ord(char)
        assert char != ESC and char != "\x07", repr(text)
        assert not 0x80 <= code <= 0x9F, repr(text)
        assert code != 0x7F and (code >= 0x20 or char in allowed), repr(text)
        assert not (0x202A <= code <= 0x202E or 0x2066 <= code <= 0x2069), repr(text)
        assert not 0xD800 <= code <= 0xDFFF, repr(text)


@settings(max_examples=500)
@given(hostile, st.booleans(), st.booleans())
def test_output_is_inert(raw: str, multiline: bool, tabs: bool) -> None:
    out = sanitize(raw, multiline=multiline, tabs=tabs)
    assert_inert(out, allowed=("\n" if multiline else "") + ("\t" if tabs else ""))
    if not multiline:
        assert "\u2028" not in out and "\u2029" not in out
    out.encode("utf-8")  # what the driver will write, with no lone surrogate to choke on


@settings(max_examples=500)
@given(hostile, st.booleans(), st.booleans())
def test_sanitize_is_idempotent(raw: str, multiline: bool, tabs: bool) -> None:
    once = sanitize(raw, multiline=multiline, tabs=tabs)
    assert sanitize(once, multiline=multiline, tabs=tabs) == once


clean_text = st.text(
    st.characters(
        codec=None,
        exclude_categories=["Cc", "Cs"],
        exclude_characters="\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)


@given(clean_text)
def test_clean_text_is_unchanged(raw: str) -> None:
    assert sanitize(raw) == raw
    assert str(safe_content(raw)) == raw
    assert safe_text(raw).plain == raw


@given(hostile, st.integers(min_value=-1, max_value=30))
def test_truncate_fits_the_width(raw: str, width: int) -> None:
    text = sanitize(raw)
    cut = truncate(text, width)
    assert cell_len(cut) <= max(width, 0)
    if cell_len(text) <= width:
        assert cut == text
    elif width >= 1:
        assert cut.endswith("…")
        assert text.startswith(cut[:-1])


def test_truncate_examples() -> None:
    assert truncate("1.4.2-rc.10", 7) == "1.4.2-…"
    assert truncate("1.4.2", 5) == "1.4.2"
    assert truncate("ab中文", 4) == "ab…"  # the wide char does not fit beside the ellipsis
    assert truncate("ab中文", 5) == "ab中…"
    assert truncate("long", 1) == "…"
    assert truncate("long", 0) == ""


# --- on screen -----------------------------------------------------------------------------

MARKUP_LOOKALIKES = ["[TODO]", "[/b]", "[0]", "[bold red]x", "v1 [", "[link=https://evil]x[/link]"]


class ProbeApp(App[None]):
    """One Static per value, built through safe_content and through safe_text."""

    def __init__(self, values: list[str]) -> None:
        super().__init__()
        self.values = values

    def compose(self) -> ComposeResult:
        for value in self.values:
            yield Static(safe_content(f"c:{ESC}[31m{value}\x07", style="bold"), markup=True)
            yield Static(safe_text(f"t:{ESC}]0;x{ST}{value}", style="bold"), markup=True)


async def test_markup_lookalikes_show_literally_in_a_widget() -> None:
    app = ProbeApp(MARKUP_LOOKALIKES)
    async with app.run_test(size=(60, 2 * len(MARKUP_LOOKALIKES))) as pilot:
        await pilot.pause()
        lines = [line.rstrip() for line in screen_lines(app)]
    for value in MARKUP_LOOKALIKES:
        assert f"c:{value}" in lines
        assert f"t:{value}" in lines


async def test_any_input_renders_in_a_widget() -> None:
    app = ProbeApp(["placeholder"])
    async with app.run_test(size=(40, 4)):
        static = app.query_one(Static)

        def render(value: object) -> str:
            static.update(value)  # type: ignore[arg-type]
            strips = Visual.to_strips(static, static.visual, 40, None, Style())
            return "".join(strip.text for strip in strips)

        @settings(max_examples=200, deadline=None)
        @given(hostile, st.booleans())
        def renders_inert(raw: str, multiline: bool) -> None:
            for value in (safe_content(raw, multiline=multiline), safe_text(raw)):
                shown = render(value)
                assert_inert(shown)
            assert "[TODO] [/b] [0] [" in render(safe_content(f"[TODO] [/b] [0] [ {raw}"))

        renders_inert()


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_rich_console_output_of_safe_text_is_inert(raw: str) -> None:
    console = Console(width=40, color_system=None, force_terminal=False)
    with console.capture() as capture:
        console.print(safe_text(raw, multiline=True), safe_text("[/b][0]["))
    assert_inert(capture.get(), allowed="\n")
    assert "[/b][0][" in capture.get()
