"""Channel commands without sockets: JOIN (keys, several channels, 0), PART, TOPIC, NAMES, LIST,
KICK, INVITE, and a nick change seen once by peers sharing several channels."""

from __future__ import annotations

import pytest

from .util import HOST, make_state, msgs, numerics, one, only, registered, room


def test_join_creates_channel_with_creator_as_op():
    state = make_state()
    a = registered(state, "alice")
    lines = a.send("JOIN #Room")
    assert numerics(lines) == ["JOIN", "353", "366"]
    join, names, end = msgs(lines)
    assert join.source == f"alice!~u@{HOST}" and join.params == ["#Room"]
    assert names.params == ["alice", "=", "#Room", "@alice"]
    assert end.params == ["alice", "#Room", "End of /NAMES list"]
    channel = state.find_channel("#room")
    assert channel is not None and channel.name == "#Room" and channel.is_op(a.user)
    assert channel.modes == {"n", "t"}


@pytest.mark.single_process  # fixed clock and timestamps
def test_second_joiner_is_announced_to_members_and_gets_topic():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("TOPIC #room :Today: tests")
    a.take()
    b = registered(state, "bob")
    lines = b.send("JOIN #ROOM")  # channel names compare casefolded
    assert numerics(lines) == ["JOIN", "332", "333", "353", "366"]
    m = msgs(lines)
    assert m[0].params == ["#room"]  # the channel keeps its original spelling
    assert m[1].params == ["bob", "#room", "Today: tests"]
    assert m[2].params[:3] == ["bob", "#room", f"alice!~u@{HOST}"]
    assert m[2].params[3] == "1700000000"
    assert m[3].params[3].split() == ["@alice", "bob"]
    assert [x.source for x in msgs(a.take())] == [f"bob!~u@{HOST}"]


def test_join_twice_is_silent():
    state = make_state()
    (a,) = room(state, "alice")
    assert a.send("JOIN #room") == []


def test_join_several_channels_with_keys():
    state = make_state()
    a = registered(state, "alice")
    a.send("JOIN #a,#b,#c")
    a.send("MODE #a +k ka", "MODE #b +k kb")
    b = registered(state, "bob")
    lines = b.send("JOIN #a,#b,#c,#new ka,wrong")
    joined = [m.params[0] for m in only(lines, "JOIN")]
    assert joined == ["#a", "#c", "#new"]
    assert one(lines, "475").params[:2] == ["bob", "#b"]
    assert {c.name for c in b.user.channels} == {"#a", "#c", "#new"}


def test_join_zero_parts_everything():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("JOIN #other")
    lines = a.send("JOIN 0")
    parts = only(lines, "PART")
    assert sorted(p.params[0] for p in parts) == ["#other", "#room"]
    assert not a.user.channels
    assert state.find_channel("#other") is None  # emptied channels disappear
    assert msgs(b.take())[0].command == "PART"


def test_part_with_reason_and_without():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    lines = b.send("PART #room :gone for lunch")
    assert msgs(lines) == msgs([f":bob!~u@{HOST} PART #room :gone for lunch"])
    assert msgs(a.take()) == msgs(lines) == msgs(c.take())
    assert msgs(c.send("PART #room")) == msgs([f":carol!~u@{HOST} PART #room"])
    assert set(state.find_channel("#room").members) == {a.user}


def test_part_several_channels_with_errors():
    state = make_state()
    a = registered(state, "alice")
    a.send("JOIN #a,#b")
    registered(state, "bob").send("JOIN #c")
    lines = a.send("PART #a,#nope,#c,#b :bye")
    assert numerics(lines) == ["PART", "403", "442", "PART"]


# -- TOPIC --------------------------------------------------------------------------------------


def test_topic_query_set_and_clear():
    state = make_state()
    a, b = room(state, "alice", "bob")
    assert numerics(b.send("TOPIC #room")) == ["331"]
    lines = a.send("TOPIC #room :New topic here")
    assert msgs(lines) == msgs([f":alice!~u@{HOST} TOPIC #room :New topic here"])
    assert msgs(b.take()) == msgs(lines)
    got = b.send("TOPIC #room")
    assert numerics(got) == ["332", "333"]
    assert msgs(got)[0].params == ["bob", "#room", "New topic here"]
    outsider = registered(state, "carol")
    assert numerics(outsider.send("TOPIC #room")) == ["332", "333"]
    a.send("TOPIC #room :")
    assert numerics(b.send("TOPIC #room")) == ["TOPIC", "331"]


def test_topic_protection_plus_t():
    state = make_state()
    a, b = room(state, "alice", "bob")
    refused = b.send("TOPIC #room :mine")
    assert numerics(refused) == ["482"]
    assert msgs(refused)[0].params[:2] == ["bob", "#room"]
    assert state.find_channel("#room").topic == ""
    a.send("MODE #room -t")
    b.take()
    assert numerics(b.send("TOPIC #room :mine")) == ["TOPIC"]
    assert one(a.take(), "TOPIC").params == ["#room", "mine"]
    a.send("MODE #room +t", "MODE #room +v bob")
    assert numerics(b.send("TOPIC #room :voice is not enough")) == ["MODE", "MODE", "482"]


def test_topic_of_secret_channel_hidden_from_outsiders():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +s", "TOPIC #room :secret plans")
    outsider = registered(state, "eve")
    assert numerics(outsider.send("TOPIC #room")) == ["442"]


# -- NAMES, LIST --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "caps,expected",
    [
        ((), ["@alice", "+bob", "carol"]),
        (("multi-prefix",), ["@+alice", "+bob", "carol"]),
        (
            ("userhost-in-names",),
            [f"@alice!~u@{HOST}", f"+bob!~u@{HOST}", f"carol!~u@{HOST}"],
        ),
        (
            ("multi-prefix", "userhost-in-names"),
            [f"@+alice!~u@{HOST}", f"+bob!~u@{HOST}", f"carol!~u@{HOST}"],
        ),
    ],
)
def test_names_prefixes(caps, expected):
    state = make_state()
    a, _b, _c = room(state, "alice", "bob", "carol")
    a.send("MODE #room +vv alice bob")
    viewer = registered(state, "dave", caps)
    lines = viewer.send("NAMES #room")
    assert numerics(lines) == ["353", "366"]
    assert sorted(msgs(lines)[0].params[3].split()) == sorted(expected)


def test_names_hides_invisible_and_secret_from_outsiders():
    state = make_state()
    a, b = room(state, "alice", "bob")
    b.send("MODE bob +i")
    outsider = registered(state, "eve")
    assert msgs(outsider.send("NAMES #room"))[0].params[-1] == "@alice"
    assert sorted(msgs(a.send("NAMES #room"))[0].params[-1].split()) == ["@alice", "bob"]
    a.send("MODE #room +s")
    assert numerics(outsider.send("NAMES #room")) == ["366"]
    assert msgs(a.send("NAMES #room"))[0].params[1] == "@"  # the secret channel symbol


def test_names_without_channel_and_unknown_channel():
    state = make_state()
    a = registered(state, "alice")
    assert msgs(a.send("NAMES")) == msgs([":chatd.local 366 alice * :End of /NAMES list"])
    assert msgs(a.send("NAMES #nope"))[0].params[:2] == ["alice", "#nope"]


def test_names_splits_long_lists():
    state = make_state()
    clients = room(state, *[f"user{i:02d}_{'x' * 20}" for i in range(40)])
    lines = clients[0].send("NAMES #room")
    replies = only(lines, "353")
    assert len(replies) > 1
    assert all(len(line.encode()) <= 512 for line in lines)
    names = [n for r in replies for n in r.params[3].split()]
    assert len(names) == 40


def test_list():
    state = make_state()
    a, _b = room(state, "alice", "bob")
    a.send("TOPIC #room :chat here")
    registered(state, "carol").send("JOIN #secret", "MODE #secret +s")
    registered(state, "dave").send("JOIN #empty-topic")
    lines = a.send("LIST")
    assert numerics(lines)[0] == "321" and numerics(lines)[-1] == "323"
    listed = {m.params[1]: m.params[2:] for m in only(lines, "322")}
    assert listed == {"#room": ["2", "[+nt] chat here"], "#empty-topic": ["1", "[+nt] "]}
    one_only = a.send("LIST #ROOM,#nothing")
    assert [m.params[1] for m in only(one_only, "322")] == ["#room"]


# -- KICK ---------------------------------------------------------------------------------------


def test_kick_with_reason_and_default_reason():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    lines = a.send("KICK #room bob :behave")
    assert msgs(lines) == msgs([f":alice!~u@{HOST} KICK #room bob :behave"])
    assert msgs(b.take()) == msgs(lines) and msgs(c.take()) == msgs(lines)
    assert b.user not in state.find_channel("#room").members
    assert not b.user.channels
    assert msgs(a.send("KICK #room carol"))[0].params == ["#room", "carol", "alice"]


def test_kick_several_targets():
    state = make_state()
    a, _b, _c = room(state, "alice", "bob", "carol")
    registered(state, "dave")
    lines = a.send("KICK #room bob,nobody,dave,carol :out")
    assert numerics(lines) == ["KICK", "401", "441", "KICK"]
    assert msgs(lines)[2].params[:3] == ["alice", "dave", "#room"]
    assert set(state.find_channel("#room").members) == {a.user}


def test_kick_needs_op_and_membership():
    state = make_state()
    a, b = room(state, "alice", "bob")
    outsider = registered(state, "eve")
    assert numerics(b.send("KICK #room alice")) == ["482"]
    assert numerics(outsider.send("KICK #room alice")) == ["442"]
    assert numerics(outsider.send("KICK #nope alice")) == ["403"]
    assert a.take() == []


def test_kick_yourself_out_of_your_own_channel():
    state = make_state()
    (a,) = room(state, "alice")
    assert numerics(a.send("KICK #room alice,alice")) == ["KICK"]
    assert state.find_channel("#room") is None


# -- INVITE -------------------------------------------------------------------------------------


def test_invite_lets_a_user_into_invite_only_channel_once():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +i")
    b = registered(state, "bob")
    assert numerics(b.send("JOIN #room")) == ["473"]
    lines = a.send("INVITE bob #room")
    assert msgs(lines) == msgs([":chatd.local 341 alice bob #room"])
    assert msgs(b.take()) == msgs([f":alice!~u@{HOST} INVITE bob #room"])
    assert numerics(b.send("JOIN #room")) == ["JOIN", "353", "366"]
    b.send("PART #room")
    assert numerics(b.send("JOIN #room")) == ["473"]  # the invitation was used up


def test_invite_overrides_ban_but_not_key():
    state = make_state()
    (a,) = room(state, "alice")
    b = registered(state, "bob")
    a.send("MODE #room +b bob", "INVITE bob #room")
    assert numerics(b.send("JOIN #room")) == ["INVITE", "JOIN", "353", "366"]
    b.send("PART #room")
    a.send("MODE #room +k key", "INVITE bob #room")
    assert numerics(b.send("JOIN #room")) == ["INVITE", "475"]


def test_invite_rules():
    state = make_state()
    a, b = room(state, "alice", "bob")
    c = registered(state, "carol")
    assert numerics(a.send("INVITE bob #room")) == ["443"]
    assert numerics(c.send("INVITE alice #room")) == ["442"]
    assert numerics(a.send("INVITE nobody #room")) == ["401"]
    assert numerics(a.send("INVITE carol #nope")) == ["403"]
    assert numerics(b.send("INVITE carol #room")) == ["341"]  # -i: any member may invite
    a.send("MODE #room +i")
    b.take()
    assert numerics(b.send("INVITE carol #room")) == ["482"]


def test_plain_members_invite_does_not_pass_a_ban():
    """Only a channel operator's invitation passes +b: a plain member of a -i channel may
    invite (the target is told) but cannot let a banned user in."""
    state = make_state()
    a, b = room(state, "alice", "bob")
    evil = registered(state, "evil")
    a.send("MODE #room +b evil!*@*")
    b.take()
    assert numerics(b.send("INVITE evil #room")) == ["341"]
    assert numerics(evil.take()) == ["INVITE"]
    assert numerics(evil.send("JOIN #room")) == ["474"]
    a.send("INVITE evil #room")
    assert numerics(evil.send("JOIN #room")) == ["INVITE", "JOIN", "353", "366"]


def test_plain_members_invite_does_not_pass_a_later_plus_i():
    state = make_state()
    a, b = room(state, "alice", "bob")
    c = registered(state, "carol")
    b.send("INVITE carol #room")
    a.send("MODE #room +i")
    assert numerics(c.send("JOIN #room"))[-1] == "473"


def test_full_invitation_set_evicts_the_oldest():
    """The invitation set holds max_channels entries: a new invitation evicts the oldest
    (it used to be dropped silently while the inviter got 341)."""
    state = make_state(max_channels=3)
    ops = [registered(state, f"op{i}") for i in range(4)]
    for i, op in enumerate(ops):
        op.send(f"JOIN #c{i}", f"MODE #c{i} +i")
    bob = registered(state, "bob")
    for i, op in enumerate(ops[:3]):
        assert numerics(op.send(f"INVITE bob #c{i}")) == ["341"]
    ops[0].send("INVITE bob #c0")  # invited again: #c0 is now the newest
    assert numerics(ops[3].send("INVITE bob #c3")) == ["341"]  # evicts #c1, the oldest
    bob.take()
    assert [c.name for c in bob.user.invited] == ["#c2", "#c0", "#c3"]
    assert numerics(bob.send("JOIN #c3"))[-1] == "366"
    assert numerics(bob.send("JOIN #c1")) == ["473"]
    assert numerics(bob.send("JOIN #c0"))[-1] == "366"


def test_invite_reports_away_target():
    state = make_state()
    (a,) = room(state, "alice")
    b = registered(state, "bob")
    b.send("AWAY :busy")
    lines = a.send("INVITE bob #room")
    assert numerics(lines) == ["341", "301"]
    assert msgs(lines)[1].params == ["alice", "bob", "busy"]


# -- nick changes -------------------------------------------------------------------------------


def test_nick_change_seen_once_by_each_peer_sharing_several_channels():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol", channel="#one")
    for x in (a, b):
        x.send("JOIN #two", "JOIN #three")
    outsider = registered(state, "dave")
    for x in (a, b, c):
        x.take()
    lines = a.send("NICK Alicia")
    expected = msgs([f":alice!~u@{HOST} NICK Alicia"])
    assert msgs(lines) == expected
    assert msgs(b.take()) == expected
    assert msgs(c.take()) == expected
    assert outsider.take() == []
    assert state.find_user("alicia") is a.user and state.find_user("alice") is None
    assert a.user.prefix == f"Alicia!~u@{HOST}"


def test_nick_case_change_and_same_nick():
    state = make_state()
    a, b = room(state, "alice", "bob")
    assert a.send("NICK alice") == []
    assert numerics(a.send("NICK ALICE")) == ["NICK"]
    assert numerics(b.take()) == ["NICK"]
    assert numerics(a.send("NICK Bob")) == ["433"]


def test_invitation_dies_with_its_channel():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +i")
    b = registered(state, "bob")
    a.send("INVITE bob #room", "PART #room")  # #room is gone
    assert state.find_channel("#room") is None
    c = registered(state, "carol")
    c.send("JOIN #room", "MODE #room +i")  # a new, invite-only #room that never invited bob
    assert numerics(b.send("JOIN #room"))[-1] == "473"


@pytest.mark.parametrize(
    "name", ["#", "lobby", "&local", "#a\x07b", "#zero\u200bwidth", "#" + "x" * 50]
)
def test_join_refuses_bad_channel_names(name):
    a = registered(make_state(), "alice")
    lines = a.send(f"JOIN {name}".encode())
    assert numerics(lines) == ["403"]
    assert not a.user.channels


@pytest.mark.parametrize("name", ["#" + "x" * 49, "#café", "#a.b-c_d", "##double"])
def test_join_accepts_good_channel_names(name):
    a = registered(make_state(), "alice")
    assert numerics(a.send(f"JOIN {name}".encode()))[0] == "JOIN"
