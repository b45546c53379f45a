"""One node's replica of the network: the log's entries applied, in order, to the chat state.

Every node holds a full `ServerState` of the whole network and applies every log entry to it
(sans-IO: no socket, no clock; the time and the msgids come from the entry). The same entries in
the same order give the same state on every node, so nick and channel races are decided by the
log's order, and every channel's events reach every node in one order with one msgid.

What differs between nodes is only where output goes: a user connected to this node writes to
its real connection; a replica of a user on another node writes nowhere (its own node delivers
to it) and does none of the local work (`User.local` is False).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Protocol

from ..server.flood import FloodGate
from ..server.hidden import Hidden
from ..server.state import ServerState
from ..server.user import Close, Output, User, Write
from . import events as ev

log = logging.getLogger("chatd")


class LocalEnd(Protocol):
    """This node's end of one of its clients (cluster/core.py:LocalClient)."""

    user: User | None
    flood: FloodGate | None
    output: Output | None

    @property
    def open(self) -> bool: ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...

    def take_secret(self) -> bytes | None: ...


def _nowhere(*_: object) -> None:
    """Where a replica of another node's user writes."""


def entry_time(entry_id: str) -> float:
    """The wall-clock time of a log entry: Redis's clock when it was appended (the stream ID's
    milliseconds), the same on every node."""
    return int(entry_id.partition("-")[0]) / 1000.0


class Replica:
    def __init__(
        self,
        state: ServerState,
        node: str,
        local_end: Callable[[str], LocalEnd | None],
        server_of: Callable[[str], str],
    ) -> None:
        self.state = state
        self.node = node  # this node's id
        self.local_end = local_end  # cid -> this node's end of that client, if it has one
        self.server_of = server_of  # node id -> its server name
        self.users: dict[str, User] = {}  # cid -> user, every client on the network
        self.live: set[str] = set()  # nodes that joined (HELLO) and are not gone (NODE_GONE)
        self.position = "0-0"  # the last entry applied
        self.applied = 0  # entries applied since start

    def apply(self, entry_id: str, node: str, payload: bytes) -> None:
        """Apply one log entry: its events, in order, at the entry's time."""
        state = self.state
        wall = entry_time(entry_id)
        state.set_clock(wall, wall)
        state.delivery.restart_ids(entry_id + ".")
        for event in ev.decode(payload):
            if event.kind == ev.HELLO:
                if event.target == node:  # a node only speaks for itself
                    self.live.add(node)
                    state.servers = len(self.live)
                continue
            if event.kind != ev.NODE_GONE and ev.node_of(event.target) != node:
                continue  # a node only speaks for its own clients
            try:
                self._apply(event)
            except Exception:
                # the same bug on every node: the replicas still agree; log it and go on
                log.exception("error applying %r from %s", event[:2], entry_id)
        self.position = entry_id
        self.applied += 1

    def _apply(self, event: ev.Event) -> None:
        state = self.state
        kind, cid = event.kind, event.target
        if kind == ev.CONNECT:
            self._connect(cid, event.data.decode("utf-8", "replace"), event.certfp or None)
            return
        if kind == ev.NODE_GONE:
            self.node_gone(cid, event.data.decode("utf-8", "replace") or "*.net *.split")
            return
        real = self._secret_of(cid) if kind == ev.SECRET_LINE else None
        user = self.users.get(cid)
        if user is None:
            return
        if user.gone:
            del self.users[cid]
            return
        if kind == ev.LINE:
            cost = state.handle_line(user, event.data)
            if cost:
                self._charge(cid, cost)
        elif kind == ev.SECRET_LINE:
            self._secret_line(user, event, real)
        elif kind == ev.TOO_LONG:
            state.input_too_long(user)
        elif kind == ev.QUIT:
            state.disconnect(user, event.data.decode("utf-8", "replace"))
        elif kind == ev.RESUME:
            what, _, value = event.data.partition(b" ")
            state.resume(user, what.decode(), json.loads(value) if value else None)
        if user.gone:
            self.users.pop(cid, None)

    def _secret_of(self, cid: str) -> bytes | None:
        """This node's own line behind a copy, if it is the origin and still has it."""
        if ev.node_of(cid) != self.node:
            return None
        end = self.local_end(cid)
        return end.take_secret() if end is not None else None

    def _secret_line(self, user: User, event: ev.Event, real: bytes | None) -> None:
        """A line that held a secret: the origin applies the line as it was sent (its handlers
        do the local work that needs the secret); every other node applies the copy, with
        what the origin decided from the secret at hand (`ServerState.hidden`). Both reach the
        same state (server/hidden.py); the line counts the copy's bytes everywhere."""
        state, copy = self.state, event.data
        if real is not None:
            counted = user.lines_in
            state.handle_line(user, real)
            if user.lines_in != counted:
                user.bytes_in += len(copy) - len(real)
            return
        state.hidden = Hidden(copy, event.flag)
        try:
            state.handle_line(user, copy)
        finally:
            state.hidden = None

    def _connect(self, cid: str, host: str, certfp: str | None = None) -> None:
        state = self.state
        node = ev.node_of(cid)
        end = self.local_end(cid) if node == self.node else None
        write: Write = _nowhere
        close: Close = _nowhere
        output = None
        if end is not None and end.open:
            write, close, output = end.write, end.close, end.output
        user = state.connect(write, close, host, certfp, output)
        user.flood = None  # flood control is the origin node's, before the log
        user.origin = cid
        user.server = "" if node == self.node else self.server_of(node)
        user.local = end is not None and end.open
        self.users[cid] = user
        if end is not None:
            end.user = user

    def _charge(self, cid: str, cost: int) -> None:
        """What a line of one of this node's clients made the server send it, charged to its
        flood bucket as LocalCore does (the bucket is the origin node's alone)."""
        end = self.local_end(cid)
        if end is not None and end.flood is not None:
            tokens = cost // self.state.config.flood_reply_bytes
            if tokens:
                end.flood.charge(tokens)

    def node_gone(self, node: str, reason: str) -> None:
        """Every client of `node` leaves the network (it stopped, or its lease ran out)."""
        if node in self.live:
            self.live.discard(node)
            self.state.servers = max(1, len(self.live))
        gone = [cid for cid in self.users if ev.node_of(cid) == node]
        for cid in gone:
            user = self.users.pop(cid)
            self.state.disconnect(user, reason)
        if gone:
            log.info("node %s gone (%s): %d clients left the network", node, reason, len(gone))

    def nodes(self) -> set[str]:
        """The nodes that joined or have clients on the network, as this replica knows it."""
        return {ev.node_of(cid) for cid in self.users} | self.live

    def purge(self) -> None:
        """Forget users that left without a QUIT event of their own (KILL, a bad password)."""
        for cid in [cid for cid, user in self.users.items() if user.gone]:
            del self.users[cid]
