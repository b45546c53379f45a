"""The whole app against a real chatd, with what chatd now offers: private history shown when
a private buffer opens (and the buffers TARGETS lists), a pasted paragraph sent as one
draft/multiline message and one received shown as one, read markers shared by two runs of the
client, a deleted message, a renamed room, and a display name in /whois. Raw clients play the
other people (with the capabilities they need, to see what chat-client sent)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from client_helpers import ChatdProcess, RawClient, capable_client, register_account, until
from test_client_ui import END, ENTER, PAGE_UP, alt, paste, raw_client, running

from chatd.client.model import Kind
from chatd.client.sasl import SaslConfig
from chatd.client.session import Session
from chatd.client.transport import Endpoint, Timing, Transport

PASSWORD = "alice-password"


async def capable(port: int, nick: str, caps: str, *rooms: str) -> RawClient:
    def connect() -> RawClient:
        client = capable_client(port, nick, caps)
        for room in rooms:
            client.join(room)
        return client

    return await asyncio.to_thread(connect)


def row_of(screen: str, text: str) -> int:
    return next(i for i, row in enumerate(screen.splitlines()) if text in row)


def test_private_history_and_the_buffers_targets_lists(accounts_chatd: ChatdProcess) -> None:
    port = accounts_chatd.port
    register_account(port, "alice", PASSWORD)

    async def scenario() -> None:
        bob = await raw_client(port, "bob")
        await asyncio.to_thread(bob.send, "PRIVMSG NickServ :REGISTER bob-password")
        await asyncio.to_thread(bob.expect_numeric, "900")
        alice = await raw_client(port, "alice")  # an earlier session of alice's
        await asyncio.to_thread(alice.send, f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
        await asyncio.to_thread(alice.expect_numeric, "900")
        alice.send("PRIVMSG bob :the deploy is at 3, ok?")
        await asyncio.to_thread(bob.expect, r"PRIVMSG bob :the deploy is at 3")
        bob.send("PRIVMSG alice :ok, I will be there")
        await asyncio.to_thread(alice.expect, r"PRIVMSG alice :ok, I will be there")
        alice.close()
        login = SaslConfig("PLAIN", "alice", PASSWORD)
        async with running(port, sasl=login) as h:
            await h.until(lambda: h.session.get_buffer("bob") is not None, "bob's buffer opened")
            await h.shows(" 3:bob")  # in the room bar, not switched to
            assert h.session.current_buffer.name == "#lobby"
            h.type(alt("3"))
            await h.shows("<bob> ok, I will be there")
            screen = h.screen()
            assert row_of(screen, "<alice> the deploy is at 3") < row_of(screen, "<bob> ok, I")
            bob.send("PRIVMSG alice :see you")
            await h.shows("<bob> see you")
            screen = h.screen()
            assert row_of(screen, "<bob> ok, I") < row_of(screen, "— new messages —")
            assert row_of(screen, "— new messages —") < row_of(screen, "<bob> see you")
        bob.close()

    asyncio.run(scenario())


def test_a_pasted_paragraph_is_one_multiline_message(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await capable(chatd.port, "bob", "batch draft/multiline message-tags", "#lobby")
        carol = await raw_client(chatd.port, "carol", "#lobby")
        async with running(chatd.port) as h:
            await asyncio.to_thread(bob.expect, r":alice!\S+ JOIN #lobby")
            h.type(paste("the plan:\n\n1. build\n2. ship\n"))  # 3 lines: sent without asking
            opened = await asyncio.to_thread(bob.expect, r"BATCH \+\S+ draft/multiline #lobby")
            ref = opened.params[0][1:]
            batch = await asyncio.to_thread(bob.collect, f"batch={ref}", rf"BATCH -{ref}")
            assert [m.params[1] for m in batch if m.command == "PRIVMSG"] == [
                "the plan:", "", "1. build", "2. ship",
            ]  # fmt: skip
            for text in ("the plan:", "1. build", "2. ship"):  # one line each without the cap
                await asyncio.to_thread(carol.expect, rf"PRIVMSG #lobby :{text}$")
            await h.until(lambda: not h.session.current_buffer.pending, "the echo confirmed it")
            own = h.session.current_buffer.lines[-1]
            assert own.own and own.text == "the plan:\n\n1. build\n2. ship" and own.msgid
            bob.send(
                "BATCH +m draft/multiline #lobby",
                "@batch=m PRIVMSG #lobby :looks good,",
                "@batch=m PRIVMSG #lobby :ship it",
                "BATCH -m",
            )
            await h.shows("<bob> looks good,")
            rows = h.screen().splitlines()
            at = row_of(h.screen(), "<bob> looks good,")
            assert rows[at + 1].strip() == "ship it" and "<bob>" not in rows[at + 1]
        bob.close()
        carol.close()

    asyncio.run(scenario())


def test_two_runs_of_the_client_agree_on_what_was_read(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        bob.send("PRIVMSG #lobby :first", "PRIVMSG #lobby :second")
        await asyncio.to_thread(bob.sync)
        async with running(chatd.port) as h:  # reads #lobby: it is on screen, at its end
            await h.shows("<bob> second")
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            second = next(line for line in lobby.lines if line.text == "second")
            await h.until(lambda: lobby.read_marker == second.time, "the server kept the marker")
        bob.send("PRIVMSG #lobby :third, while she was away")
        await asyncio.to_thread(bob.sync)
        async with running(chatd.port, rooms=("#dev", "#lobby")) as h:  # #lobby not on screen
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            await h.until(lambda: any(x.kind is Kind.DIVIDER for x in lobby.lines), "history")
            texts = [line.text for line in lobby.lines]
            assert (
                texts.index("second")
                < texts.index("new messages")
                < texts.index("third, while she was away")
            )
            assert lobby.unread == 1  # what the first run did not read
            await h.shows("3:#lobby(1)")
        bob.close()

    asyncio.run(scenario())


def test_switching_to_a_buffer_and_scrolling_to_its_end_mark_it_read(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby", "#dev")
        async with running(chatd.port, rooms=("#lobby", "#dev")) as h:
            await h.until(lambda: h.session.current_buffer.name == "#lobby")
            dev = h.session.get_buffer("#dev")
            assert dev is not None
            bob.send("PRIVMSG #dev :ping")
            await h.shows("3:#dev(1)")
            assert dev.read_marker is None  # not on screen: not read
            h.type(alt("3"))
            await h.until(lambda: dev.read_marker == dev.lines[-1].time, "marked read on switching")
            ping = dev.read_marker
            for i in range(60):
                h.session.log(dev, ping - 1, Kind.INFO, f"filler {i}")  # something to scroll
            h.app.invalidate()
            await h.shows("filler 59")
            h.type(PAGE_UP)
            await h.shows("more below")

            def more() -> str:
                return next((r for r in h.screen().splitlines() if "more below" in r), "")

            scrolled = more()
            bob.send("PRIVMSG #dev :pong")
            await h.until(lambda: ("bob", "pong") in h.lines("#dev"))
            await h.until(lambda: more() not in ("", scrolled), "drawn since pong came")
            assert dev.marker_sent == ping and dev.read_marker == ping
            h.type(END)
            await h.until(lambda: dev.read_marker == dev.lines[-1].time != ping, "marked read")
        bob.close()

    asyncio.run(scenario())


def test_a_deleted_message_says_so_and_redact_deletes_your_own(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await capable(chatd.port, "bob", "message-tags draft/message-redaction", "#lobby")
        async with running(chatd.port) as h:
            bob.send("PRIVMSG #lobby :my password is hunter2")
            await h.shows("<bob> my password is hunter2")
            lobby = h.session.current_buffer
            msgid = lobby.lines[-1].msgid
            bob.send(f"REDACT #lobby {msgid} :wrong window")
            await h.shows("<bob> message deleted by bob: wrong window")
            assert "hunter2" not in h.screen()
            h.type("a typo" + ENTER)

            def typo() -> str:
                return next((x.msgid for x in lobby.lines if x.text == "a typo"), "")

            await h.until(typo, "the echo, with its msgid")
            own = typo()
            h.type("/redact sorry" + ENTER)
            got = await asyncio.to_thread(bob.expect, r":alice!\S+ REDACT #lobby")
            assert got.params == ["#lobby", own, "sorry"]
            await h.shows("<alice> message deleted by you: sorry")
        bob.close()

    asyncio.run(scenario())


def test_a_renamed_room_keeps_its_buffer(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")  # first in: operator
        async with running(chatd.port) as h:
            bob.send("PRIVMSG #lobby :before the move")
            await h.shows("<bob> before the move")
            bob.send("RENAME #lobby #hall :a better name")
            await h.shows("bob renamed #lobby to #hall (a better name)")
            await h.shows("[2:#hall]")
            assert "<bob> before the move" in h.screen() and h.session.get_buffer("#lobby") is None
            h.type("still here" + ENTER)
            await asyncio.to_thread(bob.expect, r":alice!\S+ PRIVMSG #hall :still here")
        bob.close()

    asyncio.run(scenario())


def test_whois_shows_a_display_name(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await capable(chatd.port, "bob", "batch draft/metadata-3", "#lobby")
        bob.send("METADATA * SET display-name :Robert the Builder")
        await asyncio.to_thread(bob.expect, r" 761 bob bob display-name")
        async with running(chatd.port) as h:
            h.type("/whois bob" + ENTER)
            await h.shows("bob: display name Robert the Builder")
            screen = h.screen()
            assert row_of(screen, "bob is ~bob@") < row_of(screen, "display name Robert")
        bob.close()

    asyncio.run(scenario())


def test_a_typed_line_does_not_wait_behind_history_requests() -> None:
    """A real socket: 40 background requests (what TARGETS' buffers ask for) are paced, and a
    line typed after them goes out first."""

    async def scenario() -> None:
        arrived: list[str] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                arrived.append(text)
                if text.startswith("USER"):
                    writer.write(b":srv 001 alice :Welcome\r\n")
                    await writer.drain()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        session = Session("alice", server_label="t")
        pacing = Timing(ping_interval=3600, send_burst=5, send_rate=50.0)  # paced, but briefly
        transport = Transport(session, Endpoint("127.0.0.1", port), timing=pacing)
        net = asyncio.create_task(transport.run())
        await until(lambda: session.registered, what="registered")
        start = len(arrived)
        for i in range(20):
            session.send("MARKREAD", f"peer{i}", background=True)
            session.send("CHATHISTORY", "LATEST", f"peer{i}", "*", "50", background=True)
        session.say("bob", "typed while the history is asked for", time.time())
        await until(lambda: any("typed while" in a for a in arrived), what="the typed line")
        sent = arrived[start:]
        assert sent[0] == "PRIVMSG bob :typed while the history is asked for"
        assert transport.queued > 0  # the requests are still being paced
        await until(
            lambda: sum(a.startswith(("MARKREAD", "CHATHISTORY")) for a in arrived) == 40,
            what="the requests, paced",
        )
        transport.stop_now()
        net.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await net
        server.close()

    asyncio.run(scenario())
