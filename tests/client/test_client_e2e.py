"""End to end: the real chat-client program in line mode (a pipe) and in a terminal (tmux)."""

from __future__ import annotations

import functools
import os
import re
import selectors
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from client_helpers import (
    CLIENT,
    DEADLINE,
    ChatdProcess,
    RawClient,
    Tmux,
    client_env,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.e2e


class LineOutput:
    """Lines from a child's stdout, read without a buffered reader hiding them from select()."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def read_line(self, timeout: float = DEADLINE) -> str:
        end = time.monotonic() + timeout
        sel = selectors.DefaultSelector()
        sel.register(self.fd, selectors.EVENT_READ)
        while b"\n" not in self.buf:
            remaining = end - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                raise AssertionError(f"no output line from chat-client (have {self.buf!r})")
            chunk = os.read(self.fd, 65536)
            if not chunk:
                raise AssertionError("chat-client closed its output")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode() + "\n"


def test_line_mode_sends_stdin_prints_messages_and_exits_after_ack(chatd: ChatdProcess) -> None:
    bob = RawClient(chatd.port, "bob")
    bob.join("#ops")
    proc = subprocess.Popen(
        [*CLIENT, f"ci@127.0.0.1:{chatd.port}", "ops", "#other"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=client_env(),
    )
    assert proc.stdin is not None
    try:
        out = LineOutput(proc)
        bob.expect(r":ci!\S+ JOIN #ops")
        bob.send("PRIVMSG #ops :hello \x02ci\x02", "PRIVMSG ci :\x01ACTION pokes\x01")
        assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] #ops <bob> hello ci\n", out.read_line())
        assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] bob \* bob pokes\n", out.read_line())
        proc.stdin.write(b"build 1 passed\n\nsecond line\n/not a command\n")
        proc.stdin.close()
        assert proc.wait(DEADLINE) == 0
        assert proc.stderr is not None and proc.stderr.read() == b""
        # Exited only after the server acknowledged: everything is already relayed.
        bob.sync()
        said = [
            line.split(" :", 1)[1]
            for line in bob.lines
            if "PRIVMSG #ops" in line and ":ci!" in line
        ]
        assert said == ["build 1 passed", "second line", "/not a command"]
        assert any(re.match(r":ci!\S+ QUIT", line) for line in bob.lines)
    finally:
        if proc.poll() is None:
            proc.kill()
        bob.close()


def test_line_mode_unreachable_server_is_a_clear_error() -> None:
    port = free_port()
    result = subprocess.run(
        [*CLIENT, f"ci@127.0.0.1:{port}"],
        input=b"hi\n",
        capture_output=True,
        timeout=DEADLINE,
        env=client_env(),
        check=False,
    )
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "connection refused" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "address, message",
    [
        ("ci@host:notaport", "port must be a number"),
        ("9nick@localhost", "bad nick"),
        ("ci@", "no host"),
    ],
)
def test_bad_address_is_a_clear_error(address: str, message: str) -> None:
    result = subprocess.run(
        [*CLIENT, address], input=b"", capture_output=True, timeout=DEADLINE, check=False
    )
    assert result.returncode == 2
    assert message in result.stderr.decode() and "Traceback" not in result.stderr.decode()


def test_help_explains_arguments_and_options() -> None:
    result = subprocess.run([*CLIENT, "--help"], capture_output=True, timeout=DEADLINE, check=True)
    out = result.stdout.decode()
    for word in (
        "NICK@HOST[:PORT]",
        "--password",
        "--tls",
        "--insecure",
        "--realname",
        "--no-color",
        "line mode",
    ):
        assert word in out


# ------------------------------------------------------------------ tmux


def test_real_terminal_session_two_rooms_and_a_private_buffer(
    chatd: ChatdProcess, tmux: Tmux
) -> None:
    command = " ".join([*CLIENT, f"alice@127.0.0.1:{chatd.port}", "'#lobby'", "'#dev'"])
    shell = f"{command}; echo CLIENT-EXITED:$?; exec sleep 600"
    tmux.run(
        "new-session",
        "-d",
        "-s",
        tmux.target,
        "-x",
        "100",
        "-y",
        "24",
        "-e",
        "TERM=screen-256color",
        shell,
    )
    tmux.shows("You joined #lobby")
    tmux.shows("connected")
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        bob.join("#dev")
        bob.send(
            "PRIVMSG #lobby :hello alice, welcome",
            "PRIVMSG #dev :build is green",
            "PRIVMSG alice :psst",
        )
        screen = tmux.shows("4:bob(1!)")
        assert "3:#dev(1)" in screen
        assert re.search(r"\d\d:\d\d <bob> hello alice, welcome", tmux.shows("<bob> hello alice"))
        assert "#lobby +nt (2 users)" in screen  # its modes, asked for on joining
        tmux.keys("hi bob", "Enter")
        bob.expect(r"PRIVMSG #lobby :hi bob")
        tmux.shows("<alice> hi bob")
        tmux.keys("M-4")
        tmux.shows("<bob> psst")
        tmux.shows("private: bob")
        tmux.keys("/me waves back", "Enter")
        bob.expect(r"PRIVMSG bob :\x01ACTION waves back\x01")
        tmux.shows("* alice waves back")
        # A real bracketed paste of five lines asks first.
        tmux.keys("M-2")
        tmux.run("set-buffer", "one\ntwo\nthree\nfour\nfive")
        tmux.run("paste-buffer", "-p", "-t", tmux.target)
        tmux.shows("Send 5 pasted lines to #lobby? [y]es / [n]o")
        tmux.keys("y")
        for word in ("one", "two", "three", "four", "five"):
            bob.expect(rf"PRIVMSG #lobby :{word}$")
        # Resizing redraws at the new size, wrapping long lines to it.
        bob.send("PRIVMSG #lobby :" + "a fairly long line of words " * 4)
        tmux.shows("a fairly long line")
        tmux.run("resize-window", "-t", tmux.target, "-x", "50", "-y", "20")

        def redrawn() -> bool:
            rows = tmux.capture().split("\n")
            return (
                len(rows) >= 20
                and rows[19].startswith("[#lobby]")
                and rows[18].startswith(" alice │ #lobby")  # the server name gave way
                and rows[18].rstrip().endswith("│ connected")
            )

        wait_for(redrawn, what="status and input lines redrawn at 50x20")
        tmux.keys("C-c")
        tmux.shows("CLIENT-EXITED:0")
        bob.expect(r":alice!\S+ QUIT")
    finally:
        bob.close()


def test_line_mode_last_line_without_newline_and_ctrl_c(chatd: ChatdProcess) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        done = subprocess.run(
            [*CLIENT, f"ci@127.0.0.1:{chatd.port}"], input=b"no newline", capture_output=True,
            timeout=DEADLINE, env=client_env(), check=False,
        )  # fmt: skip
        assert done.returncode == 0
        bob.expect(r":ci!\S+ PRIVMSG #lobby :no newline$")
        # Ctrl-C while stdin stays open: a prompt exit, no traceback, no hang.
        proc = subprocess.Popen(
            [*CLIENT, f"ci2@127.0.0.1:{chatd.port}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=client_env(),
        )  # fmt: skip
        try:
            bob.expect(r":ci2!\S+ JOIN #lobby")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(DEADLINE) == 130
            assert proc.stderr is not None and proc.stderr.read() == b"chat-client: interrupted\n"
            bob.expect(r":ci2!\S+ QUIT :.*interrupted")
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        bob.close()


def test_line_mode_password(tmp_path: Path) -> None:
    extra = ["--password", "sekrit", "--persist-all-channels"]  # a line to an empty room keeps
    server = ChatdProcess(log_dir=tmp_path, extra=extra).start()
    try:
        base = [*CLIENT, f"ci@127.0.0.1:{server.port}"]
        run = functools.partial(
            subprocess.run,
            input=b"hi\n",
            capture_output=True,
            timeout=DEADLINE,
            env=client_env(),
            check=False,
        )
        good = run([*base, "--password", "sekrit"])
        assert good.returncode == 0, good.stderr.decode()
        bad = run([*base, "--password", "wrong"])
        assert bad.returncode == 1
        err = bad.stderr.decode()
        assert "Password incorrect" in err and "--password" in err and "Traceback" not in err
        assert len(err.splitlines()) == 1, err  # one line saying why, no "closed"/"reset" after it
        assert "reset" not in err and "closed" not in err
    finally:
        server.stop()


def test_no_color_uses_attributes_only(chatd: ChatdProcess, tmux: Tmux) -> None:
    command = " ".join([*CLIENT, "--no-color", f"zed@127.0.0.1:{chatd.port}"])
    tmux.run("new-session", "-d", "-s", tmux.target, "-x", "80", "-y", "12", command)
    tmux.shows("You joined #lobby")
    tmux.shows("connected")
    styled = tmux.run("capture-pane", "-e", "-p", "-t", tmux.target)
    codes = set(re.findall(r"\x1b\[([0-9;]*)m", styled))
    colours = {
        part
        for code in codes
        for part in code.split(";")
        if part.isdigit() and (30 <= int(part) <= 38 or 40 <= int(part) <= 48 or int(part) >= 90)
    }
    assert colours == set(), codes
    assert any("7" in code.split(";") for code in codes)  # reverse video marks the bars


def test_real_terminal_shows_history_with_its_times_then_the_divider(
    chatd: ChatdProcess, tmux: Tmux
) -> None:
    alice = RawClient(chatd.port)
    alice.send("CAP REQ :server-time echo-message", "NICK alice", "USER alice 0 * :a", "CAP END")
    alice.expect(r" 001 ")
    try:
        alice.join("#room")
        said = ["the deploy is at 3", "bob: can you watch it?"]
        alice.send(*[f"PRIVMSG #room :{text}" for text in said])
        stamps = [alice.expect(rf"PRIVMSG #room :{text}").tags["time"] for text in said]
        # Line mode prints only what is new: the history it gets on joining is not output.
        done = subprocess.run(
            [*CLIENT, f"ci@127.0.0.1:{chatd.port}", "#room"], input=b"ci here\n",
            capture_output=True, timeout=DEADLINE, env=client_env(), check=False,
        )  # fmt: skip
        assert done.returncode == 0 and done.stdout == b"" and done.stderr == b""
        command = " ".join([*CLIENT, f"bob@127.0.0.1:{chatd.port}", "'#room'"])
        tmux.run(
            "new-session", "-d", "-s", tmux.target, "-x", "80", "-y", "12",
            "-e", "TERM=screen-256color", f"{command}; exec sleep 600",
        )  # fmt: skip
        screen = tmux.shows("— new messages —")  # the history is in (all of it at once)
        rows = [row.rstrip() for row in screen.splitlines()]
        times = [
            time.strftime("%H:%M", time.localtime(datetime.fromisoformat(s).timestamp()))
            for s in stamps
        ]
        first = rows.index(f"{times[0]} <alice> the deploy is at 3")
        assert rows[first + 1] == f"{times[1]} <alice> bob: can you watch it?"
        assert re.fullmatch(r"\d\d:\d\d <ci> ci here", rows[first + 2])
        assert rows[first + 3].strip() == "— new messages —"
        assert rows[first + 4].endswith("--> You joined #room")
        tmux.keys("C-c")
    finally:
        alice.close()
