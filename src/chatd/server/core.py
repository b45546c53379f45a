"""The chat server as one process runs it: what the reactor calls (`net/core.py`'s `Core`).

`LocalCore` sits between the reactor and the chat state. It admits connections (per-address
limits, server full), holds each client's lines back as flood control says, hands them to the
state, decides the keepalive (registration timeout, PING, ping timeout) and turns socket events
(EOF, sendq overflow) into disconnects. It is sans-IO like the state: the reactor passes the time
in, and a test drives it with a fake clock and no sockets.

A cluster node uses `cluster.core.ClusterCore` instead, which shares the flood and keepalive
rules (`flood.drain`, `keepalive`) but sends accepted lines through the network's log.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from .. import logs
from ..limits import DEFERRED_WORKERS, REFUSAL_LOG_ADDRESSES, REFUSAL_LOG_INTERVAL
from ..proto.framing import FLOODED, TOO_LONG, Line
from ..proto.message import Message
from .admission import Admission
from .config import Config
from .flood import EXCESS, drain
from .state import Deferred, Later, ServerState
from .user import Close, Output, User, Write

log = logging.getLogger("chatd")


# -- keepalive ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Keepalive:
    """What a client's deadline calls for: nothing, a PING, or a disconnect; and when to look
    again."""

    action: str  # "", "ping" or "disconnect"
    reason: str = ""
    next: float | None = None


def keepalive(user: User, now: float, cfg: Config) -> Keepalive:
    """The registration timeout and keepalive rule for one client (a pure decision)."""
    if not user.registered:
        deadline = user.connected_at + cfg.registration_timeout
        if now >= deadline:
            return Keepalive("disconnect", "Registration timeout")
        # look again within a ping interval, so keepalive starts soon after registering
        return Keepalive("", next=min(deadline, now + cfg.ping_interval))
    if user.ping_sent is not None:
        if user.last_seen >= user.ping_sent:  # a line at the PING's own tick came after it
            user.ping_sent = None
        else:
            deadline = user.ping_sent + cfg.ping_timeout
            if now >= deadline:
                idle = int(now - user.last_seen)
                return Keepalive("disconnect", f"Ping timeout: {idle} seconds")
            return Keepalive("", next=deadline)
    idle_deadline = user.last_seen + cfg.ping_interval
    if now >= idle_deadline:
        return Keepalive("ping", next=now + cfg.ping_timeout)
    return Keepalive("", next=idle_deadline)


# -- refusals -------------------------------------------------------------------------------------


class RefusalLog:
    """Logs refused connections at most once per address per interval, with a count, so a
    connection storm cannot fill the disk with log lines."""

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self.interval = interval
        self._since: dict[str, tuple[float, int]] = {}  # host -> (last logged, refused since)
        self.suppressed = 0  # refusals not logged on their own

    def refused(self, host: str, reason: str, now: float) -> None:
        entry = self._since.get(host)
        if entry is not None and now - entry[0] < self.interval:
            self._since[host] = (entry[0], entry[1] + 1)
            self.suppressed += 1
            return
        if entry is None and len(self._since) >= REFUSAL_LOG_ADDRESSES:
            self.suppressed += 1  # too many addresses at once: counted, not logged one by one
            return
        more = (
            f" (and {entry[1]} more since the last line)" if entry is not None and entry[1] else ""
        )
        log.info("refused %s: %s%s", host, reason, more)
        self._since[host] = (now, 0)

    def prune(self, now: float) -> None:
        for host, (stamp, count) in list(self._since.items()):
            if now - stamp >= self.interval:
                if count:
                    log.info("refused %s %d more times", host, count)
                del self._since[host]


# -- the core -------------------------------------------------------------------------------------


class Loop(Protocol):
    """What the core needs from the loop that drives it (the reactor provides it)."""

    def call_at(self, when: float, callback: Callable[[], None]) -> object: ...

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None: ...


class EffectRunner:
    """Carries out what the state asked for (`state.defer`, `state.later`) for a core: jobs on
    a small thread pool, timers on the loop; each result goes to `done(user, kind, value)` on
    the loop thread. `to_loop_time` turns the state's clock into the loop's."""

    def __init__(self, workers: int = DEFERRED_WORKERS) -> None:
        self.workers = workers
        self._executor: ThreadPoolExecutor | None = None

    def run(
        self,
        loop: Loop,
        requests: list[Deferred | Later],
        done: Callable[[User, str, object], None],
        to_loop_time: Callable[[float], float],
    ) -> None:
        for request in requests:
            user, kind = request.user, request.kind
            if isinstance(request, Later):
                loop.call_at(to_loop_time(request.when), partial(done, user, kind, request.value))
                continue
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="chatd-work")
            future = self._executor.submit(request.job)

            def finished(fut: Future[object], user: User = user, kind: str = kind) -> None:
                loop.call_soon_threadsafe(partial(self._result, fut, user, kind, done))

            future.add_done_callback(finished)

    @staticmethod
    def _result(
        future: Future[object], user: User, kind: str, done: Callable[[User, str, object], None]
    ) -> None:
        try:
            value = future.result()
        except Exception:
            log.exception("deferred %s for %s failed", kind, user.prefix)
            value = None
        done(user, kind, value)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class LocalCore:
    def __init__(self, state: ServerState, workers: int = DEFERRED_WORKERS) -> None:
        self.state = state
        self.admission = Admission(state.config)
        self.refusals = RefusalLog()
        self.loop: Loop | None = None
        self.effects = EffectRunner(workers)
        self.lines_in = 0  # lines from clients (STATS, metrics)
        self.sendq_drops = 0
        self.flood_drops = 0

    def attach(self, loop: Loop) -> None:
        self.loop = loop

    # clock and output
    def set_clock(self, now: float, wall: float) -> None:
        self.state.set_clock(now, wall)

    def settle(self) -> None:
        state = self.state
        state.settle()
        if state.requests:
            assert self.loop is not None, "the core is not attached to a loop"
            self.effects.run(self.loop, state.take_requests(), self._resume, lambda when: when)

    def _resume(self, user: User, kind: str, value: object) -> None:
        self.state.resume(user, kind, value)

    # admission
    def admit(self, host: str) -> str | None:
        state = self.state
        if state.connections >= state.config.max_clients:
            refusal: str | None = "Server is full"
        else:
            refusal = self.admission.admit(host, state.now)
        if refusal is not None:
            self.refusals.refused(host, refusal, state.now)
        return refusal

    def release(self, host: str) -> None:
        self.admission.release(host, self.state.now)

    # clients
    def connect(
        self,
        write: Write,
        close: Close,
        host: str,
        tls: bool,
        certfp: str | None = None,
        output: Output | None = None,
    ) -> User:
        user = self.state.connect(write, close, host, certfp, output)
        logs.info(
            log,
            "connect %s%s (%d connections)",
            host,
            " (TLS, client certificate)" if certfp else " (TLS)" if tls else "",
            self.state.connections,
        )
        return user

    def receive(self, user: User, lines: list[Line]) -> float | None:
        self.lines_in += len(lines)
        if user.gone:
            return None
        if user.flood is None and user.inbox is None:
            for line in lines:
                if not self._handle(user, line):
                    break
            return None
        if user.inbox is None:
            user.inbox = deque(lines)
        else:
            user.inbox.extend(lines)
        return self._drain(user)

    def _drain(self, user: User) -> float | None:
        inbox = user.inbox
        if inbox is None:
            return None
        state = self.state
        wake = drain(
            user.flood,
            inbox,
            state.now,
            state.config.flood_max_queue,
            lambda line: self._handle(user, line),
        )
        if wake is EXCESS:
            user.inbox = None
            self.flood_drops += 1
            state.disconnect(user, "Excess Flood")
            return None
        if not inbox:
            user.inbox = None
        return wake  # type: ignore[return-value]

    def _handle(self, user: User, line: Line) -> bool:
        """One line through the state; a metered command's replies are charged to the client's
        flood bucket, one more token per `flood_reply_bytes` bytes."""
        if line is TOO_LONG:
            self.state.input_too_long(user)
        elif line is FLOODED:  # more lines in one read than flood control would ever hold
            self.state.disconnect(user, "Excess Flood")
        else:
            cost = self.state.handle_line(user, line)  # type: ignore[arg-type]
            if cost and user.flood is not None:
                tokens = cost // self.state.config.flood_reply_bytes
                if tokens:
                    user.flood.charge(tokens)
        return not user.gone

    def on_timer(self, user: User) -> float | None:
        if user.gone:
            return None
        wake = self._drain(user)
        if user.gone:
            return None
        state = self.state
        decision = keepalive(user, state.now, state.config)
        if decision.action == "disconnect":
            state.disconnect(user, decision.reason)
            return None
        if decision.action == "ping":
            user.ping_sent = state.now
            state.send(user, Message("PING", [state.name]))
        deadline = decision.next
        if wake is not None and (deadline is None or wake < deadline):
            return wake
        return deadline

    def lost(self, user: User, reason: str) -> None:
        self.state.disconnect(user, reason)

    def overflowed(self, user: User) -> None:
        self.sendq_drops += 1
        self.state.disconnect(user, "SendQ exceeded")

    def reconfigured(self) -> None:
        """The configuration was reloaded (changed in place)."""
        self.admission.reconfigure(self.state.config)
        self.state.reconfigured()

    # housekeeping
    def housekeeping(self) -> None:
        now = self.state.now
        self.admission.prune(now)
        self.refusals.prune(now)

    def shutdown(self, reason: str) -> None:
        state = self.state
        for user in list(state.every_user()):
            state.farewell(user, reason)
        self.effects.shutdown()
