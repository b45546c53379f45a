"""The smaller IRCv3 extensions without sockets: extended-join, invite-notify, setname,
labeled-response (with and without batch), and CAP LS listing them."""

from __future__ import annotations

import pytest

from chatd.proto.message import Message

from .util import HOST, Scripted, join_all, make_state, msgs, numerics, one, registered, room


def test_cap_ls_lists_the_extensions():
    c = Scripted(make_state())
    caps = set(one(c.send("CAP LS 302"), "CAP").params[2].split())
    assert {
        "extended-join",
        "invite-notify",
        "setname",
        "labeled-response",
        "batch",
        "draft/chathistory",
    } <= caps


# -- extended-join ------------------------------------------------------------------------------


def test_extended_join_carries_account_and_realname():
    state = make_state()
    ext = registered(state, "ext", ["extended-join"])
    plain = registered(state, "plain")
    join_all("#room", ext, plain)
    joiner = Scripted(state)
    joiner.send("NICK carol", "USER c 0 * :Carol Jones")
    joiner.send("JOIN #room")
    assert msgs(ext.take()) == msgs([f":carol!~c@{HOST} JOIN #room * :Carol Jones"])
    assert msgs(plain.take()) == msgs([f":carol!~c@{HOST} JOIN #room"])


def test_extended_join_own_join():
    state = make_state()
    ext = registered(state, "ext", ["extended-join"])
    assert msgs(ext.send("JOIN #room"))[0].params == ["#room", "*", "Real Name"]


# -- invite-notify ------------------------------------------------------------------------------


def test_invite_notify_open_channel_tells_every_member_with_the_cap():
    state = make_state()
    a = registered(state, "alice")
    watcher = registered(state, "watcher", ["invite-notify"])
    plain = registered(state, "plain")
    join_all("#room", a, watcher, plain)
    registered(state, "bob")
    a.send("INVITE bob #room")
    assert msgs(watcher.take()) == msgs([f":alice!~u@{HOST} INVITE bob #room"])
    assert plain.take() == []


def test_invite_notify_invite_only_channel_tells_operators_only():
    state = make_state()
    a = registered(state, "alice")
    op_watcher = registered(state, "opw", ["invite-notify"])
    watcher = registered(state, "watcher", ["invite-notify"])
    join_all("#room", a, op_watcher, watcher)
    a.send("MODE #room +io opw")
    op_watcher.take()
    watcher.take()
    registered(state, "bob")
    a.send("INVITE bob #room")
    assert numerics(op_watcher.take()) == ["INVITE"]
    assert watcher.take() == []


# -- setname ------------------------------------------------------------------------------------


def test_setname_changes_realname_and_tells_cap_holders():
    state = make_state()
    a = registered(state, "alice", ["setname"])
    watcher = registered(state, "watcher", ["setname"])
    plain = registered(state, "plain")
    join_all("#room", a, watcher, plain)
    lines = a.send("SETNAME :Alice Cooper")
    assert msgs(lines) == msgs([f":alice!~u@{HOST} SETNAME :Alice Cooper"])
    assert msgs(watcher.take()) == msgs(lines)
    assert plain.take() == []
    assert one(plain.send("WHOIS alice"), "311").params[-1] == "Alice Cooper"


def test_setname_without_the_cap_is_silent_but_applies():
    state = make_state()
    a = registered(state, "alice")
    assert a.send("SETNAME :New Name") == []
    assert a.user.realname == "New Name"


@pytest.mark.parametrize("line", ["SETNAME :", "SETNAME :" + "x" * 201])
def test_setname_invalid(line):
    state = make_state()
    a = registered(state, "alice", ["setname"])
    (fail,) = msgs(a.send(line))
    assert fail.command == "FAIL" and fail.params[:2] == ["SETNAME", "INVALID_REALNAME"]
    assert a.user.realname == "Real Name"


def test_setname_needs_a_parameter():
    a = registered(make_state(), "alice")
    assert numerics(a.send("SETNAME")) == ["461"]


# -- labeled-response ---------------------------------------------------------------------------


def test_single_line_response_carries_the_label():
    a = registered(make_state(), "alice", ["labeled-response"])
    (pong,) = msgs(a.send("@label=abc PING tok"))
    assert pong.command == "PONG" and pong.tags == {"label": "abc"}


def test_no_response_is_an_ack():
    state = make_state()
    a = registered(state, "alice", ["labeled-response"])
    b = registered(state, "bob")
    assert msgs(a.send("@label=l2 PRIVMSG bob :hi")) == [
        Message("ACK", [], "chatd.local", {"label": "l2"})
    ]
    assert numerics(b.take()) == ["PRIVMSG"]


@pytest.mark.single_process  # changes the state directly
def test_several_lines_come_in_a_labeled_batch():
    state = make_state()
    (a,) = room(state, "alice")
    a.user.set_caps(frozenset({"labeled-response", "batch"}))
    m = msgs(a.send("@label=who1 WHO #room"))
    assert m[0].command == "BATCH" and m[0].tags == {"label": "who1"}
    ref = m[0].params[0][1:]
    assert m[0].params == ["+" + ref, "labeled-response"]
    assert [x.command for x in m[1:-1]] == ["352", "315"]
    assert all(x.tags == {"batch": ref} for x in m[1:-1])
    assert m[-1].params == ["-" + ref]


@pytest.mark.single_process  # changes the state directly
def test_several_lines_without_batch_label_the_first():
    state = make_state()
    (a,) = room(state, "alice")
    a.user.set_caps(frozenset({"labeled-response"}))
    m = msgs(a.send("@label=w WHO #room"))
    assert [x.command for x in m] == ["352", "315"]
    assert m[0].tags == {"label": "w"} and m[1].tags == {}


def test_echo_message_is_part_of_the_labeled_response():
    state = make_state()
    a = registered(state, "alice", ["labeled-response", "echo-message"])
    b = registered(state, "bob")
    join_all("#room", a, b)
    (echo,) = msgs(a.send("@label=e1 PRIVMSG #room :hello"))
    assert echo.command == "PRIVMSG" and echo.tags["label"] == "e1"
    assert msgs(b.take())[0].tags == {}  # other recipients never see the label


def test_label_ignored_without_the_cap():
    a = registered(make_state(), "alice")
    assert msgs(a.send("@label=x PING tok"))[0].tags == {}


def test_labeled_quit_still_closes():
    state = make_state()
    a = registered(state, "alice", ["labeled-response"])
    (error,) = msgs(a.send("@label=q QUIT :bye"))
    assert error.command == "ERROR" and error.tags == {"label": "q"}
    assert a.sink.closed
