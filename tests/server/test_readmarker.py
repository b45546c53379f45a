"""draft/read-marker: MARKREAD get and set (the spec's examples), the marker on JOIN with the
capability and not without, only forward and never past the clock, kept in the store across
connections and restarts, bounded per user."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N
from chatd.store import ms_to_iso

from .account_helpers import ITERATIONS, PASSWORD, account_state, add_account, run
from .util import HOST, make_state, msgs, numerics, registered

CAP = "draft/read-marker"
NOW_MS = 1_700_000_000_000  # make_state's wall clock
EARLIER = ms_to_iso(NOW_MS - 60_000)
EARLIEST = ms_to_iso(NOW_MS - 120_000)


def test_set_then_get_a_channel_marker():
    state = make_state()
    alice = registered(state, "alice", [CAP])
    alice.send("JOIN #channel")
    assert msgs(alice.send(f"MARKREAD #channel timestamp={EARLIER}")) == msgs(
        [f":chatd.local MARKREAD #channel timestamp={EARLIER}"]
    )
    assert msgs(alice.send("MARKREAD #channel")) == msgs(
        [f":chatd.local MARKREAD #channel timestamp={EARLIER}"]
    )


def test_get_for_a_user_target_without_a_marker_is_a_star():
    alice = registered(make_state(), "alice")
    assert msgs(alice.send("MARKREAD target")) == msgs([":chatd.local MARKREAD target *"])


@pytest.mark.parametrize(
    ("caps", "joined"),
    [
        ([CAP], [f":alice!~u@{HOST} JOIN #channel", ":chatd.local MARKREAD #channel *"]),
        ([], [f":alice!~u@{HOST} JOIN #channel"]),
    ],
)
def test_join_sends_the_marker_before_names_with_the_capability_only(caps, joined):
    state = make_state()
    alice = registered(state, "alice", caps)
    lines = alice.send("JOIN #channel")
    assert msgs(lines[: len(joined)]) == msgs(joined)
    assert numerics(lines[len(joined) :]) == [N.RPL_NAMREPLY, N.RPL_ENDOFNAMES]


def test_join_shows_the_stored_marker():
    state = make_state()
    alice = registered(state, "alice", [CAP])
    alice.send("JOIN #channel", f"MARKREAD #channel timestamp={EARLIER}", "PART #channel")
    lines = msgs(alice.send("JOIN #channel"))
    assert lines[1].params == ["#channel", f"timestamp={EARLIER}"]


def test_markers_only_move_forward():
    alice = registered(make_state(), "alice")
    alice.send(f"MARKREAD #a timestamp={EARLIER}")
    assert msgs(alice.send(f"MARKREAD #a timestamp={EARLIEST}"))[0].params == [
        "#a",
        f"timestamp={EARLIER}",
    ]  # older than the stored one: the stored one comes back


@pytest.mark.single_process  # a fixed clock
def test_markers_never_pass_the_clock():
    alice = registered(make_state(), "alice")
    later = msgs(alice.send("MARKREAD #a timestamp=2099-01-01T00:00:00.000Z"))[0]
    assert later.params == ["#a", f"timestamp={ms_to_iso(NOW_MS)}"]  # clamped to the clock


@pytest.mark.parametrize(
    ("line", "fail"),
    [
        ("MARKREAD", "FAIL MARKREAD NEED_MORE_PARAMS :Missing parameters"),
        ("MARKREAD #a *", "FAIL MARKREAD INVALID_PARAMS * :Invalid timestamp"),
        ("MARKREAD #a yesterday", "FAIL MARKREAD INVALID_PARAMS yesterday :Invalid timestamp"),
        (
            "MARKREAD #a timestamp=never",
            "FAIL MARKREAD INVALID_PARAMS timestamp=never :Invalid timestamp",
        ),
        ("MARKREAD 9bad", "FAIL MARKREAD INVALID_PARAMS 9bad :Invalid target"),
        ("MARKREAD :: x", "FAIL MARKREAD INVALID_PARAMS _x :Invalid target"),
    ],
)
def test_markread_errors(line, fail):
    alice = registered(make_state(), "alice")
    assert msgs(alice.send(line)) == msgs([":chatd.local " + fail])


def test_the_marker_outlives_the_connection():
    state = make_state()
    alice = registered(state, "alice", [CAP])
    alice.send(f"MARKREAD #a timestamp={EARLIER}")
    alice.send("QUIT")
    again = registered(state, "alice", [CAP])  # the same user, a new connection
    assert msgs(again.send("MARKREAD #a"))[0].params == ["#a", f"timestamp={EARLIER}"]


@pytest.mark.single_process  # restarts the state on the same database
def test_the_marker_outlives_the_process(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    state = make_state(db=db)
    alice = registered(state, "alice", [CAP])
    alice.send(f"MARKREAD #a timestamp={EARLIER}")
    state.settle()
    state.store.close()
    restarted = make_state(db=db)
    third = registered(restarted, "alice")
    assert msgs(third.send("MARKREAD #a"))[0].params == ["#a", f"timestamp={EARLIER}"]


def test_markers_are_private():
    state = make_state()
    alice, bob = registered(state, "alice", [CAP]), registered(state, "bob", [CAP])
    alice.send(f"MARKREAD #a timestamp={EARLIER}")
    assert bob.take() == []
    assert msgs(bob.send("MARKREAD #a"))[0].params == ["#a", "*"]


def test_an_owner_keeps_its_newest_markers():
    state = make_state(read_markers_max=2)
    alice = registered(state, "alice")
    alice.send(f"MARKREAD #old timestamp={EARLIEST}")
    alice.send(f"MARKREAD #b timestamp={EARLIER}")
    alice.send(f"MARKREAD #c timestamp={ms_to_iso(NOW_MS)}")
    assert msgs(alice.send("MARKREAD #old"))[0].params == ["#old", "*"]  # the oldest went
    assert msgs(alice.send("MARKREAD #b"))[0].params == ["#b", f"timestamp={EARLIER}"]


def test_markread_over_sockets(server):
    alice = server.client()
    alice.send("CAP REQ :draft/read-marker", "NICK alice", "USER u 0 * :A", "CAP END")
    alice.expect_numeric("001")
    alice.send("JOIN #r")
    assert alice.expect("MARKREAD").params == ["#r", "*"]
    alice.send(f"MARKREAD #r timestamp={EARLIER}")
    assert alice.expect("MARKREAD").params == ["#r", f"timestamp={EARLIER}"]


# -- markers of an account ------------------------------------------------------------------


def identified(state, fx, nick: str, account: str, caps=(CAP,)):
    c = registered(state, nick, list(caps))
    c.send(f"PRIVMSG NickServ :IDENTIFY {account} {PASSWORD}")
    run(state, fx)
    assert c.user.account == account, c.take()
    c.take()
    return c


@pytest.mark.single_process  # accounts made in the state, logins carried out at once
def test_an_accounts_connections_share_its_markers_across_nick_changes():
    state, fx = account_state()
    add_account(state, "alice")
    phone = identified(state, fx, "alice", "alice")
    laptop = identified(state, fx, "alice_laptop", "alice")
    update = f":chatd.local MARKREAD #a timestamp={EARLIER}"
    assert msgs(phone.send(f"MARKREAD #a timestamp={EARLIER}")) == msgs([update])
    assert msgs(laptop.take()) == msgs([update])  # the account's other connection is told
    laptop.send("NICK somebody")
    assert msgs(laptop.send("MARKREAD #a"))[0].params == ["#a", f"timestamp={EARLIER}"]
    phone.send("QUIT")
    again = identified(state, fx, "third", "alice")  # a new connection, another nick
    assert msgs(again.send("MARKREAD #a"))[0].params == ["#a", f"timestamp={EARLIER}"]


@pytest.mark.single_process
def test_an_unidentified_user_on_the_accounts_nick_does_not_see_its_markers():
    state, fx = account_state()
    add_account(state, "alice")
    owner = identified(state, fx, "owner", "alice")
    owner.send(f"MARKREAD #a timestamp={EARLIER}")
    impostor = registered(state, "alice", [CAP])  # the account's name, not logged in
    assert msgs(impostor.send("MARKREAD #a"))[0].params == ["#a", "*"]
    impostor.send(f"MARKREAD #b timestamp={EARLIEST}")
    assert owner.take() == []  # nor does the account hear about the impostor's
    assert msgs(owner.send("MARKREAD #b"))[0].params == ["#b", "*"]


@pytest.mark.single_process
def test_logging_in_and_out_changes_whose_markers_a_client_sees():
    state, fx = account_state()
    add_account(state, "alice")
    owner = identified(state, fx, "owner", "alice")
    owner.send(f"MARKREAD #a timestamp={EARLIER}")
    c = registered(state, "carol", [CAP])
    c.send("JOIN #a", f"MARKREAD #a timestamp={EARLIEST}")
    c.take()
    c.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    run(state, fx)
    assert [m.params for m in msgs(c.take()) if m.command == "MARKREAD"] == [
        ["#a", f"timestamp={EARLIER}"]  # the account's marker for the channel it is on
    ]
    lines = c.send("PRIVMSG NickServ :LOGOUT")
    assert [m.params for m in msgs(lines) if m.command == "MARKREAD"] == [
        ["#a", f"timestamp={EARLIEST}"]  # its nick's again
    ]


def test_an_accounts_markers_over_sockets(server_factory):
    """On one process and on the cluster (each connection on another node)."""
    server = server_factory(flood_limit=False, scram_iterations=ITERATIONS)
    first = server.client()
    first.send(f"CAP REQ :{CAP}", "NICK alice", "USER u 0 * :A", "CAP END")
    first.expect_numeric("001")
    first.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    first.expect_numeric("900")
    second = server.client()
    second.send(f"CAP REQ :{CAP}", "NICK other", "USER u 0 * :A", "CAP END")
    second.expect_numeric("001")
    second.send(f"PRIVMSG NickServ :IDENTIFY alice {PASSWORD}")
    second.expect_numeric("900")
    first.send(f"MARKREAD #r timestamp={EARLIER}")
    assert first.expect("MARKREAD").params == ["#r", f"timestamp={EARLIER}"]
    assert second.expect("MARKREAD").params == ["#r", f"timestamp={EARLIER}"]
    second.send("NICK renamed", "JOIN #r")
    assert second.expect("MARKREAD").params == ["#r", f"timestamp={EARLIER}"]
