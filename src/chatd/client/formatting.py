"""IRC text formatting codes: parse them into styled spans, or strip them.

Owns the mIRC-style control codes found in message text: bold ^B, colour ^C (fg[,bg]),
hex colour ^D, italics ^], strikethrough ^^, monospace ^Q, underline ^_, reverse ^V and
reset ^O. It returns plain data (text plus attribute set); turning spans into terminal styles
is the view's job. Other control characters (C0, DEL and C1, such as U+009B, the 8-bit CSI)
are replaced by U+FFFD so nothing raw reaches the screen. For display, `parse` also drops the
characters terminals disagree on the width of (emoji modifiers, zero-width joiners, variation
selectors, tag characters) and spells flags as letters, so a column never shifts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

BOLD = "\x02"
COLOR = "\x03"
HEX_COLOR = "\x04"
RESET = "\x0f"
MONOSPACE = "\x11"
REVERSE = "\x16"
ITALIC = "\x1d"
STRIKE = "\x1e"
UNDERLINE = "\x1f"

_TOGGLES = {
    BOLD: "bold",
    ITALIC: "italic",
    UNDERLINE: "underline",
    REVERSE: "reverse",
    STRIKE: "strike",
}
_COLOR_RE = re.compile(r"\x03(?:(\d{1,2})(?:,(\d{1,2}))?)?")
_HEX_RE = re.compile(r"\x04(?:([0-9a-fA-F]{6})(?:,([0-9a-fA-F]{6}))?)?")
_STRIP_RE = re.compile(
    r"\x03(?:\d{1,2}(?:,\d{1,2})?)?|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)

# The 16 standard mIRC colours as RGB hex (index 99 = default).
MIRC_COLORS = (
    "ffffff", "000000", "00007f", "009300", "ff0000", "7f0000", "9c009c", "fc7f00",
    "ffff00", "00fc00", "009393", "00ffff", "0000fc", "ff00ff", "7f7f7f", "d2d2d2",
)  # fmt: skip


@dataclass(frozen=True)
class Span:
    """A run of text with the same attributes. Colours are 'rrggbb' strings or None."""

    text: str
    attrs: frozenset[str] = field(default_factory=frozenset)
    fg: str | None = None
    bg: str | None = None


def _mirc(code: str | None) -> str | None:
    if code is None:
        return None
    n = int(code)
    return MIRC_COLORS[n] if n < len(MIRC_COLORS) else None


def _clean(text: str) -> str:
    """Replace control characters that must never be written raw to a terminal."""
    return "".join(ch if _printable(ch) else _visible(ch) for ch in text)


def _printable(ch: str) -> bool:
    return ch >= " " and not "\x7f" <= ch <= "\x9f"


# Drawn one width by prompt_toolkit (wcwidth) and another by many terminals: an emoji with a
# skin-tone modifier, a ZWJ family, VS16 turning a narrow symbol into a wide emoji, flag tags.
_UNSTABLE = re.compile("[\u200d\ufe00-\ufe0f\U0001f3fb-\U0001f3ff\U000e0000-\U000e007f]")
_REGIONAL = re.compile("[\U0001f1e6-\U0001f1ff]")


def display(text: str) -> str:
    """Text whose width every terminal agrees on (for the screen, not for logs)."""
    text = _UNSTABLE.sub("", text)
    return _REGIONAL.sub(lambda m: chr(ord(m.group()) - 0x1F1E6 + ord("A")), text)


def _visible(ch: str) -> str:
    if ch == "\t":
        return "    "
    return "\ufffd"


def strip(text: str) -> str:
    """The text without formatting codes (and with other controls made harmless)."""
    return _clean(_STRIP_RE.sub("", text))


def parse(text: str) -> list[Span]:
    """Split text into spans; the codes themselves are consumed, never returned."""
    spans: list[Span] = []
    attrs: set[str] = set()
    fg: str | None = None
    bg: str | None = None
    buf: list[str] = []
    i = 0

    def flush() -> None:
        if buf:
            spans.append(Span(display(_clean("".join(buf))), frozenset(attrs), fg, bg))
            buf.clear()

    while i < len(text):
        ch = text[i]
        if ch in _TOGGLES:
            flush()
            attrs ^= {_TOGGLES[ch]}
            i += 1
        elif ch == RESET:
            flush()
            attrs.clear()
            fg = bg = None
            i += 1
        elif ch == MONOSPACE:
            i += 1
        elif ch == COLOR:
            flush()
            m = _COLOR_RE.match(text, i)
            assert m is not None
            if m.group(1) is None:
                fg = bg = None
            else:
                fg = _mirc(m.group(1))
                if m.group(2) is not None:
                    bg = _mirc(m.group(2))
            i = m.end()
        elif ch == HEX_COLOR:
            flush()
            m = _HEX_RE.match(text, i)
            assert m is not None
            if m.group(1) is None:
                fg = bg = None
            else:
                fg = m.group(1).lower()
                if m.group(2) is not None:
                    bg = m.group(2).lower()
            i = m.end()
        else:
            buf.append(ch)
            i += 1
    flush()
    return spans
