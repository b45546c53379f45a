"""The full-screen UI driven through prompt_toolkit's pipe input, against a real chatd.

Keys go in as terminal bytes; what the user would see is read from the renderer's last
screen. Raw-socket clients (blocking) run in threads so the app's loop never stalls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from client_helpers import ChatdProcess, RawClient, until
from prompt_toolkit.data_structures import Size
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from chatd.client.sasl import SaslConfig
from chatd.client.session import ConnState, Kind, Session, parse_server_time
from chatd.client.transport import Endpoint, Timing
from chatd.client.ui.app import ChatApp

ENTER, TAB, CTRL_C, CTRL_N, CTRL_P = "\r", "\t", "\x03", "\x0e", "\x10"
PAGE_UP, PAGE_DOWN, END, UP, DOWN = "\x1b[5~", "\x1b[6~", "\x1b[F", "\x1b[A", "\x1b[B"
F2, F3 = "\x1bOQ", "\x1bOR"


def alt(key: str) -> str:
    return "\x1b" + key


def paste(text: str) -> str:
    return "\x1b[200~" + text + "\x1b[201~"


class SizedOutput(DummyOutput):
    def __init__(self, rows: int, columns: int) -> None:
        super().__init__()
        self.size = Size(rows=rows, columns=columns)

    def get_size(self) -> Size:
        return self.size


class Harness:
    def __init__(self, app: ChatApp, keys: Any) -> None:
        self.app = app
        self.session: Session = app.session
        self._keys = keys

    def type(self, text: str) -> None:
        self._keys.send_text(text)

    def screen(self) -> str:
        """The text of the last rendered screen, one line per row."""
        screen = self.app.application.renderer._last_screen
        if screen is None:
            return ""
        size = self.app.application.output.get_size()
        rows = []
        for y in range(size.rows):
            row = screen.data_buffer[y]
            rows.append("".join(row[x].char for x in range(size.columns)).rstrip())
        return "\n".join(rows)

    async def shows(self, text: str) -> None:
        await until(lambda: text in self.screen(), what=f"{text!r} on screen")

    async def until(self, predicate: Callable[[], object], what: str = "") -> None:
        await until(predicate, what=what)

    def lines(self, name: str) -> list[tuple[str | None, str]]:
        buf = self.session.get_buffer(name) if name else self.session.server_buffer
        return [(line.nick, line.text) for line in buf.lines] if buf else []

    def joined(self, name: str) -> bool:
        buf = self.session.get_buffer(name)
        return buf is not None and buf.joined


@contextlib.asynccontextmanager
async def running(
    port: int,
    nick: str = "alice",
    rooms: tuple[str, ...] = ("#lobby",),
    columns: int = 80,
    ping_timeout: float = 90.0,
    wait_joined: bool = True,
    history_page: int = 50,
    sasl: SaslConfig | None = None,
) -> AsyncIterator[Harness]:
    with create_pipe_input() as keys:
        session = Session(
            nick,
            channels=list(rooms),
            server_label=f"127.0.0.1:{port}",
            history_page=history_page,
            sasl=sasl,
        )
        timing = Timing(
            backoff_min=0.05,
            backoff_max=0.2,
            ping_interval=0.2,
            ping_timeout=ping_timeout,
            quit_timeout=1.0,
        )
        app = ChatApp(
            session,
            Endpoint("127.0.0.1", port),
            input=keys,
            output=SizedOutput(30, columns),
            timing=timing,
        )
        task = asyncio.create_task(app.run_async())
        harness = Harness(app, keys)
        try:
            if wait_joined:
                await until(lambda: all(harness.joined(r) for r in rooms), what="rooms joined")
            yield harness
        finally:
            if not task.done():
                app.request_quit("test over")
            await asyncio.wait_for(task, 5)


async def raw_client(port: int, nick: str, *rooms: str) -> RawClient:
    def connect() -> RawClient:
        client = RawClient(port, nick)
        for room in rooms:
            client.join(room)
        return client

    return await asyncio.to_thread(connect)


def test_typing_a_message_delivers_it_and_shows_it(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port) as h:
            await asyncio.to_thread(bob.expect, r":alice!\S+ JOIN #lobby")
            h.type("hello bob, how are you?" + ENTER)
            msg = await asyncio.to_thread(bob.expect, r"PRIVMSG #lobby")
            assert msg.params == ["#lobby", "hello bob, how are you?"] and msg.nick == "alice"
            await h.shows("<alice> hello bob, how are you?")
            assert h.app.input_buffer.text == ""
        bob.close()

    asyncio.run(scenario())


def test_messages_from_others_land_in_the_right_buffer(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby", "#dev")
        async with running(chatd.port, rooms=("#lobby", "#dev")) as h:
            await h.until(lambda: h.session.current_buffer.name == "#lobby")
            bob.send(
                "PRIVMSG #dev :\x02deploy\x02 is \x0303done\x0f",
                "PRIVMSG #lobby :alice: lunch?",
                "PRIVMSG alice :psst, private",
            )
            await h.until(lambda: ("bob", "psst, private") in h.lines("bob"), "private buffer")
            assert ("bob", "\x02deploy\x02 is \x0303done\x0f") in h.lines("#dev")
            assert ("bob", "alice: lunch?") in h.lines("#lobby")
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None and lobby.lines[-2].highlight
            await h.shows("<bob> alice: lunch?")
            # Reading #lobby, the private message is announced where you are.
            await h.shows("-- private message from bob (Alt-4)")
            await h.shows("3:#dev(1)")  # the room bar: unread count
            await h.shows("4:bob(1!)")  # a private message counts as a mention
            h.type(alt("4"))
            await h.shows("<bob> psst, private")
            await h.shows("\n[bob]")  # the prompt names the buffer
            await h.until(lambda: h.screen().splitlines()[0].endswith("[4:bob]"), "bob read")
            h.type(alt("3"))
            await h.shows("<bob> deploy is done")  # formatting rendered, never shown raw
        bob.close()

    asyncio.run(scenario())


def test_completion_switching_and_join(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bobby", "#lobby")
        async with running(chatd.port) as h:
            await h.until(lambda: "bobby" in h.session.member_nicks("#lobby"))
            h.type("bo" + TAB)
            await h.until(
                lambda: h.app.input_buffer.text == "bobby: ",
                repr(h.app.input_buffer.text) + repr(h.session.member_nicks("#lobby")) + h.screen(),
            )
            h.type("hi" + ENTER)
            await asyncio.to_thread(bob.expect, r"PRIVMSG #lobby :bobby: hi")
            h.type("/jo" + TAB)
            await h.until(lambda: h.app.input_buffer.text == "/join ")
            await h.shows("[#lobby] /join #room [key]")  # the usage, as a hint after the cursor
            h.type("#dev" + ENTER)
            await h.until(
                lambda: h.session.current_buffer.name == "#dev" and h.joined("#dev"),
                "switched to #dev",
            )
            h.type(alt("1"))
            await h.until(lambda: h.session.current_buffer.kind == "server")
            h.type(CTRL_N)
            await h.until(lambda: h.session.current_buffer.name == "#lobby")
            h.type(CTRL_P + CTRL_P)
            await h.until(lambda: h.session.current_buffer.name == "#dev")
            h.type(alt("\x1b[C"))  # Alt-Right
            await h.until(lambda: h.session.current_buffer.kind == "server")
            h.type("/nosuch thing" + ENTER)
            await h.shows("Unknown command /nosuch")
        bob.close()

    asyncio.run(scenario())


def test_msg_opens_private_buffer_and_history_is_per_buffer(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob")
        async with running(chatd.port) as h:
            h.type("in the lobby" + ENTER)
            h.type("/msg bob just us" + ENTER)
            msg = await asyncio.to_thread(bob.expect, r"PRIVMSG bob")
            assert msg.params == ["bob", "just us"]
            await h.until(lambda: h.session.current_buffer.name == "bob")
            await h.shows("<alice> just us")
            h.type("and more" + ENTER)
            await asyncio.to_thread(bob.expect, r"PRIVMSG bob :and more")
            h.type(UP)
            await h.until(lambda: h.app.input_buffer.text == "and more")
            h.type(UP)  # nothing older in this buffer
            h.type("\x01\x0b")  # Ctrl-A Ctrl-K: kill the line, as in a shell
            await h.until(lambda: h.app.input_buffer.text == "")
            h.type(alt("2") + "draft" + UP)
            await h.until(lambda: h.app.input_buffer.text == "/msg bob just us")
            h.type(UP)
            await h.until(lambda: h.app.input_buffer.text == "in the lobby")
            h.type(DOWN + DOWN)
            await h.until(lambda: h.app.input_buffer.text == "draft")
        bob.close()

    asyncio.run(scenario())


def test_nick_collisions(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "alice", "#lobby")
        async with running(chatd.port, nick="alice") as h:
            assert h.session.nick == "alice_"
            assert any("alice is taken" in text for _, text in h.lines(""))
            await asyncio.to_thread(bob.expect, r":alice_!\S+ JOIN #lobby")
            h.type("/nick alice" + ENTER)
            await h.until(
                lambda: any("Nick alice is not available" in t for _, t in h.lines("#lobby"))
            )
            assert h.session.nick == "alice_"
            h.type("/nick alicia" + ENTER)
            await h.until(lambda: h.session.nick == "alicia")
            await h.shows("You are now known as alicia")
        bob.close()

    asyncio.run(scenario())


def test_reconnects_after_server_restart_and_rejoins(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        async with running(chatd.port, rooms=("#lobby", "#dev")) as h:
            await asyncio.to_thread(chatd.stop)
            await h.until(lambda: h.session.state is not ConnState.CONNECTED, "drop noticed")
            await h.until(lambda: any("Disconnected" in t for _, t in h.lines("#dev")))
            await h.shows("reconnecting")
            await asyncio.to_thread(chatd.start)
            await h.until(lambda: h.joined("#lobby") and h.joined("#dev"), "rejoined")
            assert h.session.state is ConnState.CONNECTED
            for room in ("#lobby", "#dev"):
                assert any("Reconnected" in t for _, t in h.lines(room))
            bob = await raw_client(chatd.port, "bob", "#dev")
            h.type(alt("3"))
            h.type("back again" + ENTER)
            await asyncio.to_thread(bob.expect, r"PRIVMSG #dev :back again")
            bob.close()

    asyncio.run(scenario())


def test_pasted_lines_are_sent_separately_with_confirmation_above_three(
    chatd: ChatdProcess,
) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port) as h:
            h.type(paste("first\nsecond\n"))
            await asyncio.to_thread(bob.expect, r"PRIVMSG #lobby :first")
            await asyncio.to_thread(bob.expect, r"PRIVMSG #lobby :second")
            h.type(paste("\n".join(f"line {i}" for i in range(1, 6))))
            await h.shows("Send 5 pasted lines to #lobby? [y]es / [n]o")
            h.type("y")
            for i in range(1, 6):
                await asyncio.to_thread(bob.expect, rf"PRIVMSG #lobby :line {i}")
            h.type(paste("a\nb\nc\nd"))
            await h.shows("Send 4 pasted lines")
            h.type("n")
            await h.shows("Paste of 4 lines cancelled")
            h.type(paste("one line"))
            await h.until(lambda: h.app.input_buffer.text == "one line")
            lines = await asyncio.to_thread(bob.sync)
            assert not any("PRIVMSG" in line for line in lines)
        bob.close()

    asyncio.run(scenario())


def test_scrolled_up_view_is_not_yanked_to_the_bottom(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port) as h:
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            for i in range(100):
                h.session.log(lobby, 0.0, Kind.MESSAGE, f"old message {i}", nick="carol")
            h.app.invalidate()
            await h.shows("old message 99")
            h.type(PAGE_UP + PAGE_UP)
            await h.shows("more below")
            assert "old message 99" not in h.screen()
            shown = h.screen()
            bob.send("PRIVMSG #lobby :new while you read")
            await h.until(lambda: ("bob", "new while you read") in h.lines("#lobby"))
            await h.shows("1 more below")
            assert "new while you read" not in h.screen()
            assert shown.splitlines()[5] == h.screen().splitlines()[5]  # the view did not move
            h.type(END)
            await h.shows("<bob> new while you read")
            assert "more below" not in h.screen()
        bob.close()

    asyncio.run(scenario())


def test_nick_list_toggles_and_is_shown_on_wide_terminals(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port, columns=120) as h:
            await h.until(lambda: "bob" in h.session.member_nicks("#lobby"))
            await h.shows("│2 users")
            h.type(F2)
            await h.until(lambda: "│2 users" not in h.screen(), "nick list hidden")
        async with running(chatd.port, nick="carol", columns=80) as h:
            assert not h.app.nicklist_visible()
            h.type(F2)
            await h.shows("│2 users")
        bob.close()

    asyncio.run(scenario())


def test_ctrl_c_quits_cleanly_with_a_quit_message(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port) as h:
            h.type(CTRL_C)
            await h.until(lambda: not h.app.application.is_running, "app exited")
        await asyncio.to_thread(bob.expect, r":alice!\S+ QUIT")
        bob.close()

    asyncio.run(scenario())


def test_stalled_server_never_freezes_the_ui_and_ping_timeout_reconnects(
    chatd: ChatdProcess,
) -> None:
    async def scenario() -> None:
        assert chatd.proc is not None
        async with running(chatd.port, ping_timeout=0.8) as h:
            await h.until(lambda: h.session.lag is not None, "lag measured")
            await h.shows("lag ")
            os.kill(
                chatd.proc.pid, signal.SIGSTOP
            )  # the server stops answering, the socket stays up
            try:
                h.type("/help" + ENTER)
                await h.shows("Commands (/help command for one)")
                h.type("anyone there?" + ENTER)
                await h.shows("<alice> anyone there?")  # shown at once, pending its echo
                h.type("typing still works")
                await h.shows("[#lobby] typing still works")
                await h.until(
                    lambda: any("ping timeout" in t for _, t in h.lines("#lobby")),
                    "timeout noticed " + repr(h.lines("#lobby")[-3:]) + h.screen(),
                )
                await h.shows("reconnecting")
            finally:
                os.kill(chatd.proc.pid, signal.SIGCONT)
            await h.until(
                lambda: h.session.state is ConnState.CONNECTED and h.joined("#lobby"), "back"
            )
            assert any("Reconnected" in t for _, t in h.lines("#lobby"))
            assert any("not confirmed by the server" in t for _, t in h.lines("#lobby"))

    asyncio.run(scenario())


def test_mouse_capture_is_off_until_toggled_then_the_wheel_scrolls(chatd: ChatdProcess) -> None:
    wheel_up = "\x1b[<64;10;10M"  # SGR mouse report: wheel up at column 10, row 10

    async def scenario() -> None:
        async with running(chatd.port) as h:
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            for i in range(60):
                h.session.log(lobby, 0.0, Kind.MESSAGE, f"line {i}", nick="carol")
            h.app.invalidate()
            await h.shows("line 59")
            assert not h.app.mouse_enabled
            h.type(F3)
            await h.shows("│ mouse")
            h.type(wheel_up)
            await h.shows("more below")
            assert "line 59" not in h.screen()
            h.type(F3)
            await h.until(lambda: "│ mouse" not in h.screen(), "mouse off")

    asyncio.run(scenario())


def test_close_parts_the_room_and_quit_sends_the_message(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby", "#dev")
        async with running(chatd.port, rooms=("#lobby", "#dev")) as h:
            h.type(alt("3") + "/close" + ENTER)
            await asyncio.to_thread(bob.expect, r":alice!\S+ PART :?#dev")
            await h.until(lambda: h.session.get_buffer("#dev") is None, "buffer closed")
            await h.shows("[2:#lobby]")
            h.type("/quit see you all" + ENTER)
            await h.until(lambda: not h.app.application.is_running, "app exited")
        msg = await asyncio.to_thread(bob.expect, r":alice!\S+ QUIT")
        assert "see you all" in msg.params[0]
        bob.close()

    asyncio.run(scenario())


def test_a_server_down_at_start_is_retried_and_the_rooms_joined(tmp_path: Path) -> None:
    server = ChatdProcess(log_dir=tmp_path)  # not started yet

    async def scenario() -> None:
        async with running(server.port, rooms=("#lobby", "#dev"), wait_joined=False) as h:
            await h.shows("Cannot connect to")
            await h.shows("connection refused")
            await asyncio.to_thread(server.start)
            await h.until(lambda: h.joined("#lobby") and h.joined("#dev"), "rooms joined")
            assert h.session.current_buffer.name == "#lobby"

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_history_is_fetched_on_join_and_older_pages_when_scrolling_up(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        bob.send(*[f"PRIVMSG #lobby :old {i}" for i in range(1, 9)])
        await asyncio.to_thread(bob.sync)
        async with running(chatd.port, history_page=3) as h:

            def said() -> list[str]:
                return [t for n, t in h.lines("#lobby") if n == "bob"]

            await h.until(lambda: said() == ["old 6", "old 7", "old 8"], "latest page")
            assert "draft/chathistory" in h.session.caps
            for _ in range(6):
                if said() == [f"old {i}" for i in range(1, 9)]:
                    break
                before = len(said())
                h.type(PAGE_UP)
                await h.until(
                    lambda: len(said()) > before or h.session.current_buffer.history_complete
                )
            assert said() == [f"old {i}" for i in range(1, 9)]
            await h.shows("<bob> old 1")
        bob.close()

    asyncio.run(scenario())


# ------------------------------------------------- history from a database that persists


DAY_AND_AN_HOUR = 25 * 3600


def history_server(tmp_path: Path) -> ChatdProcess:
    """A chatd keeping history in a file (so it outlives a restart), every room persistent,
    and no flood limit, so a test can say 60 lines at once."""
    db = tmp_path / "history.sqlite3"
    extra = ["--db", str(db), "--persist-all-channels", "--no-flood-limit"]
    return ChatdProcess(log_dir=tmp_path, extra=extra)


def talker(port: int, nick: str, room: str) -> RawClient:
    """A raw client that gets its own lines back with their server time and msgid."""
    client = RawClient(port)
    client.send("CAP REQ :echo-message server-time message-tags", f"NICK {nick}")
    client.send(f"USER {nick} 0 * :{nick}", "CAP END")
    client.expect(r" 001 ")
    client.join(room)
    return client


def say_all(client: RawClient, room: str, texts: list[str]) -> dict[str, Any]:
    """Say each text; returns text -> its echo (a Message with the server's time tag)."""
    client.send(*[f"PRIVMSG {room} :{text}" for text in texts])
    return {text: client.expect(rf"PRIVMSG {room} :{text}$") for text in texts}


def log_rows(h: Harness) -> list[str]:
    """The screen rows of the message area (room bar, status and input lines left out)."""
    return h.screen().splitlines()[1:-2]


def test_history_on_join_has_original_times_a_divider_and_pages_up(tmp_path: Path) -> None:
    server = history_server(tmp_path).start()

    async def scenario() -> None:
        alice = await asyncio.to_thread(talker, server.port, "alice", "#room")
        said = [f"old {i}" for i in range(1, 61)]
        echoes = await asyncio.to_thread(say_all, alice, "#room", said)
        async with running(server.port, nick="bob", rooms=("#room",)) as h:
            requests: list[tuple[str, ...]] = []
            send = h.session.outbox.send

            def spy(command: str, *params: str, **kw: Any) -> Any:
                requests.append((command, *params))
                return send(command, *params, **kw)

            h.session.outbox.send = spy  # type: ignore[method-assign]
            h.session.router._send = spy
            buf = h.session.get_buffer("#room")
            assert buf is not None

            def history() -> list[str]:
                return [line.text for line in buf.lines if line.history]

            await h.until(lambda: history() == said[10:], "the latest 50 lines")
            assert {"labeled-response", "draft/chathistory", "batch"} <= h.session.caps
            texts = [line.text for line in buf.lines]
            assert texts[50:52] == ["new messages", "You joined #room"]
            for line in buf.lines:
                if line.history:  # each with the time the server gave it when it was said
                    assert line.time == parse_server_time(echoes[line.text].tags["time"])
                    assert line.msgid == echoes[line.text].tags["msgid"]
            stamp = time.strftime("%H:%M", time.localtime(buf.lines[49].time))
            await h.shows(f"{stamp} <alice> old 60\n")
            await h.shows("— new messages —")
            rows = log_rows(h)
            divider = next(i for i, row in enumerate(rows) if "— new messages —" in row)
            assert rows[divider - 1].endswith("<alice> old 60")
            assert "You joined #room" in rows[divider + 1]
            await asyncio.to_thread(alice.send, "PRIVMSG #room :live now")
            await h.shows("<alice> live now")
            assert buf.lines[-1].text == "live now" and not buf.lines[-1].history

            # PageUp to the top: the 10 older lines are fetched and put above, the view stays.
            def at_top() -> bool:
                return h.app.log_control.top_visible(h.app.view(), buf.lines)

            while not h.session.loading_history("#room") and len(history()) == 50:
                assert not at_top()
                rows = log_rows(h)
                h.type(PAGE_UP)
                await h.until(lambda r=rows: log_rows(h) != r or h.session.loading_history("#room"))
            await h.until(lambda: len(history()) == 60, "the older page")
            await h.until(lambda: not h.session.loading_history("#room"))
            h.app.invalidate()
            # The view stayed on what was at the top when the request went out.
            await h.until(  # (below a day row if the test runs just after midnight)
                lambda: any("<alice> old 11" in row for row in log_rows(h)[:2]),
                "the view did not jump",
            )
            assert "old 10" not in h.screen()
            before = [r for r in requests if r[0] == "CHATHISTORY"]
            oldest = f"msgid={echoes['old 11'].tags['msgid']}"
            assert before == [("CHATHISTORY", "BEFORE", "#room", oldest, "50")]
            while not buf.history_complete:  # on to the top: an empty page ends the paging
                rows = log_rows(h)
                h.type(PAGE_UP)
                await h.until(
                    lambda r=rows: (
                        log_rows(h) != r
                        or h.session.loading_history("#room")
                        or buf.history_complete
                    )
                )
                await h.until(lambda: not h.session.loading_history("#room"))
            assert history() == said
            await h.shows("<alice> old 1\n")
            assert len([r for r in requests if r[0] == "CHATHISTORY"]) == 2
            h.type(PAGE_UP)  # nothing older: no request
            await h.until(lambda: not h.session.loading_history("#room"))
            assert len([r for r in requests if r[0] == "CHATHISTORY"]) == 2
        alice.close()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_history_outlives_a_restart_with_its_original_times(tmp_path: Path) -> None:
    server = history_server(tmp_path).start()
    try:
        alice = talker(server.port, "alice", "#room")
        say_all(alice, "#room", ["good morning", "the build is green"])
        alice.close()
        server.stop()
        # Make it yesterday's conversation (the database is chatd's; times are in ms).
        with contextlib.closing(sqlite3.connect(tmp_path / "history.sqlite3")) as db, db:
            db.execute("UPDATE messages SET time = time - ?", (DAY_AND_AN_HOUR * 1000,))
            stored = [t / 1000 for (t,) in db.execute("SELECT time FROM messages ORDER BY id")]
        server.start()  # same port, same database

        async def scenario() -> None:
            async with running(server.port, nick="bob", rooms=("#room",)) as h:
                buf = h.session.get_buffer("#room")
                assert buf is not None
                await h.until(lambda: len([x for x in buf.lines if x.history]) == 2, "history")
                texts = [line.text for line in buf.lines]
                assert texts[:4] == [
                    "good morning",
                    "the build is green",
                    "new messages",
                    "You joined #room",
                ]
                assert [line.time for line in list(buf.lines)[:2]] == stored
                day = time.strftime("%A %d %B %Y", time.localtime(stored[0]))
                today = time.strftime("%A %d %B %Y")
                first, second = (time.strftime("%H:%M", time.localtime(t)) for t in stored)
                await h.shows(f"{first} <alice> good morning")
                await h.shows("— new messages —")
                rows = [row.strip() for row in log_rows(h) if row.strip()]
                assert rows[0].startswith("─") and day in rows[0]  # history from another day
                assert rows[1:3] == [
                    f"{first} <alice> good morning",
                    f"{second} <alice> the build is green",
                ]
                assert rows[3].startswith("─") and today in rows[3]
                assert rows[4] == "— new messages —"
                assert rows[5].endswith("--> You joined #room")

        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_view_scrolled_above_the_join_follows_its_line_when_history_goes_in() -> None:
    session = Session("bob", channels=["#room"], history_page=50)
    with create_pipe_input() as keys:
        app = ChatApp(session, Endpoint("127.0.0.1", 1), input=keys, output=SizedOutput(10, 60))
        now = 1_700_000_000.0
        welcome = (
            ":srv CAP * LS :batch draft/chathistory message-tags server-time",
            ":srv CAP bob ACK :batch draft/chathistory message-tags server-time",
            ":srv 001 bob :Welcome",
            ":srv 005 bob CHANTYPES=# :are supported",
            ":bob!b@h JOIN #room",
        )
        session.connection_made(now)
        for line in (*welcome, ":srv BATCH +a chathistory #room", ":srv BATCH -a"):
            session.receive(line, now)
        for i in range(20):
            session.receive(f":carol!c@h PRIVMSG #room :before {i}", now)
        session.connection_lost(now, "reset", 1.0)
        session.connection_made(now)
        for line in welcome:  # joined again: what was said meanwhile is fetched
            session.receive(line, now)
        buf = session.get_buffer("#room")
        assert buf is not None
        reading = next(line for line in buf.lines if line.text == "before 3")
        view = app.view("#room")
        view.pinned, view.anchor_seq = False, reading.seq
        for line in (
            ":srv BATCH +h chathistory #room",
            "@batch=h;time=2023-11-14T22:13:20Z :carol!c@h PRIVMSG #room :missed",
            ":srv BATCH -h",
        ):
            session.receive(line, now)
        anchored = buf.lines[view.anchor_seq - buf.lines[0].seq]
        assert anchored.text == "before 3"
        texts = [line.text for line in buf.lines]
        assert texts[-5:] == [
            "Disconnected: reset — reconnecting in 1 s",
            "Reconnected to server as bob",
            "missed",
            "new messages",
            "You joined #room",
        ]


def test_a_whois_answer_goes_to_the_buffer_it_was_typed_in(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with running(chatd.port, rooms=("#lobby", "#dev")) as h:
            assert "labeled-response" in h.session.caps
            h.type(alt("3") + "/whois bob" + ENTER + alt("2"))  # and straight back to #lobby
            await h.until(lambda: any("End of /WHOIS" in t for _, t in h.lines("#dev")))
            assert any(  # bob's host is his cloak (this chatd's key is its own)
                who is None and t.startswith("bob is ~bob@") and t.endswith(".ip (raw test client)")
                for who, t in h.lines("#dev")
            ), h.lines("#dev")
            assert not any("WHOIS" in t or "bob is" in t for _, t in h.lines("#lobby"))
            h.type("/whois nobody" + ENTER)
            await h.until(lambda: any("nobody" in t for _, t in h.lines("#lobby")))
            assert h.session.current_buffer.name == "#lobby"
        bob.close()

    asyncio.run(scenario())
