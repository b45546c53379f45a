"""The reactor survives its own bugs: a failing timer, flush, settle step or TLS read costs at
most the connection concerned, and everyone else keeps chatting. Closed connections give their
memory back at once (no reference cycles, no timer entries holding them)."""

from __future__ import annotations

import gc
import weakref

import pytest
from ircclient import Client, wait_for


def _conn_of(server, nick):
    return next(c for c in list(server.reactor.connections) if c.client and c.client.nick == nick)


def _chatting(a: Client, b: Client, text: str) -> None:
    a.send(f"PRIVMSG #room :{text}")
    b.expect(f"PRIVMSG #room :{text}$")


@pytest.fixture
def room(server):
    alice, bob = server.client("alice"), server.client("bob")
    alice.join("#room")
    bob.join("#room")
    return alice, bob


def test_a_failing_timer_is_logged_and_the_others_keep_running(server, room, caplog):
    alice, bob = room
    fired = []

    def broken() -> None:
        raise RuntimeError("a bug in a timer")

    reactor = server.reactor
    reactor.timers.call_at(reactor.now, broken)
    reactor.timers.call_at(reactor.now, lambda: fired.append(True))
    reactor._waker.wake()
    wait_for(lambda: fired, what="the timer after the failing one ran")
    _chatting(alice, bob, "after the timer")
    assert "a bug in a timer" in caplog.text


class _ExplodingSocket:
    """Stands in for one connection's socket: every send raises a bug (not an OSError)."""

    def __init__(self, real) -> None:
        self.real = real

    def send(self, data: bytes) -> int:
        raise RuntimeError("a bug in a flush")

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_failing_flush_drops_only_that_connection(server, room, caplog):
    alice, bob = room
    carol = server.client("carol")
    carol.join("#room")
    conn = _conn_of(server, "carol")
    conn.sock = _ExplodingSocket(conn.sock)
    alice.send("PRIVMSG #room :this flush breaks for carol")
    bob.expect("this flush breaks for carol")
    alice.expect("QUIT :Internal error")  # carol's QUIT, seen by the others
    _chatting(bob, alice, "still chatting")
    assert "a bug in a flush" in caplog.text
    wait_for(lambda: server.state.find_user("carol") is None, what="carol gone")


def test_a_failing_settle_step_is_contained(server, room, caplog, monkeypatch):
    alice, bob = room
    state = server.state
    calls = []
    real_settle = state.store.settle

    def settle(now, wall):
        if not calls:
            calls.append(True)
            raise RuntimeError("a bug while settling")
        real_settle(now, wall)

    monkeypatch.setattr(state.store, "settle", settle)
    alice.send("PRIVMSG #room :first")
    wait_for(lambda: calls, what="the failing settle")
    bob.expect("PRIVMSG #room :first$")
    _chatting(bob, alice, "second")
    assert "a bug while settling" in caplog.text


def test_a_bug_in_a_handler_costs_one_reply(server, room, monkeypatch):
    alice, bob = room
    from chatd.server import dispatch

    def broken(state, user, msg):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(dispatch.COMMANDS, "TIME", dispatch.Command(broken))
    alice.send("TIME")
    alice.expect("FAIL TIME INTERNAL_ERROR")
    _chatting(alice, bob, "unharmed")


def test_a_closed_connection_is_freed_at_once_without_the_collector(server):
    """No Connection <-> User cycle and no timer entry keeps a closed connection alive."""
    keeper = server.client("keeper")
    gone = server.client("gone")
    gone.join("#room")
    conn = _conn_of(server, "gone")
    conn_id = id(conn)  # Connection has no __weakref__ slot (8 bytes per client saved)
    user_ref = weakref.ref(conn.client)
    del conn

    def conn_alive() -> bool:
        return any(id(o) == conn_id and type(o).__name__ == "Connection" for o in gc.get_objects())

    gc.disable()
    try:
        gone.send("QUIT :bye")
        gone.wait_closed()
        wait_for(lambda: server.state.find_user("gone") is None, what="gone removed")
        keeper.sync()  # a full loop iteration later
        wait_for(lambda: not conn_alive(), what="the Connection freed by refcount")
        wait_for(lambda: user_ref() is None, what="the User freed by refcount")
    finally:
        gc.enable()


def test_churned_connections_leave_no_timer_entries_behind(server_factory):
    server = server_factory(flood_limit=False, ip_connect_burst=1000, max_per_ip=1000)
    keeper = server.client("keeper")
    heap = server.reactor.timers
    before = len(heap)
    for i in range(300):
        c = Client(server.port)
        c.send(f"NICK churn{i}", "USER u 0 * :churn")
        c.expect_numeric("001")
        c.send("QUIT")
        c.wait_closed()
        c.close()
    wait_for(lambda: server.state.connections == 1, what="every churned client gone")
    keeper.sync()
    # stale entries may wait in the heap, but they are compacted away: never one per churn
    assert len(heap) < before + 300 // 2 + 16, len(heap)
