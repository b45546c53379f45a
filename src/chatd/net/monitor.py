"""This process's figures for operators: sampled on the reactor, read by STATS and /metrics.

A `Sampler` is the `Monitor` of server/opstats.py. Once per STATS_INTERVAL (a reactor timer)
it takes the counters of the core and the chat state, the bytes queued on the reactor's
connections and the resident memory (/proc/self/statm), turns the counters into rates over
the interval and, on a cluster node, hands the figures to `cluster/stats.py`, which publishes
them to Redis and brings back everyone's. Nothing here blocks: the only file read is one small
/proc file, and Redis is reached through the node's non-blocking writer link.
"""

from __future__ import annotations

import os
import resource
import time
from typing import TYPE_CHECKING, Protocol

from ..server.opstats import LogFigures, NodeFigures

if TYPE_CHECKING:
    from ..cluster.core import ClusterCore
    from ..cluster.stats import ClusterStats
    from ..server.state import ServerState
    from .reactor import Reactor

STATS_INTERVAL = 1.0  # seconds between samples (and between publications to Redis)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Counted(Protocol):
    """The counters both cores keep (server/core.py, cluster/core.py)."""

    lines_in: int
    sendq_drops: int
    flood_drops: int


def rss_bytes() -> int:
    """Resident memory of this process now (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class Sampler:
    def __init__(
        self,
        reactor: Reactor,
        state: ServerState,
        core: Counted,
        cluster: ClusterStats | None = None,
    ) -> None:
        self.reactor = reactor
        self.state = state
        self.core = core
        self.cluster = cluster
        self.started = time.time()
        self.lines_per_s = 0.0
        self.relayed_per_s = 0.0
        self.lag_ms = -1.0
        self.lag_max_ms = -1.0
        self._base = (reactor.now, core.lines_in, state.delivery.relayed)
        self.samples = 0

    def start(self) -> None:
        self.reactor.call_at(self.reactor.now + STATS_INTERVAL, self.tick)

    def tick(self) -> None:
        """One sample: rates over the interval; a cluster node publishes its figures."""
        reactor = self.reactor
        reactor.call_at(reactor.now + STATS_INTERVAL, self.tick)
        now = reactor.now
        then, lines, relayed = self._base
        span = max(now - then, 1e-3)
        self.lines_per_s = (self.core.lines_in - lines) / span
        self.relayed_per_s = (self.state.delivery.relayed - relayed) / span
        self._base = (now, self.core.lines_in, self.state.delivery.relayed)
        node = self._cluster_core()
        if node is not None:
            lag, worst = node.take_lag()
            self.lag_ms = lag * 1000 if lag >= 0 else -1.0
            self.lag_max_ms = worst * 1000 if worst >= 0 else -1.0
        self.samples += 1
        if self.cluster is not None:
            self.cluster.publish(self.figures())

    def _cluster_core(self) -> ClusterCore | None:
        return self.cluster.core if self.cluster is not None else None

    def figures(self) -> NodeFigures:
        """This node now (the rates and the lag as of the last sample)."""
        state, core, reactor = self.state, self.core, self.reactor
        node = self._cluster_core()
        if node is None:
            users = state.connections - state.unregistered
        else:
            users = sum(
                1
                for client in node.locals.values()
                if client.user is not None and client.user.registered and not client.user.gone
            )
        return NodeFigures(
            server=state.name,
            node=node.node if node is not None else "",
            pid=os.getpid(),
            started=self.started,
            updated=time.time(),
            connections=len(reactor.connections),
            users=users,
            channels=len(state.channels),
            lines_in=core.lines_in,
            lines_per_s=self.lines_per_s,
            relayed=state.delivery.relayed,
            relayed_per_s=self.relayed_per_s,
            sendq_bytes=sum(conn.out_len for conn in reactor.connections),
            sendq_drops=core.sendq_drops,
            flood_drops=core.flood_drops,
            rss_bytes=rss_bytes(),
            lag_ms=self.lag_ms,
            lag_max_ms=self.lag_max_ms,
            position=node.replica.position if node is not None else "",
            leader=node.leader if node is not None else False,
        )

    # -- the Monitor protocol ------------------------------------------------------------------

    def nodes(self) -> list[NodeFigures]:
        mine = self.figures()
        others = self.cluster.others() if self.cluster is not None else []
        return [mine, *others]

    def log(self) -> LogFigures | None:
        if self.cluster is None:
            return None
        return self.cluster.picture or LogFigures()


def start_monitor(
    reactor: Reactor, state: ServerState, core: Counted, cluster: ClusterStats | None = None
) -> Sampler:
    """Sample this process for STATS and /metrics (call on the loop's thread, or before it
    runs)."""
    sampler = Sampler(reactor, state, core, cluster)
    state.monitor = sampler
    sampler.start()
    return sampler
