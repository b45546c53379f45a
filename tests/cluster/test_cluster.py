"""What only a cluster has to get right: races between nodes, one order for everyone, nodes
that die or restart, Redis going away, and a node joining a busy network.

Nodes run in threads of the test process (tests/cluster_harness.py) or, where one must be
killed, as `chatd --cluster` subprocesses. Redis is a real redis-server.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from cluster_harness import Node, RunningCluster
from ircclient import TEST_CLOAK_KEY, Client, wait_for

FULL_TAGS = "CAP REQ :server-time message-tags"


@pytest.fixture
def redis(redis_server):
    redis_server.flush()
    return redis_server


@pytest.fixture
def cluster(redis):
    clusters: list[RunningCluster] = []

    def make(n: int = 3, **settings) -> RunningCluster:
        settings.setdefault("flood_limit", False)
        settings.setdefault("ip_connect_burst", 500)
        settings.setdefault("max_per_ip", 500)
        c = RunningCluster(redis, n, **settings)
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        c.stop()


def _register_at_once(clients: list[Client], nick: str) -> list[str]:
    """Every client asks for `nick` at the same moment; what each got (001 or 433)."""
    barrier = threading.Barrier(len(clients))

    def go(c: Client) -> None:
        barrier.wait()
        c.send(f"NICK {nick}", "USER u 0 * :racer")

    threads = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [c.expect_numeric("(001|433)").command for c in clients]


def test_two_nodes_claiming_one_nick_exactly_one_wins(cluster):
    net = cluster(2)
    a, b = net.nodes
    for round_ in range(25):
        clients = [Client(a.port), Client(b.port)]
        got = _register_at_once(clients, f"racer{round_}")
        assert sorted(got) == ["001", "433"], got
        for c in clients:
            c.close()


def test_two_nodes_creating_one_channel_exactly_one_is_op(cluster):
    net = cluster(2)
    a, b = net.nodes
    for round_ in range(15):
        x, y = a.client(f"x{round_}"), b.client(f"y{round_}")
        barrier = threading.Barrier(2)

        def join(c: Client, name: str = f"#race{round_}") -> None:
            barrier.wait()
            c.send(f"JOIN {name}")

        threads = [threading.Thread(target=join, args=(c,)) for c in (x, y)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in (x, y):
            c.expect_numeric("366")
        x.send(f"NAMES #race{round_}")
        names = x.expect_numeric("353").params[-1].split()
        assert sorted(n[0] == "@" for n in names) == [False, True], names
        x.close()
        y.close()


def test_one_order_with_one_msgid_and_time_on_every_node(cluster):
    net = cluster(3)
    senders = [node.client(f"s{i}") for i, node in enumerate(net.nodes)]
    readers = []
    for i, node in enumerate(net.nodes):
        r = Client(node.port)
        r.send(FULL_TAGS, "CAP END")
        r.expect("ACK")
        r.register(f"r{i}")
        readers.append(r)
    for c in senders + readers:
        c.join("#flood")
    count = 150
    threads = [
        threading.Thread(
            target=lambda s=s, i=i: s.send(*[f"PRIVMSG #flood :{i}-{k}" for k in range(count)])
        )
        for i, s in enumerate(senders)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = []
    for r in readers:
        got = [r.expect("PRIVMSG #flood :") for _ in range(3 * count)]
        seen.append([(m.params[1], m.tags["msgid"], m.tags["time"]) for m in got])
    assert seen[0] == seen[1] == seen[2]
    for i in range(3):  # each sender's own order is kept
        mine = [text for text, _, _ in seen[0] if text.startswith(f"{i}-")]
        assert mine == [f"{i}-{k}" for k in range(count)]


def test_kick_racing_a_message_is_seen_in_one_order_everywhere(cluster):
    net = cluster(3)
    op, victim, watcher = (
        node.client(n) for node, n in zip(net.nodes, ("op", "vic", "w"), strict=True)
    )
    for c in (op, victim, watcher):
        c.join("#k")
    victim.send(*[f"PRIVMSG #k :m{i}" for i in range(50)])
    op.send("KICK #k vic :out")
    orders = []
    for c in (op, watcher):
        lines = c.collect(r"PRIVMSG #k|KICK #k", r"KICK #k vic")
        orders.append([m.params[-1] for m in lines])
    assert orders[0] == orders[1]
    victim.expect("KICK #k vic")
    victim.send("PRIVMSG #k :after the kick")
    victim.expect_numeric("404")  # +n: not a member any more


def test_every_command_family_crosses_nodes(cluster):
    net = cluster(2)
    a, b = net.nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.join("#x")
    bob.join("#x")
    alice.send("MODE #x +o bob")
    bob.expect("MODE #x \\+o bob")
    bob.send("TOPIC #x :set on b")
    alice.expect("TOPIC #x :set on b")
    bob.send("MODE #x +b carol!*@*")
    alice.expect("MODE #x \\+b carol")
    bob.send("AWAY :lunch")
    bob.expect_numeric("306")
    alice.send("PRIVMSG bob :there?")
    alice.expect_numeric("301")
    bob.expect("PRIVMSG bob :there\\?")
    alice.send("WHOIS bob")
    assert alice.expect_numeric("312").params[2] == "chatd.local"
    alice.send("ISON bob nobody")
    assert alice.expect_numeric("303").params[-1] == "bob"
    alice.send("NICK alicia")
    bob.expect(":alice!\\S+ NICK :?alicia")
    alice.send("LUSERS")
    assert "2 users" in alice.expect_numeric("251").params[-1]
    bob.send("KICK #x alicia :bye")
    alice.expect("KICK #x alicia")
    bob.send("MODE #x +i")
    bob.expect("MODE #x \\+i")  # applied everywhere before alicia's JOIN is in the log
    alice.send("JOIN #x")
    alice.expect_numeric("473")  # +i set on the other node holds here
    bob.send("INVITE alicia #x")
    alice.expect("INVITE alicia :?#x")
    alice.send("JOIN #x")
    alice.expect_numeric("366")


def test_a_node_joining_a_busy_network_sees_its_state_and_history(cluster, redis):
    net = cluster(2, cluster_snapshot_interval=1.0)
    a, b = net.nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.join("#busy")
    bob.join("#busy")
    alice.send("TOPIC #busy :before the newcomer", "MODE #busy +mP")
    for i in range(30):
        alice.send(f"PRIVMSG #busy :old {i}")
    bob.expect("old 29")
    wait_for(
        lambda: a.core.snapshot_position != "0-0" or b.core.snapshot_position != "0-0",
        timeout=10,
        what="a snapshot",
    )
    alice.send("PRIVMSG #busy :after the snapshot")
    bob.expect("after the snapshot")
    late = Node(redis.url, flood_limit=False)
    net.nodes.append(late)
    carol = Client(late.port)
    carol.send("CAP REQ :draft/chathistory batch server-time message-tags", "CAP END")
    carol.register("carol")
    carol.send("JOIN #busy")
    assert carol.expect_numeric("332").params[-1] == "before the newcomer"
    names = carol.expect_numeric("353").params[-1].split()
    assert sorted(names) == ["@alice", "bob", "carol"]
    carol.send("MODE #busy")
    assert "m" in carol.expect_numeric("324").params[2]
    carol.send("CHATHISTORY LATEST #busy * 50")
    history = carol.collect("PRIVMSG #busy", "BATCH -")
    assert [m.params[1] for m in history] == [f"old {i}" for i in range(30)] + [
        "after the snapshot"
    ]


def _node_config(tmp_path, name: str, lease: float = 2.0) -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'flood-limit = false\ncloak-key = "{TEST_CLOAK_KEY}"\n'
        f'[cluster]\nnode-name = "{name}"\nlease = {lease}\n'
    )
    return str(path)


def test_kill_9_of_a_node_its_users_quit_within_the_lease(redis, tmp_path, proc_factory):
    a = proc_factory("--cluster", redis.url, "--config", _node_config(tmp_path, "a"))
    b = proc_factory("--cluster", redis.url, "--config", _node_config(tmp_path, "b"))
    alice = Client(a.port)
    alice.register("alice")
    bob = Client(b.port)
    bob.register("bob")
    alice.join("#room")
    bob.join("#room")
    alice.send("PRIVMSG #room :are you there?")
    bob.expect("are you there")
    killed_at = time.monotonic()
    b.p.send_signal(signal.SIGKILL)
    b.p.wait(5)
    quit_ = alice.expect(":bob!\\S+ QUIT", timeout=15)
    took = time.monotonic() - killed_at
    assert quit_.params[0] == "*.net *.split"
    assert took < 2.0 * 3, took  # the lease (2 s) and one look (a third of it), with slack
    bob2 = Client(a.port)
    bob2.register("bob")  # the nick is free again
    alice.send("PRIVMSG #room :still here")
    alice.send("NAMES #room")
    assert alice.expect_numeric("353").params[-1].split() == ["@alice"]


def test_a_node_restarts_and_rejoins_without_the_others(redis, tmp_path, proc_factory):
    config = _node_config(tmp_path, "a")
    a = proc_factory("--cluster", redis.url, "--config", config)
    b = proc_factory("--cluster", redis.url, "--config", _node_config(tmp_path, "b"))
    alice = Client(a.port)
    alice.register("alice")
    bob = Client(b.port)
    bob.register("bob")
    alice.join("#room")
    bob.join("#room")
    alice.send("TOPIC #room :kept", "MODE #room +P")
    bob.expect("TOPIC #room :kept")
    a.p.send_signal(signal.SIGKILL)
    a.p.wait(5)
    a2 = proc_factory("--cluster", redis.url, "--config", config)
    bob.expect(":alice!\\S+ QUIT", timeout=10)  # the old life of a is declared gone at once
    alice = Client(a2.port)
    alice.register("alice")
    alice.join("#room")
    alice.send("TOPIC #room")
    assert alice.expect_numeric("332").params[-1] == "kept"
    alice.send("PRIVMSG #room :back")
    bob.expect("PRIVMSG #room :back")


def test_redis_restart_pauses_chat_and_everything_converges(cluster, redis):
    net = cluster(2)
    a, b = net.nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.join("#r")
    bob.join("#r")
    alice.send("PRIVMSG #r :before")
    bob.expect("before")
    redis.stop(graceful=True)  # an AOF-backed restart keeps the log
    alice.send("PRIVMSG #r :during")  # held: the log cannot take it
    alice.expect("NOTICE alice :\\*\\*\\* The network is paused", timeout=10)
    redis.start()
    bob.expect("PRIVMSG #r :during", timeout=15)
    alice.expect("The network is back", timeout=15)
    bob.send("PRIVMSG #r :after")
    alice.expect("PRIVMSG #r :after")
    for node in net.nodes:  # the replicas agree
        wait_for(lambda n=node: n.core.replica.position == a.core.replica.position, timeout=5)
    assert {n.state.find_channel("#r").name for n in net.nodes} == {"#r"}
    assert [sorted(u.nick for u in n.state.find_channel("#r").members) for n in net.nodes] == [
        ["alice", "bob"],
        ["alice", "bob"],
    ]


def test_work_deferred_on_one_node_comes_back_to_every_node(cluster, monkeypatch):
    """state.defer's result enters the log (an R event), so every replica applies it."""
    from chatd.proto.message import Message
    from chatd.server import dispatch

    def handle(state, user, msg):
        state.defer(user, "cluster-test", lambda: msg.params[0].upper())

    def resume(state, user, value):
        user.realname = value  # a state change every replica must make
        state.send(user, Message("NOTICE", [user.nick, value], state.name))

    monkeypatch.setitem(dispatch.COMMANDS, "SHOUT", dispatch.Command(handle, 1))
    monkeypatch.setitem(dispatch.RESUMERS, "cluster-test", resume)
    net = cluster(3)
    alice = net.nodes[1].client("alice")
    alice.send("SHOUT hello")
    alice.expect("NOTICE alice :HELLO")
    net.caught_up()
    for node in net.nodes:
        wait_for(lambda n=node: n.state.find_user("alice").realname == "HELLO", what="applied")


def test_redis_losing_its_data_makes_nodes_start_over(tmp_path, proc_factory):
    from cluster_harness import RedisServer

    redis = RedisServer(tmp_path / "redis")
    try:
        a = proc_factory("--cluster", redis.url, "--config", _node_config(tmp_path, "a"))
        alice = Client(a.port)
        alice.register("alice")
        redis.command("FLUSHALL")  # as a Redis without persistence after a restart
        redis.command("CLIENT", "KILL", "TYPE", "normal")  # the links reconnect and look
        alice.expect("^ERROR :Closing Link", timeout=15)
        wait_for(lambda: any("starts over" in line for line in _log(a)), timeout=10)
        again = Client(_port_after_restart(a))
        again.register("alice")  # the new network knows nobody
    finally:
        redis.stop()


def _log(proc) -> list[str]:
    from procs import _read_log

    return _read_log(proc)


def _port_after_restart(proc) -> int:
    """The re-executed chatd logs its (new, since --port 0) listening port again."""
    import re

    def port() -> int | None:
        for line in reversed(_log(proc)):
            match = re.search(r"listening on \S+ port (\d+)", line)
            if match and int(match.group(1)) != proc.port:
                return int(match.group(1))
        return None

    return wait_for(port, timeout=15, what="the restarted node listening")


def test_nodes_sharing_one_port_with_reuse_port(redis, tmp_path, proc_factory):
    """`--reuse-port`: N processes on one port of one machine, the kernel spreading clients."""
    from cluster_harness import free_port

    port = free_port()
    procs = [
        proc_factory(
            "--cluster",
            redis.url,
            "--config",
            _node_config(tmp_path, name),
            "--reuse-port",
            port=port,
        )
        for name in ("p1", "p2")
    ]
    clients = []
    for i in range(16):
        c = Client(port)
        c.register(f"u{i}")
        c.send("WHOIS " + f"u{i}")
        c.expect_numeric("312")
        clients.append(c)
    servers = set()
    for i, c in enumerate(clients):
        c.send(f"WHOIS u{i}")
        servers.add(c.expect_numeric("312").params[2])
    assert servers == {"p1.chatd.local", "p2.chatd.local"}, servers  # both took clients
    for c in clients:
        c.join("#shared")
    clients[0].send("PRIVMSG #shared :to everyone on both processes")
    for c in clients[1:]:
        c.expect("to everyone on both processes")
    assert all(p.p.poll() is None for p in procs)
