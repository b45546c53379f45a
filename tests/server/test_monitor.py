"""MONITOR (730-734) and extended-monitor: the examples of the IRCv3 monitor spec as a table,
the notices on sign-on, nick change and quit, the list limit, and extended-monitor with and
without its capability."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N

from .account_helpers import (
    ITERATIONS,
    PASSWORD,
    account_state,
    add_account,
    plain,
    run,
    sasl_client,
)
from .util import HOST, Scripted, make_state, msgs, numerics, only, registered


def world(**settings):
    state = make_state(**settings)
    watcher = registered(state, "watcher")
    bob = registered(state, "bob")
    return state, watcher, bob


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            ["MONITOR + bob,carol"],
            [f"730 watcher :bob!~u@{HOST}", "731 watcher :carol"],
        ),
        (["MONITOR + bob", "MONITOR + BOB"], []),  # already there: nothing to add
        (["MONITOR + bob,carol", "MONITOR - bob,carol"], []),  # removing answers nothing
        (["MONITOR + bob,carol", "MONITOR C"], []),
        (
            ["MONITOR + bob,carol", "MONITOR L"],
            ["732 watcher :bob,carol", "733 watcher :End of MONITOR list"],
        ),
        (
            ["MONITOR + bob,carol", "MONITOR - carol", "MONITOR L"],
            ["732 watcher :bob", "733 watcher :End of MONITOR list"],
        ),
        (["MONITOR + bob", "MONITOR C", "MONITOR L"], ["733 watcher :End of MONITOR list"]),
        (
            ["MONITOR + bob,carol", "MONITOR S"],
            [f"730 watcher :bob!~u@{HOST}", "731 watcher :carol"],
        ),
        (["MONITOR + 9bad,bob"], [f"730 watcher :bob!~u@{HOST}"]),  # nicks only
        (["MONITOR +"], ["461 watcher MONITOR :Not enough parameters"]),
        (["MONITOR X"], ["400 watcher MONITOR X :Unknown MONITOR modifier"]),
    ],
)
def test_monitor_commands(lines, expected):
    """What the last of `lines` is answered with, after the others."""
    _, watcher, _ = world()
    *setup, last = lines
    for line in setup:
        watcher.send(line)
    assert msgs(watcher.send(last)) == msgs([":chatd.local " + e for e in expected])


def test_monitor_replies_exactly():
    _, watcher, _ = world()
    assert msgs(watcher.send("MONITOR + bob,carol")) == msgs(
        [f":chatd.local 730 watcher :bob!~u@{HOST}", ":chatd.local 731 watcher :carol"]
    )
    assert watcher.send("MONITOR - carol") == []
    assert msgs(watcher.send("MONITOR L")) == msgs(
        [":chatd.local 732 watcher :bob", ":chatd.local 733 watcher :End of MONITOR list"]
    )
    assert watcher.send("MONITOR C") == []
    assert numerics(watcher.send("MONITOR S")) == []


def test_signon_nick_change_and_quit_reach_the_watchers():
    state, watcher, bob = world()
    watcher.send("MONITOR + carol,bob,bobby")
    carol = Scripted(state)
    carol.register("carol")
    assert msgs(watcher.take()) == msgs([f":chatd.local 730 watcher :carol!~u@{HOST}"])
    bob.send("NICK bobby")
    assert msgs(watcher.take()) == msgs(
        [":chatd.local 731 watcher :bob", f":chatd.local 730 watcher :bobby!~u@{HOST}"]
    )
    bob.send("NICK BOBBY")  # a change of case only: still online
    assert watcher.take() == []
    carol.send("QUIT :bye")
    assert msgs(watcher.take()) == msgs([":chatd.local 731 watcher :carol"])


@pytest.mark.single_process  # looks at the state's watcher table
def test_a_gone_watcher_is_forgotten():
    state, watcher, bob = world()
    watcher.send("MONITOR + bob")
    watcher.send("QUIT")
    assert "bob" not in state.watchers
    bob.send("NICK bobby")  # nothing to tell anyone


def test_the_list_is_bounded():
    _, watcher, _ = world(monitor_max=2)
    assert msgs(watcher.send("MONITOR + a,b,c,d")) == msgs(
        [
            ":chatd.local 734 watcher 2 c,d :Monitor list is full.",
            ":chatd.local 731 watcher :a,b",
        ]
    )
    assert numerics(watcher.send("MONITOR + a")) == []  # already there: no room needed
    assert numerics(watcher.send("MONITOR + e")) == [N.ERR_MONLISTFULL]


def test_monitor_is_advertised():
    state = make_state(monitor_max=7)
    c = registered(state, "c")
    tokens = " ".join(" ".join(m.params[1:-1]) for m in only(c.send("VERSION"), N.RPL_ISUPPORT))
    assert "MONITOR=7" in tokens.split()


def test_long_lists_are_split_into_lines():
    state = make_state(monitor_max=200)
    watcher = registered(state, "watcher")
    nicks = [f"nick{i:03d}longername" for i in range(100)]
    for i in range(0, 100, 20):
        watcher.send("MONITOR + " + ",".join(nicks[i : i + 20]))
    for command, numeric in (("L", N.RPL_MONLIST), ("S", N.RPL_MONOFFLINE)):
        lines = watcher.send(f"MONITOR {command}")
        listed = only(lines, numeric)
        assert len(listed) > 1 and all(len(line) <= 512 for line in lines)
        assert [n for m in listed for n in m.params[1].split(",")] == nicks


# -- extended-monitor -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caps", "gets"),
    [
        (("extended-monitor", "away-notify", "setname"), True),
        (("away-notify", "setname"), False),  # without extended-monitor
        (("extended-monitor",), False),  # without the notify capabilities
    ],
)
def test_extended_monitor_reports_away_and_setname(caps, gets):
    state = make_state()
    watcher = registered(state, "watcher", list(caps))
    bob = registered(state, "bob", ["setname"])
    watcher.send("MONITOR + bob")
    bob.send("AWAY :lunch")
    bob.send("SETNAME :Robert")
    expected = [f":bob!~u@{HOST} AWAY :lunch", f":bob!~u@{HOST} SETNAME :Robert"]
    assert msgs(watcher.take()) == (msgs(expected) if gets else [])


def test_extended_monitor_does_not_repeat_what_a_shared_channel_told():
    state = make_state()
    watcher = registered(state, "watcher", ["extended-monitor", "away-notify"])
    bob = registered(state, "bob")
    watcher.send("MONITOR + bob", "JOIN #room")
    bob.send("JOIN #room")
    watcher.take()
    bob.send("AWAY :lunch")
    assert msgs(watcher.take()) == msgs([f":bob!~u@{HOST} AWAY :lunch"])  # once


def test_monitor_over_sockets(server):
    watcher = server.client("watcher")
    watcher.send("MONITOR + friend")
    watcher.expect_numeric(N.RPL_MONOFFLINE)
    friend = server.client("friend")
    assert watcher.expect_numeric(N.RPL_MONONLINE).params[1].startswith("friend!")
    friend.send("QUIT")
    assert watcher.expect_numeric(N.RPL_MONOFFLINE).params[1] == "friend"


# -- extended-monitor with accounts -------------------------------------------------------------

ACCOUNT_CAPS = ["extended-monitor", "account-notify"]


@pytest.mark.single_process  # accounts made in the state, deferred work carried out at once
@pytest.mark.parametrize(
    ("caps", "gets"),
    [
        (ACCOUNT_CAPS, True),
        (["account-notify"], False),  # without extended-monitor
        (["extended-monitor"], False),  # without account-notify
    ],
)
def test_extended_monitor_reports_logins_and_logouts(caps, gets):
    state, fx = account_state()
    add_account(state, "bob")
    watcher = registered(state, "watcher", caps)
    bob = registered(state, "bob")
    watcher.send("MONITOR + bob")
    bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    run(state, fx)
    assert bob.user.account == "bob"
    logged_in = msgs(watcher.take())
    bob.send("PRIVMSG NickServ :LOGOUT")
    logged_out = msgs(watcher.take())
    if gets:
        assert logged_in == msgs([f":bob!~u@{HOST} ACCOUNT bob"])
        assert logged_out == msgs([f":bob!~u@{HOST} ACCOUNT *"])
    else:
        assert logged_in == logged_out == []


@pytest.mark.single_process
def test_an_account_change_seen_through_a_channel_is_not_repeated():
    state, fx = account_state()
    add_account(state, "bob")
    watcher = registered(state, "watcher", ACCOUNT_CAPS)
    bob = registered(state, "bob")
    watcher.send("MONITOR + bob", "JOIN #room")
    bob.send("JOIN #room")
    watcher.take()
    bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    run(state, fx)
    assert msgs(watcher.take()) == msgs([f":bob!~u@{HOST} ACCOUNT bob"])  # once


@pytest.mark.single_process
def test_the_730_after_a_sasl_login_carries_the_account():
    """A user who logged in with SASL before registering: extended-monitor watchers get the
    730 and then the account (account-notify), as extended-join would tell a channel."""
    state, fx = account_state()
    add_account(state, "bob")
    watcher = registered(state, "watcher", ACCOUNT_CAPS)
    plain_watcher = registered(state, "plainwatcher", ["account-notify"])
    watcher.send("MONITOR + bob")
    plain_watcher.send("MONITOR + bob")
    bob = sasl_client(state, "bob")
    bob.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("bob", PASSWORD))
    run(state, fx)
    bob.send("CAP END")
    assert bob.user.registered and bob.user.account == "bob"
    assert msgs(watcher.take()) == msgs(
        [f":chatd.local 730 watcher :bob!~u@{HOST}", f":bob!~u@{HOST} ACCOUNT bob"]
    )
    assert msgs(plain_watcher.take()) == msgs([f":chatd.local 730 plainwatcher :bob!~u@{HOST}"])


@pytest.mark.single_process
def test_monitor_add_and_status_show_the_account_and_away():
    state, fx = account_state()
    add_account(state, "bob")
    bob = registered(state, "bob")
    bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}", "AWAY :lunch")
    run(state, fx)
    watcher = registered(state, "watcher", [*ACCOUNT_CAPS, "away-notify"])
    expected = [
        f":chatd.local 730 watcher :bob!~u@{HOST}",
        f":bob!~u@{HOST} ACCOUNT bob",
        f":bob!~u@{HOST} AWAY :lunch",
    ]
    assert msgs(watcher.send("MONITOR + bob")) == msgs(expected)
    assert msgs(watcher.send("MONITOR S")) == msgs(expected)
    watcher.send("JOIN #room")
    bob.send("JOIN #room")
    watcher.take()
    assert msgs(watcher.send("MONITOR S")) == msgs(expected[:1])  # the channel told it


def test_extended_monitor_account_notify_over_sockets(server_factory):
    """On one process and on the cluster (the watcher, the user and the login on different
    nodes): ACCOUNT reaches a watcher that shares no channel, and a later 730 carries it."""
    server = server_factory(flood_limit=False, scram_iterations=ITERATIONS)
    watcher = server.client()
    watcher.send(
        "CAP REQ :extended-monitor account-notify", "NICK watcher", "USER u 0 * :W", "CAP END"
    )
    watcher.expect_numeric("001")
    watcher.send("MONITOR + bob")
    watcher.expect_numeric(N.RPL_MONOFFLINE)
    bob = server.client("bob")
    watcher.expect_numeric(N.RPL_MONONLINE)
    bob.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    bob.expect_numeric("900")
    assert watcher.expect(" ACCOUNT ").params == ["bob"]
    bob.send("PRIVMSG NickServ :LOGOUT")
    assert watcher.expect(" ACCOUNT ").params == ["*"]
    bob.send(f"PRIVMSG NickServ :IDENTIFY {PASSWORD}")
    bob.expect_numeric("900")
    assert watcher.expect(" ACCOUNT ").params == ["bob"]
    late = server.client()
    late.send("CAP REQ :extended-monitor account-notify", "NICK late", "USER u 0 * :L", "CAP END")
    late.expect_numeric("001")
    late.send("MONITOR + bob")
    late.expect_numeric(N.RPL_MONONLINE)
    account = late.expect(" ACCOUNT ")
    assert (account.source.split("!")[0], account.params) == ("bob", ["bob"])
