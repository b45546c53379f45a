"""The message area: a UIControl that renders only the visible slice of a buffer's log.

Owns turning LogLines into wrapped, styled screen rows, and the scroll position of each buffer.
A view is pinned to the bottom (new lines show up as they come) until the user scrolls up; then
it is anchored to a line, so new messages never move it, and a "more below" row says so. Each
redraw renders just the entries that fit (plus a small cache), so a long log costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from prompt_toolkit.layout.controls import UIContent, UIControl
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType
from prompt_toolkit.utils import get_cwidth

from .. import formatting, search
from ..model import Kind, LogLine
from .style import nick_style, span_style

Row = tuple[tuple[str, str], ...]
WHEEL_ROWS = 3
DEFAULT_TIME_FORMAT = "%H:%M"


@dataclass(frozen=True)
class Look:
    """What, besides the line and the width, decides how a line is drawn (a cache key)."""

    color: bool = True
    time_format: str = DEFAULT_TIME_FORMAT
    term: str = ""  # the search being made: its matches are marked
    current: int | None = None  # the seq of the match the search is on


@dataclass
class ViewState:
    """Scroll position of one buffer: pinned, or anchored at (entry seq, row within it)."""

    pinned: bool = True
    anchor_seq: int = 0
    anchor_row: int = 0


def _prefix(line: LogLine, color: bool, time_format: str) -> list[tuple[str, str]]:
    stamp_style = "class:log.time class:log.history" if line.history else "class:log.time"
    frags: list[tuple[str, str]] = [
        (stamp_style, formatting.display(time.strftime(time_format, time.localtime(line.time))))
    ]
    frags.append(("", " "))
    nick = line.nick or ""
    nstyle = "class:log.own" if line.own else nick_style(nick, color)
    if line.kind is Kind.MESSAGE:
        frags += [("", "<"), (nstyle, nick), ("", "> ")]
    elif line.kind is Kind.ACTION:
        frags += [
            ("class:log.action", "* "),
            (nstyle + " class:log.action", nick),
            ("class:log.action", " "),
        ]
    elif line.kind is Kind.NOTICE:
        frags += (
            [("class:log.notice", "-"), (nstyle, nick), ("class:log.notice", "- ")]
            if nick
            else [("class:log.notice", "-- ")]
        )
    elif line.kind is Kind.JOIN:
        frags.append(("class:log.quiet", "--> "))
    elif line.kind in (Kind.PART, Kind.QUIT):
        frags.append(("class:log.quiet", "<-- "))
    elif line.kind is Kind.ERROR:
        frags.append(("class:log.error", "!! "))
    else:
        frags.append(("class:log.quiet", "-- "))
    return frags


def _body_style(line: LogLine) -> str:
    return {
        Kind.JOIN: "class:log.quiet",
        Kind.PART: "class:log.quiet",
        Kind.QUIT: "class:log.quiet",
        Kind.NICK: "class:log.quiet",
        Kind.MODE: "class:log.quiet",
        Kind.INFO: "class:log.info",
        Kind.TOPIC: "class:log.topic",
        Kind.ERROR: "class:log.error",
        Kind.ACTION: "class:log.action",
        Kind.NOTICE: "class:log.notice",
    }.get(line.kind, "")


def line_fragments(line: LogLine, look: Look | bool) -> tuple[list[tuple[str, str]], int]:
    """The styled fragments of one entry and the width of its prefix (for hanging indent)."""
    if isinstance(look, bool):
        look = Look(color=look)
    color = look.color
    prefix = _prefix(line, color, look.time_format)
    indent = sum(get_cwidth(t) for _, t in prefix)
    base = _body_style(line)
    if line.highlight:
        base += " class:log.highlight"
    if line.pending:
        base += " class:log.pending"
    if line.failed:
        base += " class:log.failed"
    if line.redacted:
        base += " class:log.deleted"
    body: list[tuple[str, str]] = []
    for i, row in enumerate(line.text.split("\n")):  # a multiline message: a row per line
        if i:
            body.append(("", "\n"))
        body += [(f"{base} {span_style(s, color)}".strip(), s.text) for s in formatting.parse(row)]
    if look.term:
        match = "class:log.match.current" if line.seq == look.current else "class:log.match"
        body = mark(body, look.term, match)
    return prefix + body, indent


def mark(frags: list[tuple[str, str]], term: str, style: str) -> list[tuple[str, str]]:
    """The fragments with every occurrence of term (case-insensitive) given `style` too."""
    rx = search.pattern(term)
    text = "".join(t for _, t in frags)
    spans = [m.span() for m in rx.finditer(text)] if rx is not None else []
    if not spans:
        return frags
    out: list[tuple[str, str]] = []
    pos = 0
    for frag_style, frag in frags:
        start, end = pos, pos + len(frag)
        cuts = sorted({start, end, *(p for s in spans for p in s if start < p < end)})
        for a, b in zip(cuts, cuts[1:], strict=False):
            inside = any(s <= a and b <= e for s, e in spans)
            out.append((f"{frag_style} {style}".strip() if inside else frag_style, text[a:b]))
        pos = end
    return out


def wrap(frags: Sequence[tuple[str, str]], width: int, indent: int) -> list[Row]:
    """Wrap fragments into rows of `width` cells, at spaces when possible, with hanging indent;
    a line feed starts a new row (the lines of a multiline message)."""
    width = max(width, 8)
    indent = indent if indent <= width // 2 else 2
    cells = [(style, ch) for style, text in frags for ch in text]
    rows: list[Row] = []
    row: list[tuple[str, str]] = []
    used = 0
    start = 0
    i = 0
    while i < len(cells):
        if cells[i][1] == "\n":  # a line of a multiline message: a new row, indented
            rows.append(_merge(row))
            row = [("", " ")] * indent
            start = used = indent
            i += 1
            continue
        ch_width = get_cwidth(cells[i][1])
        if used + ch_width > width and row:
            cut = _break_at(row, start)
            rows.append(_merge(row[:cut]))
            carry = [c for c in row[cut:]]
            while carry and carry[0][1] == " ":
                carry.pop(0)
            row = [("", " ")] * indent + carry
            start = indent
            used = sum(get_cwidth(c[1]) for c in row)
            continue
        row.append(cells[i])
        used += ch_width
        i += 1
    rows.append(_merge(row))
    return rows


def _break_at(row: list[tuple[str, str]], start: int) -> int:
    for j in range(len(row) - 1, start, -1):
        if row[j][1] == " ":
            return j + 1
    return len(row)


def _merge(cells: Sequence[tuple[str, str]]) -> Row:
    merged: list[tuple[str, str]] = []
    for style, ch in cells:
        if merged and merged[-1][0] == style:
            merged[-1] = (style, merged[-1][1] + ch)
        else:
            merged.append((style, ch))
    return tuple(merged)


def _day(stamp: float) -> tuple[int, int, int]:
    local = time.localtime(stamp)
    return local.tm_year, local.tm_mon, local.tm_mday


def day_row(stamp: float, width: int) -> Row:
    text = time.strftime(" %A %d %B %Y ", time.localtime(stamp))
    return (("class:log.day", text.center(max(width, len(text)), "─")[:width]),)


DIVIDER_TEXT = "— new messages —"


def divider_row(width: int) -> Row:
    """Where the history fetched on joining ends and live messages begin."""
    return (("class:log.divider", DIVIDER_TEXT.center(max(width, len(DIVIDER_TEXT)))[:width]),)


@lru_cache(maxsize=8192)
def render(line: LogLine, width: int, look: Look | bool = True) -> tuple[Row, ...]:
    if line.kind is Kind.DIVIDER:
        return (divider_row(width),)
    frags, indent = line_fragments(line, look)
    return tuple(wrap(frags, width, indent))


class LogControl(UIControl):
    """Shows the current buffer's log; scrolls by screen rows."""

    def __init__(
        self,
        get_lines: Callable[[], Sequence[LogLine]],
        get_view: Callable[[], ViewState],
        color: bool = True,
        on_wheel: Callable[[int], None] = lambda rows: None,
        get_look: Callable[[], Look] | None = None,
    ) -> None:
        self.get_lines = get_lines
        self.get_view = get_view
        self.color = color
        self.on_wheel = on_wheel
        self.get_look = get_look or (lambda: Look(color=self.color))
        self.width = 80
        self.height = 24

    def is_focusable(self) -> bool:
        return False

    def _rows(self, lines: Sequence[LogLine], index: int) -> tuple[Row, ...]:
        """The rows of one entry, led by a day separator when the date changed before it
        (or, for history at the very top, when it is not from today)."""
        line = lines[index]
        rows = render(line, self.width, self._line_look(self.get_look(), line))
        before = lines[index - 1].time if index > 0 else time.time() if line.history else None
        if before is not None and _day(line.time) != _day(before):
            return (day_row(line.time, self.width),) + rows
        return rows

    @staticmethod
    def _line_look(look: Look, line: LogLine) -> Look:
        """Only the current match's line needs `current` in its key (the cache stays warm)."""
        if look.current is not None and look.current != line.seq:
            return Look(look.color, look.time_format, look.term)
        return look

    def create_content(self, width: int, height: int | None) -> UIContent:
        self.width, self.height = width, height or self.height
        lines = self.get_lines()
        view = self.get_view()
        self._clamp(view, lines)
        avail = self.height - (0 if view.pinned else 1)
        rows = self._visible_rows(lines, view, avail)
        rows = [()] * (avail - len(rows)) + rows
        if not view.pinned:
            rows.append(self._more_row(lines, view))
        return UIContent(get_line=lambda i: list(rows[i]), line_count=len(rows), show_cursor=False)

    def _visible_rows(self, lines: Sequence[LogLine], view: ViewState, avail: int) -> list[Row]:
        if not lines or avail <= 0:
            return []
        if view.pinned:
            index, last_row = len(lines) - 1, None
        else:
            index, last_row = view.anchor_seq - lines[0].seq, view.anchor_row
        collected: list[Row] = []
        while index >= 0 and len(collected) < avail:
            rows = list(self._rows(lines, index))
            if last_row is not None:
                rows = rows[: last_row + 1]
                last_row = None
            collected[:0] = rows
            index -= 1
        return collected[-avail:]

    def _more_row(self, lines: Sequence[LogLine], view: ViewState) -> Row:
        below = lines[-1].seq - view.anchor_seq if lines else 0
        text = f" ▼ {below} more below — PgDn scrolls, End jumps to the latest "
        return (("class:log.more", text[: self.width]),)

    # ---- scrolling

    def _clamp(self, view: ViewState, lines: Sequence[LogLine]) -> None:
        if view.pinned:
            return
        if not lines or view.anchor_seq > lines[-1].seq:
            view.pinned = True
        elif view.anchor_seq < lines[0].seq:
            view.anchor_seq, view.anchor_row = lines[0].seq, 0

    def scroll_up(self, view: ViewState, lines: Sequence[LogLine], count: int) -> None:
        if not lines:
            return
        avail = self.height - 1
        if view.pinned:
            index = len(lines) - 1
            row = len(self._rows(lines, index)) - 1
        else:
            index, row = view.anchor_seq - lines[0].seq, view.anchor_row
        index, row = self._move_up(lines, index, row, count)
        if self._rows_above(lines, index, row, avail) < avail:
            top, row = self._top_anchor(lines, avail)
            if top is None:
                view.pinned = True
                return
            index = top
        view.pinned = False
        view.anchor_seq, view.anchor_row = lines[index].seq, row

    def top_visible(self, view: ViewState, lines: Sequence[LogLine]) -> bool:
        """Whether the first line of the log is on screen (time to fetch older history)."""
        if not lines:
            return True
        avail = self.height - (0 if view.pinned else 1)
        if view.pinned:
            index = len(lines) - 1
            row = len(self._rows(lines, index)) - 1
        else:
            index, row = view.anchor_seq - lines[0].seq, view.anchor_row
        return self._rows_above(lines, index, row, avail + 1) <= avail

    def _move_up(
        self, lines: Sequence[LogLine], index: int, row: int, count: int
    ) -> tuple[int, int]:
        while count > 0:
            if row >= count:
                return index, row - count
            count -= row + 1
            if index == 0:
                return 0, 0
            index -= 1
            row = len(self._rows(lines, index)) - 1
        return index, row

    def _rows_above(self, lines: Sequence[LogLine], index: int, row: int, limit: int) -> int:
        """Rows from the top of the log down to (index, row) inclusive, counted up to limit."""
        total = row + 1
        while index > 0 and total < limit:
            index -= 1
            total += len(self._rows(lines, index))
        return total

    def _top_anchor(self, lines: Sequence[LogLine], avail: int) -> tuple[int | None, int]:
        """The anchor that puts the first log row at the top of the view (None: all fits)."""
        total = 0
        for index in range(len(lines)):
            rows = len(self._rows(lines, index))
            if total + rows >= avail:
                anchor = (index, avail - total - 1)
                if index == len(lines) - 1 and anchor[1] == rows - 1:
                    return None, 0
                return anchor
            total += rows
        return None, 0

    def scroll_down(self, view: ViewState, lines: Sequence[LogLine], count: int) -> None:
        if view.pinned or not lines:
            return
        index, row = view.anchor_seq - lines[0].seq, view.anchor_row
        while count > 0:
            rows = len(self._rows(lines, index))
            if row + count < rows:
                row += count
                break
            count -= rows - row
            if index == len(lines) - 1:
                view.pinned = True
                return
            index += 1
            row = 0
        if index == len(lines) - 1 and row >= len(self._rows(lines, index)) - 1:
            view.pinned = True
            return
        view.anchor_seq, view.anchor_row = lines[index].seq, row

    def anchor_at(self, view: ViewState, lines: Sequence[LogLine], seq: int) -> None:
        """Show the line `seq` on the last row of the view (the latest line: pinned)."""
        if not lines or seq >= lines[-1].seq:
            view.pinned = True
            return
        index = max(0, seq - lines[0].seq)
        view.pinned = False
        view.anchor_seq = lines[index].seq
        view.anchor_row = len(self._rows(lines, index)) - 1

    def page(self) -> int:
        return max(1, self.height - 2)

    def mouse_handler(self, mouse_event: MouseEvent) -> object:
        if mouse_event.event_type == MouseEventType.SCROLL_UP:
            self.on_wheel(-WHEEL_ROWS)
            return None
        if mouse_event.event_type == MouseEventType.SCROLL_DOWN:
            self.on_wheel(WHEEL_ROWS)
            return None
        return NotImplemented
