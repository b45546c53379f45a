"""End to end, the real chat-client in tmux: the configuration file with two servers at once
(and the private-message notice, and the logs), search in the scrollback, the 80-column status
line during a reconnection, wide characters, and line mode's refusals (an empty room, a full
server, '#a,#b'). SASL against chatd's accounts is in test_client_accounts.py."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from client_helpers import CLIENT, DEADLINE, ChatdProcess, RawClient, Tmux, client_env, wait_for
from prompt_toolkit.utils import get_cwidth

pytestmark = pytest.mark.e2e

ISSUE_FORM = """\
[[server]]
name = "home"
host = "127.0.0.1"
port = {port}
nick = "alice"
autojoin = ["#lobby", "#dev"]
"""


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """$HOME-like directories for one run: config under cfg/, logs under data/."""
    (tmp_path / "cfg" / "chat-client").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    return tmp_path


def write_config(home: Path, text: str) -> Path:
    path = home / "cfg" / "chat-client" / "config.toml"
    path.write_text(text)
    return path


def start(tmux: Tmux, home: Path, *args: str, columns: int = 100, rows: int = 24) -> None:
    command = " ".join([*CLIENT, *args])
    tmux.run(
        "new-session", "-d", "-s", tmux.target, "-x", str(columns), "-y", str(rows),
        "-e", "TERM=screen-256color",
        "-e", f"XDG_CONFIG_HOME={home / 'cfg'}",
        "-e", f"XDG_DATA_HOME={home / 'data'}",
        f"{command}; echo CLIENT-EXITED:$?; exec sleep 600",
    )  # fmt: skip


def test_config_file_two_servers_the_private_notice_and_logs(
    chatd: ChatdProcess, chatd_pool: object, tmux: Tmux, home: Path
) -> None:
    work = chatd_pool.take()  # type: ignore[attr-defined]
    work_server = f'\n[[server]]\nname = "work"\nhost = "127.0.0.1"\nport = {work.port}\nnick = "alice"\nautojoin = ["#ops"]\n'
    write_config(home, ISSUE_FORM.format(port=chatd.port) + work_server)
    bob = RawClient(work.port, "bob")
    try:
        start(tmux, home)  # no address: the configured servers
        tmux.shows(" 1:home [2:#lobby] 3:#dev  4:work  5:#ops")
        tmux.shows("│ connected")
        bob.join("#ops")
        bob.send("PRIVMSG #ops :deploy at 3", "PRIVMSG alice :psst, lunch?")
        screen = tmux.shows("-- private message from bob on work (Alt-6)")
        assert "5:#ops(1)" in screen and "6:bob(1!)" in screen
        tmux.keys("M-6")
        tmux.shows("<bob> psst, lunch?")
        tmux.shows("alice @ work │ private: bob")
        tmux.keys("sure", "Enter")
        bob.expect(r":alice!\S+ PRIVMSG bob :sure")
        log = (
            home
            / "data"
            / "chat-client"
            / "logs"
            / "work"
            / "bob"
            / f"{time.strftime('%Y-%m-%d')}.log"
        )
        wait_for(lambda: log.exists() and "<alice> sure" in log.read_text(), what="the log")
        assert re.search(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d <bob> psst, lunch\?$", log.read_text(), re.M
        )
        tmux.keys("C-c")
        tmux.shows("CLIENT-EXITED:0")
    finally:
        bob.close()
        work.stop()


def test_search_in_the_scrollback(chatd: ChatdProcess, tmux: Tmux, home: Path) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        start(tmux, home, f"alice@127.0.0.1:{chatd.port}", "--no-log", columns=80)
        tmux.shows("You joined #lobby")
        # 18 lines: under chatd's flood burst, so they arrive at once
        lines = [f"the deploy {i} went fine" if i % 5 == 3 else f"chatter {i}" for i in range(18)]
        bob.send(*[f"PRIVMSG #lobby :{t}" for t in lines])
        tmux.shows("<bob> chatter 17")
        tmux.keys("C-r", "deploy")
        tmux.shows('search "deploy": 1 of 3')
        screen = tmux.shows("(search #lobby) deploy")
        assert "<bob> the deploy 13 went fine" in screen
        tmux.keys("Up", "Up")
        screen = tmux.shows('search "deploy": 3 of 3')
        assert "<bob> the deploy 3 went fine" in screen and "chatter 17" not in screen
        styled = tmux.run("capture-pane", "-e", "-p", "-t", tmux.target)
        assert re.search(r"\x1b\[[0-9;]*m+deploy\x1b", styled)  # the matches are marked
        tmux.keys("Escape")  # a lone Esc: told from Alt-keys within half a second
        tmux.shows("[#lobby]")
        wait_for(lambda: "chatter 17" in tmux.capture(), what="back at the bottom")
        tmux.keys("C-c")
        tmux.shows("CLIENT-EXITED:0")
    finally:
        bob.close()


def test_the_80_column_status_line_during_a_reconnection(
    chatd: ChatdProcess, tmux: Tmux, home: Path
) -> None:
    start(
        tmux,
        home,
        f"alice@127.0.0.1:{chatd.port}",
        "--no-log",
        "--reconnect-delay",
        "1",
        columns=80,
    )
    tmux.shows("You joined #lobby")
    topic = "Welcome to the lobby! Rules: be kind, no spam, read the wiki before asking"
    tmux.keys(f"/topic {topic}", "Enter")
    tmux.shows("You set the topic")
    chatd.stop()
    screen = tmux.shows("reconnecting in")
    status = next(row for row in screen.splitlines() if "reconnecting in" in row and "│" in row)
    assert sum(get_cwidth(ch) for ch in status.rstrip()) <= 80
    assert status.startswith(" alice @ 127.0.0.1:") and "│ Welcome" in status
    assert re.search(r"│ reconnecting in \d+ s\s*$", status)
    chatd.start()
    tmux.shows("Reconnected to")
    tmux.shows("#lobby +nt")  # its modes asked for again
    tmux.keys("C-c")
    tmux.shows("CLIENT-EXITED:0")


def test_wide_characters_with_modifiers_keep_the_nick_list_column(
    chatd: ChatdProcess, tmux: Tmux, home: Path
) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        start(tmux, home, f"alice@127.0.0.1:{chatd.port}", "--no-log", columns=100)
        tmux.shows("│2 users")
        bob.send("PRIVMSG #lobby :thumbs 👍🏽 heart ❤️ family 👨‍👩‍👧 flag 🇫🇷 csi \u009b[2J end")
        screen = tmux.shows("csi")
        rows = [row for row in screen.splitlines()[1:-2] if "│" in row]
        columns = {sum(get_cwidth(ch) for ch in row[: row.index("│")]) for row in rows}
        assert columns == {100 - 19}, screen  # every row's separator in the same column
        line = next(row for row in rows if "thumbs" in row)
        assert "👍 heart ❤ family 👨👩👧 flag FR csi \ufffd[2J end" in line
        tmux.keys("C-c")
        tmux.shows("CLIENT-EXITED:0")
    finally:
        bob.close()


# ------------------------------------------------------------------ line mode


def line_mode(
    *args: str, text: bytes = b"hello\n", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLIENT, *args], input=text, capture_output=True, timeout=DEADLINE,
        env=env or client_env(), check=False,
    )  # fmt: skip


def test_line_mode_two_rooms_in_one_argument(chatd: ChatdProcess) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#a")
        started = time.monotonic()
        done = line_mode(f"ci@127.0.0.1:{chatd.port}", "#a,#b")
        assert done.returncode == 0, done.stderr.decode()
        assert time.monotonic() - started < 5  # not the 20 s of a join that never comes
        bob.expect(r":ci!\S+ PRIVMSG #a :hello")
    finally:
        bob.close()


def test_line_mode_will_not_lose_a_line_in_an_empty_room(chatd: ChatdProcess) -> None:
    done = line_mode(f"ci@127.0.0.1:{chatd.port}", "#ops")
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "nobody is in #ops" in err and "not +P" in err and len(err.splitlines()) == 1


def test_line_mode_a_full_server_is_one_clear_line(tmp_path: Path) -> None:
    server = ChatdProcess(log_dir=tmp_path, extra=["--max-clients", "1"]).start()

    def hold() -> RawClient | None:  # once the readiness probe's connection is gone
        try:
            return RawClient(server.port, "holder")
        except AssertionError:
            return None

    holder = wait_for(hold, what="the one connection the server takes")
    assert isinstance(holder, RawClient)
    try:
        done = line_mode(f"ci@127.0.0.1:{server.port}")
        assert done.returncode == 1
        err = done.stderr.decode()
        assert "Server is full" in err and len(err.splitlines()) == 1, err
        assert "reset" not in err and "closed by server" not in err
    finally:
        holder.close()
        server.stop()


def test_line_mode_a_refused_join_fails_at_once(chatd: ChatdProcess) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#closed")
        bob.send("MODE #closed +i")
        bob.sync()
        started = time.monotonic()
        done = line_mode(f"ci@127.0.0.1:{chatd.port}", "#closed")
        assert done.returncode == 1 and time.monotonic() - started < 5
        assert "could not join #closed" in done.stderr.decode()
    finally:
        bob.close()
