"""The log control: wrapping, rendering only the visible slice, scrolling, the mouse wheel."""

from __future__ import annotations

from collections import deque

from prompt_toolkit.data_structures import Point
from prompt_toolkit.mouse_events import MouseButton, MouseEvent, MouseEventType

from chatd.client.session import Buffer, Kind, LogLine
from chatd.client.ui import logview
from chatd.client.ui.logview import LogControl, ViewState, wrap


def make(n: int, text: str = "message") -> Buffer:
    buf = Buffer("#t", "channel", max_lines=500)
    for i in range(n):
        buf.add(0.0, Kind.MESSAGE, f"{text} {i}", nick="bob")
    return buf


def screen(control: LogControl, width: int = 40, height: int = 10) -> list[str]:
    content = control.create_content(width, height)
    return ["".join(t for _, t in content.get_line(i)) for i in range(content.line_count)]


def control_for(buf: Buffer, view: ViewState) -> LogControl:
    return LogControl(lambda: buf.lines, lambda: view, color=False)


def test_wrap_breaks_at_spaces_with_hanging_indent() -> None:
    rows = wrap([("", "12:00 <bob> "), ("", "alpha beta gamma delta epsilon")], 24, 12)
    text = ["".join(t for _, t in row) for row in rows]
    assert text == ["12:00 <bob> alpha beta ", "            gamma delta ", "            epsilon"]
    long_word = wrap([("", "x" * 30)], 10, 0)
    assert ["".join(t for _, t in r) for r in long_word] == ["x" * 10] * 3


def test_pinned_view_shows_the_latest_lines_bottom_aligned() -> None:
    buf = make(3)
    rows = screen(control_for(buf, ViewState()))
    assert len(rows) == 10 and rows[:7] == [""] * 7
    assert rows[-1].endswith("<bob> message 2")


def test_only_the_visible_slice_is_rendered() -> None:
    buf = make(500)
    logview.render.cache_clear()
    screen(control_for(buf, ViewState()))
    assert logview.render.cache_info().currsize <= 12


def test_scroll_up_anchors_and_new_lines_do_not_move_the_view() -> None:
    buf = make(50)
    view = ViewState()
    control = control_for(buf, view)
    screen(control)
    control.scroll_up(view, buf.lines, 20)
    before = screen(control)
    assert not view.pinned and "more below" in before[-1]
    assert before[-2].endswith("message 29")
    buf.add(0.0, Kind.MESSAGE, "brand new", nick="carol")
    after = screen(control)
    assert after[:-1] == before[:-1] and "21 more below" in after[-1]
    control.scroll_down(view, buf.lines, 100)
    assert view.pinned and screen(control)[-1].endswith("brand new")


def test_scroll_up_stops_at_the_top_and_short_logs_stay_pinned() -> None:
    buf = make(30)
    view = ViewState()
    control = control_for(buf, view)
    screen(control)
    control.scroll_up(view, buf.lines, 1000)
    assert screen(control)[0].endswith("message 0")
    short = make(3)
    short_view = ViewState()
    short_control = control_for(short, short_view)
    screen(short_control)
    short_control.scroll_up(short_view, short.lines, 5)
    assert short_view.pinned


def test_wrapped_lines_scroll_by_rows() -> None:
    buf = make(20, text="a long message that wraps over more than one row of forty cells")
    view = ViewState()
    control = control_for(buf, view)
    screen(control)
    rows = len(logview.render(buf.lines[-1], 40, False))
    assert rows >= 2
    control.scroll_up(view, buf.lines, 1)
    assert view.anchor_seq == 19 and view.anchor_row == rows - 2
    control.scroll_up(view, buf.lines, rows)
    assert (view.anchor_seq, view.anchor_row) == (18, rows - 2)
    control.scroll_down(view, buf.lines, rows)
    assert (view.anchor_seq, view.anchor_row) == (19, rows - 2)
    control.scroll_down(view, buf.lines, 1)
    assert view.pinned


def test_mouse_wheel_scrolls() -> None:
    moved: list[int] = []
    control = LogControl(lambda: deque[LogLine](), ViewState, on_wheel=moved.append)
    up = MouseEvent(Point(0, 0), MouseEventType.SCROLL_UP, MouseButton.NONE, frozenset())
    down = MouseEvent(Point(0, 0), MouseEventType.SCROLL_DOWN, MouseButton.NONE, frozenset())
    control.mouse_handler(up)
    control.mouse_handler(down)
    assert moved == [-3, 3]


def test_formatting_and_controls_never_reach_the_screen() -> None:
    buf = Buffer("#t", "channel")
    buf.add(0.0, Kind.MESSAGE, "\x02bold\x02 \x0312blue\x03 \x1b[31mnot an escape", nick="bob")
    rows = screen(control_for(buf, ViewState()), width=80)
    assert rows[-1].endswith("<bob> bold blue \ufffd[31mnot an escape")


def test_room_bar_keeps_the_current_buffer_visible_on_narrow_terminals() -> None:
    from chatd.client.ui.layout import fit_items

    items = [("", f" {i}:#room{i} ") for i in range(1, 9)] + [("cur", "[9:#here]")]
    text = "".join(t for _, t in fit_items(items, 8, 40))
    assert text.startswith("«") and text.endswith("[9:#here]")
    assert "".join(t for _, t in fit_items(items, 0, 40)).startswith(" 1:#room1 ")


def test_a_day_separator_leads_the_first_line_of_a_new_day() -> None:
    buf = Buffer("#t", "channel")
    buf.add(1_700_000_000.0, Kind.MESSAGE, "yesterday", nick="bob")
    buf.add(1_700_000_000.0 + 86400, Kind.MESSAGE, "today", nick="bob")
    buf.add(1_700_000_000.0 + 86401, Kind.MESSAGE, "same day", nick="bob")
    rows = screen(control_for(buf, ViewState()), width=60)
    assert rows[-4].endswith("yesterday")
    assert (
        "─" in rows[-3]
        and logview.time.strftime("%Y", logview.time.localtime(1_700_086_400)) in rows[-3]
    )
    assert rows[-2].endswith("today") and rows[-1].endswith("same day")
