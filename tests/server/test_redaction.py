"""draft/message-redaction: REDACT by the sender and by a channel operator (the spec's
examples), the message gone from history, who sees the REDACT, and each FAIL code."""

from __future__ import annotations

import pytest

from chatd.proto.caps import REDACTION

from .util import HOST, history_texts, make_state, msgs, registered

CAPS = ["message-tags", "echo-message", REDACTION]


def world(**settings):
    """chanop (operator of #channel), nick and watcher with the capability, plain without."""
    state = make_state(**settings)
    chanop = registered(state, "chanop", CAPS)
    nick = registered(state, "nick", CAPS)
    watcher = registered(state, "watcher", CAPS)
    plain = registered(state, "plain")
    for c in (chanop, nick, watcher, plain):
        c.send("JOIN #channel")
    for c in (chanop, nick, watcher, plain):
        c.take()
    state.everyone = [chanop, nick, watcher, plain]
    return state, chanop, nick, watcher, plain


def said(state, client, text):
    """Send a channel message (everyone else reads it); its msgid, from the sender's echo."""
    (echo,) = msgs(client.send(f"PRIVMSG #channel :{text}"))
    for other in state.everyone:
        other.take()
    return echo.tags["msgid"]


def history(state):
    """What the channel's history holds, as its operator reads it back."""
    return history_texts(state.everyone[0], "#channel")


def test_deleting_ones_own_privmsg():
    state, chanop, nick, watcher, plain = world()
    msgid = said(state, nick, "an example")
    for c in (chanop, watcher, plain):
        c.take()
    lines = msgs(nick.send(f"REDACT #channel {msgid} :bad example"))
    assert [(m.source, m.params) for m in lines] == [
        (f"nick!~u@{HOST}", ["#channel", msgid, "bad example"])
    ]
    assert "msgid" in lines[0].tags
    assert msgs(watcher.take())[0].params == ["#channel", msgid, "bad example"]
    assert plain.take() == []  # no fallback for clients without the capability
    assert history(state) == []


def test_a_channel_operator_deletes_someone_elses_message():
    state, chanop, nick, watcher, _ = world()
    msgid = said(state, nick, "join my network for cold hard chats")
    lines = msgs(chanop.send(f"REDACT #channel {msgid} spam"))
    assert lines[0].source == f"chanop!~u@{HOST}" and lines[0].params[1:] == [msgid, "spam"]
    assert history(state) == []


def test_a_multiline_message_goes_whole():
    state, chanop, nick, _, _ = world()
    sender = registered(state, "ml", ["batch", "draft/multiline", *CAPS])
    sender.send("JOIN #channel")
    state.everyone.append(sender)
    for c in state.everyone:
        c.take()
    echo = []
    for line in (
        "BATCH +m draft/multiline #channel",
        "@batch=m PRIVMSG #channel :one",
        "@batch=m PRIVMSG #channel :two",
        "BATCH -m",
    ):
        echo += sender.send(line)
    msgid = msgs(echo)[0].tags["msgid"]
    for c in state.everyone:
        c.take()
    said(state, nick, "after")
    assert history(state) == ["one", "two", "after"]
    sender.send(f"REDACT #channel {msgid}")
    assert history(state) == ["after"]


@pytest.mark.parametrize(
    ("who", "command", "fail"),
    [
        (
            "watcher",
            "REDACT #channel {msgid}",
            "REDACT_FORBIDDEN #channel {msgid} :You are not authorised to delete this message",
        ),
        (
            "nick",
            "REDACT #channel nosuchid",
            "UNKNOWN_MSGID #channel nosuchid :This message does not exist or is too old",
        ),
        (
            "nick",
            "REDACT #channel {msgid}/1",
            "UNKNOWN_MSGID #channel {msgid}/1 :This message does not exist or is too old",
        ),
        (
            "nick",
            "REDACT #nowhere {msgid}",
            "INVALID_TARGET #nowhere :You cannot delete messages from #nowhere",
        ),
        (
            "nick",
            "REDACT watcher {msgid}",
            "INVALID_TARGET watcher :You cannot delete messages from watcher",
        ),
        (
            "outsider",
            "REDACT #channel {msgid}",
            "INVALID_TARGET #channel :You cannot delete messages from #channel",
        ),
    ],
)
def test_redact_failures(who, command, fail):
    state, chanop, nick, watcher, plain = world()
    clients = {"watcher": watcher, "nick": nick, "outsider": registered(state, "outsider", CAPS)}
    msgid = said(state, nick, "keep me")
    lines = msgs(clients[who].send(command.format(msgid=msgid)))
    assert lines == msgs([":chatd.local FAIL REDACT " + fail.format(msgid=msgid)])
    assert history(state) == ["keep me"]


@pytest.mark.single_process  # a fixed clock
def test_the_redact_window_binds_senders_not_operators():
    state, chanop, nick, _, _ = world(redact_window=60.0)
    first = said(state, nick, "old")
    second = said(state, nick, "older")
    state.set_clock(200.0, 1_700_000_100.0)  # 100 s later
    assert msgs(nick.send(f"REDACT #channel {first}")) == msgs(
        [
            f":chatd.local FAIL REDACT REDACT_WINDOW_EXPIRED #channel {first} 60 "
            ":You can no longer delete this message"
        ]
    )
    assert msgs(chanop.send(f"REDACT #channel {second}"))[0].command == "REDACT"
    assert history(state) == ["old"]
