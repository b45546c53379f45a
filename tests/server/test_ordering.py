"""Every client sees lines in the order the server produced them, however delivery batches
channel messages. Lines are fed straight to the state, several users in a row, with no take()
in between: that is what one reactor iteration looks like."""

from __future__ import annotations

import pytest

from .util import Scripted, join_all, make_state, msgs, registered, room

pytestmark = pytest.mark.single_process  # drives the sans-IO state directly (time, internals)


def feed(state, *steps: tuple[Scripted, str]) -> None:
    for client, line in steps:
        state.handle_line(client.user, line.encode())


def seen(client: Scripted) -> list[tuple[str, ...]]:
    """(command, source nick, last param) of each line a client got."""
    return [
        (m.command, m.nick or "", m.params[-1] if m.params else "") for m in msgs(client.take())
    ]


def test_messages_and_kick_interleave_in_order():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    feed(
        state,
        (a, "PRIVMSG #room :one"),
        (b, "PRIVMSG #room :two"),
        (a, "KICK #room carol :bye"),
        (a, "PRIVMSG #room :three"),
    )
    assert seen(c) == [
        ("PRIVMSG", "alice", "one"),
        ("PRIVMSG", "bob", "two"),
        ("KICK", "alice", "bye"),
    ]
    assert seen(b) == [
        ("PRIVMSG", "alice", "one"),
        ("KICK", "alice", "bye"),
        ("PRIVMSG", "alice", "three"),
    ]


def test_two_channels_interleaved():
    state = make_state()
    a, b = room(state, "alice", "bob", channel="#a")
    join_all("#b", a, b)
    feed(
        state,
        (a, "PRIVMSG #a :1"),
        (a, "PRIVMSG #b :2"),
        (a, "PRIVMSG #a :3"),
        (a, "NOTICE #b :4"),
        (a, "PRIVMSG bob :5"),
        (a, "PRIVMSG #a :6"),
    )
    assert [text for _, _, text in seen(b)] == ["1", "2", "3", "4", "5", "6"]


def test_echo_message_keeps_the_senders_place():
    state = make_state()
    a = registered(state, "alice", ["echo-message"])
    b = registered(state, "bob")
    join_all("#room", a, b)
    feed(state, (a, "PRIVMSG #room :x"), (b, "PRIVMSG #room :y"), (a, "PRIVMSG #room :z"))
    assert [(nick, text) for _, nick, text in seen(a)] == [
        ("alice", "x"),
        ("bob", "y"),
        ("alice", "z"),
    ]


def test_parting_member_gets_what_was_said_before_it_left():
    state = make_state()
    a, b = room(state, "alice", "bob")
    feed(state, (a, "PRIVMSG #room :before"), (b, "PART #room :off"), (a, "PRIVMSG #room :after"))
    assert seen(b) == [("PRIVMSG", "alice", "before"), ("PART", "bob", "off")]


def test_numeric_reply_follows_messages_already_sent_to_the_same_client():
    state = make_state()
    a, b = room(state, "alice", "bob")
    feed(state, (a, "PRIVMSG #room :hello"), (b, "PING tok"), (a, "PRIVMSG #room :again"))
    assert seen(b) == [
        ("PRIVMSG", "alice", "hello"),
        ("PONG", "chatd.local", "tok"),
        ("PRIVMSG", "alice", "again"),
    ]


def test_quit_after_messages():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    feed(state, (b, "PRIVMSG #room :last words"), (b, "QUIT :gone"), (c, "PRIVMSG #room :rip"))
    assert seen(a) == [
        ("PRIVMSG", "bob", "last words"),
        ("QUIT", "bob", "Quit: gone"),
        ("PRIVMSG", "carol", "rip"),
    ]
    assert [cmd for cmd, _, _ in seen(b)] == ["ERROR"]


def test_mode_change_between_messages():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    feed(
        state,
        (b, "PRIVMSG #room :allowed"),
        (a, "MODE #room +m"),
        (b, "PRIVMSG #room :refused"),
        (a, "MODE #room +v bob"),
        (b, "PRIVMSG #room :voiced"),
    )
    assert seen(c) == [
        ("PRIVMSG", "bob", "allowed"),
        ("MODE", "alice", "+m"),
        ("MODE", "alice", "bob"),
        ("PRIVMSG", "bob", "voiced"),
    ]
    assert seen(b) == [
        ("MODE", "alice", "+m"),
        ("404", "chatd.local", "Cannot send to channel"),
        ("MODE", "alice", "bob"),
    ]


def test_many_messages_keep_their_order():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    steps = []
    for i in range(100):
        steps.append((a if i % 3 else b, f"PRIVMSG #room :{i}"))
    feed(state, *steps)
    expected = [str(i) for i in range(100)]
    assert [text for _, _, text in seen(c)] == expected
    assert [text for _, _, text in seen(a)] == [e for e in expected if int(e) % 3 == 0]
