"""Work the state hands to its driver: deferred jobs (off the loop) and timers, whose results
come back through resume() as one more input. Sans-IO with `Effects`, and over the real reactor
with worker threads."""

from __future__ import annotations

import threading

import pytest
from ircclient import Effects, wait_for

from chatd.proto.message import Message
from chatd.server import dispatch

from .util import Scripted, make_state

pytestmark = pytest.mark.single_process  # drives the sans-IO state directly (time, internals)


@pytest.fixture
def echo_resumer(monkeypatch):
    """A test command DEFERTEST <word>: hashes off the loop, answers NOTICE <thread>:<word>;
    LATERTEST <seconds>: answers NOTICE later after that many seconds."""

    def handle_defer(state, user, msg):
        word = msg.params[0]
        state.defer(user, "test", lambda: f"{threading.current_thread().name}:{word}")

    def handle_later(state, user, msg):
        state.later(user, state.now + float(msg.params[0]), "test", "later")

    def resume(state, user, value):
        state.send(user, Message("NOTICE", [user.nick, str(value)], state.name))

    monkeypatch.setitem(dispatch.COMMANDS, "DEFERTEST", dispatch.Command(handle_defer, 1))
    monkeypatch.setitem(dispatch.COMMANDS, "LATERTEST", dispatch.Command(handle_later, 1))
    monkeypatch.setitem(dispatch.RESUMERS, "test", resume)


def test_deferred_work_comes_back_as_an_input(echo_resumer):
    state = make_state()
    effects = Effects(state)
    alice = Scripted(state)
    alice.register("alice")
    assert alice.send("DEFERTEST hello") == []  # nothing yet: the job has not run
    effects.run()
    assert alice.take() == [":chatd.local NOTICE alice :MainThread:hello"]


def test_a_timer_resumes_at_its_time_and_not_for_a_gone_user(echo_resumer):
    state = make_state()
    effects = Effects(state)
    alice, bob = Scripted(state), Scripted(state)
    alice.register("alice")
    bob.register("bob")
    alice.send("LATERTEST 30")
    bob.send("LATERTEST 30")
    effects.run(now=100.0 + 29)
    assert alice.take() == []
    bob.send("QUIT")
    effects.run(now=100.0 + 30)
    assert alice.take() == [":chatd.local NOTICE alice :later"]
    assert bob.take() == []


def test_remote_users_defer_nothing(echo_resumer):
    """On a cluster node a replica of another node's user does no local work."""
    state = make_state()
    alice = Scripted(state)
    alice.register("alice")
    alice.user.local = False
    alice.send("DEFERTEST x", "LATERTEST 1")
    assert state.take_requests() == []


def test_deferred_jobs_run_on_worker_threads_under_the_reactor(server, echo_resumer):
    alice = server.client("alice")
    alice.send("DEFERTEST over-there")
    notice = alice.expect("NOTICE alice :")
    assert notice.params[1].startswith("chatd-work") and notice.params[1].endswith(":over-there")
    alice.send("LATERTEST 0.05")
    alice.expect("NOTICE alice :later")
    wait_for(lambda: not server.state.requests, what="requests taken")
