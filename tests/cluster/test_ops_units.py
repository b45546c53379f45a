"""The sans-IO parts of operating a cluster: figures to and from a Redis hash, the STATUS
reply, the lines STATS shows, the Prometheus text, live nodes in the replica and its snapshot,
and channel members that know which of them are this node's."""

from __future__ import annotations

import pickle

from chatd.cluster import events as ev
from chatd.cluster import snapshot
from chatd.cluster.replica import Replica
from chatd.cluster.stats import parse_status
from chatd.net.metrics import render
from chatd.server.channel import Members
from chatd.server.config import Config
from chatd.server.opstats import NodeFigures, network_line, node_line
from chatd.server.state import ServerState
from chatd.server.user import User


def _figures(**kw) -> NodeFigures:
    base = dict(server="a.x", node="a.x~1", users=3, lag_ms=0.8, lag_max_ms=2.5, leader=True)
    base.update(kw)
    return NodeFigures(**base)


def test_figures_survive_a_redis_hash_and_ignore_what_they_do_not_know():
    fig = _figures(rss_bytes=123456789, lines_per_s=12.5, position="17-3", updated=1.7e9)
    back = NodeFigures.from_fields(fig.to_fields())
    assert back == fig
    odd = NodeFigures.from_fields({"users": "many", "newer_field": "1", "leader": "1"})
    assert odd.users == 0 and odd.leader is True


def test_status_reply_becomes_figures_live_nodes_first():
    fields = [x.encode() for kv in _figures().to_fields().items() for x in kv]
    reply = [
        [[b"b.x~2", b"", -2, []], [b"a.x~1", b"17-3", 9000, fields]],
        b"a.x~1",
        12000,
        42,
        b"18-0",
        [b"position", b"15-0", b"bytes", b"2048", b"wall", b"1000.5", b"node", b"a.x~1"],
        2048,
    ]
    logf = parse_status(reply, 1010.5)
    assert [lease.node for lease in logf.nodes] == ["a.x~1", "b.x~2"]
    assert logf.nodes[0].live and not logf.nodes[1].live and logf.nodes[1].figures is None
    assert (logf.length, logf.last_id, logf.leader, logf.leader_ms) == (42, "18-0", "a.x~1", 12000)
    assert (logf.snapshot_position, logf.snapshot_bytes, logf.snapshot_wall) == (
        "15-0",
        2048,
        1000.5,
    )


def test_stats_lines():
    fig = _figures(updated=100.0, sendq_bytes=2048, rss_bytes=50 << 20, position="17-3")
    line = node_line(fig, 100.2)
    assert line.startswith("a.x (leader): 3 users, ")
    assert "sendq 2.0 KiB" in line and "RSS 50.0 MiB" in line
    assert "lag 0.8 ms (max 2.5)" in line and "log 17-3" in line and "old" not in line
    assert "figures 5.0 s old" in node_line(fig, 105.0)
    one = NodeFigures(server="solo", users=2)
    assert "lag" not in node_line(one, 0.0) and "log" not in node_line(one, 0.0)
    total = network_line([fig, _figures(server="b.x", users=4, lag_ms=5.0, lag_max_ms=-1)])
    assert total.startswith("network: 2 nodes, 7 users, ")
    assert total.endswith("worst lag 5.0 ms")


def test_prometheus_text_of_a_node_without_lag_yet():
    me = _figures(lag_ms=-1.0, lag_max_ms=-1.0, server='we"ird')
    text = render(me, [], None)
    assert 'chatd_info{server="we\\"ird",node="a.x~1",version="' in text
    assert "chatd_cluster" not in text  # one process: no cluster figures
    parse_status_reply = [[], b"", -2, 0, b"", [], 0]
    text = render(me, [], parse_status(parse_status_reply, 0.0))
    assert "\nchatd_cluster_lag_seconds NaN\n" in text
    assert "\nchatd_cluster_nodes 0\n" in text
    for line in text.splitlines():
        assert line.startswith("# ") or len(line.split(" ")) == 2, line


def _replica() -> tuple[ServerState, Replica]:
    state = ServerState(Config(cloak_hosts=False), 0.0)
    return state, Replica(state, "me~1", lambda cid: None, lambda node: node)


def test_hello_and_node_gone_count_the_live_nodes_and_a_snapshot_keeps_them():
    state, replica = _replica()
    replica.apply("1-0", "a~1", ev.encode([ev.hello("a~1")]))
    replica.apply("2-0", "b~2", ev.encode([ev.hello("b~2"), ev.hello("c~3")]))  # not for c
    assert state.servers == 2 and replica.live == {"a~1", "b~2"}
    replica.apply("3-0", "a~1", ev.encode([ev.node_gone("b~2", "*.net *.split")]))
    assert state.servers == 1 and replica.nodes() == {"a~1"}
    blob = snapshot.dump(state, replica, {})
    other_state, other = _replica()
    snapshot.load(blob, other_state, other)
    assert other.live == {"a~1"} and other_state.servers == 1


def test_members_know_which_are_local_through_every_change():
    here = User(lambda d: None, lambda: None, "h", 0.0, 0.0, None)
    there = User(lambda d: None, lambda: None, "h", 0.0, 0.0, None)
    there.local = False
    members = Members()
    members[here] = "o"
    members[there] = ""
    assert list(members) == [here, there] and list(members.local) == [here]
    members[here] = "ov"  # a mode change keeps it
    assert list(members.local) == [here]
    members.pop(here)
    assert not members.local
    members.setdefault(here, "")
    members.update({there: "v"})
    assert list(members.local) == [here]
    del members[here]
    assert not members.local and list(members) == [there]
    members[here] = ""
    members.clear()
    assert not members and not members.local
    members[here] = "o"
    here.write = here.close = None  # type: ignore[assignment]  # (a lambda does not pickle)
    copy = pickle.loads(pickle.dumps(members))
    assert isinstance(copy, Members) and len(copy) == 1 and len(copy.local) == 1
