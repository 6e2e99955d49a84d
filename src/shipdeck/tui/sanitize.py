"""Make text from outside inert before it reaches the screen.

Versions, actors, refs, messages, URLs and log lines come from CI systems and people we do not
control. A terminal acts on escape sequences (retitle the window, write the clipboard, plant
a hyperlink, move the cursor, report its position back as typed input) and Textual's
`Content` only strips a handful of C0 codes, so every such string passes through `sanitize`
first. The result is plain text for `Text`/`Content`, never markup: `[b]` stays `[b]`.
"""

from __future__ import annotations

import re
from functools import cache

from rich.cells import cell_len, set_cell_size
from rich.style import Style as RichStyle
from rich.text import Text
from textual.content import Content
from textual.style import Style

__all__ = ["safe_content", "safe_text", "sanitize", "truncate"]

ELLIPSIS = "…"

# One pass, left to right, and every quantifier possessive (`*+`): no backtracking, so the
# time is linear however hostile the input. The first match at each ESC wins, so the generic
# escape rule at the end only sees what the control-string and CSI rules did not claim.
_SEQUENCE = re.compile(
    # OSC, DCS, SOS, PM and APC, 7- and 8-bit. A terminal ends the string at BEL, at ST
    # (ESC \ or 0x9C) or at any other ESC (which starts a new sequence); if none follows,
    # the rest of the input is part of the string and is dropped with it.
    r"(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*+[\x07\x9c]?"
    # CSI, 7- and 8-bit: parameter bytes, intermediate bytes, a final byte if present.
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*+[\x20-\x2f]*+[\x40-\x7e]?"
    # Any other escape: ESC c, ESC 7, ESC \, charset designators (ESC ( B), a lone ESC.
    r"|\x1b[\x20-\x2f]*+[\x30-\x7e]?"
)

_BIDI_CONTROLS = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_LINE_BREAKS = [0x0A, 0x0D, 0x2028, 0x2029]
_SURROGATES = range(0xD800, 0xE000)

# Anything `sanitize` might change; text without any of these is returned as it is.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@cache
def _translation(multiline: bool, tabs: bool) -> dict[int, str | None]:
    """The `str.translate` table for one mode: what each unsafe code point becomes."""
    table: dict[int, str | None] = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)])
    table.update(dict.fromkeys(_BIDI_CONTROLS))
    # Trojan-source bidi controls go, line breaks become one kind (or a space, so a value
    # cannot break a table row), and lone surrogates, which no terminal encoding can write,
    # become the replacement character.
    table.update(dict.fromkeys(_LINE_BREAKS, "\n" if multiline else " "))
    table[0x09] = "\t" if tabs else " "
    table.update(dict.fromkeys(_SURROGATES, "\ufffd"))
    return table


def sanitize(value: object, *, multiline: bool = False, tabs: bool = False) -> str:
    """Turn any value from outside into text that is safe to display.

    Removes every escape sequence (CSI, OSC, DCS, SOS, PM, APC, terminated or not, in 7- and
    8-bit form, and two-character escapes), then every other C0 and C1 control, DEL and the
    bidi override and isolate controls. Lone surrogates become U+FFFD.

    Args:
        value: Anything: `None` gives `""`, bytes are decoded as UTF-8 (bad bytes become
            U+FFFD), any other non-str goes through `str()`.
        multiline: Keep line breaks, normalised to `\\n` (CRLF, lone CR, U+2028 and U+2029
            included). Otherwise each line break becomes one space.
        tabs: Keep tabs; otherwise each tab becomes one space.

    Returns:
        Plain text with no control characters but `\\n`/`\\t` where allowed. Sanitising it
        again changes nothing.
    """
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", errors="replace")
    else:
        text = value if isinstance(value, str) else str(value)
    if not _UNSAFE.search(text):
        return text
    text = _SEQUENCE.sub("", text)
    return text.replace("\r\n", "\n").translate(_translation(multiline, tabs))


def safe_text(value: object, *, style: str | RichStyle = "", multiline: bool = False) -> Text:
    """A Rich `Text` of the sanitised value; markup in it is shown, never parsed.

    Args:
        value: Anything from outside (see `sanitize`).
        style: A style for the whole text.
        multiline: Keep line breaks.

    Returns:
        The text, ready for a widget or a table cell.
    """
    return Text(sanitize(value, multiline=multiline), style=style)


def safe_content(value: object, *, style: str | Style = "", multiline: bool = False) -> Content:
    """A Textual `Content` of the sanitised value; markup in it is shown, never parsed.

    Args:
        value: Anything from outside (see `sanitize`).
        style: A style for the whole content.
        multiline: Keep line breaks.

    Returns:
        The content, ready for `Static.update` and friends.
    """
    # `Content(...)`/`Content.styled` take the text literally; `Content.from_markup` (and a
    # bare str handed to a widget) would parse it.
    return Content.styled(sanitize(value, multiline=multiline), style)


def truncate(value: str, width: int) -> str:
    """Fit already-sanitised single-line text into `width` terminal cells.

    Text that fits is returned unchanged; longer text is cut at a character boundary and
    ends with "…". Wide characters count as two cells and are never split.

    Args:
        value: Sanitised text (see `sanitize`).
        width: The cells available.

    Returns:
        Text whose cell length is at most `width` (empty when `width` < 1).
    """
    if width < 1:
        return ""
    if cell_len(value) <= width:
        return value
    # set_cell_size pads a wide character it cannot fit with a space; the ellipsis should
    # sit right after the last visible character instead.
    return set_cell_size(value, width - 1).rstrip(" ") + ELLIPSIS
