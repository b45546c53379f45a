"""No password reaches Redis, and the nodes still agree (server/hidden.py, docs/cluster.md).

Three real nodes and a real redis-server: clients on different nodes give the server's PASS
(right and wrong), log in with SASL PLAIN (one of them left in the middle of a chunked response
while a snapshot is written), register accounts with NickServ and the REGISTER command,
IDENTIFY (right and wrong), change a password, try GHOST with a password, and OPER (right and
wrong). Then every node's replicated state is compared, and every key of Redis is scanned —
the stream entry by entry (redis-py XRANGE), the snapshot decompressed, the settings — for each
password used, in the clear and as its SASL PLAIN base64.
"""

from __future__ import annotations

import base64
import pickle
import time
import zlib

import pytest
from cluster_harness import RunningCluster
from ircclient import Client, wait_for

from chatd.server.passwords import hash_password

redis_py = pytest.importorskip("redis", reason="redis-py is in the cluster extra")

NETPASS = "net-pass-123"
OPERPASS = "oper-pass-456"
ACCOUNT_PASS = "acct-pass-789"
NEW_PASS = "new-pass-222"
REG_PASS = "reg-pass-333"
WRONG = ["wrong-pass-000", "wrong-oper-111", "wrong-acct-444", "ghost-pass-555"]
LONG_PASS = "chunk-pass-" + "q" * 280  # a PLAIN response longer than one 400-byte piece
PUBLIC = "public-words-666"  # said in a channel: it must be in the log (the scan works)


def plain(name: str, password: str) -> str:
    return base64.b64encode(f"\0{name}\0{password}".encode()).decode()


SECRETS = [NETPASS, OPERPASS, ACCOUNT_PASS, NEW_PASS, REG_PASS, *WRONG, LONG_PASS[:40]]
SECRETS += [plain("alice", ACCOUNT_PASS), plain("alice", LONG_PASS)[:400]]


@pytest.fixture
def net(redis_server):
    redis_server.flush()
    cluster = RunningCluster(
        redis_server,
        3,
        flood_limit=False,
        password=NETPASS,
        opers={"admin": hash_password(OPERPASS)},
        scram_iterations=4096,
    )
    yield cluster
    cluster.stop()


def connect(node, nick: str, *first: str) -> Client:
    c = Client(node.port)
    c.send(f"PASS {NETPASS}", *first, f"NICK {nick}", "USER u 0 * :Real Name")
    return c


def oper_until_answered(c: Client, password: str) -> str:
    """OPER, again after a 263 (one check per 0.5 s network-wide, per 3 s per connection)."""
    while True:
        c.send(f"OPER admin {password}")
        got = c.expect_numeric("(381|464|263)").command
        if got != "263":
            return got
        pause(c, 0.6)


def pause(c: Client, seconds: float) -> None:
    """Let `seconds` pass, with PING round trips as the clock (no bare sleep)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.sync()


def the_state(node) -> dict:
    """What every node must agree on: its replica of every user, the accounts, the counters."""
    state, replica = node.state, node.core.replica
    users = {
        cid: (
            u.nick,
            u.registered,
            u.gone,
            u.account,
            u.modes,
            u.oper_name,
            u.pass_ok,
            u.auth_failures,
            u.early_lines,
            u.lines_in,
            u.bytes_in,
            u.realname,
            sorted(c.key for c in u.channels),
        )
        for cid, u in sorted(replica.users.items())
    }
    accounts = {
        key: (a.name, a.email, a.credentials, sorted(a.nicks), sorted(a.certs))
        for key, a in sorted(state.accounts.by_key.items())
    }
    return {
        "users": users,
        "accounts": accounts,
        "sessions": {k: sorted(u.nick for u in v) for k, v in state.accounts.sessions.items()},
        "throttle": dict(state.accounts.throttle._failed),
        "counts": (state.opers, state.unregistered, state.connections, state.guest_serial),
        "commands": sorted(state.command_counts.items()),
        "oper_next": state.oper_next,
        "stored": sorted(r.key for r in state.store.load_accounts()),
    }


def test_secrets_stay_out_of_redis_and_every_node_agrees(net, redis_server):
    a, b, c = net.nodes
    # alice (node a) registers an account with NickServ, and says something public
    alice = connect(a, "alice")
    alice.expect_numeric("001")
    alice.send(f"PRIVMSG NickServ :REGISTER {ACCOUNT_PASS} alice@example.org")
    alice.expect_numeric("900")
    alice.send("JOIN #room", f"PRIVMSG #room :{PUBLIC}")
    alice.expect_numeric("366")
    # a wrong server password (node b): 464 and gone, on every node
    intruder = Client(b.port)
    intruder.send(f"PASS {WRONG[0]}", "NICK intruder", "USER u 0 * :x")
    intruder.expect_numeric("464")
    intruder.wait_closed()
    # carol (node c) logs in to alice's account with SASL PLAIN before registering
    carol = connect(c, "carol", "CAP LS 302", "CAP REQ :sasl")
    carol.expect(r"CAP \S+ ACK")
    carol.send("AUTHENTICATE PLAIN")
    carol.expect(r"^AUTHENTICATE \+$")
    carol.send("AUTHENTICATE " + plain("alice", ACCOUNT_PASS))
    carol.expect_numeric("903")
    carol.send("CAP END")
    carol.expect_numeric("001")
    # dave (node b) identifies with NickServ, becomes an IRC operator, changes the password
    dave = connect(b, "dave")
    dave.expect_numeric("001")
    dave.send(f"NS IDENTIFY alice {ACCOUNT_PASS}")
    dave.expect_numeric("900")
    assert oper_until_answered(dave, OPERPASS) == "381"
    dave.send(f"PRIVMSG NickServ :SET PASSWORD {NEW_PASS}")
    dave.expect("Your password is changed")
    # eve (node a): a wrong OPER password, a wrong IDENTIFY, GHOST with a password
    eve = connect(a, "eve")
    eve.expect_numeric("001")
    assert oper_until_answered(eve, WRONG[1]) == "464"
    eve.send(f"PRIVMSG NickServ :IDENTIFY alice {WRONG[2]}")
    eve.expect("Invalid account or password")
    carol.send(f"PRIVMSG NickServ :GHOST eve {WRONG[3]}")
    carol.expect("eve is not one of your nicks")
    # frank (node c) registers with the REGISTER command before CAP END
    frank = connect(c, "frank", "CAP LS 302")
    frank.send(f"REGISTER * * {REG_PASS}")
    frank.expect("REGISTER SUCCESS frank")
    frank.send("CAP END")
    frank.expect_numeric("001")
    # grace (node a) stops in the middle of a chunked PLAIN response: a snapshot comes meanwhile
    grace = connect(a, "grace", "CAP LS 302", "CAP REQ :sasl")
    grace.expect(r"CAP \S+ ACK")
    grace.send("AUTHENTICATE PLAIN")
    grace.expect(r"^AUTHENTICATE \+$")
    grace.send("AUTHENTICATE " + plain("alice", LONG_PASS)[:400])
    grace.sync()

    for client in (alice, carol, dave, eve, frank, grace):
        client.sync()
    positions = lambda: {n.core.replica.position for n in net.nodes}  # noqa: E731
    wait_for(lambda: len(positions()) == 1, what="every node at the same entry")
    last = positions().pop()
    store = redis_py.Redis.from_url(net.url)
    stream = scan(store)["stream"]  # the whole log (snapshots come every 30 s: none trimmed it)
    assert PUBLIC.encode() in stream, "the scan must see what the log does carry"
    for secret in SECRETS:
        assert secret.encode() not in stream, f"{secret!r} is in the log"
    from chatd.cluster import snapshot

    a.reactor.call_soon_threadsafe(a.core.write_snapshot)  # with grace's piece in its session

    def snapshot_after() -> bool:
        blob = store.get(a.core.keys.snapshot)
        return blob is not None and _after(snapshot.position_of(blob), last)

    wait_for(snapshot_after, what="a snapshot taken after the scenario")

    # every node reached the same state
    states = [the_state(n) for n in net.nodes]
    assert states[0] == states[1] == states[2]
    users = {u[0]: u for u in states[0]["users"].values()}
    assert users["carol"][3] == users["dave"][3] == "alice"
    assert users["dave"][5] == "admin" and "o" in users["dave"][4]
    assert "intruder" not in users  # gone, on every node
    assert states[0]["counts"][0] == 1  # one IRC operator
    assert sorted(states[0]["accounts"]) == ["alice", "frank"]

    # and no password is anywhere in Redis: the snapshot, the settings, the leases
    found = scan(store)
    assert PUBLIC.encode() in found[a.core.keys.snapshot], "the history is in the snapshot"
    for where, blob in found.items():
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret!r} is in Redis ({where})"


def _after(position: str, other: str) -> bool:
    def key(p: str) -> tuple[int, int]:
        ms, _, seq = p.partition("-")
        return int(ms), int(seq or 0)

    return key(position) >= key(other)


def scan(store) -> dict[str, bytes]:
    """Every value in this Redis database, as bytes to search: the stream entry by entry, the
    snapshot decompressed (its nested pickles included), and every other key."""
    out: dict[str, bytes] = {}
    for key in store.keys("*"):
        kind = store.type(key)
        name = key.decode()
        if kind == b"stream":
            entries = store.xrange(key)
            assert entries, "the log is empty"
            out["stream"] = b"\n".join(
                k + b"=" + v for _, fields in entries for k, v in fields.items()
            )
        elif kind == b"string":
            value = store.get(key)
            if name.endswith(":snapshot"):
                body = pickle.loads(zlib.decompress(value))
                value = repr(body).encode() + b"".join(
                    v for part in ("users", "channels") for v in body[part].values()
                )
                value += body["state"] + body["store"]
            out[name] = value
        elif kind == b"set":
            out[name] = b" ".join(store.smembers(key))
    return out


# -- the parts, without a network -------------------------------------------------------------


def test_a_secret_line_event_round_trips():
    from chatd.cluster import events as ev

    payload = ev.encode([ev.secret_line("n~1:2", b"@label=x PASS *", True), ev.line("n~1:2", b"X")])
    first, second = ev.decode(payload)
    assert first == ev.Event(ev.SECRET_LINE, "n~1:2", b"@label=x PASS *", True)
    assert (second.kind, second.data) == (ev.LINE, b"X")
    assert ev.decode(b"S n~1:2 0 PASS *")[0].flag is False


def test_redis_keeps_digests_of_the_secret_settings():
    from chatd.cluster.bootstrap import network_settings, recorded_settings
    from chatd.server.config import build

    config = build({"password": NETPASS, "cloak_key": "the-cloak-key-of-this-network"})
    recorded = recorded_settings(config)
    assert recorded.keys() == network_settings(config).keys()
    text = repr(recorded)
    assert NETPASS not in text and "the-cloak-key-of-this-network" not in text
    assert recorded["password"].startswith("scrypt:")
    other = recorded_settings(build({"password": "another", "cloak_key": config.cloak_key}))
    assert other["password"] != recorded["password"]  # a node with another password differs
    assert other["cloak_key"] == recorded["cloak_key"]
    assert recorded_settings(build({}))["password"] is None


def test_a_snapshot_leaves_a_sasl_conversation_out():
    """The pieces of a PLAIN response in progress live on the user's node only."""
    from ircclient import Scripted, make_state

    from chatd.cluster import snapshot
    from chatd.cluster.replica import Replica

    state = make_state(scram_iterations=4096)
    c = Scripted(state)
    c.send("CAP REQ :sasl", "NICK grace", "USER u 0 * :G", "AUTHENTICATE PLAIN")
    piece = plain("alice", LONG_PASS)[:400]
    c.send("AUTHENTICATE " + piece)
    assert c.user.sasl is not None  # waiting for the rest
    replica = Replica(state, "n~1", lambda cid: None, lambda node: node)
    replica.users = {"n~1:1": c.user}
    blob = zlib.decompress(snapshot.dump(state, replica, {}))
    body = pickle.loads(blob)
    assert piece.encode() not in blob + body["users"]["n~1:1"]
    restored = make_state(scram_iterations=4096)
    other = Replica(restored, "n~2", lambda cid: None, lambda node: node)
    snapshot.load(snapshot.dump(state, replica, {}), restored, other)
    loaded = other.users["n~1:1"]
    assert (loaded.nick, loaded.sasl, loaded.auth_busy) == ("grace", None, False)
