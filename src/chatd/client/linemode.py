"""Line mode: chat-client for scripts and cron, used when stdin is not a terminal.

Owns the non-interactive flow: connect (no reconnection), register, join the rooms, send each
line of stdin to the first room, print every message received as `[HH:MM:SS] #room <nick> text`,
and at end of input make sure the server has seen everything (a PING with a unique token, waiting
for its PONG) before quitting. Errors go to stderr and make the exit status non-zero.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import IO

from . import formatting
from .session import Buffer, Kind, LogLine, Session
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
    waiter = _Waiter()

    def on_line(buf: Buffer, line: LogLine) -> None:
        if line.kind in (Kind.MESSAGE, Kind.ACTION, Kind.NOTICE) and not line.own and buf.kind != "server":
            print(format_line(buf, line), file=stdout, flush=True)
        elif line.kind is Kind.ERROR and session.registered:
            print(f"chat-client: {formatting.strip(line.text)}", file=stderr, flush=True)

    session.listeners.append(on_line)
    transport = Transport(session, endpoint, on_change=waiter.changed, reconnect=False, timing=Timing())
    task = asyncio.create_task(transport.run())
    alive = lambda: not task.done()

    def joined() -> bool:
        buf = session.get_buffer(room)
        return buf is not None and buf.joined

    if not await waiter.until(lambda: joined() or not alive(), JOIN_TIMEOUT) or not joined():
        if not session.welcomed:
            return await _fail(transport, task, f"cannot connect to {endpoint.label}", stderr)
        return await _fail(transport, task, f"could not join {room}", stderr)

    loop = asyncio.get_running_loop()
    while True:
        raw = await loop.run_in_executor(None, stdin.readline)
        if not raw:
            break
        if not alive():
            return await _fail(transport, task, "connection lost", stderr)
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if text.strip():
            session.say(room, text, time.time())

    token = f"eof{int(time.time() * 1000)}"
    session.send_ping(time.time(), token)
    # Pacing may still hold lines back: allow for them on top of the round trip.
    timeout = ACK_TIMEOUT + transport.queued / transport.timing.send_rate
    if not await waiter.until(lambda: token in session.acked or not alive(), timeout):
        return await _fail(transport, task, "server did not acknowledge", stderr)
    if token not in session.acked:
        return await _fail(transport, task, "connection lost before the server acknowledged", stderr)
    await transport.quit("end of input")
    await task
    return 0


async def _fail(transport: Transport, task: asyncio.Task[None], why: str, stderr: IO[str]) -> int:
    reason = transport.failure
    print(f"chat-client: {why}" + (f": {reason}" if reason else ""), file=stderr, flush=True)
    if not task.done():
        await transport.quit("chat-client line mode error")
    await task
    return 1
