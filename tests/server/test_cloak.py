"""Host cloaking without sockets: what others see of a user's address (a keyed hash), what the
user and IRC operators see (the address), bans on either, and the key across restarts."""

from __future__ import annotations

import re

import pytest

from chatd.limits import HOSTLEN
from chatd.proto.message import parse, serialise
from chatd.server.cloak import KEY_META, Cloak
from chatd.server.config import ConfigError, build
from chatd.server.passwords import hash_password
from chatd.server.state import ServerState

from .util import HOST, Scripted, make_state, msgs, numerics, one, registered

CLOAK = re.compile(r"\A[0-9a-f]{8}\.[0-9a-f]{8}\.[0-9a-f]{8}\.ip\Z")


@pytest.fixture(scope="module")
def oper_hash() -> str:
    return hash_password("pw")  # scrypt: hash once for the module


def user_at(state, nick: str, address: str, caps: tuple[str, ...] = ()) -> Scripted:
    c = Scripted(state, host=address)
    if caps:
        c.send("CAP LS 302", "CAP REQ :" + " ".join(caps))
    c.register(nick)
    if caps:
        c.send("CAP END")
    c.take()
    return c


# -- the cloak itself ---------------------------------------------------------------------------


def test_cloak_shape_and_networks():
    cloak = Cloak(b"k" * 32)
    a, b, c = (cloak.host(x) for x in ("192.0.2.1", "192.0.2.77", "192.0.3.1"))
    for host in (a, b, c, cloak.host("2001:db8:1:2::5"), cloak.host("0::1")):
        assert CLOAK.match(host), host
        assert len(host) <= HOSTLEN and not host.startswith(":")
        assert "192" not in host and "2001" not in host
    assert a != b and a.split(".")[1:] == b.split(".")[1:]  # the same /24
    assert a.split(".")[1] != c.split(".")[1] and a.split(".")[2] == c.split(".")[2]  # /16
    v6 = [cloak.host(x) for x in ("2001:db8:1:2::5", "2001:db8:1:2:ffff::1", "2001:db8:1:3::5")]
    assert v6[0] != v6[1] and v6[0].split(".")[1:] == v6[1].split(".")[1:]  # the same /64
    assert v6[0].split(".")[1] != v6[2].split(".")[1]  # another /64 ...
    assert v6[0].split(".")[2] == v6[2].split(".")[2]  # ... in the same /48
    assert cloak.host("192.0.2.1") == a  # deterministic
    assert cloak.host("::ffff:192.0.2.1") == a  # IPv4-mapped is the IPv4 address
    assert Cloak(b"another key").host("192.0.2.1") != a
    assert re.fullmatch(r"[0-9a-f]{8}\.host", cloak.host("not-an-address"))


# -- what everyone else sees --------------------------------------------------------------------


def test_others_never_see_the_address(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    alice = user_at(state, "alice", "198.51.100.7")
    bob = user_at(state, "bob", "203.0.113.9", ("userhost-in-names", "extended-join"))
    shown = state.cloak.host("198.51.100.7")
    alice.send("JOIN #room")
    seen = bob.send("JOIN #room")
    alice.send("PRIVMSG #room :hi", "TOPIC #room :t", "AWAY :gone", "MODE #room +b x!*@*")
    seen += bob.take()
    seen += bob.send(
        "NAMES #room",
        "WHO #room",
        "WHO #room %tuihn,1",
        "WHO alice",
        "WHOIS alice",
        "USERHOST alice",
        "TOPIC #room",
        "MODE #room +b",
    )
    alice.send("NICK alicia", "QUIT :bye")
    seen += bob.take()
    text = "\r\n".join(seen)
    assert "198.51.100" not in text
    assert f"alice!~u@{shown} PRIVMSG #room :hi" in text
    assert one(seen, "333").params[2] == f"alice!~u@{shown}"  # the topic setter
    assert one(seen, "367").params[3] == f"alice!~u@{shown}"  # the ban setter
    assert one(seen, "311").params[3] == shown
    assert "378" not in numerics(seen)
    assert one(seen, "302").params[1] == f"alice=-~u@{shown}"
    whox = {m.params[-1]: m.params[1:5] for m in msgs(seen) if m.command == "354"}
    assert whox["alice"] == ["1", "~u", "255.255.255.255", shown]
    assert whox["bob"][2] == "203.0.113.9"  # bob's own address, to bob
    assert all(serialise(parse(line)) for line in seen)


def test_the_user_itself_sees_its_address():
    state = make_state()
    alice = user_at(state, "alice", "198.51.100.7")
    shown = state.cloak.host("198.51.100.7")
    lines = alice.send("WHOIS alice")
    assert numerics(lines) == ["311", "312", "378", "317", "318"]
    assert msgs(lines)[0].params[3] == shown  # its host as the others see it
    assert msgs(lines)[2].params == [
        "alice",
        "alice",
        "is connecting from ~u@198.51.100.7 198.51.100.7",
    ]
    assert one(alice.send("USERHOST alice"), "302").params[1] == "alice=+~u@198.51.100.7"
    assert one(alice.send("WHO alice %ihn"), "354").params[1:] == ["198.51.100.7", shown, "alice"]
    welcome = Scripted(state, host="198.51.100.7").register("newbie")
    assert f"newbie!~u@{shown}" in one(welcome, "001").params[1]  # the prefix others see
    assert alice.send("QUIT")[-1] == "ERROR :Closing Link: 198.51.100.7 (Quit: )"


def test_irc_operators_see_addresses(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    alice = user_at(state, "alice", "198.51.100.7")
    bob = user_at(state, "bob", "203.0.113.9")
    boss = user_at(state, "boss", "192.0.2.1")
    assert numerics(bob.send("WHO 198.51.100.*")) == ["315"]  # a match would reveal it
    boss.send_answered("OPER boss pw")
    lines = boss.send("WHOIS alice")
    assert "is connecting from ~u@198.51.100.7 198.51.100.7" in one(lines, "378").params
    assert one(boss.send("USERHOST alice"), "302").params[1] == "alice=+~u@198.51.100.7"
    found = [m.params[5] for m in msgs(boss.send("WHO 198.51.100.*")) if m.command == "352"]
    assert found == ["alice"]
    assert alice.take() == []


# -- bans ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask, address, banned",
    [
        ("*!*@198.51.100.7", "198.51.100.7", True),  # the real address
        ("*!*@198.51.100.*", "198.51.100.8", True),
        ("*!*@{cloak}", "198.51.100.7", True),  # the cloak everyone sees
        ("*!*@*.{net24}", "198.51.100.200", True),  # the cloak's /24 part
        ("*!*@*.{net24}", "198.51.101.7", False),
        ("*!*@203.0.113.*", "198.51.100.7", False),
    ],
)
def test_bans_match_the_cloak_and_the_address(mask, address, banned):
    state = make_state()
    op = registered(state, "op")
    op.send("JOIN #room")
    cloak = state.cloak.host("198.51.100.7")
    net24 = cloak.split(".", 1)[1]
    op.send(f"MODE #room +b {mask.format(cloak=cloak, net24=net24)}")
    target = user_at(state, "target", address)
    assert numerics(target.send("JOIN #room"))[0] == ("474" if banned else "JOIN")


def test_a_ban_on_the_address_keeps_a_member_quiet():
    state = make_state()
    op = registered(state, "op")
    member = user_at(state, "member", "198.51.100.7")
    op.send("JOIN #room")
    member.send("JOIN #room")
    op.send("MODE #room +b *!*@198.51.100.7")
    member.take()
    assert numerics(member.send("PRIVMSG #room :hi")) == ["404"]
    assert numerics(member.send("NICK other")) == ["435"]


# -- the key ------------------------------------------------------------------------------------


def test_configured_key_gives_known_cloaks():
    state = make_state(cloak_key="a configured secret key")
    assert state.cloak.host("127.0.0.1") == Cloak(b"a configured secret key").host("127.0.0.1")
    assert state.store.get_meta(KEY_META) is None  # a configured key is not stored
    assert registered(make_state(), "x").user.host == HOST  # the tests' fixed key


def keyless_state(db: str) -> ServerState:
    """A state as `chatd` builds one with no cloak_key configured."""
    state = ServerState(build({"db": db, "flood_limit": False}), 1_700_000_000.0)
    state.set_clock(100.0, 1_700_000_000.0)
    return state


def test_generated_key_is_stored_and_survives_a_restart(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    first = keyless_state(db)
    stored = first.store.get_meta(KEY_META)
    assert stored is not None and len(stored) == 64  # 32 random bytes, hex
    shown = registered(first, "alice").user.host
    first.store.close()
    second = keyless_state(db)
    assert registered(second, "alice").user.host == shown
    second.store.close()
    third = keyless_state(str(tmp_path / "other.sqlite3"))
    assert registered(third, "alice").user.host != shown  # another server, another key
    third.store.close()


def test_cloaking_can_be_turned_off():
    state = make_state(cloak_hosts=False)
    alice = user_at(state, "alice", "198.51.100.7")
    assert alice.user.host == "198.51.100.7" and state.cloak is None
    assert "378" not in numerics(alice.send("WHOIS alice"))


def test_a_short_key_is_refused():
    with pytest.raises(ConfigError, match="cloak-key must be at least 16"):
        build({"cloak_key": "short"})


def test_a_cluster_needs_a_configured_key():
    """Every node applies the same connect events: with a key of its own, each would show
    another cloak for the same user, and the replicas would differ."""
    with pytest.raises(ConfigError, match="a cluster with cloak-hosts needs cloak-key"):
        build({"cluster_url": "redis://127.0.0.1:6379/0"})
    build({"cluster_url": "redis://127.0.0.1:6379/0", "cloak_key": "one key for the network"})
    build({"cluster_url": "redis://127.0.0.1:6379/0", "cloak_hosts": False})
