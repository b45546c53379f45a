"""Line mode: chat-client for scripts and cron, used when stdin is not a terminal.

Owns the non-interactive flow: connect (no reconnection), register, join the rooms, send each
line of stdin to the first room, print every message received as `[HH:MM:SS] #room <nick> text`,
and at end of input make sure the server has seen everything (a PING with a unique token, waiting
for its PONG) before quitting. A line nobody would receive (the room is empty and does not keep
its history, +P) is not sent: that is an error. Errors go to stderr, one line each, and make the
exit status non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import IO

from chatd.proto.casemap import fold

from . import formatting
from .session import Buffer, ConnState, Kind, LogLine, Session
from .transport import Endpoint, Timing, Transport

JOIN_TIMEOUT = 20.0
ACK_TIMEOUT = 20.0
ROOM_TIMEOUT = 5.0  # for the room's members and modes once joined
PERSISTENT_MODE = "P"  # chatd: the room and its history outlive its last member


def format_line(buf: Buffer, line: LogLine) -> str:
    """How a message is printed; one of several lines (draft/multiline) gives a row each."""
    return "\n".join(_format_row(buf, line, row) for row in line.text.split("\n"))


def _format_row(buf: Buffer, line: LogLine, row: str) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
    text = formatting.strip(row)
    if line.kind is Kind.ACTION:
        return f"[{stamp}] {buf.name} * {line.nick} {text}"
    if line.kind is Kind.NOTICE:
        return f"[{stamp}] {buf.name} -{line.nick}- {text}"
    return f"[{stamp}] {buf.name} <{line.nick}> {text}"


class _Waiter:
    """Wakes coroutines waiting on a condition whenever the transport reports a change."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def changed(self) -> None:
        self._event.set()

    async def until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except TimeoutError:
                return condition()
        return True


async def run(
    session: Session,
    endpoint: Endpoint,
    room: str,
    stdin: IO[bytes],
    stdout: IO[str] = sys.stdout,
    stderr: IO[str] = sys.stderr,
) -> int:
    """The whole line-mode run; the exit status. Ctrl-C sends QUIT and gives 130."""
    waiter = _Waiter()
    session.listeners.append(_printer(session, stdout, stderr))
    transport = Transport(
        session, endpoint, on_change=waiter.changed, reconnect=False, timing=Timing()
    )
    net = asyncio.create_task(transport.run())
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handled in the loop (not by asyncio.run's own handler, which cancels the task from
    # inside a signal handler at any bytecode): the flow is stopped at a clean point.
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    flow = asyncio.create_task(
        _flow(session, transport, net, waiter, endpoint, room, stdin, stderr)
    )
    stop = asyncio.create_task(interrupted.wait())
    await asyncio.wait({flow, stop}, return_when=asyncio.FIRST_COMPLETED)
    if flow.done():
        stop.cancel()
        return flow.result()
    flow.cancel()
    print("chat-client: interrupted", file=stderr, flush=True)
    if not net.done():
        await transport.quit("interrupted")
    return 130


def _printer(
    session: Session, stdout: IO[str], stderr: IO[str]
) -> Callable[[Buffer, LogLine], None]:
    def on_line(buf: Buffer, line: LogLine) -> None:
        talk = line.kind in (Kind.MESSAGE, Kind.ACTION, Kind.NOTICE)
        if talk and not line.own and not line.history and buf.kind != "server":
            print(format_line(buf, line), file=stdout, flush=True)
        elif (
            line.kind is Kind.ERROR
            and session.state in (ConnState.REGISTERING, ConnState.CONNECTED)
            and not session.fatal
            and not session.closing_reason
        ):
            # From the server (a refused join, a failed SASL login). What ends the connection
            # (a bad password, a full server) is reported once, by _fail, with the reason.
            print(f"chat-client: {formatting.strip(line.text)}", file=stderr, flush=True)

    return on_line


async def _flow(
    session: Session,
    transport: Transport,
    net: asyncio.Task[None],
    waiter: _Waiter,
    endpoint: Endpoint,
    room: str,
    stdin: IO[bytes],
    stderr: IO[str],
) -> int:
    def alive() -> bool:
        return not net.done()

    def joined() -> bool:
        buf = session.get_buffer(room)
        return buf is not None and buf.joined

    def refused() -> bool:
        return fold(room) in session.refused

    done = await waiter.until(lambda: joined() or refused() or not alive(), JOIN_TIMEOUT)
    if not done or not joined():
        if not session.welcomed:
            return await _fail(
                transport, net, f"cannot connect to {endpoint.label}", stderr, session
            )
        why = session.refused.get(fold(room), "no answer from the server")
        return await _fail(transport, net, f"could not join {room}: {why}", stderr, session)
    problem = await _nobody_would_read(session, room, waiter, alive)
    if problem:
        return await _fail(transport, net, problem, stderr, session)

    lines = _read_lines(stdin)
    while True:
        raw = await lines.get()
        if not raw:
            break
        if not alive():
            return await _fail(transport, net, "connection lost", stderr, session)
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.strip():
            session.say(room, text, time.time())

    token = f"eof{int(time.time() * 1000)}"
    session.send_ping(time.time(), token)
    # Pacing may still hold lines back: allow for them on top of the round trip.
    timeout = ACK_TIMEOUT + transport.queued / transport.timing.send_rate
    if not await waiter.until(lambda: token in session.acked or not alive(), timeout):
        return await _fail(transport, net, "server did not acknowledge", stderr, session)
    if token not in session.acked:
        return await _fail(
            transport, net, "connection lost before the server acknowledged", stderr, session
        )
    await transport.quit("end of input")
    await net
    return 0


def _read_lines(stdin: IO[bytes]) -> asyncio.Queue[bytes]:
    """Lines of stdin from a daemon thread (b"" at the end), so a blocked read never keeps
    the process alive after Ctrl-C the way an executor thread would. It reads the raw fd:
    a daemon thread parked inside a buffered reader would hold its lock at shutdown."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    fd = stdin.fileno()

    def pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                if pending:
                    loop.call_soon_threadsafe(queue.put_nowait, pending)
                loop.call_soon_threadsafe(queue.put_nowait, b"")
                return
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                loop.call_soon_threadsafe(queue.put_nowait, line + b"\n")

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return queue


async def _nobody_would_read(
    session: Session, room: str, waiter: _Waiter, alive: Callable[[], bool]
) -> str:
    """Why a line sent to the room now would be lost, or "". Once the members (NAMES) and
    the modes (the MODE asked for on joining) are in: alone in a room that is not persistent
    (+P), nobody reads it and no history keeps it."""
    buf = session.get_buffer(room)
    assert buf is not None

    def known() -> bool:
        return (bool(buf.members) and buf.modes_known) or not alive()

    await waiter.until(known, ROOM_TIMEOUT)
    others = [m for m in buf.members if m != fold(session.nick)]
    if buf.members and not others and PERSISTENT_MODE not in buf.modes and buf.modes_known:
        return (
            f"nobody is in {room} and it keeps no history (not +P): the lines would be lost, "
            "so none was sent"
        )
    return ""


async def _fail(
    transport: Transport,
    task: asyncio.Task[None],
    why: str,
    stderr: IO[str],
    session: Session | None = None,
) -> int:
    reason = transport.failure
    if session is not None and session.fatal:
        reason = session.fatal
    elif session is not None and session.closing_reason:
        reason = f"the server closed the connection ({session.closing_reason})"
    print(f"chat-client: {why}" + (f": {reason}" if reason else ""), file=stderr, flush=True)
    if not task.done():
        await transport.quit("chat-client line mode error")
    await task
    return 1
