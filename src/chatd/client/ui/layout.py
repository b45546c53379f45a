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
    return "".join(out) + ELLIPSIS


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

    def size(a: int, b: int) -> int:
        return sum(width_of(t) for _, t in items[a:b])

    start = 0
    while start < current and size(start, current + 1) + 1 > width:
        start += 1
    left = 1 if start else 0
    end = len(items)
    while end > current + 1 and left + size(start, end) + (1 if end < len(items) else 0) > width:
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
        inner = max(1, space - 2)  # one row each for the ▲ and ▼ marks
        offset = max(0, min(offset, len(members) - inner))
        shown = list(members[offset : offset + inner])
        above, below = offset, len(members) - offset - len(shown)
    if above:
        rows.append([("class:nicklist.more", cut(f"▲ {above} more", width))])
    for m in shown:
        style = "class:nicklist.away" if m.away else nick_style(m.nick, color)
        rows.append([("", m.prefixes[:1] or " "), (style, cut(m.nick, width - 1))])
    if below:
        rows.append([("class:nicklist.more", cut(f"▼ {below} more (Alt-PgDn)", width))])
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
        count = len(app.pending_paste or ())
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
    """One piece of the status line: `keep` pieces are never dropped (the state)."""

    style: str
    text: str
    keep: bool = False


def fit_status(left: list[Part], right: list[Part], topic: str, width: int) -> StyleAndTextTuples:
    """The status line in `width` cells. What gives way, in order: the topic (cut, then
    dropped), the optional pieces on the right, then the left pieces from the last. The
    connection state always stays."""
    sep = "│ "

    def total(parts: list[Part], topic_text: str) -> int:
        extra = width_of(f"{sep}{topic_text} ") if topic_text else 0
        return sum(width_of(p.text) for p in parts) + extra

    left, right = list(left), list(right)
    shown_topic = topic
    room = width - total(left + right, "")
    if topic and total(left + right, topic) > width:
        budget = room - width_of(sep) - 1
        shown_topic = cut(topic, budget) if budget >= MIN_TOPIC else ""
    while total(left + right, shown_topic) > width and any(not p.keep for p in right):
        drop = max(i for i, p in enumerate(right) if not p.keep)
        right.pop(drop)
    while total(left + right, shown_topic) > width and len(left) > 1:
        left.pop()
    out: StyleAndTextTuples = [(p.style, p.text) for p in left]
    if shown_topic:
        out.append(("", f"{sep}{shown_topic} "))
    out.extend((p.style, p.text) for p in right)
    over = total(left + right, shown_topic) - width
    if over > 0 and out:  # only the nick and the state are left: cut the nick
        style, text = out[0][0], out[0][1]
        out[0] = (style, cut(text, max(1, width_of(text) - over)))
    return out


def status_parts(app: ChatApp) -> tuple[list[Part], list[Part], str]:
    session = app.session
    buf = session.current_buffer
    left = [
        Part("class:status.nick", f" {session.nick}{' (away)' if session.away else ''} "),
        Part("", f"@ {session.name} "),
    ]
    topic = ""
    if buf.kind == "channel":
        modes = f" +{buf.modes}" if buf.modes else ""
        users = plural(len(buf.members), "user")
        left.append(Part("class:status.nick", f"│ {buf.name}{modes} ({users}) "))
        topic = formatting.display(app.strip(buf.topic))
    elif buf.kind == "query":
        left.append(Part("class:status.nick", f"│ private: {buf.name} "))
    state, bad = connection_text(app)
    right = [Part("class:status.state.bad" if bad else "class:status.state", f"│ {state}", True)]
    if session.lag is not None and session.state is ConnState.CONNECTED:
        right.append(Part("", f" │ lag {session.lag * 1000:.0f} ms"))
    if app.search_state is not None:
        right.append(Part("class:status.search", f" │ {app.search_status()}", True))
    if session.loading_history(session.current):
        right.append(Part("", " │ loading history…"))
    if app.mouse_enabled:
        right.append(Part("", " │ mouse"))
    return left, right, topic


def status_line(app: ChatApp) -> Window:
    def fragments() -> StyleAndTextTuples:
        left, right, topic = status_parts(app)
        return fit_status(left, right, topic, app.application.output.get_size().columns)

    return Window(FormattedTextControl(fragments), height=1, style="class:status")


def input_line(app: ChatApp) -> Window:
    def prompt() -> StyleAndTextTuples:
        name = app.session.current_buffer.name
        if app.search_state is not None:
            return [("class:prompt.search", f"(search {name}) ")]
        return [("class:prompt", f"[{name}] ")]

    def hint() -> StyleAndTextTuples:
        if app.search_state is not None:
            return [("class:hint", "  Up/Ctrl-R older, Down/Ctrl-S newer, Enter stays, Esc back")]
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
