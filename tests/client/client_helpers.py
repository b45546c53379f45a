"""Helpers for the client tests: chatd as a subprocess on a free loopback port, a blocking raw
IRC client, and condition waits with deadlines (never a fixed sleep for the network)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ircclient import Client, wait_for  # noqa: F401  (wait_for re-exported for the tests)

from chatd.proto.message import Message

DEADLINE = 10.0


def _client_command() -> list[str]:
    """The installed `chat-client` script beside this Python, else `python -m chatd.client`."""
    script = Path(sys.executable).parent / "chat-client"
    return [str(script)] if script.exists() else [sys.executable, "-m", "chatd.client"]


CLIENT = _client_command()
POLL = 0.005


async def until(
    predicate: Callable[[], object], timeout: float = DEADLINE, what: str = ""
) -> object:
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(POLL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


_ISOLATION: list[str] | None = None


@functools.cache
def server_help() -> str:
    return subprocess.run(
        [sys.executable, "-m", "chatd.server", "--help"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout


def isolation_options() -> list[str]:
    """Options that keep a test chatd from sharing state with others (no on-disk history)."""
    global _ISOLATION
    if _ISOLATION is None:
        help_text = subprocess.run(
            [sys.executable, "-m", "chatd.server", "--help"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        _ISOLATION = ["--db", ":memory:"] if "--db" in help_text else []
    return _ISOLATION


class ChatdProcess:
    """A real chatd, started as `python -m chatd.server` on a fixed loopback port."""

    def __init__(
        self, port: int | None = None, log_dir: Path | None = None, extra: list[str] | None = None
    ) -> None:
        self.port = port or free_port()
        self.log_dir = log_dir
        self.extra = extra or []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ChatdProcess:
        return self.spawn().wait_ready()

    def spawn(self) -> ChatdProcess:
        """Start the process without waiting for it to listen."""
        cmd = [
            sys.executable,
            "-m",
            "chatd.server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        cmd += isolation_options() + self.extra
        if self.log_dir:
            with open(self.log_dir / f"chatd-{self.port}.log", "ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self) -> ChatdProcess:
        assert self.proc is not None
        end = time.monotonic() + DEADLINE
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"chatd exited with {self.proc.returncode}")
            if time.monotonic() > end:
                raise RuntimeError("chatd did not open its port")
            time.sleep(POLL)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class RawClient(Client):
    """The shared raw test client (tests/ircclient.py), registered on creation, with the longer
    deadline these UI tests need and a `sync` that returns what arrived before its PONG."""

    def __init__(
        self, port: int, nick: str | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(port, tls=tls)
        if nick:
            self.register(nick)

    def expect(self, pattern: str, timeout: float = DEADLINE) -> Message:
        return super().expect(pattern, timeout)

    def sync(self) -> list[str]:  # type: ignore[override]
        before = self.seen
        super().sync()
        return self.lines[before : self.seen - 1]

    def register(self, nick: str, user: str = "", realname: str = "raw test client") -> None:
        super().register(nick, user or nick, realname)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send("QUIT :bye")
        super().close()


def capable_client(port: int, nick: str, caps: str, tls: ssl.SSLContext | None = None) -> RawClient:
    """A raw client that asked for capabilities (account-tag, draft/multiline…)."""
    client = RawClient(port, tls=tls)
    client.send(f"CAP REQ :{caps}", f"NICK {nick}", f"USER {nick} 0 * :raw test client", "CAP END")
    client.expect(r"CAP \S+ (ACK|NAK)")
    client.expect_numeric("001")
    client.nick = nick
    return client


def register_account(port: int, nick: str, password: str) -> None:
    """An account on a running chatd, made the way a user makes one (NickServ REGISTER)."""
    client = RawClient(port, nick)
    try:
        client.send(f"PRIVMSG NickServ :REGISTER {password}")
        client.expect_numeric("900")
    finally:
        client.close()


def client_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    return env


class Tmux:
    def __init__(self) -> None:
        self.socket = f"chatd-client-test-{os.getpid()}-{time.monotonic_ns()}"
        self.target = "chat"

    def run(self, *args: str, check: bool = True) -> str:
        out = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, timeout=DEADLINE, check=False
        )
        if check and out.returncode != 0:
            raise AssertionError(f"tmux {args}: {out.stderr.decode()}")
        return out.stdout.decode()

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.target, check=False)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.target, *keys)

    def shows(self, text: str, timeout: float = DEADLINE) -> str:
        return str(
            wait_for(
                lambda: text in (screen := self.capture()) and screen, timeout, f"{text!r} in pane"
            )
        )
