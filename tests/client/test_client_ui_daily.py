"""The everyday features in the full-screen UI, through prompt_toolkit's pipe input, against
real chatd processes: two servers at once, search, the bell, the nick list, the status line
during a reconnection, settings, logs, and the lag probe that does not queue behind a paste."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from client_helpers import ChatdProcess, RawClient, until
from prompt_toolkit.input import create_pipe_input
from test_client_ui import ENTER, Harness, SizedOutput, alt, paste, raw_client

from chatd.client import config as cfg
from chatd.client.config import ConfigFile
from chatd.client.logs import LogWriter
from chatd.client.model import Kind, Member
from chatd.client.session import ConnState, Session
from chatd.client.transport import Endpoint, Timing, Transport
from chatd.client.ui.app import ChatApp
from chatd.client.ui.layout import width_of

CTRL_R, CTRL_S, CTRL_G = "\x12", "\x13", "\x07"
UP, DOWN = "\x1b[A", "\x1b[B"
ALT_PAGE_DOWN = "\x1b\x1b[6~"


class BellOutput(SizedOutput):
    def __init__(self, rows: int, columns: int) -> None:
        super().__init__(rows, columns)
        self.bells = 0

    def bell(self) -> None:
        self.bells += 1


def timing() -> Timing:
    return Timing(backoff_min=0.05, backoff_max=0.2, ping_interval=0.2, quit_timeout=1.0)


@contextlib.asynccontextmanager
async def app_on(
    servers: list[tuple[str, int, tuple[str, ...]]],
    *,
    columns: int = 80,
    rows: int = 30,
    config: ConfigFile | None = None,
    logger: LogWriter | None = None,
    make_server: Callable[[str], tuple[Session, Endpoint]] | None = None,
) -> AsyncIterator[Harness]:
    """A ChatApp connected to each (name, port, rooms); waits until every room is joined."""
    with create_pipe_input() as keys:
        pairs = [
            (
                Session("alice", channels=list(rooms), server_label=f"127.0.0.1:{port}", name=name),
                Endpoint("127.0.0.1", port),
            )
            for name, port, rooms in servers
        ]
        app = ChatApp(
            servers=pairs,
            config=config,
            input=keys,
            output=BellOutput(rows, columns),
            timing=timing(),
            logger=logger,
            make_server=make_server,
        )
        task = asyncio.create_task(app.run_async())
        harness = Harness(app, keys)
        try:
            for session, _ in pairs:
                await until(
                    lambda s=session: all(
                        (b := s.get_buffer(r)) is not None and b.joined for r in s.autojoin
                    ),
                    what=f"rooms joined on {session.name}",
                )
            yield harness
        finally:
            if not task.done():
                app.request_quit("test over")
            await asyncio.wait_for(task, 5)


def test_two_servers_at_once_with_their_buffers_in_the_room_bar(
    chatd: ChatdProcess, chatd_pool: object
) -> None:
    other = chatd_pool.take()  # type: ignore[attr-defined]

    async def scenario() -> None:
        bob = await raw_client(other.port, "bob", "#ops")
        servers = [("home", chatd.port, ("#lobby", "#dev")), ("work", other.port, ("#ops",))]
        async with app_on(servers) as h:
            await h.until(
                lambda: h.screen().startswith(" 1:home [2:#lobby] 3:#dev  4:work  5:#ops")
            )
            assert h.app.session.name == "home"
            bob.send("PRIVMSG #ops :deploy at 3", "PRIVMSG alice :psst")
            await h.shows("5:#ops(1)")
            await h.shows("6:bob(1!)")
            await h.shows("-- private message from bob on work (Alt-6)")
            h.type(alt("6"))
            await h.until(
                lambda: h.app.session.name == "work" and h.app.session.current_buffer.name == "bob"
            )
            await h.shows("<bob> psst")
            assert " alice @ work │ private: bob" in h.screen()
            h.type("hello from the other server" + ENTER)
            await asyncio.to_thread(bob.expect, r":alice!\S+ PRIVMSG bob :hello from the other")
            h.type(alt("5") + "/names" + ENTER)
            await h.shows("2 users in #ops")
            h.type(alt("2"))
            await h.until(lambda: h.app.session.name == "home")
            h.type("/buffer work/#ops" + ENTER)
            await h.until(
                lambda: h.app.session.name == "work" and h.app.session.current_buffer.name == "#ops"
            )
        bob.close()

    try:
        asyncio.run(scenario())
    finally:
        other.stop()


def test_search_in_scrollback_with_highlights_and_next_previous(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        async with app_on([("home", chatd.port, ("#lobby",))]) as h:
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            h.session.log(
                lobby, 0.0, Kind.MESSAGE, "the needle from history", nick="carol", history=True
            )
            for i in range(60):
                text = f"needle number {i}" if i in (10, 40) else f"hay {i}"
                h.session.log(lobby, 0.0, Kind.MESSAGE, text, nick="carol")
            h.app.invalidate()
            await h.shows("hay 59")
            h.type(CTRL_R + "needle")
            await h.shows('search "needle": 1 of 3')
            await h.shows("<carol> needle number 40")
            assert "(search #lobby) needle" in h.screen()
            assert "hay 59" not in h.screen()  # the view moved to the match
            h.type(UP)
            await h.shows('search "needle": 2 of 3')
            await h.shows("<carol> needle number 10")
            h.type(CTRL_R)  # again: older still, into the history fetched from the server
            await h.shows('search "needle": 3 of 3')
            await h.shows("<carol> the needle from history")
            h.type(CTRL_R)
            await h.shows("no older match")
            h.type(DOWN)
            await h.shows('search "needle": 2 of 3')
            h.type(CTRL_S)
            await h.shows('search "needle": 1 of 3')
            h.type(CTRL_G)  # back where we were, the draft back in the input line
            await h.until(lambda: h.app.search_state is None)
            await h.shows("hay 59")
            h.type("draft" + "\x01\x0b")
            h.type("/search number 1" + ENTER)
            await h.shows('search "number 1": 1 of 1')
            h.type(ENTER)  # Enter stays on the match
            await h.until(lambda: h.app.search_state is None)
            await h.shows("<carol> needle number 10")
            assert "more below" in h.screen()
            h.type(CTRL_R + "zzz")
            await h.shows('search "zzz": no match')

    asyncio.run(scenario())


def test_the_bell_rings_on_mentions_and_private_messages(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with app_on([("home", chatd.port, ("#lobby",))]) as h:
            output = h.app.application.output
            assert isinstance(output, BellOutput)
            bob.send("PRIVMSG #lobby :nothing for you")
            await h.shows("<bob> nothing for you")
            assert output.bells == 0
            bob.send("PRIVMSG #lobby :alice: are you there?")
            await h.until(lambda: output.bells == 1, "a bell")
            bob.send("PRIVMSG alice :psst")
            await h.until(lambda: output.bells == 2, "another bell")
        bob.close()

    asyncio.run(scenario())


def test_a_long_nick_list_says_so_and_scrolls(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        async with app_on([("home", chatd.port, ("#lobby",))], columns=120) as h:
            lobby = h.session.get_buffer("#lobby")
            assert lobby is not None
            for i in range(40):
                lobby.members[f"user{i:02}"] = Member(f"user{i:02}")
            h.app.invalidate()
            await h.shows("│41 users")
            await h.shows("│▼ 16 more Alt-PgDn")  # 26 rows: the title, 24 nicks, the mark
            assert "user39" not in h.screen()
            h.type(ALT_PAGE_DOWN)
            await h.shows("│▲ 16 more")
            assert "user39" in h.screen()

    asyncio.run(scenario())


def test_the_status_line_keeps_the_state_at_80_columns_during_a_reconnection(
    chatd: ChatdProcess,
) -> None:
    async def scenario() -> None:
        async with app_on([("irc.example.org", chatd.port, ("#lobby",))]) as h:
            topic = "Welcome to the lobby! Rules: be kind, no spam, and read the wiki first"
            h.type(f"/topic {topic}" + ENTER)
            await h.until(lambda: h.session.current_buffer.topic == topic)
            await asyncio.to_thread(chatd.stop)
            await h.until(lambda: h.session.state is ConnState.RECONNECTING, "reconnecting")
            await h.shows("reconnecting in")
            status = h.screen().splitlines()[-2]
            assert width_of(status) <= 80 and "│ reconnecting in" in status
            assert "#lobby (not joined)" in status and "│ Welcome" in status  # no stale modes
            await asyncio.to_thread(chatd.start)
            await h.until(lambda: h.session.state is ConnState.CONNECTED, "back")
            await h.until(lambda: h.session.current_buffer.modes == "nt", "modes asked again")

    asyncio.run(scenario())


def test_set_save_and_ignore_keep_the_configuration(chatd: ChatdProcess, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'[[server]]\nname = "home"\nhost = "127.0.0.1"\nport = {chatd.port}\n')
    store = ConfigFile(cfg.load(path), path)

    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        async with app_on([("home", chatd.port, ("#lobby",))], config=store) as h:
            h.type("/set bell off" + ENTER)
            await h.shows("bell = false")
            assert not h.app.workspace.bell and not path.read_text().count("bell")
            h.type("/set highlight deploy" + ENTER)
            await h.until(lambda: h.session.highlights == ["deploy"])
            h.type("/set timestamp_format %H:%M:%S" + ENTER)
            await h.until(lambda: h.app.time_format == "%H:%M:%S")
            h.type("/set nosuch 1" + ENTER)
            await h.shows("no setting 'nosuch'")
            h.type("/save" + ENTER)
            await h.until(lambda: (None, f"Saved to {path}") in h.lines("#lobby"), "saved")
            h.type("/ignore bob" + ENTER)  # kept in the file at once
            await h.shows("Ignoring bob!*@* on home")
            bob.send("PRIVMSG #lobby :ignored line", "PRIVMSG alice :ignored too")
            await asyncio.to_thread(bob.sync)
            h.type("/set" + ENTER)  # a round trip through the UI after bob's lines
            await h.shows("home.notify")
            assert not any("ignored" in t for _, t in h.lines("#lobby"))
            assert h.session.get_buffer("bob") is None
        bob.close()
        saved = cfg.load(path)
        assert saved.bell is False and saved.highlight == ["deploy"]
        assert saved.timestamp_format == "%H:%M:%S" and saved.servers[0].ignore == ["bob!*@*"]

    asyncio.run(scenario())


def test_buffers_are_logged_to_disk(chatd: ChatdProcess, tmp_path: Path) -> None:
    async def scenario() -> None:
        bob = await raw_client(chatd.port, "bob", "#lobby")
        logger = LogWriter(tmp_path)
        async with app_on([("home", chatd.port, ("#lobby",))], logger=logger) as h:
            bob.send("PRIVMSG #lobby :\x02written\x02 down", "PRIVMSG alice :private, logged too")
            await h.until(lambda: ("bob", "private, logged too") in h.lines("bob"))
            h.type("my own line" + ENTER)
            await h.shows("<alice> my own line")
        day = time.strftime("%Y-%m-%d")
        room = (tmp_path / "home" / "#lobby" / f"{day}.log").read_text()
        assert "<bob> written down\n" in room and "<alice> my own line\n" in room
        assert "--> You joined #lobby" in room
        query = (tmp_path / "home" / "bob" / f"{day}.log").read_text()
        assert query.endswith("<bob> private, logged too\n")
        bob.close()

    asyncio.run(scenario())


def test_the_lag_probe_does_not_wait_behind_a_paste() -> None:
    """A real socket: 60 lines are paced (15 at once, then 4/s, about 11 s in all), and the
    lag PING sent after them still reaches the server among the first lines."""

    async def scenario() -> None:
        arrived: list[str] = []
        got_ping = asyncio.Event()

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                arrived.append(text)
                if text.startswith("USER"):
                    writer.write(b":srv 001 alice :Welcome\r\n")
                if text.startswith("PING lag"):
                    writer.write(f":srv PONG srv :{text.split()[1]}\r\n".encode())
                    got_ping.set()
                await writer.drain()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        session = Session("alice", server_label="t")
        transport = Transport(
            session, Endpoint("127.0.0.1", port), timing=Timing(ping_interval=3600)
        )
        net = asyncio.create_task(transport.run())
        await until(lambda: session.registered, what="registered")
        session.state = ConnState.CONNECTED
        for i in range(60):
            session.say("bob", f"pasted line {i}", time.time())
        started = time.monotonic()
        session.send_ping(time.time())
        await asyncio.wait_for(got_ping.wait(), 2)
        assert time.monotonic() - started < 1.0
        said = [a for a in arrived if a.startswith("PRIVMSG")]
        assert len(said) <= 16  # the PING did not wait for the other 44
        await until(lambda: session.lag is not None, what="lag measured")
        assert session.lag is not None and session.lag < 1.0
        transport.stop_now()
        net.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await net
        server.close()

    asyncio.run(scenario())


def test_a_paste_then_everything_is_still_delivered_in_order(chatd: ChatdProcess) -> None:
    async def scenario() -> None:
        bob: RawClient = await raw_client(chatd.port, "bob", "#lobby")
        async with app_on([("home", chatd.port, ("#lobby",))]) as h:
            h.type(paste("\n".join(f"p{i}" for i in range(8))))
            await h.shows("Send 8 pasted lines")
            h.type("y")
            for i in range(8):
                await asyncio.to_thread(bob.expect, rf"PRIVMSG #lobby :p{i}$")
        bob.close()

    asyncio.run(scenario())


def test_connect_and_disconnect_while_running(chatd: ChatdProcess, chatd_pool: object) -> None:
    other = chatd_pool.take()  # type: ignore[attr-defined]

    def make_server(target: str) -> tuple[Session, Endpoint]:
        if target != "work":
            raise ValueError(f"no server {target!r} in the configuration")
        session = Session("alice", channels=["#ops"], server_label="w", name="work")
        return session, Endpoint("127.0.0.1", other.port)

    async def scenario() -> None:
        bob = await raw_client(other.port, "bob", "#ops")
        async with app_on([("home", chatd.port, ("#lobby",))], make_server=make_server) as h:
            h.type("/connect nowhere" + ENTER)
            await h.shows("no server 'nowhere' in the configuration")
            h.type("/connect work" + ENTER)
            await h.until(
                lambda: h.app.session.name == "work" and h.app.session.state is ConnState.CONNECTED
            )
            await h.shows(" 1:home  2:#lobby  3:work [4:#ops]")
            await asyncio.to_thread(bob.expect, r":alice!\S+ JOIN #ops")
            h.type("/connect work" + ENTER)
            await h.shows("already connected to work")
            h.type("/disconnect see you" + ENTER)
            await asyncio.to_thread(bob.expect, r":alice!\S+ QUIT :.*see you")
            await h.until(lambda: h.app.session.state is ConnState.DISCONNECTED)
            assert h.app.workspace.sessions[0].state is ConnState.CONNECTED  # home stays
            h.type("/connect work" + ENTER)
            await asyncio.to_thread(bob.expect, r":alice!\S+ JOIN #ops")
            await h.until(lambda: h.app.session.get_buffer("#ops").joined)  # type: ignore[union-attr]
        bob.close()

    try:
        asyncio.run(scenario())
    finally:
        other.stop()
