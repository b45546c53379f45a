"""Small container factories for the screen, top to bottom:

    room bar  | log (LogControl) + nick list  | paste confirmation | status line | input line

Each factory takes the ChatApp (for its read-only view of the session and its toggles as
Conditions) and returns one container; `build_layout` stacks them. No behaviour lives here.
"""

from __future__ import annotations

import math
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
from prompt_toolkit.layout.controls import BufferControl
from prompt_toolkit.layout.processors import AfterInput, BeforeInput
from prompt_toolkit.utils import get_cwidth

from ..commands import usage_hint
from ..model import ConnState
from .style import nick_style

if TYPE_CHECKING:
    from .app import ChatApp

NICKLIST_WIDTH = 18
WIDE_TERMINAL = 100


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def room_bar_items(app: ChatApp) -> tuple[list[tuple[str, str]], int]:
    """One (style, text) per buffer, and the index of the current one."""
    session = app.session
    items: list[tuple[str, str]] = []
    current = 0
    for number, buf in enumerate(session.buffer_list(), start=1):
        label = f"{number}:{buf.name}"
        if buf.key == session.current:
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
    """Drop buffers from the left (marked «) until the current one fits in the width."""
    start = 0
    while start < current and sum(get_cwidth(t) for _, t in items[start : current + 1]) + 1 > width:
        start += 1
    out: StyleAndTextTuples = [("class:roombar.item", "«")] if start else []
    out.extend(items[start:])
    return out


def room_bar(app: ChatApp) -> Window:
    def fragments() -> StyleAndTextTuples:
        items, current = room_bar_items(app)
        return fit_items(items, current, app.application.output.get_size().columns)

    return Window(FormattedTextControl(fragments), height=1, style="class:roombar")


def log_area(app: ChatApp) -> Window:
    return Window(app.log_control, wrap_lines=False, always_hide_cursor=True)


def nick_list(app: ChatApp) -> ConditionalContainer:
    def fragments() -> StyleAndTextTuples:
        session = app.session
        buf = session.current_buffer
        members = sorted(buf.members.values(), key=session.member_sort_key)
        out: StyleAndTextTuples = [("class:nicklist.title", f"{plural(len(members), 'user')}\n")]
        for m in members:
            style = "class:nicklist.away" if m.away else nick_style(m.nick, app.color)
            out.append(("", (m.prefixes[:1] or " ")))
            out.append((style, m.nick[: NICKLIST_WIDTH - 2] + "\n"))
        return out

    body = VSplit(
        [
            Window(width=1, char="│", style="class:nicklist.sep"),
            Window(FormattedTextControl(fragments), width=NICKLIST_WIDTH, style="class:nicklist"),
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
    return state.value, True


def status_line(app: ChatApp) -> Window:
    def fragments() -> StyleAndTextTuples:
        session = app.session
        buf = session.current_buffer
        out: StyleAndTextTuples = [
            ("class:status.nick", f" {session.nick}{' (away)' if session.away else ''} "),
            ("", f"@ {session.server_label} "),
        ]
        if buf.kind == "channel":
            modes = f" +{buf.modes}" if buf.modes else ""
            out.append(
                ("class:status.nick", f"│ {buf.name}{modes} ({plural(len(buf.members), 'user')}) ")
            )
            if buf.topic:
                out.append(("", f"│ {app.strip(buf.topic)[:200]} "))
        elif buf.kind == "query":
            out.append(("class:status.nick", f"│ private: {buf.name} "))
        state, bad = connection_text(app)
        out.append(("", "│ "))
        out.append(("class:status.state.bad" if bad else "class:status.state", state))
        if session.lag is not None and session.state is ConnState.CONNECTED:
            out.append(("", f" │ lag {session.lag * 1000:.0f} ms"))
        if session.loading_history(session.current):
            out.append(("", " │ loading history…"))
        if app.mouse_enabled:
            out.append(("", " │ mouse"))
        return out

    return Window(FormattedTextControl(fragments), height=1, style="class:status")


def input_line(app: ChatApp) -> Window:
    prompt = BeforeInput(lambda: [("class:prompt", f"[{app.session.current_buffer.name}] ")])
    hint = AfterInput(lambda: [("class:hint", usage_hint(app.input_buffer.text))])
    control = BufferControl(buffer=app.input_buffer, input_processors=[prompt, hint])
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
