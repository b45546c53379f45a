"""A cluster node's core: what the reactor calls (`net/core.py`'s `Core`) when chatd runs as one
node of a network whose log is a Redis Stream.

The node's own clients are admitted, flood-controlled and kept alive here exactly as one process
does it (`server/core.py` shares the rules). But their lines are not applied at once: they become
events (`cluster/events.py`), gathered during a loop iteration and appended as one log entry
when the iteration settles. Every node reads the log back (an `XREAD BLOCK` on its own Redis
link) and applies each entry to its replica (`cluster/replica.py`); a client's reply comes when
its own line comes back. So the log's order is the network's order, the same on every node.

Around that: leases (each node refreshes `node:<id>` with a TTL; a node whose lease ran out is
declared gone with an `X` event by whoever notices first), one leader (a lease too) that writes
snapshots and trims the log, and idempotent appends (each entry carries the node's sequence
number, so an append retried after a lost link is applied once).

Sans-IO: the Redis links are handed in (`Link`), the time comes from the reactor.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from ..proto.framing import FLOODED, TOO_LONG, Line
from ..proto.message import Message
from ..server.admission import Admission
from ..server.core import EffectRunner, Loop, RefusalLog, keepalive
from ..server.flood import EXCESS, FloodGate, drain
from ..server.hidden import hide
from ..server.state import ServerState
from ..server.user import Close, Output, User, Write
from . import events as ev
from . import snapshot
from .replica import Replica

log = logging.getLogger("chatd")

XREAD_COUNT = 1000  # entries one read may return
XREAD_BLOCK_MS = 2000  # a read that returns nothing after this is sent again
OUTBOX_MAX = 4 << 20  # bytes of events waiting for the log before clients' lines are held
HOLD_RETRY = 0.25  # seconds before held lines are tried again while the log is unreachable
PAUSE_NOTICE_AFTER = 2.0  # seconds without the log before clients are told the chat is paused


class Link(Protocol):
    """A Redis connection (net/redis.py:RedisLink)."""

    connected: bool

    def send(self, *command: Any, callback: Callable[[Any], None] | None = None) -> bool: ...


@dataclass(frozen=True)
class Keys:
    """The Redis keys of one network."""

    prefix: str

    @property
    def log(self) -> str:
        return self.prefix + "log"

    @property
    def snapshot(self) -> str:
        return self.prefix + "snapshot"

    @property
    def leader(self) -> str:
        return self.prefix + "leader"

    @property
    def nodes(self) -> str:
        return self.prefix + "nodes"

    @property
    def epoch(self) -> str:
        return self.prefix + "epoch"

    @property
    def settings(self) -> str:
        return self.prefix + "settings"

    @property
    def snapshot_info(self) -> str:
        return self.prefix + "snapshot:info"

    def node(self, node: str) -> str:
        return self.prefix + "node:" + node

    def stats(self, node: str) -> str:
        return self.prefix + "stats:" + node


@dataclass
class ClusterSettings:
    lease: float = 15.0  # seconds a node's lease lasts without a refresh
    snapshot_interval: float = 30.0  # seconds between snapshots (when the log moved)


# Lua: keep or take the leader lease. Returns 1 when this node leads.
LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1
elseif not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1
end
return 0
"""

# Lua: trim the log up to the oldest position any live node (or the snapshot) still needs.
TRIM = """
local best_ms, best_seq = tonumber(ARGV[1]), tonumber(ARGV[2])
for _, n in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local p = redis.call('GET', ARGV[3] .. n)
  if not p then
    redis.call('SREM', KEYS[2], n)
  else
    local ms, seq = string.match(p, '(%d+)-(%d+)')
    ms, seq = tonumber(ms), tonumber(seq)
    if ms < best_ms or (ms == best_ms and seq < best_seq) then best_ms, best_seq = ms, seq end
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', best_ms, best_seq))
"""


class LocalClient:
    """This node's end of one of its clients: the connection's write/close, the lines held
    back by flood control, and the replicated user once its CONNECT came back from the log."""

    __slots__ = (
        "cid",
        "conn_write",
        "conn_close",
        "flood",
        "inbox",
        "user",
        "closed",
        "quitting",
        "host",
        "output",
        "secrets",
    )

    def __init__(
        self,
        cid: str,
        write: Write,
        close: Close,
        host: str,
        flood: FloodGate | None,
        output: Output | None = None,
    ) -> None:
        self.cid = cid
        self.conn_write = write
        self.conn_close = close
        self.host = host
        self.flood = flood
        self.output = output  # the connection's queue: its limits and counters
        self.inbox: deque[Line] | None = None
        self.user: User | None = None
        self.closed = False  # the socket is gone
        self.quitting = False  # a QUIT event is on its way
        # lines that held a secret, as the client sent them, oldest first: the log carries
        # their copies (server/hidden.py); each is taken back when its copy is applied here
        self.secrets: deque[bytes] | None = None

    @property
    def open(self) -> bool:
        return not self.closed

    def keep_secret(self, line: bytes) -> None:
        if self.secrets is None:
            self.secrets = deque()
        self.secrets.append(line)

    def take_secret(self) -> bytes | None:
        """The line whose copy is being applied (the copies come back in the order sent)."""
        secrets = self.secrets
        if not secrets:
            return None
        line = secrets.popleft()
        if not secrets:
            self.secrets = None
        return line

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.conn_write(data)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.conn_close()

    def __repr__(self) -> str:
        return f"<LocalClient {self.cid} {self.user!r}>"


class ClusterCore:
    def __init__(
        self, state: ServerState, node: str, keys: Keys, settings: ClusterSettings
    ) -> None:
        self.state = state
        self.node = node  # "<name>~<suffix>"
        self.keys = keys
        self.settings = settings
        self.admission = Admission(state.config)
        self.refusals = RefusalLog()
        self.locals: dict[str, LocalClient] = {}
        self.replica = Replica(state, node, self.locals.get, server_name_of)
        self.seqs: dict[str, int] = {}  # node -> the last entry sequence applied
        self.next_cid = 0
        self.seq = 0  # this node's last appended entry
        self.outbox: list[bytes] = []
        self.outbox_bytes = 0
        self.unacked: deque[tuple[int, bytes]] = deque()  # appended, no reply yet
        self.sent_at: deque[tuple[int, float]] = deque()  # seq -> when it was first sent
        self.lag = -1.0  # seconds from XADD to reading our last entry back; -1: none yet
        self.lag_max = -1.0  # the worst since `take_lag`
        self.lines_in = 0  # lines from this node's clients (STATS, metrics)
        self.sendq_drops = 0
        self.flood_drops = 0
        self.reader: Link | None = None
        self.writer: Link | None = None
        self.loop: Loop | None = None
        self.mono = 0.0
        self.wall = 0.0
        self.down_since: float | None = 0.0  # monotonic time the log became unreachable
        self.paused_notice = False
        self.leader = False
        self.declared: dict[str, float] = {}  # node -> when this node declared it gone
        self.up_at = 0.0
        self.epoch = ""
        self.snapshot_position = "0-0"
        self.on_data_lost: Callable[[], None] | None = None  # set by the composition root
        self.effects = EffectRunner()
        self.reading = False
        self.stopping = False

    # -- wiring --------------------------------------------------------------------------------

    def attach(self, loop: Loop) -> None:
        self.loop = loop

    def use_links(self, reader: Link, writer: Link) -> None:
        self.reader = reader
        self.writer = writer

    def set_clock(self, now: float, wall: float) -> None:
        self.mono = now
        self.wall = wall
        self.state.set_clock(wall, wall)  # a cluster's state runs on wall-clock time

    def _loop_time(self, wall: float) -> float:
        return wall - self.wall + self.mono

    def _mono(self, wall_deadline: float | None) -> float | None:
        return None if wall_deadline is None else wall_deadline - self.wall + self.mono

    # -- the links -----------------------------------------------------------------------------

    def reader_up(self) -> None:
        self.reading = False
        self._read()

    def writer_up(self) -> None:
        assert self.writer is not None
        self.up_at = self.mono
        self.writer.send("GET", self.keys.epoch, callback=self._check_epoch)
        self.writer.send("SADD", self.keys.nodes, self.node)
        self._lease()
        for seq, payload in self.unacked:  # appends whose fate is unknown: applied once
            self._xadd(seq, payload)

    def link_down(self, reason: str) -> None:
        if self.down_since is None:
            self.down_since = self.mono
        self.reading = False

    def _check_epoch(self, reply: Any) -> None:
        if isinstance(reply, Exception):
            return
        epoch = reply.decode() if isinstance(reply, bytes) else ""
        if epoch != self.epoch:
            log.error(
                "cluster: Redis no longer holds this network (epoch %r, expected %r): "
                "its data was lost; this node starts over",
                epoch,
                self.epoch,
            )
            if self.on_data_lost is not None:
                self.on_data_lost()

    def _read(self) -> None:
        reader = self.reader
        if reader is None or self.reading or not reader.connected:
            return
        self.reading = reader.send(
            "XREAD",
            "COUNT",
            XREAD_COUNT,
            "BLOCK",
            XREAD_BLOCK_MS,
            "STREAMS",
            self.keys.log,
            self.replica.position,
            callback=self._entries,
        )

    def _entries(self, reply: Any) -> None:
        self.reading = False
        if isinstance(reply, Exception):
            return  # the link reconnects and reads again from the same position
        if self.down_since is not None and self.writer is not None and self.writer.connected:
            self._resumed()
        if reply:
            for _, entries in reply:
                for entry_id, fields in entries:
                    self._apply(entry_id.decode(), fields)
            self.state.set_clock(self.wall, self.wall)
        self._read()

    def _apply(self, entry_id: str, fields: list[bytes]) -> None:
        values = dict(zip(fields[::2], fields[1::2], strict=False))
        node = values.get(b"n", b"").decode("utf-8", "replace")
        try:
            seq = int(values.get(b"s", b"0"))
        except ValueError:
            seq = 0
        if seq and seq <= self.seqs.get(node, 0):
            self.replica.position = entry_id  # an append that was retried: applied already
            return
        self.seqs[node] = seq
        self.replica.apply(entry_id, node, values.get(b"d", b""))
        if node == self.node:
            while self.unacked and self.unacked[0][0] <= seq:
                self.unacked.popleft()
            sent_at = self.sent_at
            while sent_at and sent_at[0][0] <= seq:
                sent, when = sent_at.popleft()
                if sent == seq:
                    self.lag = lag = self.mono - when
                    if lag > self.lag_max:
                        self.lag_max = lag

    def take_lag(self) -> tuple[float, float]:
        """The last lag to the log and the worst since the last call (an entry still on its
        way counts with its age so far), in seconds; -1 for none yet."""
        worst = max(self.lag_max, self.lag)  # no entry in the interval: the last one's
        if self.sent_at:
            worst = max(worst, self.mono - self.sent_at[0][1])
        self.lag_max = -1.0
        return self.lag, worst

    def _resumed(self) -> None:
        if self.paused_notice:
            self._notice_all("*** The network is back: messages flow again")
        self.paused_notice = False
        self.down_since = None

    def _notice_all(self, text: str) -> None:
        state = self.state
        for client in self.locals.values():
            user = client.user
            if user is not None and user.registered and not user.gone:
                state.send(user, Message("NOTICE", [user.nick, text], state.name))

    # -- appending -----------------------------------------------------------------------------

    def _event(self, event: bytes) -> None:
        self.outbox.append(event)
        self.outbox_bytes += len(event) + 1

    def _append(self) -> None:
        """One log entry with this iteration's events."""
        if not self.outbox:
            return
        self.seq += 1
        payload = ev.encode(self.outbox)
        self.outbox = []
        self.outbox_bytes = 0
        self.unacked.append((self.seq, payload))
        self.sent_at.append((self.seq, self.mono))
        self._xadd(self.seq, payload)

    def _xadd(self, seq: int, payload: bytes) -> None:
        writer = self.writer
        if writer is not None and writer.connected:
            writer.send(
                "XADD",
                self.keys.log,
                "*",
                "n",
                self.node,
                "s",
                seq,
                "d",
                payload,
                callback=self._added,
            )

    def _added(self, reply: Any) -> None:
        if isinstance(reply, Exception) and "link lost" not in str(reply):
            log.error("cluster: append refused: %s", reply)

    @property
    def log_reachable(self) -> bool:
        return self.down_since is None

    # -- the Core protocol ---------------------------------------------------------------------

    def settle(self) -> None:
        state = self.state
        state.settle()
        if state.requests:
            assert self.loop is not None
            self.effects.run(self.loop, state.take_requests(), self._resume, self._loop_time)
        self._append()
        if (
            self.down_since is not None
            and not self.paused_notice
            and self.mono - self.down_since >= PAUSE_NOTICE_AFTER
        ):
            self.paused_notice = True
            self._notice_all(
                "*** The network is paused: this server lost its link to the "
                "cluster's store; what you send waits until it is back"
            )

    def admit(self, host: str) -> str | None:
        if self.stopping:
            refusal: str | None = "Server shutting down"
        elif len(self.locals) >= self.state.config.max_clients:
            refusal = "Server is full"
        else:
            refusal = self.admission.admit(host, self.mono)
        if refusal is not None:
            self.refusals.refused(host, refusal, self.mono)
        return refusal

    def release(self, host: str) -> None:
        self.admission.release(host, self.mono)

    def connect(
        self,
        write: Write,
        close: Close,
        host: str,
        tls: bool,
        certfp: str | None = None,
        output: Output | None = None,
    ) -> LocalClient:
        self.next_cid += 1
        cid = f"{self.node}:{self.next_cid:x}"
        cfg = self.state.config
        flood = FloodGate(cfg.flood_rate, cfg.flood_burst, self.mono) if cfg.flood_limit else None
        client = LocalClient(cid, write, close, host, flood, output)
        self.locals[cid] = client
        self._event(ev.connect(cid, host, tls, certfp))
        log.info(
            "connect %s%s as %s (%d local connections)",
            host,
            " (TLS)" if tls else "",
            cid,
            len(self.locals),
        )
        return client

    def receive(self, client: LocalClient, lines: list[Line]) -> float | None:
        self.lines_in += len(lines)
        if client.quitting:
            return None
        if client.inbox is None:
            client.inbox = deque(lines)
        else:
            client.inbox.extend(lines)
        return self._drain(client)

    def _drain(self, client: LocalClient) -> float | None:
        inbox = client.inbox
        if inbox is None or client.quitting:
            return None
        if self.outbox_bytes > OUTBOX_MAX:
            if len(inbox) > self.state.config.flood_max_queue:
                self.flood_drops += 1
                self._quit(client, "Excess Flood")
                return None
            return self.mono + HOLD_RETRY  # the log is not taking events: hold the lines
        cid, config = client.cid, self.state.config

        def handle(line: Line) -> bool:
            if line is TOO_LONG:
                self._event(ev.too_long(cid))
            elif line is FLOODED:  # more lines in one read than flood control would ever hold
                self._quit(client, "Excess Flood")
                return False
            elif line:
                copy = hide(line, config)  # type: ignore[arg-type]
                if copy is None:
                    self._event(ev.line(cid, line))  # type: ignore[arg-type]
                else:  # its secret stays here; the log carries the copy
                    client.keep_secret(line)  # type: ignore[arg-type]
                    self._event(ev.secret_line(cid, copy.line, copy.password_ok))
            return self.outbox_bytes <= OUTBOX_MAX

        wake = drain(client.flood, inbox, self.mono, self.state.config.flood_max_queue, handle)
        if wake is EXCESS:
            client.inbox = None
            self.flood_drops += 1
            self._quit(client, "Excess Flood")
            return None
        if not inbox:
            client.inbox = None
        elif wake is None:
            return self.mono + HOLD_RETRY
        return wake  # type: ignore[return-value]

    def _quit(self, client: LocalClient, reason: str) -> None:
        """Ask the network to drop one of this node's clients."""
        if not client.quitting:
            client.quitting = True
            client.inbox = None
            self._event(ev.quit(client.cid, reason))

    def on_timer(self, client: LocalClient) -> float | None:
        if client.closed or client.quitting:
            return None
        wake = self._drain(client)
        user = client.user
        if user is None:
            deadline = self.mono + self.state.config.registration_timeout
        else:
            if user.gone:
                return None
            decision = keepalive(user, self.wall, self.state.config)
            if decision.action == "disconnect":
                self._quit(client, decision.reason)
                return None
            if decision.action == "ping":
                user.ping_sent = self.wall
                self.state.send(user, Message("PING", [self.state.name]))
            deadline = self._mono(decision.next)  # type: ignore[assignment]
        if wake is not None and (deadline is None or wake < deadline):
            return wake
        return deadline

    def lost(self, client: LocalClient, reason: str) -> None:
        client.closed = True
        self.locals.pop(client.cid, None)
        if client.user is not None:
            client.user.local = False  # what is still in the log for it applies as elsewhere
        self._quit(client, reason)

    def overflowed(self, client: LocalClient) -> None:
        self.sendq_drops += 1
        self._quit(client, "SendQ exceeded")

    def housekeeping(self) -> None:
        self.admission.prune(self.mono)
        self.refusals.prune(self.mono)
        self.replica.purge()
        for cid in [cid for cid, c in self.locals.items() if c.user is not None and c.user.gone]:
            del self.locals[cid]

    def shutdown(self, reason: str) -> None:
        """This node stops: the others see its clients QUIT when the X event comes to them;
        its own clients get ERROR now."""
        self.stopping = True
        self._event(ev.node_gone(self.node, reason))
        self._append()
        state = self.state
        for client in list(self.locals.values()):
            if client.user is not None and not client.user.gone:
                state.farewell(client.user, reason)
            else:
                client.close()
        self.effects.shutdown()

    def reconfigured(self) -> None:
        self.admission.reconfigure(self.state.config)
        self.state.reconfigured()

    # -- work off the loop (defer/later): the result enters the log --------------------------

    def _resume(self, user: User, kind: str, value: object) -> None:
        if user.origin in self.locals:
            self._event(ev.resume(user.origin, kind, value))

    # -- leases, leadership, lost nodes, snapshots ---------------------------------------------

    def tick(self) -> None:
        """About three times per lease: refresh the lease, look for lost nodes, and if this
        node leads, take a snapshot now and then."""
        assert self.loop is not None
        self.loop.call_at(self.mono + self.settings.lease / 3, self.tick)
        writer = self.writer
        if writer is None or not writer.connected:
            return
        self._lease()
        if self.mono - self.up_at >= self.settings.lease:  # our own view is a full lease old
            for node in self.replica.nodes() - {self.node}:
                writer.send("EXISTS", self.keys.node(node), callback=partial(self._alive, node))

    def _lease(self) -> None:
        writer = self.writer
        assert writer is not None
        ms = int(self.settings.lease * 1000)
        writer.send("SET", self.keys.node(self.node), self.replica.position, "PX", ms)
        writer.send("EVAL", LEAD, 1, self.keys.leader, self.node, ms, callback=self._led)

    def _led(self, reply: Any) -> None:
        if isinstance(reply, Exception):
            return
        leading = reply == 1
        if leading and not self.leader:
            log.info("cluster: this node (%s) leads: it writes snapshots", self.node)
        self.leader = leading
        if leading and self.replica.position != self.snapshot_position:
            due = getattr(self, "_next_snapshot", 0.0)
            if self.mono >= due:
                self._next_snapshot = self.mono + self.settings.snapshot_interval
                self.write_snapshot()

    def _alive(self, node: str, reply: Any) -> None:
        if reply != 0 or node in self.declared:
            return
        self.declared[node] = self.mono
        log.warning("cluster: node %s lost its lease: its clients leave the network", node)
        self._event(ev.node_gone(node, "*.net *.split"))

    def write_snapshot(self) -> None:
        """The replica as it is now (after a settle: nothing half-delivered) to Redis; then
        the log is trimmed to what a node starting from it, or any live node, still needs."""
        writer = self.writer
        if writer is None or not writer.connected:
            return
        self.state.settle()
        position = self.replica.position
        blob = snapshot.dump(self.state, self.replica, self.seqs)
        self.snapshot_position = position
        writer.send("SET", self.keys.snapshot, blob)
        writer.send(
            "HSET",
            self.keys.snapshot_info,
            "position",
            position,
            "bytes",
            len(blob),
            "wall",
            f"{self.wall:.3f}",
            "node",
            self.node,
        )
        ms, _, seq = position.partition("-")
        writer.send(
            "EVAL",
            TRIM,
            2,
            self.keys.log,
            self.keys.nodes,
            ms,
            seq or "0",
            self.keys.prefix + "node:",
        )
        log.info("cluster: snapshot at %s (%d bytes)", position, len(blob))


def server_name_of(node: str) -> str:
    """The server name clients see for a node: its name, as given by --node-name."""
    return node.rpartition("~")[0] or node
