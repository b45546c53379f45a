"""Registration timeout and keepalive, driven through the core's on_timer with a fake clock."""

from __future__ import annotations

import pytest

from chatd.server.core import LocalCore

from .util import HOST, Scripted, make_state, msgs, numerics, registered, room

pytestmark = pytest.mark.single_process  # drives the sans-IO state directly (time, internals)

T0 = 100.0  # make_state's monotonic clock
WALL0 = 1_700_000_000.0


def at(state, seconds: float) -> None:
    state.set_clock(T0 + seconds, WALL0 + seconds)


def test_registration_timeout():
    state = make_state(registration_timeout=30.0)
    c = Scripted(state)
    c.send("NICK slow")
    at(state, 29.0)
    assert LocalCore(state).on_timer(c.user) is not None and not c.sink.closed
    at(state, 30.0)
    assert LocalCore(state).on_timer(c.user) is None
    lines = c.take()
    assert numerics(lines) == ["ERROR"]
    assert msgs(lines)[0].params[0] == "Closing Link: 127.0.0.1 (Registration timeout)"
    assert c.sink.closed and "slow" not in state.users
    assert state.connections == 0 and state.unregistered == 0


def test_idle_client_is_pinged_then_dropped():
    state = make_state(ping_interval=120.0, ping_timeout=60.0)
    a, b = room(state, "alice", "bob")
    at(state, 119.0)
    assert LocalCore(state).on_timer(a.user) == pytest.approx(T0 + 120.0)
    assert a.take() == []
    at(state, 120.0)
    assert LocalCore(state).on_timer(a.user) == pytest.approx(T0 + 180.0)
    assert numerics(a.take()) == ["PING"]
    at(state, 180.0)
    assert LocalCore(state).on_timer(a.user) is None
    assert a.sink.closed
    assert msgs(b.take()) == msgs([f":alice!~u@{HOST} QUIT :Ping timeout: 180 seconds"])


def test_ping_is_the_servers_line():
    state = make_state(ping_interval=10.0)
    a = registered(state, "alice")
    at(state, 10.0)
    LocalCore(state).on_timer(a.user)
    (ping,) = msgs(a.take())
    assert ping.command == "PING" and ping.params == ["chatd.local"]


def test_answered_ping_keeps_the_client():
    state = make_state(ping_interval=120.0, ping_timeout=60.0)
    a = registered(state, "alice")
    at(state, 120.0)
    LocalCore(state).on_timer(a.user)
    a.take()
    at(state, 130.0)
    a.send("PONG chatd.local")
    at(state, 180.0)
    assert LocalCore(state).on_timer(a.user) == pytest.approx(T0 + 130.0 + 120.0)
    assert not a.sink.closed


def test_any_line_counts_as_a_sign_of_life():
    state = make_state(ping_interval=120.0, ping_timeout=60.0)
    a = registered(state, "alice")
    at(state, 100.0)
    a.send("PRIVMSG alice :still here")
    at(state, 120.0)
    assert LocalCore(state).on_timer(a.user) == pytest.approx(T0 + 220.0)  # no PING yet
    assert a.take() == []


def test_pong_in_the_same_tick_as_the_ping_counts():
    # on_timer used to need last_seen > ping_sent, so an answer read at the PING's own clock
    # reading did not count and the client was dropped with "Ping timeout".
    state = make_state(ping_interval=120.0, ping_timeout=60.0)
    a = registered(state, "alice")
    at(state, 120.0)
    LocalCore(state).on_timer(a.user)
    a.send("PONG chatd.local")  # answered before the clock moved on
    at(state, 180.0)
    assert LocalCore(state).on_timer(a.user) is not None
    assert not a.sink.closed
