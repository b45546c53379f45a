"""OPER is rate-limited per connection and failed attempts are logged (sans-IO: state.now); the
password check runs off the loop (`state.defer`), its outcome comes back as `oper-checked`."""

from __future__ import annotations

import logging

import pytest
from ircclient import HOST, Scripted, make_state, numerics

from chatd.server.commands.operator import OPER_GLOBAL_INTERVAL, OPER_INTERVAL
from chatd.server.passwords import hash_password


@pytest.fixture(scope="module")
def oper_hash() -> str:
    return hash_password("pw")


def test_oper_attempts_are_spaced_and_failures_logged(oper_hash, caplog):
    state = make_state(opers={"boss": oper_hash})
    a = Scripted(state)
    a.register("alice")
    with caplog.at_level(logging.WARNING, logger="chatd"):
        assert numerics(a.send_answered("OPER boss wrong")) == ["464"]
        # a second guess at once is refused without checking the password, even a right one
        assert numerics(a.send_answered("OPER boss pw")) == ["263"]
        assert not a.user.oper
        state.set_clock(state.now + OPER_INTERVAL - 0.1, state.wall)
        assert numerics(a.send_answered("OPER nobody pw")) == ["263"]
        state.set_clock(state.now + 0.1, state.wall)
        assert numerics(a.send_answered("OPER nobody pw")) == ["464"]
    failed = [r.getMessage() for r in caplog.records if "failed OPER" in r.getMessage()]
    assert failed == [
        f"failed OPER attempt as 'boss' by alice!~u@{HOST} (127.0.0.1)",
        f"failed OPER attempt as 'nobody' by alice!~u@{HOST} (127.0.0.1)",
    ]
    state.set_clock(state.now + OPER_INTERVAL, state.wall)
    assert numerics(a.send_answered("OPER boss pw")) == ["381", "MODE"]
    assert a.user.oper


def test_oper_limit_per_connection_and_for_the_whole_server(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a, b = Scripted(state), Scripted(state)
    a.register("alice")
    b.register("bob")
    assert numerics(a.send_answered("OPER boss wrong")) == ["464"]
    # the server checks one password per OPER_GLOBAL_INTERVAL, whoever asks
    assert numerics(b.send_answered("OPER boss pw")) == ["263"]
    state.set_clock(state.now + OPER_GLOBAL_INTERVAL, state.wall)
    assert numerics(a.send_answered("OPER boss pw")) == ["263"]  # alice's own interval still runs
    assert numerics(b.send_answered("OPER boss pw")) == ["381", "MODE"]


def test_many_connections_cannot_keep_the_loop_hashing(oper_hash):
    """Fifty connections (the per-address maximum) trying OPER as fast as they may: at most
    one scrypt check per OPER_GLOBAL_INTERVAL."""
    state = make_state(opers={"boss": oper_hash})
    users = [Scripted(state) for _ in range(50)]
    for i, u in enumerate(users):
        u.register(f"u{i}")
    checks = 0
    for _ in range(10):  # ten ticks of 0.1 s: one second
        for u in users:
            checks += numerics(u.send_answered("OPER boss guess")) == ["464"]
        state.set_clock(state.now + 0.1, state.wall)
    assert checks == 2


def test_oper_flood_costs_one_hash(oper_hash):
    """A hundred OPER lines in one read cost one scrypt check, not a hundred."""
    state = make_state(opers={"boss": oper_hash})
    a = Scripted(state)
    a.register("alice")
    replies = numerics(a.send(*["OPER boss guess"] * 100))
    assert replies == ["263"] * 99  # the first one's check is out
    assert [r.kind for r in state.requests] == ["oper-checked"]
    assert numerics(a.send_answered()) == ["464"]


def test_an_unknown_operator_name_costs_a_password_check_too(oper_hash, monkeypatch):
    """Otherwise a 464 for an unknown name comes back sooner than for a known one."""
    from chatd.server.commands import operator

    checked = []
    real = operator.check_password
    monkeypatch.setattr(
        operator, "check_password", lambda pw, stored: checked.append(stored) or real(pw, stored)
    )
    state = make_state(opers={"boss": oper_hash})
    a = Scripted(state)
    a.register("alice")
    assert numerics(a.send_answered("OPER nobody pw")) == ["464"]
    assert len(checked) == 1 and checked[0].startswith("scrypt$") and checked[0] != oper_hash


def test_the_check_is_off_the_loop_and_only_its_outcome_comes_back(oper_hash):
    """The handler asks for the check and returns: nothing is hashed on the loop, and what comes
    back into the state (a cluster logs it) is the name and the outcome, never the password."""

    state = make_state(opers={"boss": oper_hash})
    a = Scripted(state)
    a.register("alice")
    assert a.send("OPER boss pw") == []
    (request,) = state.requests
    assert request.kind == "oper-checked" and not a.user.oper
    outcome = request.job()  # what a worker thread runs
    assert outcome == {"name": "boss", "ok": True}
    state.take_requests()
    state.resume(a.user, "oper-checked", outcome)
    assert numerics(a.take()) == ["381", "MODE"] and state.opers == 1
    # an outcome for a name that is no operator (any more) grants nothing
    b = Scripted(state)
    b.register("bob")
    state.resume(b.user, "oper-checked", {"name": "ghost", "ok": True})
    state.resume(b.user, "oper-checked", None)  # the job failed
    assert numerics(b.take()) == ["464", "464"] and not b.user.oper
