"""The cluster's figures in Redis: each node publishes its own, any node (or `chatd cluster
status`) reads everyone's (sans-IO: the link is handed in).

Every sampling tick a node writes its figures (server/opstats.py:NodeFigures) to the hash
`<prefix>stats:<node id>`, which expires with its lease, and reads the whole picture back with
one script (`STATUS`): every node's lease and log position and figures, the leader, the log's
length and newest entry, and the snapshot. The reply comes through the writer link's callback;
STATS and the metrics endpoint answer from the last picture, so no one waits on Redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server.opstats import LogFigures, NodeFigures, NodeLease

if TYPE_CHECKING:
    from .core import ClusterCore

# Lua: everything `STATS R` and `chatd cluster status` show, in one round trip.
# ARGV[1] is the network's key prefix ("chatd:<network>:").
STATUS = """
local p = ARGV[1]
local nodes = {}
for i, n in ipairs(redis.call('SMEMBERS', p .. 'nodes')) do
  nodes[i] = {n, redis.call('GET', p .. 'node:' .. n) or '', redis.call('PTTL', p .. 'node:' .. n),
              redis.call('HGETALL', p .. 'stats:' .. n)}
end
local length, last = 0, ''
if redis.call('EXISTS', p .. 'log') == 1 then
  length = redis.call('XLEN', p .. 'log')
  local newest = redis.call('XREVRANGE', p .. 'log', '+', '-', 'COUNT', 1)
  if newest[1] then last = newest[1][1] end
end
return {nodes, redis.call('GET', p .. 'leader') or '', redis.call('PTTL', p .. 'leader'),
        length, last, redis.call('HGETALL', p .. 'snapshot:info'),
        redis.call('STRLEN', p .. 'snapshot')}
"""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _pairs(flat: list[Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in zip(flat[::2], flat[1::2], strict=False)}


def parse_status(reply: list[Any], wall: float) -> LogFigures:
    """The STATUS script's reply (from hiredis or redis-py: bytes and ints), as figures."""
    nodes_raw, leader, leader_ms, length, last, snap_raw, snap_bytes = reply
    nodes: list[NodeLease] = []
    for node, position, ttl, stats in nodes_raw:
        figures = NodeFigures.from_fields(_pairs(stats)) if stats else None
        nodes.append(NodeLease(_text(node), _text(position), int(ttl), figures))
    nodes.sort(key=lambda lease: (not lease.live, _name(lease)))
    snap = _pairs(snap_raw)
    try:
        snapshot_wall = float(snap.get("wall", "0"))
    except ValueError:
        snapshot_wall = 0.0
    return LogFigures(
        length=int(length),
        last_id=_text(last),
        leader=_text(leader),
        leader_ms=max(0, int(leader_ms)),
        snapshot_position=snap.get("position", ""),
        snapshot_bytes=int(snap_bytes),
        snapshot_wall=snapshot_wall,
        nodes=nodes,
        read_at=wall,
    )


def _name(lease: NodeLease) -> str:
    return lease.figures.server if lease.figures is not None else lease.node


class ClusterStats:
    """One node's side: publish its figures, keep the last picture of the network."""

    def __init__(self, core: ClusterCore) -> None:
        self.core = core
        self.picture: LogFigures | None = None  # the last STATUS reply

    def publish(self, figures: NodeFigures) -> None:
        """Write this node's figures and ask for everyone's (both on the writer link)."""
        core = self.core
        writer = core.writer
        if writer is None or not writer.connected:
            return
        key = core.keys.stats(core.node)
        flat: list[str] = []
        for name, value in figures.to_fields().items():
            flat += [name, value]
        writer.send("HSET", key, *flat)
        writer.send("PEXPIRE", key, int(core.settings.lease * 1000))
        writer.send("EVAL", STATUS, 0, core.keys.prefix, callback=self._pictured)

    def _pictured(self, reply: Any) -> None:
        if isinstance(reply, Exception):
            return  # the link is down or Redis refused: keep the last picture
        self.picture = parse_status(reply, self.core.wall)

    def others(self) -> list[NodeFigures]:
        """The other live nodes' figures, as last published."""
        picture = self.picture
        if picture is None:
            return []
        me = self.core.node
        return [
            lease.figures
            for lease in picture.nodes
            if lease.live and lease.figures is not None and lease.node != me
        ]
