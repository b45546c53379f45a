"""Small container factories for the screen, top to bottom:

    room bar  | log (LogControl) + nick list  | paste confirmation | status line | input line

Each factory takes the ChatApp (for its read-only view of the workspace and its toggles as
Conditions) and returns one container; `build_layout` stacks them. The pure helpers that
decide what fits (the room bar, the status line, the nick list rows) are functions of their
inputs, tested without a terminal. No behaviour lives here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prompt_toolkit.filters import Condition
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.layout import (
    ConditionalContainer,
    FormattedTextControl,
    HSplit,
    Layout,
    VSplit,
    Window,
)
from prompt_toolkit.layout.controls import BufferControl, UIContent, UIControl
from prompt_toolkit.layout.processors import AfterInput, BeforeInput
from prompt_toolkit.mouse_events import MouseEvent, MouseEventType
from prompt_toolkit.utils import get_cwidth

from .. import formatting
from ..commands import usage_hint
from ..model import ConnState, Member
from .style import nick_style

if TYPE_CHECKING:
    from .app import ChatApp

NICKLIST_WIDTH = 18
WIDE_TERMINAL = 100
MIN_TOPIC = 8  # a topic cut shorter than this is left out
ELLIPSIS = "…"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def width_of(text: str) -> int:
    return sum(get_cwidth(ch) for ch in text)


def cut(text: str, width: int) -> str:
    """Text cut to `width` cells, with … when something was cut."""
    if width_of(text) <= width:
        return text
    if width <= 0:
        return ""
    out, used = [], 0
    for ch in text:
        w = get_cwidth(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out).rstrip() + ELLIPSIS


# ---------------------------------------------------------------- room bar


def room_bar_items(app: ChatApp) -> tuple[list[tuple[str, str]], int]:
    """One (style, text) per buffer of every server, and the index of the current one."""
    workspace = app.workspace
    items: list[tuple[str, str]] = []
    current = 0
    for number, (session, buf) in enumerate(workspace.entries(), start=1):
        name = session.name if buf.kind == "server" else buf.name
        label = f"{number}:{formatting.display(formatting.strip(name))}"
        if session is workspace.session and buf.key == session.current:
            current = number - 1
            items.append(("class:roombar.current", f"[{label}]"))
            continue
        style = "class:roombar.item"
        if buf.mentioned:
            style = "class:roombar.mention"
            label += f"({buf.unread}!)" if buf.unread else "(!)"
        elif buf.unread:
            style = "class:roombar.unread"
            label += f"({buf.unread})"
        items.append((style, f" {label} "))
    return items, current


def fit_items(items: list[tuple[str, str]], current: int, width: int) -> StyleAndTextTuples:
    """Drop buffers from the left (marked «) until the current one fits in the width, then
    from the right (marked ») until the rest does."""
    if not items:
        return []

    def fits(a: int, b: int) -> bool:
        marks = (1 if a else 0) + (1 if b < len(items) else 0)
        return marks + sum(width_of(t) for _, t in items[a:b]) <= width

    start = 0
    while start < current and not fits(start, current + 1):
        start += 1
    end = len(items)
    while end > current + 1 and not fits(start, end):
        end -= 1
    out: StyleAndTextTuples = [("class:roombar.item", "«")] if start else []
    out.extend(items[start:end])
    if end < len(items):
        out.append(("class:roombar.item", "»"))
    return out


def room_bar(app: ChatApp) -> Window:
    def fragments() -> StyleAndTextTuples:
        items, current = room_bar_items(app)
        return fit_items(items, current, app.application.output.get_size().columns)

    return Window(FormattedTextControl(fragments), height=1, style="class:roombar")


def log_area(app: ChatApp) -> Window:
    return Window(app.log_control, wrap_lines=False, always_hide_cursor=True)


# ---------------------------------------------------------------- nick list


def nicklist_rows(
    members: Sequence[Member], width: int, height: int, offset: int, color: bool = True
) -> tuple[list[StyleAndTextTuples], int]:
    """The rows of the nick list (a title, then one member per row, with ▲/▼ rows saying how
    many are out of sight) and the offset actually used (clamped)."""
    rows: list[StyleAndTextTuples] = [
        [("class:nicklist.title", cut(plural(len(members), "user"), width))]
    ]
    space = max(0, height - 1)
    if len(members) <= space:
        offset, shown, above, below = 0, list(members), 0, 0
    else:
        last = len(members) - max(1, space - 1)  # the offset that shows the end (▲ only)
        offset = max(0, min(offset, last))
        inner = max(1, space - 1 if offset in (0, last) else space - 2)  # rows for ▲ / ▼
        shown = list(members[offset : offset + inner])
        above, below = offset, len(members) - offset - len(shown)
    if above:
        rows.append([("class:nicklist.more", cut(f"▲ {above} more", width))])
    for m in shown:
        style = "class:nicklist.away" if m.away else nick_style(m.nick, color)
        rows.append([("", m.prefixes[:1] or " "), (style, cut(m.nick, width - 1))])
    if below:
        mark = f"▼ {below} more Alt-PgDn"
        rows.append(
            [("class:nicklist.more", mark if width_of(mark) <= width else f"▼ {below} more")]
        )
    return rows[: max(height, 1)], offset


class NickListControl(UIControl):
    """The members of the current room; scrolls when they do not fit."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self.height = 20

    def is_focusable(self) -> bool:
        return False

    def create_content(self, width: int, height: int | None) -> UIContent:
        self.height = height or self.height
        session = self.app.session
        members = sorted(session.current_buffer.members.values(), key=session.member_sort_key)
        key = self.app.view_key()
        rows, used = nicklist_rows(
            members, width, self.height, self.app.nick_offsets.get(key, 0), self.app.color
        )
        self.app.nick_offsets[key] = used
        return UIContent(get_line=lambda i: rows[i], line_count=len(rows), show_cursor=False)

    def page(self) -> int:
        return max(1, self.height - 4)

    def mouse_handler(self, mouse_event: MouseEvent) -> object:
        if mouse_event.event_type == MouseEventType.SCROLL_UP:
            self.app.scroll_nicklist(-3)
            return None
        if mouse_event.event_type == MouseEventType.SCROLL_DOWN:
            self.app.scroll_nicklist(3)
            return None
        return NotImplemented


def nick_list(app: ChatApp) -> ConditionalContainer:
    body = VSplit(
        [
            Window(width=1, char="│", style="class:nicklist.sep"),
            Window(app.nicklist_control, width=NICKLIST_WIDTH, style="class:nicklist"),
        ]
    )
    return ConditionalContainer(body, filter=Condition(app.nicklist_visible))


def paste_prompt(app: ChatApp) -> ConditionalContainer:
    def fragments() -> StyleAndTextTuples:
        count = sum(1 for line in app.pending_paste or () if line.strip())
        where = app.session.current_buffer.name
        return [("class:paste", f" Send {count} pasted lines to {where}? [y]es / [n]o ")]

    window = Window(FormattedTextControl(fragments), height=1)
    return ConditionalContainer(window, filter=Condition(lambda: app.pending_paste is not None))


# -------------------------------------------------------------- status line


def connection_text(app: ChatApp) -> tuple[str, bool]:
    """The connection state as shown in the status line, and whether it is a bad one."""
    session = app.session
    state = session.state
    if state is ConnState.RECONNECTING and session.retry_at is not None:
        left = max(0, math.ceil(session.retry_at - app.clock()))
        return f"reconnecting in {left} s", True
    if state in (ConnState.CONNECTING, ConnState.REGISTERING):
        return "connecting…", True
    if state is ConnState.CONNECTED:
        return "connected", False
    if session.fatal:
        return "disconnected (see the server buffer)", True
    return state.value, True


@dataclass
class Part:
    """One piece of the status line. `give` says in which order pieces give way when the
    line is too long (1 first; 0 never: the nick, the connection state); a `cut` piece (the
    topic) is shortened before it is dropped."""

    style: str
    text: str
    give: int = 0
    cut: bool = False
    prefix: str = ""

    @property
    def width(self) -> int:
        return width_of(self.prefix + self.text)


# Who gives way first: the topic, the server's name, the mouse mark, loading…, the lag, the room.
GIVE_TOPIC, GIVE_SERVER, GIVE_MOUSE, GIVE_LOADING, GIVE_LAG, GIVE_ROOM = 1, 2, 3, 4, 5, 6


def fit_status(parts: list[Part], width: int) -> StyleAndTextTuples:
    """The status line in `width` cells: pieces give way in their order; the topic is cut
    first, and comes back into the room left if only the server's name had to go."""

    def total(ps: list[Part]) -> int:
        return sum(p.width for p in ps)

    def shortened(part: Part, room: int) -> Part | None:
        keep = room - width_of(part.prefix) - 1
        if keep < MIN_TOPIC:
            return None
        return Part(part.style, cut(part.text, keep) + " ", part.give, part.cut, part.prefix)

    shown = [p for p in parts if p.text]
    while total(shown) > width:
        droppable = [p for p in shown if p.give]
        if not droppable:
            break
        victim = min(droppable, key=lambda p: p.give)
        index = shown.index(victim)
        if victim.cut:
            smaller = shortened(victim, width - (total(shown) - victim.width))
            if smaller is not None:
                shown[index] = smaller
                break
        shown.pop(index)
    dropped = [p for p in parts if p.text and p not in shown]
    topic = next((p for p in dropped if p.cut), None)
    if topic is not None and all(p.give <= GIVE_SERVER for p in dropped):
        smaller = shortened(topic, width - total(shown))
        if smaller is not None:
            where = parts.index(topic)
            shown.insert(sum(1 for p in shown if parts.index(p) < where), smaller)
    out: StyleAndTextTuples = [(p.style, p.prefix + p.text) for p in shown]
    over = total(shown) - width
    if over > 0 and out:  # only what never gives way is left: cut the nick
        style, text = out[0][0], out[0][1]
        out[0] = (style, cut(text, max(1, width_of(text) - over)))
    return out


def status_parts(app: ChatApp) -> list[Part]:
    session = app.session
    buf = session.current_buffer
    parts = [
        Part("class:status.nick", f" {session.nick}{' (away)' if session.away else ''} "),
        Part("", f"@ {session.name} ", GIVE_SERVER),
    ]
    if buf.kind == "channel":
        modes = f" +{buf.modes}" if buf.modes else ""
        users = plural(len(buf.members), "user") if buf.joined else "not joined"
        parts.append(Part("class:status.nick", f"│ {buf.name}{modes} ({users}) ", GIVE_ROOM))
        topic = formatting.display(app.strip(buf.topic))
        if topic:
            parts.append(Part("", f"{topic} ", GIVE_TOPIC, cut=True, prefix="│ "))
    elif buf.kind == "query":
        parts.append(Part("class:status.nick", f"│ private: {buf.name} ", GIVE_ROOM))
    state, bad = connection_text(app)
    parts.append(Part("class:status.state.bad" if bad else "class:status.state", f"│ {state}"))
    if session.lag is not None and session.state is ConnState.CONNECTED:
        parts.append(Part("", f" │ lag {session.lag * 1000:.0f} ms", GIVE_LAG))
    if app.search_state is not None:
        parts.append(Part("class:status.search", f" │ {app.search_status()}"))
    if session.loading_history(session.current):
        parts.append(Part("", " │ loading history…", GIVE_LOADING))
    if app.mouse_enabled:
        parts.append(Part("", " │ mouse", GIVE_MOUSE))
    return parts


def status_line(app: ChatApp) -> Window:
    def fragments() -> StyleAndTextTuples:
        return fit_status(status_parts(app), app.application.output.get_size().columns)

    return Window(FormattedTextControl(fragments), height=1, style="class:status")


def input_line(app: ChatApp) -> Window:
    def prompt() -> StyleAndTextTuples:
        name = app.session.current_buffer.name
        if app.search_state is not None:
            return [("class:prompt.search", f"(search {name}) ")]
        return [("class:prompt", f"[{name}] ")]

    def hint() -> StyleAndTextTuples:
        if app.search_state is not None:
            return [("class:hint", "  Up: older  Down: newer  Enter: stay  Esc: back")]
        return [("class:hint", usage_hint(app.input_buffer.text))]

    control = BufferControl(
        buffer=app.input_buffer, input_processors=[BeforeInput(prompt), AfterInput(hint)]
    )
    return Window(control, height=1, dont_extend_height=True)


def build_layout(app: ChatApp) -> Layout:
    input_window = input_line(app)
    body = HSplit(
        [
            room_bar(app),
            VSplit([log_area(app), nick_list(app)]),
            paste_prompt(app),
            status_line(app),
            input_window,
        ]
    )
    return Layout(body, focused_element=input_window)
