"""draft/channel-rename: RENAME with and without the capability (the spec's examples: the
RENAME line, and the PART/JOIN/332/333/353/366 fallback), what follows the channel (modes,
members, history, read markers, persistence), and each refusal."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N
from chatd.proto.caps import RENAME

from .account_helpers import PASSWORD, account_state, add_account, run
from .util import HOST, history_texts, make_state, msgs, numerics, registered


def world(**settings):
    state = make_state(**settings)
    nick = registered(state, "nick", [RENAME])
    modern = registered(state, "modern", [RENAME])
    old = registered(state, "old")
    for c in (nick, modern, old):
        c.send("JOIN #boaring")
    nick.send("TOPIC #boaring :Topic of the renamed channel")
    for c in (nick, modern, old):
        c.take()
    return state, nick, modern, old


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "RENAME #boaring #boring :Typo fix",
            f":nick!~u@{HOST} RENAME #boaring #boring :Typo fix",
        ),
        ("RENAME #boaring #boring", f":nick!~u@{HOST} RENAME #boaring #boring :"),
    ],
)
def test_rename_with_the_capability(line, expected):
    state, nick, modern, _ = world()
    assert msgs(nick.send(line)) == msgs([expected])
    assert msgs(modern.take()) == msgs([expected])
    assert state.find_channel("#boring") is not None and state.find_channel("#boaring") is None


def test_rename_fallback_for_clients_without_the_capability():
    state, nick, _, old = world()
    nick.send("RENAME #boaring #boring :Changing the channel name")
    channel = state.find_channel("#boring")
    assert msgs(old.take()) == msgs(
        [
            f":old!~u@{HOST} PART #boaring :Changing the channel name",
            f":old!~u@{HOST} JOIN #boring",
            ":chatd.local 332 old #boring :Topic of the renamed channel",
            f":chatd.local 333 old #boring nick!~u@{HOST} {channel.topic_at}",
            ":chatd.local 353 old = #boring :@nick modern old",
            ":chatd.local 366 old #boring :End of /NAMES list",
        ]
    )


def test_a_change_of_case_has_no_fallback():
    state, nick, modern, old = world()
    nick.send("RENAME #boaring #BOARING")
    assert numerics(modern.take()) == ["RENAME"]
    assert old.take() == []
    assert state.find_channel("#boaring").name == "#BOARING"


def test_everything_follows_the_channel():
    state, nick, modern, old = world()
    nick.send("MODE #boaring +m", "MODE #boaring +v modern", "PRIVMSG #boaring :before")
    modern.send("MARKREAD #boaring timestamp=2023-11-14T22:13:20.000Z")
    for c in (nick, modern, old):
        c.take()
    nick.send("RENAME #boaring #boring")
    old.take()  # the fallback
    channel = state.find_channel("#boring")
    assert "m" in channel.modes and channel.is_op(nick.user) and len(channel.members) == 3
    assert numerics(old.send("PRIVMSG #boring :x")) == [N.ERR_CANNOTSENDTOCHAN]  # still +m
    modern.send("PRIVMSG #boring :after")
    assert history_texts(modern, "#boring") == ["before", "after"]
    history = msgs(modern.send("CHATHISTORY LATEST #boring * 10"))
    assert {m.params[0] for m in history if m.command == "PRIVMSG"} == {"#boring"}
    assert msgs(modern.send("MARKREAD #boring"))[0].params[1].startswith("timestamp=2023")


@pytest.mark.single_process  # restarts the state on the same database
def test_a_persistent_channel_is_stored_under_its_new_name(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    state = make_state(db=db)
    nick = registered(state, "nick")
    nick.send("JOIN #old", "MODE #old +P", "RENAME #old #new")
    state.settle()
    state.store.close()
    again = make_state(db=db)
    assert again.find_channel("#new") is not None and again.find_channel("#old") is None


@pytest.mark.parametrize(
    ("who", "line", "expected"),
    [
        ("modern", "RENAME #boaring #aneki", "482 modern #boaring :You're not channel operator"),
        ("outsider", "RENAME #boaring #x", "442 outsider #boaring :You're not on that channel"),
        ("nick", "RENAME #nowhere #x", "403 nick #nowhere :No such channel"),
        ("nick", "RENAME #boaring", "461 nick RENAME :Not enough parameters"),
        (
            "nick",
            "RENAME #boaring #evil",
            "FAIL RENAME CHANNEL_NAME_IN_USE #boaring #evil :Channel already exists",
        ),
        (
            "nick",
            "RENAME #boaring local",
            "FAIL RENAME CANNOT_RENAME #boaring local :That is not a valid channel name",
        ),
        (
            "nick",
            "RENAME #boaring #boaring",
            "FAIL RENAME CANNOT_RENAME #boaring #boaring :That is its name already",
        ),
    ],
)
def test_rename_refusals(who, line, expected):
    state, nick, modern, old = world()
    outsider = registered(state, "outsider")
    outsider.send("JOIN #evil")
    clients = {"nick": nick, "modern": modern, "outsider": outsider}
    assert msgs(clients[who].send(line)) == msgs([":chatd.local " + expected])


@pytest.mark.single_process  # a fixed clock
def test_a_channel_is_renamed_at_most_once_per_cooldown():
    state, nick, _, _ = world(rename_cooldown=60.0)
    nick.send("RENAME #boaring #boring")
    assert msgs(nick.send("RENAME #boring #b3")) == msgs(
        [
            ":chatd.local FAIL RENAME CANNOT_RENAME #boring #b3 :This channel has been renamed recently"
        ]
    )
    state.set_clock(161.0, 1_700_000_061.0)
    assert numerics(nick.send("RENAME #boring #b3")) == ["RENAME"]


def test_rename_over_sockets(server):
    nick = server.client()
    nick.send("CAP REQ :draft/channel-rename", "NICK nick", "USER u 0 * :N", "CAP END")
    nick.expect_numeric("001")
    nick.join("#coding")
    other = server.client("other")
    other.join("#coding")
    nick.send("RENAME #coding #programming")
    assert nick.expect("RENAME").params == ["#coding", "#programming", ""]
    assert other.expect(" PART ").params == ["#coding"]
    assert other.expect(" JOIN ").params == ["#programming"]
    other.expect_numeric(N.RPL_ENDOFNAMES)
    other.send("PRIVMSG #programming :hello")
    assert nick.expect("PRIVMSG").params == ["#programming", "hello"]


@pytest.mark.single_process  # an account made in the state, its login carried out at once
def test_the_fallback_join_of_a_logged_in_member_names_its_account():
    state, fx = account_state()
    add_account(state, "acc")
    nick = registered(state, "nick", [RENAME])
    member = registered(state, "member", ["extended-join"])
    guest = registered(state, "guest", ["extended-join"])
    member.send(f"PRIVMSG NickServ :IDENTIFY acc {PASSWORD}")
    run(state, fx)
    assert member.user.account == "acc"
    for c in (nick, member, guest):
        c.send("JOIN #boaring")
    for c in (nick, member, guest):
        c.take()
    nick.send("RENAME #boaring #boring")
    joins = [m for m in msgs(member.take() + guest.take()) if m.command == "JOIN"]
    assert [(m.source.split("!")[0], m.params) for m in joins] == [
        ("member", ["#boring", "acc", "Real Name"]),
        ("guest", ["#boring", "*", "Real Name"]),
    ]
