"""Room-batch delivery (`LocalDelivery.settle`): every member gets exactly the bytes of the batch
in order, without its own lines, in its tag view; and the work grows as n·log n for a batch of
n lines from n senders, not n² (no re-join of the batch per sender).

The oracle is the definition: a member gets `b"".join(e.for_view(view) for e, excluded in
batch if excluded is not member)`."""

from __future__ import annotations

import random
import sys
import tracemalloc

import pytest

from chatd.proto.message import Message
from chatd.server.channel import Channel
from chatd.server.delivery import Event, LocalDelivery
from chatd.server.user import User

from .util import join_all, make_state, registered

pytestmark = pytest.mark.single_process  # drives the sans-IO state directly (time, internals)

VIEW_CAPS = [
    frozenset(),
    frozenset({"server-time"}),
    frozenset({"message-tags"}),
    frozenset({"server-time", "message-tags"}),
]


class Room:
    """A channel of bare users whose sinks keep every write as written (pieces and all)."""

    def __init__(self, members: int, views: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        self.channel = Channel("#r", 0)
        self.users: list[User] = []
        self.sinks: dict[User, list[bytes]] = {}
        for i in range(members):
            sink: list[bytes] = []
            user = User(sink.append, lambda: None, "127.0.0.1", 0.0, 0.0, None)
            user.set_username("u")
            user.set_nick(f"m{i}")
            user.set_caps(VIEW_CAPS[views[i % len(views)]])
            self.channel.members[user] = ""
            self.users.append(user)
            self.sinks[user] = sink
        self.delivery = LocalDelivery("t-")
        self.batch: list[tuple[Event, User | None]] = []

    def say(self, sender: User, text: str, echo: bool = False) -> None:
        msg = Message("PRIVMSG", ["#r", text], sender.prefix)
        event = self.delivery.event(msg, {"+draft/reply": text[:4]})
        exclude = None if echo else sender
        self.batch.append((event, exclude))
        self.delivery.message_to_channel(self.channel, event, exclude)

    def expected(self, user: User) -> bytes:
        view = user.tag_view
        return b"".join(e.for_view(view) for e, x in self.batch if x is not user)

    def settle(self) -> None:
        self.delivery.settle()

    def check(self) -> None:
        for user in self.users:
            assert b"".join(self.sinks[user]) == self.expected(user), user.nick


def test_interleaved_senders_get_everything_but_their_own_lines_in_order():
    room = Room(7)
    a, b, c, *_ = room.users
    for i, sender in enumerate([a, b, a, a, c, b, a, c, c, a, b]):
        room.say(sender, f"line {i}")
    room.settle()
    room.check()
    texts = b"".join(room.sinks[a]).decode()
    assert "line 0" not in texts and "line 3" not in texts and "line 1" in texts


def test_every_batch_length_and_every_pattern_of_own_lines():
    """Batches of 2..70 lines (not powers of two, odd tails) with a sender owning lines at
    the start, the end, in runs and alone, in all four tag views."""
    rng = random.Random(20261127)
    for n in range(2, 71):
        room = Room(6)
        for i in range(n):
            room.say(room.users[rng.choice([0, 0, 1, 2, 3, 4])], f"t{i}")
        room.settle()
        room.check()
    room = Room(3)
    first, last, _ = room.users
    for i in range(33):
        room.say(first if i < 5 or i % 7 == 0 else last, f"x{i}")
    room.settle()
    room.check()


def test_a_member_given_its_share_early_gets_the_rest_at_settle_and_nothing_twice():
    """settle_for (before a reply to one member, a PONG say) gives that member what it has
    not had yet, and only it: the others still get the batch at settle, everyone in order."""
    rng = random.Random(14)
    for n in range(1, 40):
        room = Room(6)
        early = room.users[1]
        for i in range(n):
            room.say(room.users[rng.choice([0, 1, 2])], f"e{i}", echo=rng.random() < 0.3)
            if rng.random() < 0.4:
                before = {u: len(room.sinks[u]) for u in room.users if u is not early}
                room.delivery.settle_for(early)
                assert all(len(room.sinks[u]) == k for u, k in before.items())
                view = early.tag_view
                assert b"".join(room.sinks[early]) == b"".join(
                    e.for_view(view) for e, x in room.batch if x is not early
                )
        room.settle()
        room.check()


def test_a_sender_of_the_whole_batch_gets_nothing():
    room = Room(3)
    for i in range(10):
        room.say(room.users[0], f"solo {i}")
    room.settle()
    assert room.sinks[room.users[0]] == []
    room.check()


def test_echo_message_senders_get_the_shared_batch_in_place():
    room = Room(4, views=(3,))
    a, b, *_ = room.users
    room.say(a, "one", echo=True)
    room.say(b, "two")
    room.say(a, "three", echo=True)
    room.settle()
    room.check()
    assert room.sinks[a] == room.sinks[room.users[2]]  # the very object the others got
    assert room.sinks[a][0] is room.sinks[room.users[2]][0]


def test_several_tag_views_through_the_server_state():
    """Real clients with every combination of server-time and message-tags, echo-message on
    some: each sees the lines in order, tagged for its view, its own only when it echoes."""
    state = make_state()
    caps = [
        (),
        ("server-time",),
        ("message-tags",),
        ("server-time", "message-tags"),
        ("echo-message", "server-time"),
        ("echo-message", "message-tags", "server-time"),
    ]
    clients = [registered(state, f"n{i}", c) for i, c in enumerate(caps)]
    join_all("#v", *clients)
    said = []
    for i in range(40):
        speaker = clients[(i * 5) % len(clients)]
        state.handle_line(speaker.user, f"@+draft/react=x{i} PRIVMSG #v :msg {i}".encode())
        said.append((speaker, i))
    state.settle()
    for client, cap in zip(clients, caps, strict=True):
        lines = client.take()
        echo = "echo-message" in cap
        expected = [f"msg {i}" for s, i in said if echo or s is not client]
        assert [line.rsplit(" :", 1)[1] for line in lines] == expected, cap
        for line in lines:
            assert line.startswith("@") == bool(cap), line
            assert ("time=" in line) == ("server-time" in cap)
            assert ("msgid=" in line and "+draft/react" in line) == ("message-tags" in cap)


def test_non_senders_share_one_object_per_view():
    room = Room(12)
    for i in range(9):
        room.say(room.users[i % 3], f"s{i}")
    room.settle()
    room.check()
    by_view: dict[int, set[int]] = {}
    for user in room.users[3:]:
        (data,) = room.sinks[user]
        by_view.setdefault(user.tag_view, set()).add(id(data))
    assert all(len(ids) == 1 for ids in by_view.values()) and len(by_view) == 4


# -- linearity, without a clock: operations and bytes counted ------------------------------------


def _room_where_everyone_speaks(n: int) -> Room:
    """The issue's case: n members, each says one line (a batch of n, n distinct senders)."""
    room = Room(n)
    for i, user in enumerate(room.users):
        room.say(user, f"message number {i} with some ordinary chat text after it")
    return room


def _python_lines(room: Room) -> int:
    """Python lines executed by one settle: a deterministic count of the work it does."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        room.settle()
    finally:
        sys.settrace(None)
    return count


def test_work_grows_with_senders_not_senders_times_batch():
    small, big = 64, 512  # 8x the senders and 8x the batch
    lines_small = _python_lines(_room_where_everyone_speaks(small))
    lines_big = _python_lines(_room_where_everyone_speaks(big))
    # n·log2(n) allows 8 · 9/6 = 12x; a re-join of the batch per sender is n² (64x)
    assert lines_big < 12 * lines_small, (lines_small, lines_big)


def test_pieces_per_sender_are_logarithmic_and_bytes_are_not_copied_per_sender():
    n = 512
    room = _room_where_everyone_speaks(n)
    for event, _ in room.batch:  # encode beforehand: only settle's own allocations count
        for view in range(4):
            event.for_view(view)
    batch_bytes = sum(len(e.for_view(3)) for e, _ in room.batch)
    tracemalloc.start()
    try:
        room.settle()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    room.check()
    levels = n.bit_length()  # 10 for 512: the aligned runs, each level one copy of the batch
    # every view joined once per level, plus a small list of shared pieces per member; a
    # private join per sender would be n × batch_bytes (~40 MB here)
    assert peak < 4 * levels * batch_bytes + 1000 * n, (peak, batch_bytes)
    for user in room.users:
        assert len(room.sinks[user]) <= 2 * levels  # one own line: two runs of aligned pieces
