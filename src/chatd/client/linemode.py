"""Line mode: chat-client for scripts and cron, used when stdin is not a terminal.

Owns the non-interactive flow: connect (no reconnection), register, join the rooms, send each
line of stdin to the first room, print every message received as `[HH:MM:SS] #room <nick> text`,
and at end of input make sure the server has seen everything (a PING with a unique token, waiting
for its PONG) before quitting. Errors go to stderr and make the exit status non-zero.
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

from . import formatting
from .session import Buffer, ConnState, Kind, LogLine, Session
from .transport import Endpoint, Timing, Transport

JOIN_TIMEOUT = 20.0
ACK_TIMEOUT = 20.0


def format_line(buf: Buffer, line: LogLine) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
    text = formatting.strip(line.text)
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
        elif line.kind is Kind.ERROR and session.state in (
            ConnState.REGISTERING,
            ConnState.CONNECTED,
        ):
            # From the server (a bad password, a refused join); connection failures are
            # reported once, by the caller, with the reason.
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

    if not await waiter.until(lambda: joined() or not alive(), JOIN_TIMEOUT) or not joined():
        if not session.welcomed:
            return await _fail(transport, net, f"cannot connect to {endpoint.label}", stderr)
        return await _fail(transport, net, f"could not join {room}", stderr)

    lines = _read_lines(stdin)
    while True:
        raw = await lines.get()
        if not raw:
            break
        if not alive():
            return await _fail(transport, net, "connection lost", stderr)
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.strip():
            session.say(room, text, time.time())

    token = f"eof{int(time.time() * 1000)}"
    session.send_ping(time.time(), token)
    # Pacing may still hold lines back: allow for them on top of the round trip.
    timeout = ACK_TIMEOUT + transport.queued / transport.timing.send_rate
    if not await waiter.until(lambda: token in session.acked or not alive(), timeout):
        return await _fail(transport, net, "server did not acknowledge", stderr)
    if token not in session.acked:
        return await _fail(transport, net, "connection lost before the server acknowledged", stderr)
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


async def _fail(transport: Transport, task: asyncio.Task[None], why: str, stderr: IO[str]) -> int:
    reason = transport.failure
    print(f"chat-client: {why}" + (f": {reason}" if reason else ""), file=stderr, flush=True)
    if not task.done():
        await transport.quit("chat-client line mode error")
    await task
    return 1
