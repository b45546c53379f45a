"""What an operator sees of a running server: one node's figures, the network's log, and the
lines STATS shows of them (sans-IO).

The figures are gathered outside the chat state (net/monitor.py samples the reactor and the
process; a cluster node publishes its own to Redis and reads the others', cluster/stats.py) and
handed to handlers through `ServerState.monitor`. Handlers only *read* them, and only to answer
the operator who asked: nothing here changes the replicated state, so the replicas still agree
although each node's figures are its own.

`NodeFigures.to_fields`/`from_fields` are the flat form kept in a Redis hash
(`chatd:<network>:stats:<node>`); a field a newer node adds is ignored by an older one, a field
it lacks keeps its default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Protocol


@dataclass
class NodeFigures:
    """One node (or the one process) at one moment. Rates are over the sampling interval."""

    server: str = ""  # server name, as clients see it
    node: str = ""  # cluster node id ("" for one process)
    pid: int = 0
    started: float = 0.0  # wall-clock time the process started
    updated: float = 0.0  # wall-clock time of these figures
    connections: int = 0  # this node's sockets, registered or not
    users: int = 0  # this node's registered users
    channels: int = 0  # channels of the whole network
    lines_in: int = 0  # lines read from this node's clients since start
    lines_per_s: float = 0.0
    relayed: int = 0  # messages relayed since start (each PRIVMSG/NOTICE/JOIN/... once)
    relayed_per_s: float = 0.0
    sendq_bytes: int = 0  # output queued on this node's connections
    sendq_drops: int = 0  # clients dropped for a full sendq since start
    flood_drops: int = 0  # clients dropped by flood control (Excess Flood) since start
    rss_bytes: int = 0
    lag_ms: float = -1.0  # XADD to reading the entry back, last own entry; -1: none
    lag_max_ms: float = -1.0  # the worst over the interval (an entry still out counts too)
    position: str = ""  # the last log entry applied
    leader: bool = False  # writes the snapshots

    def to_fields(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            elif isinstance(value, float):
                out[f.name] = f"{value:.6g}" if abs(value) < 1e6 else f"{value:.3f}"
            else:
                out[f.name] = str(value)
        return out

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> NodeFigures:
        figures = cls()
        for f in dataclasses.fields(cls):
            raw = fields.get(f.name)
            if raw is None:
                continue
            default = getattr(figures, f.name)
            try:
                if isinstance(default, bool):
                    value: object = raw == "1"
                elif isinstance(default, int):
                    value = int(raw)
                elif isinstance(default, float):
                    value = float(raw)
                else:
                    value = raw
            except ValueError:
                continue  # a field another version wrote differently: keep the default
            setattr(figures, f.name, value)
        return figures


@dataclass
class NodeLease:
    """A node as Redis holds it: its lease, the log position it reported, its figures."""

    node: str
    position: str  # from its lease key
    lease_ms: int  # time left on its lease; <= 0: expired or gone
    figures: NodeFigures | None  # None: it published none (yet)

    @property
    def live(self) -> bool:
        return self.lease_ms > 0


@dataclass
class LogFigures:
    """The network's log and what surrounds it in Redis."""

    length: int = 0  # entries in the stream
    last_id: str = ""  # the newest entry
    leader: str = ""  # node id holding the leader lease
    leader_ms: int = 0  # time left on it
    snapshot_position: str = ""
    snapshot_bytes: int = 0
    snapshot_wall: float = 0.0  # when it was written; 0: unknown
    nodes: list[NodeLease] = field(default_factory=list)
    read_at: float = 0.0  # wall-clock time these were read


class Monitor(Protocol):
    """What handlers may ask about the server they run in (ServerState.monitor)."""

    def nodes(self) -> list[NodeFigures]:
        """This node's figures now, then the other live nodes' as last published."""
        ...

    def log(self) -> LogFigures | None:
        """The network's log as last read from Redis; None for one process."""
        ...


# -- the lines of STATS ---------------------------------------------------------------------------


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.0f} min"


def _lag(fig: NodeFigures) -> str:
    if fig.lag_ms < 0:
        return "lag -"
    return f"lag {fig.lag_ms:.1f} ms (max {max(fig.lag_ms, fig.lag_max_ms):.1f})"


def node_line(fig: NodeFigures, wall: float) -> str:
    """One node's figures on one line (STATS N)."""
    name = fig.server + (" (leader)" if fig.leader else "")
    age = wall - fig.updated
    parts = [
        f"{fig.users} users",
        f"{fig.connections} conns",
        f"{fig.channels} channels",
        f"{fig.lines_per_s:.0f} lines/s in",
        f"{fig.relayed_per_s:.0f} msgs/s relayed",
        f"sendq {size(fig.sendq_bytes)}",
        f"drops {fig.sendq_drops} sendq {fig.flood_drops} flood",
        f"RSS {size(fig.rss_bytes)}",
    ]
    if fig.node:
        parts += [_lag(fig), f"log {fig.position or '-'}"]
    if age >= 1.5:
        parts.append(f"figures {seconds(age)} old")
    return f"{name}: " + ", ".join(parts)


def network_line(figs: list[NodeFigures]) -> str:
    """The sums over the nodes (STATS N's last line)."""
    lags = [max(f.lag_ms, f.lag_max_ms) for f in figs if f.lag_ms >= 0]
    parts = [
        f"{len(figs)} node{'s' if len(figs) != 1 else ''}",
        f"{sum(f.users for f in figs)} users",
        f"{sum(f.connections for f in figs)} conns",
        f"{max((f.channels for f in figs), default=0)} channels",
        f"{sum(f.lines_per_s for f in figs):.0f} lines/s in",
        f"sendq {size(sum(f.sendq_bytes for f in figs))}",
        f"drops {sum(f.sendq_drops for f in figs)} sendq {sum(f.flood_drops for f in figs)} flood",
        f"RSS {size(sum(f.rss_bytes for f in figs))}",
    ]
    if lags:
        parts.append(f"worst lag {max(lags):.1f} ms")
    return "network: " + ", ".join(parts)


def log_lines(logf: LogFigures, wall: float, server_of: dict[str, str]) -> list[str]:
    """The log, the leader, the snapshot, and each node's lease (STATS R)."""

    def name(node: str) -> str:
        return server_of.get(node) or node or "-"

    leader = f"leader {name(logf.leader)} (lease {seconds(logf.leader_ms / 1000)} left)"
    out = [
        f"log: {logf.length} entries, newest {logf.last_id or '-'}, "
        + (leader if logf.leader else "no leader")
    ]
    if logf.snapshot_position:
        age = f", {seconds(wall - logf.snapshot_wall)} old" if logf.snapshot_wall else ""
        out.append(
            f"snapshot: at {logf.snapshot_position}, {size(logf.snapshot_bytes)}{age}",
        )
    else:
        out.append(f"snapshot: {size(logf.snapshot_bytes)}, position not recorded")
    for lease in logf.nodes:
        state = f"lease {seconds(lease.lease_ms / 1000)} left" if lease.live else "lease expired"
        lag = ""
        if lease.figures is not None and lease.figures.lag_ms >= 0:
            lag = f", {_lag(lease.figures)}"
        out.append(f"node {name(lease.node)}: {state}, at {lease.position or '-'}{lag}")
    return out
