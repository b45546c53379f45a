"""Channel history and persistence without sockets: CHATHISTORY (draft/chathistory), the replay
a client without it gets on JOIN, and persistent channels (+P) across a restart of the state."""

from __future__ import annotations

import pytest

from chatd.proto.message import Message

from .util import HOST, join_all, make_state, msgs, numerics, only, registered, room

HISTORY_CAPS = ("draft/chathistory", "batch", "server-time", "message-tags")


def talk(state, speaker, *texts: str, channel: str = "#room") -> None:
    for i, text in enumerate(texts):
        state.set_clock(100.0 + i, 1_700_000_000.0 + i)
        speaker.send(f"PRIVMSG {channel} :{text}")


def batch_body(lines: list[str]) -> tuple[list[str], list[Message]]:
    """The BATCH start params and the messages inside one batch, checking the framing."""
    m = msgs(lines)
    assert m[0].command == "BATCH" and m[0].params[0].startswith("+"), lines
    ref = m[0].params[0][1:]
    assert m[-1] == Message("BATCH", ["-" + ref], "chatd.local")
    body = m[1:-1]
    assert all(x.tags.get("batch") == ref for x in body)
    return m[0].params[1:], body


# -- CHATHISTORY --------------------------------------------------------------------------------


@pytest.mark.single_process  # fixed clock and timestamps
def test_chathistory_latest_in_a_batch_with_original_tags():
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    b = registered(state, "bob")
    join_all("#room", a, b)
    b.send("@+draft/reply=x PRIVMSG #room :one")
    talk(state, b, "two", "three")
    a.take()
    kind, body = batch_body(a.send("CHATHISTORY LATEST #room * 10"))
    assert kind == ["chathistory", "#room"]
    assert [(m.command, m.nick, m.params) for m in body] == [
        ("PRIVMSG", "bob", ["#room", "one"]),
        ("PRIVMSG", "bob", ["#room", "two"]),
        ("PRIVMSG", "bob", ["#room", "three"]),
    ]
    assert body[0].tags["+draft/reply"] == "x"
    assert body[1].tags["time"] == "2023-11-14T22:13:20.000Z"
    assert body[2].tags["time"] == "2023-11-14T22:13:21.000Z"
    assert len({m.tags["msgid"] for m in body}) == 3


@pytest.mark.single_process  # fixed clock and timestamps
def test_chathistory_limit_before_after_and_between():
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    join_all("#room", a)
    talk(state, a, *[str(i) for i in range(10)])
    _, everything = batch_body(a.send("CHATHISTORY LATEST #room * 100"))
    ids = [m.tags["msgid"] for m in everything]
    assert [m.params[1] for m in everything] == [str(i) for i in range(10)]

    def texts(line: str) -> list[str]:
        return [m.params[1] for m in batch_body(a.send(line))[1]]

    assert texts("CHATHISTORY LATEST #room * 3") == ["7", "8", "9"]
    assert texts(f"CHATHISTORY BEFORE #room msgid={ids[5]} 2") == ["3", "4"]
    assert texts(f"CHATHISTORY AFTER #room msgid={ids[5]} 2") == ["6", "7"]
    assert texts(f"CHATHISTORY BETWEEN #room msgid={ids[1]} msgid={ids[4]} 10") == ["2", "3"]
    assert texts(f"CHATHISTORY LATEST #room msgid={ids[7]} 10") == ["8", "9"]
    assert texts("CHATHISTORY AFTER #room timestamp=2023-11-14T22:13:27.500Z 5") == ["8", "9"]
    assert texts("CHATHISTORY AFTER #room msgid=unknown 5") == []


@pytest.mark.single_process  # fixed clock and timestamps
def test_chathistory_limit_is_capped_by_config():
    state = make_state(chathistory_max=3)
    a = registered(state, "alice", HISTORY_CAPS)
    join_all("#room", a)
    talk(state, a, *"abcdef")
    assert len(batch_body(a.send("CHATHISTORY LATEST #room * 100"))[1]) == 3


@pytest.mark.parametrize(
    "line,code",
    [
        ("CHATHISTORY", "NEED_MORE_PARAMS"),
        ("CHATHISTORY LATEST #room", "NEED_MORE_PARAMS"),
        ("CHATHISTORY SIDEWAYS #room * 5", "UNKNOWN_COMMAND"),
        ("CHATHISTORY LATEST #room * 0", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #room * many", "INVALID_PARAMS"),
        ("CHATHISTORY BEFORE #room * 5", "INVALID_PARAMS"),  # * only for LATEST
        ("CHATHISTORY BEFORE #room id=x 5", "INVALID_PARAMS"),
        ("CHATHISTORY LATEST #elsewhere * 5", "INVALID_TARGET"),  # not a member
        ("CHATHISTORY LATEST #nowhere * 5", "INVALID_TARGET"),
    ],
)
def test_chathistory_errors_are_standard_replies(line, code):
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    join_all("#room", a)
    registered(state, "bob").send("JOIN #elsewhere", "PRIVMSG #elsewhere :private")
    (fail,) = msgs(a.send(line))
    assert fail.command == "FAIL" and fail.params[:2] == ["CHATHISTORY", code]


def test_private_messages_are_not_stored():
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    b = registered(state, "bob")
    b.send("PRIVMSG alice :secret")
    a.take()
    kind, body = batch_body(a.send("CHATHISTORY LATEST bob * 10"))
    assert kind == ["chathistory", "bob"] and body == []


def test_notices_are_stored_and_tagmsg_is_not():
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    join_all("#room", a)
    a.send("NOTICE #room :a notice", "@+typing=active TAGMSG #room", "PRIVMSG #room :text")
    _, body = batch_body(a.send("CHATHISTORY LATEST #room * 10"))
    assert [m.command for m in body] == ["NOTICE", "PRIVMSG"]


@pytest.mark.single_process  # fixed clock and timestamps
def test_chathistory_targets():
    state = make_state()
    a = registered(state, "alice", HISTORY_CAPS)
    join_all("#a", a)
    join_all("#b", a)
    talk(state, a, "x", channel="#a")
    state.set_clock(110.0, 1_700_000_010.0)
    a.send("PRIVMSG #b :y")
    kind, body = batch_body(
        a.send(
            "CHATHISTORY TARGETS timestamp=2023-11-14T00:00:00.000Z "
            "timestamp=2023-11-15T00:00:00.000Z 10"
        )
    )
    assert kind == ["draft/chathistory-targets"]
    assert [m.params[:2] for m in body] == [["TARGETS", "#a"], ["TARGETS", "#b"]]
    assert body[1].params[2] == "timestamp=2023-11-14T22:13:30.000Z"


# -- replay on JOIN -----------------------------------------------------------------------------


@pytest.mark.single_process  # fixed clock and timestamps
def test_plain_client_gets_a_marked_replay_on_join():
    state = make_state()
    (a,) = room(state, "alice")
    talk(state, a, "first", "\x01ACTION waves\x01")
    b = registered(state, "bob")
    lines = b.send("JOIN #room")
    assert numerics(lines)[:3] == ["JOIN", "353", "366"]
    replay = msgs(lines)[3:]
    assert replay[0] == Message(
        "NOTICE", ["#room", "Replaying the last 2 messages (times in UTC)"], "chatd.local"
    )
    assert replay[1].nick == "alice" and replay[1].params == ["#room", "[22:13:20] first"]
    assert replay[2].params[1] == "\x01ACTION [22:13:21] waves\x01"  # CTCP framing kept
    assert replay[3] == Message("NOTICE", ["#room", "End of replay"], "chatd.local")


@pytest.mark.single_process  # fixed clock and timestamps
def test_replay_is_a_batch_for_batch_and_server_time_clients():
    state = make_state()
    (a,) = room(state, "alice")
    talk(state, a, "hello")
    b = registered(state, "bob", ["batch", "server-time"])
    lines = b.send("JOIN #room")
    kind, body = batch_body(lines[3:])
    assert kind == ["chathistory", "#room"]
    assert [m.params[1] for m in body] == ["hello"]


@pytest.mark.single_process  # fixed clock and timestamps
def test_no_replay_for_chathistory_clients_or_when_turned_off():
    state = make_state()
    (a,) = room(state, "alice")
    talk(state, a, "hello")
    b = registered(state, "bob", HISTORY_CAPS)
    assert numerics(b.send("JOIN #room")) == ["JOIN", "353", "366"]
    off = make_state(history_replay=0)
    (c,) = room(off, "carol")
    talk(off, c, "hello")
    d = registered(off, "dave")
    assert numerics(d.send("JOIN #room")) == ["JOIN", "353", "366"]


@pytest.mark.single_process  # fixed clock and timestamps
def test_replay_is_bounded_by_history_replay():
    state = make_state(history_replay=2)
    (a,) = room(state, "alice")
    talk(state, a, "1", "2", "3")
    b = registered(state, "bob")
    texts = [m.params[1] for m in only(b.send("JOIN #room"), "PRIVMSG")]
    assert texts == ["[22:13:21] 2", "[22:13:22] 3"]


def test_history_of_a_destroyed_channel_is_not_handed_to_its_next_creator():
    state = make_state()
    a, b = room(state, "alice", "bob", channel="#private")
    a.send("MODE #private +sik secret", "PRIVMSG #private :the password is swordfish")
    a.send("PART #private")
    b.send("PART #private")
    assert state.find_channel("#private") is None
    eve = registered(state, "eve")
    assert "PRIVMSG" not in numerics(eve.send("JOIN #private"))  # no replay
    asker = registered(state, "asker", HISTORY_CAPS)
    asker.send("JOIN #private")
    _, body = batch_body(asker.send("CHATHISTORY LATEST #private * 10"))
    assert body == []


# -- persistent channels (+P) -------------------------------------------------------------------


def test_persistent_channel_outlives_its_members():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +P", "TOPIC #room :kept", "MODE #room +k key")
    a.send("PART #room")
    channel = state.find_channel("#room")
    assert channel is not None and not channel.members
    b = registered(state, "bob")
    listed = only(b.send("LIST"), "322")
    assert [m.params[1:3] for m in listed] == [["#room", "0"]]
    assert numerics(b.send("JOIN #room")) == ["475"]
    lines = b.send("JOIN #room key")
    assert numerics(lines)[:3] == ["JOIN", "332", "333"]
    assert channel.is_op(b.user)  # the first to join an empty persistent channel runs it
    b.send("MODE #room -P")
    b.send("PART #room")
    assert state.find_channel("#room") is None


def test_minus_p_on_an_empty_channel_forgets_it():
    state = make_state(opers={})
    (a,) = room(state, "alice")
    a.send("MODE #room +P", "PART #room")
    assert state.find_channel("#room") is not None
    # nobody is left to send -P from inside; an IRC operator could. Here: rejoin, then leave.
    a.send("JOIN #room", "MODE #room -P", "PART #room")
    assert state.find_channel("#room") is None


@pytest.mark.single_process  # fixed clock and timestamps
def test_persistent_channels_survive_a_restart(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    first = make_state(db=db)
    (a,) = room(first, "alice")
    a.send(
        "MODE #room +Pntl 7",
        "TOPIC #room :still here",
        "MODE #room +k sesame",
        "MODE #room +b bad!*@*",
    )
    talk(first, a, "remember me")
    a.send("JOIN #transient")
    a.take()  # settles: everything is committed
    first.store.close()

    second = make_state(db=db)
    channel = second.find_channel("#ROOM")
    assert channel is not None and second.find_channel("#transient") is None
    assert channel.topic == "still here" and channel.topic_by == f"alice!~u@{HOST}"
    assert channel.modes >= {"P", "n", "t"} and channel.limit == 7
    assert channel.password == "sesame"
    assert [ban.mask for ban in channel.bans] == ["bad!*@*"]
    b = registered(second, "bob", HISTORY_CAPS)
    b.send("JOIN #room sesame")
    _, body = batch_body(b.send("CHATHISTORY LATEST #room * 10"))
    assert [m.params[1] for m in body] == ["remember me"]
    second.store.close()


@pytest.mark.single_process  # a restart of one process
def test_stored_bans_too_long_for_a_367_are_dropped_on_restore(tmp_path):
    from chatd.store import ChannelRecord, Store

    db = str(tmp_path / "chatd.sqlite3")
    store = Store(db)
    long_mask = "x!y@" + "*" * 400  # stored by a chatd that did not bound masks
    bans = [("ok!*@*", "alice!~u@h", 1), (long_mask, "alice!~u@h", 2)]
    store.save_channel(ChannelRecord("#old", "#old", 1, modes="Pnt", bans=bans))
    store.settle(0.0, 0.0)
    store.close()
    state = make_state(db=db)
    assert [ban.mask for ban in state.find_channel("#old").bans] == ["ok!*@*"]
    state.store.close()


def test_persist_all_channels_setting():
    state = make_state(persist_all_channels=True)
    (a,) = room(state, "alice")
    assert "P" in state.find_channel("#room").modes
    a.send("PART #room")
    assert state.find_channel("#room") is not None


def test_persistent_channels_by_channel_operators_are_bounded():
    from ircclient import Scripted, make_state

    state = make_state(max_persistent_channels=2)
    c = Scripted(state)
    c.register("founder")
    for name in ("#a", "#b", "#c"):
        c.send(f"JOIN {name}")
    c.take()
    assert any(" MODE #a +P" in l for l in c.send("MODE #a +P"))
    assert any(" MODE #b +P" in l for l in c.send("MODE #b +P"))
    refused = c.send("MODE #c +P")
    assert any("FAIL MODE LIMIT_REACHED #c" in l for l in refused)
    assert "P" not in state.find_channel("#c").modes
