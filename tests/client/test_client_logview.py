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


def test_room_bar_marks_what_is_cut_on_both_sides() -> None:
    from chatd.client.ui.layout import fit_items

    items = [("", f" {i}:#room{i} ") for i in range(1, 12)]
    items[5] = ("cur", "[6:#here]")
    text = "".join(t for _, t in fit_items(items, 5, 40))
    assert text.startswith("«") and text.endswith("»") and "[6:#here]" in text
    assert len(text) <= 40
    assert "".join(t for _, t in fit_items(items, 0, 40)).endswith("»")
    whole = "".join(t for _, t in fit_items(items[:3], 0, 80))
    assert "«" not in whole and "»" not in whole


def test_nick_list_says_how_many_are_out_of_sight_and_scrolls() -> None:
    from chatd.client.model import Member
    from chatd.client.ui.layout import nicklist_rows

    members = [Member(f"user{i:02}") for i in range(41)]

    def text(rows: list) -> list[str]:
        return ["".join(t for _, t in row) for row in rows]

    rows, offset = nicklist_rows(members, 18, 30, 0, color=False)
    shown = text(rows)
    assert shown[0] == "41 users" and len(shown) == 30
    assert shown[-1] == "▼ 13 more Alt-PgDn"
    assert shown[1] == " user00" and offset == 0
    rows, offset = nicklist_rows(members, 18, 30, 100, color=False)  # clamped at the end
    shown = text(rows)
    assert shown[1] == "▲ 13 more" and shown[-1] == " user40" and offset == 13
    rows, _ = nicklist_rows(members[:5], 18, 30, 3, color=False)
    assert text(rows) == ["5 users"] + [f" user{i:02}" for i in range(5)]


def test_status_line_keeps_the_connection_state_at_80_columns() -> None:
    from chatd.client.ui import layout
    from chatd.client.ui.layout import Part, fit_status, width_of

    topic = "Welcome to the lobby! Rules: be kind, no spam, read the wiki at https://example.org"
    parts = [
        Part("", " alice "),
        Part("", "@ irc.example.org:6697 ", layout.GIVE_SERVER),
        Part("", "│ #lobby +nt (41 users) ", layout.GIVE_ROOM),
        Part("", topic + " ", layout.GIVE_TOPIC, cut=True, prefix="│ "),
        Part("", "│ reconnecting in 4 s"),
        Part("", " │ lag 1251 ms", layout.GIVE_LAG),
    ]

    def line(width: int) -> str:
        text = "".join(t for _, t in fit_status(parts, width))
        assert width_of(text) <= width
        return text

    assert line(200) == (
        f" alice @ irc.example.org:6697 │ #lobby +nt (41 users) │ {topic} "
        "│ reconnecting in 4 s │ lag 1251 ms"
    )
    wide = line(120)  # the topic is cut first
    assert "@ irc.example.org" in wide and "│ Welcome to the lobby! Rules" in wide and "…" in wide
    eighty = line(80)  # then the server's name goes, and the topic gets what is left
    assert (
        eighty == " alice │ #lobby +nt (41 users) │ Welcome to… │ reconnecting in 4 s │ lag 1251 ms"
    )
    assert width_of(eighty) == 80
    narrow = line(50)
    assert narrow.endswith("│ reconnecting in 4 s") and "Welcome" not in narrow
    assert "reconnecting in 4 s" in line(24)


def test_wide_characters_with_modifiers_keep_their_width() -> None:
    from prompt_toolkit.utils import get_cwidth

    buf = Buffer("#t", "channel")
    buf.add(0.0, Kind.MESSAGE, "ok 👍🏽 ❤️ 👨‍👩‍👧 🇫🇷 \x9b[31m", nick="bob")
    (row,) = screen(control_for(buf, ViewState()), width=60)[-1:]
    assert row.endswith("<bob> ok 👍 ❤ 👨👩👧 FR \ufffd[31m")  # U+009B is never drawn raw
    assert sum(get_cwidth(ch) for ch in row) == len(row) + 4  # three emoji, two cells each…
    assert "<9b>" not in row


def test_search_matches_are_marked() -> None:
    buf = make(3, "Deploy done")
    look = logview.Look(color=False, term="deploy", current=buf.lines[-1].seq)
    control = LogControl(lambda: buf.lines, lambda: ViewState(), color=False, get_look=lambda: look)
    content = control.create_content(40, 10)
    last_row = content.get_line(content.line_count - 1)
    marked = [(s, t) for s, t in last_row if "log.match" in s]
    assert marked == [("class:log.match.current", "Deploy")]
    other = content.get_line(content.line_count - 2)
    assert [t for s, t in other if "log.match" in s] == ["Deploy"]
