"""CHATHISTORY in every direction, its references, limits and errors (IRCv3 draft/chathistory,
standard replies), and how history is framed for clients with and without batch, server-time,
message-tags and labeled-response. Driven through the chat state, no sockets."""

from __future__ import annotations

import pytest
from ircclient import HOST, Scripted, make_state

from chatd.proto.message import Message, parse
from chatd.server.state import ServerState
from chatd.store import StoreError

FULL = ("draft/chathistory", "batch", "server-time", "message-tags")


def client(state: ServerState, nick: str, caps: tuple[str, ...] = FULL) -> Scripted:
    c = Scripted(state)
    if caps:
        c.send("CAP LS 302", "CAP REQ :" + " ".join(caps))
    c.register(nick)
    c.send("CAP END")
    c.take()
    return c


def world(n: int = 10) -> tuple[ServerState, Scripted, list[Message]]:
    """alice in #h after saying "0".."n-1", one second apart; returns her view of them."""
    state = make_state()
    alice = client(state, "alice")
    alice.send("JOIN #h")
    for i in range(n):
        state.set_clock(100.0 + i, 1_700_000_000.0 + i)
        alice.send(f"PRIVMSG #h :{i}")
    return state, alice, body(alice.send(f"CHATHISTORY LATEST #h * {n}")) if n else []


def body(lines: list[str]) -> list[Message]:
    """The messages of the one chathistory batch in `lines` (checking its framing)."""
    parsed = [parse(line) for line in lines]
    start, *inner, end = parsed
    assert start.command == "BATCH" and start.params[1] == "chathistory", lines
    ref = start.params[0][1:]
    assert end.command == "BATCH" and end.params == ["-" + ref]
    assert all(m.tags["batch"] == ref for m in inner)
    return inner


def words(messages: list[Message]) -> list[str]:
    return [m.params[1] for m in messages]


def stamp(second: int) -> str:
    return f"timestamp=2023-11-14T22:13:{20 + second:02d}.000Z"  # message i was sent at 20+i s


def test_every_direction_by_msgid():
    _, alice, everything = world()
    ids = [m.tags["msgid"] for m in everything]
    assert words(everything) == [str(i) for i in range(10)]
    send = alice.send
    assert words(body(send(f"CHATHISTORY BEFORE #h msgid={ids[5]} 3"))) == ["2", "3", "4"]
    assert words(body(send(f"CHATHISTORY AFTER #h msgid={ids[5]} 3"))) == ["6", "7", "8"]
    assert words(body(send(f"CHATHISTORY LATEST #h msgid={ids[5]} 2"))) == ["8", "9"]
    assert words(body(send(f"CHATHISTORY LATEST #h msgid={ids[7]} 50"))) == ["8", "9"]
    assert words(body(send(f"CHATHISTORY AROUND #h msgid={ids[5]} 4"))) == ["3", "4", "5", "6"]
    assert words(body(send(f"CHATHISTORY BETWEEN #h msgid={ids[2]} msgid={ids[7]} 3"))) == [
        "3",
        "4",
        "5",
    ]  # forwards: counted from the first reference
    assert words(body(send(f"CHATHISTORY BETWEEN #h msgid={ids[7]} msgid={ids[2]} 3"))) == [
        "4",
        "5",
        "6",
    ]  # backwards: counted from the first reference, still oldest first
    assert words(body(send(f"CHATHISTORY BEFORE #h msgid={ids[0]} 5"))) == []


def test_every_direction_by_timestamp():
    _, alice, _ = world()
    send = alice.send
    assert words(body(send(f"CHATHISTORY BEFORE #h {stamp(5)} 2"))) == ["3", "4"]
    assert words(body(send(f"CHATHISTORY AFTER #h {stamp(5)} 2"))) == ["6", "7"]
    assert words(body(send(f"CHATHISTORY LATEST #h {stamp(7)} 10"))) == ["8", "9"]
    assert words(body(send(f"CHATHISTORY AROUND #h {stamp(5)} 3"))) == ["4", "5", "6"]
    assert words(body(send(f"CHATHISTORY BETWEEN #h {stamp(1)} {stamp(4)} 10"))) == ["2", "3"]
    assert words(body(send(f"CHATHISTORY BETWEEN #h {stamp(8)} {stamp(1)} 2"))) == ["6", "7"]
    # other ISO 8601 spellings of the same instant work too
    assert words(body(send("CHATHISTORY AFTER #h timestamp=2023-11-14T22:13:28+00:00 5"))) == ["9"]


def test_limit_is_capped_by_the_advertised_maximum():
    state = make_state(chathistory_max=3)
    alice = client(state, "alice")
    assert "CHATHISTORY=3" in " ".join(alice.send("VERSION"))
    alice.send("JOIN #h", *[f"PRIVMSG #h :{i}" for i in range(6)])
    assert words(body(alice.send("CHATHISTORY LATEST #h * 1000"))) == ["3", "4", "5"]


@pytest.mark.parametrize(
    "line,reply",
    [
        ("CHATHISTORY", "NEED_MORE_PARAMS *"),
        ("CHATHISTORY LATEST #h *", "NEED_MORE_PARAMS LATEST"),
        ("CHATHISTORY BETWEEN #h * 5", "NEED_MORE_PARAMS BETWEEN"),
        ("CHATHISTORY SIDEWAYS #h * 5", "UNKNOWN_COMMAND SIDEWAYS"),
        ("CHATHISTORY :two words", "UNKNOWN_COMMAND two_words"),
        ("CHATHISTORY :", "UNKNOWN_COMMAND *"),
        ("CHATHISTORY LATEST #h * 0", "INVALID_PARAMS LATEST"),
        ("CHATHISTORY LATEST #h * -5", "INVALID_PARAMS LATEST"),
        ("CHATHISTORY LATEST #h * many", "INVALID_PARAMS LATEST"),
        ("CHATHISTORY BEFORE #h * 5", "INVALID_PARAMS BEFORE"),
        ("CHATHISTORY BEFORE #h msgid= 5", "INVALID_PARAMS BEFORE"),
        ("CHATHISTORY AFTER #h timestamp=yesterday 5", "INVALID_PARAMS AFTER"),
        ("CHATHISTORY AFTER #h 12345 5", "INVALID_PARAMS AFTER"),
        (
            "CHATHISTORY TARGETS msgid=x timestamp=2023-01-01T00:00:00.000Z 5",
            "INVALID_PARAMS TARGETS",
        ),
        ("CHATHISTORY LATEST #elsewhere * 5", "INVALID_TARGET LATEST #elsewhere"),
        ("CHATHISTORY LATEST #notjoined * 5", "INVALID_TARGET LATEST #notjoined"),
    ],
)
def test_bad_requests_get_standard_replies(line, reply):
    state, alice, _ = world(2)
    bob = client(state, "bob")
    bob.send("JOIN #notjoined", "PRIVMSG #notjoined :not for alice")
    (answer,) = alice.send(line)
    assert answer.startswith(f":chatd.local FAIL CHATHISTORY {reply} "), answer


def test_unknown_msgid_and_nick_targets_get_an_empty_batch():
    _, alice, _ = world(2)
    assert body(alice.send("CHATHISTORY BEFORE #h msgid=nosuch 5")) == []
    assert body(alice.send("CHATHISTORY LATEST bob * 5")) == []  # private messages: not kept


def test_a_failing_read_is_a_message_error(monkeypatch):
    state, alice, _ = world(2)

    def broken(*args):
        raise StoreError("disk I/O error")

    monkeypatch.setattr(state.store, "latest", broken)
    assert alice.send("CHATHISTORY LATEST #h * 5") == [
        ":chatd.local FAIL CHATHISTORY MESSAGE_ERROR LATEST #h :Messages could not be retrieved"
    ]


def test_tags_follow_the_requesting_clients_caps():
    state, alice, _ = world(0)
    alice.send("@+draft/react=x PRIVMSG #h :tagged")
    (full,) = body(alice.send("CHATHISTORY LATEST #h * 1"))
    assert set(full.tags) == {"batch", "time", "msgid", "+draft/react"}
    bare = client(state, "bare", ("draft/chathistory", "batch"))
    bare.send("JOIN #h")
    (plain,) = body(bare.send("CHATHISTORY LATEST #h * 1"))
    assert set(plain.tags) == {"batch"}
    # without batch: the same lines, no BATCH around them
    nobatch = client(state, "nobatch", ("draft/chathistory", "server-time"))
    nobatch.send("JOIN #h")
    (line,) = nobatch.send("CHATHISTORY LATEST #h * 1")
    assert line.startswith(f"@time=2023-11-14T22:13:20.000Z :alice!~u@{HOST} PRIVMSG #h ")


def test_labeled_chathistory_nests_its_batch_in_the_labeled_one():
    _, alice, _ = world(2)
    alice.send("CAP REQ labeled-response")
    lines = alice.send("@label=L1 CHATHISTORY LATEST #h * 5")
    parsed = [parse(line) for line in lines]
    assert parsed[0].command == "BATCH" and parsed[0].tags == {"label": "L1"}
    outer = parsed[0].params[0][1:]
    assert parsed[0].params[1] == "labeled-response"
    assert parsed[1].command == "BATCH" and parsed[1].tags == {"batch": outer}
    inner = parsed[1].params[0][1:]
    for line, m in zip(lines[2:4], parsed[2:4], strict=False):
        assert m.tags["batch"] == inner and line.count("batch=") == 1  # one batch tag each
    assert parsed[4] == Message("BATCH", ["-" + inner], "chatd.local", {"batch": outer})
    assert parsed[5] == Message("BATCH", ["-" + outer], "chatd.local")


def test_targets_lists_joined_channels_with_their_latest_message_time():
    state, alice, _ = world(3)
    alice.send("JOIN #later")
    state.set_clock(200.0, 1_700_000_100.0)
    alice.send("PRIVMSG #later :hi")
    lines = alice.send(
        "CHATHISTORY TARGETS timestamp=2023-01-01T00:00:00.000Z "
        "timestamp=2030-01-01T00:00:00.000Z 10"
    )
    parsed = [parse(line) for line in lines]
    assert parsed[0].params[1] == "draft/chathistory-targets"
    assert [m.params for m in parsed[1:-1]] == [
        ["TARGETS", "#h", "timestamp=2023-11-14T22:13:22.000Z"],
        ["TARGETS", "#later", "timestamp=2023-11-14T22:15:00.000Z"],
    ]


def test_capabilities_and_isupport_are_advertised():
    c = Scripted(make_state())
    (ls,) = c.send("CAP LS 302")
    caps = set(ls.split(" :", 1)[1].split())
    assert {
        "batch",
        "labeled-response",
        "draft/chathistory",
        "extended-join",
        "setname",
        "invite-notify",
        "message-tags",
        "server-time",
        "echo-message",
        "cap-notify",
        "multi-prefix",
        "userhost-in-names",
        "away-notify",
    } <= caps
    assert {"account-notify", "account-tag"} <= caps
    c.send("CAP END")
    welcome = " ".join(c.register("alice"))
    for token in (
        "CHATHISTORY=100",
        "MSGREFTYPES=msgid,timestamp",
        "NAMELEN=200",
        "CHANMODES=beI,k,l,CMPRimnst",
    ):
        assert f" {token} " in welcome


def test_replay_for_plain_clients_marks_times_and_keeps_actions_intact():
    state = make_state(history_replay=3)
    alice = client(state, "alice", ())
    alice.send("JOIN #h")
    state.set_clock(100.0, 1_700_000_000.0)
    alice.send("PRIVMSG #h :\x01ACTION waves\x01", "NOTICE #h :a notice")
    state.set_clock(200.0, 1_700_086_400.0)  # a day later
    alice.send("PRIVMSG #h :today")
    bob = client(state, "bob", ())
    lines = bob.send("JOIN #h")
    end = lines.index(":chatd.local 366 bob #h :End of /NAMES list")
    assert lines[end + 1 :] == [
        ":chatd.local NOTICE #h :Replaying the last 3 messages (times in UTC)",
        f":alice!~u@{HOST} PRIVMSG #h :\x01ACTION [2023-11-14 22:13:20] waves\x01",
        f":alice!~u@{HOST} NOTICE #h :[2023-11-14 22:13:20] a notice",
        f":alice!~u@{HOST} PRIVMSG #h :[22:13:20] today",
        ":chatd.local NOTICE #h :End of replay",
    ]


def test_replay_batch_for_batch_and_server_time_clients_with_original_msgids():
    state = make_state()
    alice = client(state, "alice", ("message-tags", "echo-message"))
    alice.send("JOIN #h")
    (echo,) = [parse(x) for x in alice.send("PRIVMSG #h :hello")]
    bob = client(state, "bob", ("batch", "server-time", "message-tags"))
    lines = bob.send("JOIN #h")
    (replayed,) = body(lines[lines.index(":chatd.local 366 bob #h :End of /NAMES list") + 1 :])
    assert replayed.tags["msgid"] == echo.tags["msgid"]
    assert replayed.tags["time"] == "2023-11-14T22:13:20.000Z"
    assert replayed.params == ["#h", "hello"]


def test_stored_time_is_the_time_clients_were_shown():
    """The millisecond stored is the one the live `time` tag carried, for any clock reading
    (a float near a millisecond boundary must not round one way live and the other stored)."""
    from chatd.server.delivery import format_time
    from chatd.server.state import _wall_ms
    from chatd.store import ms_to_iso

    for i in range(20_000):
        wall = 1_764_191_755 + i * 0.000_499_7
        assert ms_to_iso(_wall_ms(wall)) == format_time(wall), wall


def test_after_a_restart_only_persistent_channels_keep_their_history(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    first = make_state(db=db)
    alice = client(first, "alice")
    alice.send(
        "JOIN #kept", "MODE #kept +P", "PRIVMSG #kept :stays", "JOIN #gone", "PRIVMSG #gone :goes"
    )
    first.store.close()  # the process ends with both channels still there

    second = make_state(db=db)
    bob = client(second, "bob")
    bob.send("JOIN #kept", "JOIN #gone")
    assert words(body(bob.send("CHATHISTORY LATEST #kept * 10"))) == ["stays"]
    assert body(bob.send("CHATHISTORY LATEST #gone * 10")) == []  # a new #gone starts empty
    second.store.close()
