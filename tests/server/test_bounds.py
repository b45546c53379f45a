"""Work per line is bounded and paid for: list queries once per MODE line, replies charged to
flood control by their size, scans charged too, and responses held in memory (labeled, batches)
bounded by the room left in the client's sendq. Sans-IO: the state and the core with a fake
clock, each client's queue a Recorder."""

from __future__ import annotations

import pytest

from chatd.limits import SCAN_COST
from chatd.server.core import LocalCore

from .util import Scripted, make_state, msgs, numerics, registered

pytestmark = pytest.mark.single_process  # the state's own counters, one process's core

T0 = 100.0
WALL0 = 1_700_000_000.0
BANS = 100


def _banned_channel(state, bans: int = BANS) -> Scripted:
    op = registered(state, "op")
    op.send("JOIN #t")
    masks = [f"ban{i}!*@host{i}.example" for i in range(bans)]
    for i in range(0, bans, 4):
        chunk = masks[i : i + 4]
        op.send(f"MODE #t +{'b' * len(chunk)} {' '.join(chunk)}")
    op.take()
    assert len(state.find_channel("#t").bans) == bans
    return op


def test_a_list_query_is_answered_once_per_mode_line():
    state = make_state()
    _banned_channel(state, bans=3)
    bob = registered(state, "bob")
    lines = bob.send("MODE #t " + "b" * 490)
    assert numerics(lines) == ["367"] * 3 + ["368"]
    # and once more on the next line: once per line, not once per client
    assert numerics(bob.send("MODE #t bb")) == ["367"] * 3 + ["368"]


def test_an_unknown_mode_letter_is_answered_once_per_line():
    state = make_state()
    op = _banned_channel(state, bans=0)
    lines = op.send("MODE #t +" + "X" * 200 + "Y" * 200)
    assert numerics(lines) == ["472", "472"]


def test_a_list_query_counts_by_its_size_against_flood_control():
    """20 list queries of 100 bans in one read: the burst of 20 lines would let every one
    through at once; charged by their ~8 KB of replies, only the first few pass and the rest
    wait for tokens, while PINGs are one token each."""
    state = make_state(flood_limit=True)
    core = LocalCore(state)
    _banned_channel(state)
    bob = registered(state, "bob")
    wake = core.receive(bob.user, [b"MODE #t b"] * 20)
    answered = numerics(bob.take()).count("368")
    assert 1 <= answered <= 3
    assert wake is not None  # the rest wait until the debt is paid
    # the queries still all get answered, as the bucket refills
    for step in range(1, 200):
        state.set_clock(T0 + step, WALL0 + step)
        core.on_timer(bob.user)
        answered += numerics(bob.take()).count("368")
        if answered == 20:
            break
    assert answered == 20
    assert step > 20  # about 8 tokens a query at 5 tokens a second
    # a client whose lines are cheap is not held back: 20 PINGs pass at once
    carol = registered(state, "carol")
    assert core.receive(carol.user, [b"PING :x"] * 20) is None
    assert numerics(carol.take()) == ["PONG"] * 20


def test_handle_line_reports_what_a_command_made_the_server_send():
    state = make_state()
    _banned_channel(state)
    bob = registered(state, "bob")
    cost = state.handle_line(bob.user, b"MODE #t b")
    assert cost == sum(len(line) + 2 for line in bob.take())
    assert 7_000 < cost < 10_000
    # the chat's hot path is not metered
    assert state.handle_line(bob.user, b"PRIVMSG #t :hello") == 0
    assert state.handle_line(bob.user, b"PING :x") == 0


def test_a_who_scan_costs_flood_control_even_when_it_finds_nobody():
    state = make_state()
    for i in range(50):
        registered(state, f"user{i}")
    bob = registered(state, "bob")
    cost = state.handle_line(bob.user, b"WHO *nobody-matches-this*")
    assert numerics(bob.take()) == ["315"]
    assert cost >= 51 * SCAN_COST


def test_a_labeled_response_that_would_not_fit_the_sendq_is_not_built():
    state = make_state()
    _banned_channel(state)
    attacker = Scripted(state, limit=4096)  # room for about half the ban list
    attacker.send("CAP REQ :labeled-response batch", "CAP END")
    attacker.register("mallory")
    attacker.take()
    attacker.sink.written = 0
    state.handle_line(attacker.user, b"@label=x MODE #t " + b"b" * 490)
    assert attacker.sink.overflows == 1 and attacker.sink.overflowed
    assert attacker.take() == []  # nothing of it was queued
    # and nothing more is built for it until it is dropped (LocalCore.overflowed)
    state.handle_line(attacker.user, b"MODE #t b")
    assert attacker.sink.late_writes == 0


def test_a_labeled_response_that_fits_is_sent_whole():
    state = make_state()
    _banned_channel(state)
    bob = registered(state, "bob", caps=("labeled-response", "batch"))
    lines = bob.send("@label=q1 MODE #t bbbb")
    assert lines[0].startswith("@label=q1 :chatd.local BATCH +")
    assert numerics(lines[1:-1]) == ["367"] * BANS + ["368"]
    assert msgs(lines)[-1].command == "BATCH" and not bob.sink.overflowed


def test_a_history_batch_that_would_not_fit_the_sendq_stops_being_built():
    state = make_state()
    alice = registered(state, "alice")
    alice.send("JOIN #h")
    for i in range(60):
        alice.send(f"PRIVMSG #h :message {i} " + "x" * 300)
    alice.take()
    reader = Scripted(state, limit=None)
    reader.send("CAP REQ :draft/chathistory batch server-time message-tags", "CAP END")
    reader.register("reader")
    reader.send("JOIN #h")
    reader.take()
    reader.sink.limit = reader.sink.written + 8192  # room for a fraction of 60 messages
    reader.send("CHATHISTORY LATEST #h * 60")
    assert reader.sink.overflowed and reader.sink.overflows == 1
    assert reader.take() == []


def test_nothing_is_built_for_a_client_that_overflowed():
    state = make_state()
    for i in range(30):
        registered(state, f"user{i}").send("JOIN #big")
    bob = registered(state, "bob")
    bob.sink.overflowed = True  # as a connection past its sendq in this iteration
    for line in ("NAMES #big", "LIST", "WHO #big", "MODE #big", "LUSERS", "MOTD", "WHOIS bob"):
        bob.send(line)
    assert bob.sink.late_writes == 0 and bob.sink.data == []


def test_an_overflowed_client_is_dropped_with_sendq_exceeded():
    state = make_state()
    core = LocalCore(state)
    a = registered(state, "alice")
    b = registered(state, "bob")
    a.send("JOIN #r")
    b.send("JOIN #r")
    a.take()
    b.sink.overflowed = True
    core.overflowed(b.user)  # what the reactor does at the end of the iteration
    assert "QUIT :SendQ exceeded" in a.take()[0]
