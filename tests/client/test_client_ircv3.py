"""The session with what chatd now offers, sans-IO: private history (on opening a private
buffer, on reconnecting, TARGETS), draft/multiline sent and received, read markers, REDACT,
RENAME and a display name in /whois. Server lines are fed as chatd writes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_client_session import NOW, feed

from chatd.client import commands, linemode, multiline, notify, sasl
from chatd.client.logs import LogWriter, format_line
from chatd.client.model import Buffer, Kind, LogLine, iso_time
from chatd.client.session import ConnState, Session
from chatd.client.ui.logview import render
from chatd.proto import numerics as N
from chatd.proto.message import Message, serialise

CAPS = (
    "batch server-time message-tags echo-message draft/chathistory draft/multiline "
    "draft/read-marker draft/message-redaction draft/channel-rename draft/metadata-3"
)
MULTILINE_VALUE = "max-bytes=4096,max-lines=32"


def wire(s: Session) -> list[Message]:
    out = s.pull_outgoing()
    for m in out:
        serialise(m)  # every line the session makes can be written
    return out


def sent(s: Session) -> list[str]:
    return [" ".join([m.command, *m.params]) for m in wire(s)]


def stamp(offset: float) -> str:
    return iso_time(NOW + offset)


def connect(
    s: Session, caps: str = CAPS, multiline_value: str = MULTILINE_VALUE, account: str = ""
) -> Session:
    """Registration as chatd does it: CAP LS with values, ACK, (a login), the welcome."""
    s.connecting(NOW)
    s.connection_made(NOW)
    offered = " ".join(
        f"{c}={multiline_value}" if c == "draft/multiline" else c for c in caps.split()
    )
    feed(s, f":srv CAP * LS :{offered}", f":srv CAP {s.wanted_nick} ACK :{caps}")
    if account:
        feed(s, f":srv 900 {s.wanted_nick} x!u@h {account} :You are now logged in as {account}")
    feed(
        s,
        f":srv 001 {s.wanted_nick} :Welcome",
        f":srv 005 {s.wanted_nick} PREFIX=(ov)@+ CHANTYPES=# NICKLEN=16 :are supported",
    )
    return s


def session(caps: str = CAPS, **kw: str) -> Session:
    s = connect(Session("alice", channels=[], server_label="test"), caps, **kw)
    sent(s)
    return s


def join(s: Session, room: str = "#lobby", marker: str = "*") -> Buffer:
    feed(
        s,
        f":alice!u@h JOIN {room}",
        f":srv MARKREAD {room} {marker}",
        f":srv 353 alice = {room} :alice @bob carol",
        f":srv 366 alice {room} :End of /NAMES list",
    )
    buf = s.get_buffer(room)
    assert buf is not None
    sent(s)  # MODE, CHATHISTORY LATEST
    return buf


def msg(offset: float, source: str, target: str, text: str, msgid: str, batch: str = "") -> str:
    tags = f"time={stamp(offset)};msgid={msgid}" + (f";batch={batch}" if batch else "")
    return f"@{tags} :{source}!u@h PRIVMSG {target} :{text}"


def shown(buf: Buffer) -> list[tuple[str | None, str]]:
    return [(line.nick, line.text) for line in buf.lines]


# ------------------------------------------------------------------- numerics


def test_sasl_and_monitor_numerics_are_the_shared_names() -> None:
    names = {
        N.RPL_LOGGEDIN, N.RPL_LOGGEDOUT, N.ERR_NICKLOCKED, N.RPL_SASLSUCCESS, N.ERR_SASLFAIL,
        N.ERR_SASLTOOLONG, N.ERR_SASLABORTED, N.ERR_SASLALREADY, N.RPL_SASLMECHS,
    }  # fmt: skip
    assert names == sasl.SASL_NUMERICS
    names = {
        N.RPL_MONONLINE, N.RPL_MONOFFLINE, N.RPL_MONLIST, N.RPL_ENDOFMONLIST, N.ERR_MONLISTFULL,
    }  # fmt: skip
    assert names == notify.MONITOR_NUMERICS
    assert not hasattr(sasl, "RPL_LOGGEDIN") and not hasattr(notify, "RPL_MONONLINE")


def test_the_new_capabilities_are_asked_for_and_multiline_needs_batch() -> None:
    s = Session("alice")
    s.connection_made(NOW)
    sent(s)
    feed(s, f":srv CAP * LS :{CAPS.replace('batch ', '')} draft/multiline=max-bytes=10")
    (req,) = sent(s)
    assert "draft/read-marker" in req and "draft/message-redaction" in req
    assert "draft/channel-rename" in req
    assert "draft/multiline" not in req and "draft/chathistory" not in req  # no batch offered


# ------------------------------------------------------------- private history


def test_a_private_buffer_asks_its_marker_then_its_history_and_shows_it_above() -> None:
    s = session()
    join(s)
    feed(s, msg(0, "bob", "alice", "are you there?", "m9"))  # opens the buffer
    assert sent(s) == ["MARKREAD bob", "CHATHISTORY LATEST bob * 50"]
    feed(
        s,
        f":srv MARKREAD bob timestamp={stamp(-20)}",
        ":srv BATCH +h chathistory bob",
        msg(-40, "alice", "bob", "see you tomorrow", "m1", "h"),
        msg(-30, "alice_", "bob", "(from my other nick)", "m2", "h"),
        msg(-20, "bobby", "alice", "read already", "m3", "h"),
        msg(-10, "bob", "alice", "not read yet", "m4", "h"),
        msg(0, "bob", "alice", "are you there?", "m9", "h"),  # the live one, seen already
        ":srv BATCH -h",
    )
    bob = s.get_buffer("bob")
    assert bob is not None and s.get_buffer("bobby") is None and s.get_buffer("alice_") is None
    assert shown(bob) == [
        ("alice", "see you tomorrow"),
        ("alice_", "(from my other nick)"),
        ("bobby", "read already"),
        (None, "new messages"),
        ("bob", "not read yet"),
        ("bob", "are you there?"),
    ]
    lines = list(bob.lines)
    assert lines[0].own and lines[1].own and not lines[2].own  # ours under another nick too
    assert all(line.history for line in lines[:3] + lines[4:5]) and not lines[5].history
    assert bob.unread == 2 and bob.mentioned  # unread says the marker, not only what was live


def test_opening_a_private_buffer_yourself_asks_for_its_history() -> None:
    s = session()
    s.open_query("carol")
    assert sent(s) == ["MARKREAD carol", "CHATHISTORY LATEST carol * 50"]
    feed(
        s,
        ":srv MARKREAD carol *",
        ":srv BATCH +h chathistory carol",
        msg(-5, "carol", "alice", "old question", "c1", "h"),
        ":srv BATCH -h",
    )
    carol = s.get_buffer("carol")
    assert carol is not None
    assert shown(carol) == [("carol", "old question"), (None, "new messages")]
    assert carol.unread == 0  # no marker: history is not counted


def test_without_chathistory_a_private_buffer_asks_nothing() -> None:
    s = session("batch server-time message-tags")
    s.open_query("carol")
    assert sent(s) == []


def test_reconnecting_fetches_what_was_said_in_private_while_away() -> None:
    s = session()
    s.open_query("bob")
    sent(s)
    feed(s, ":srv BATCH +h chathistory bob", ":srv BATCH -h")
    feed(s, msg(0, "bob", "alice", "before the drop", "m1"))
    s.connection_lost(NOW, "reset", 1.0)
    connect(s)
    out = sent(s)
    assert "MARKREAD bob" in out and "CHATHISTORY LATEST bob * 50" in out
    feed(
        s,
        ":srv BATCH +h2 chathistory bob",
        msg(0, "bob", "alice", "before the drop", "m1", "h2"),
        msg(5, "bob", "alice", "while you were away", "m2", "h2"),
        ":srv BATCH -h2",
    )
    bob = s.get_buffer("bob")
    assert bob is not None
    texts = [line.text for line in bob.lines]
    assert texts.count("before the drop") == 1
    away, divider, back = texts[-3:]
    assert away == "while you were away" and divider == "new messages"
    assert back.startswith("Reconnected to test")


def test_targets_on_registering_opens_the_private_buffers_a_user_had() -> None:
    s = Session("alice", channels=[], server_label="test")
    connect(s, account="alice")
    out = sent(s)
    (targets,) = [line for line in out if line.startswith("CHATHISTORY TARGETS")]
    _, _, newest, oldest, limit = targets.split()
    assert newest == "timestamp=" + stamp(0) and oldest == "timestamp=" + stamp(-30 * 86400)
    assert limit == "20"
    feed(
        s,
        ":srv BATCH +t draft/chathistory-targets",
        f"@batch=t :srv CHATHISTORY TARGETS #lobby timestamp={stamp(-9)}",
        f"@batch=t :srv CHATHISTORY TARGETS bob timestamp={stamp(-5)}",
        f"@batch=t :srv CHATHISTORY TARGETS carol timestamp={stamp(-1)}",
        ":srv BATCH -t",
        f":srv CHATHISTORY TARGETS mallory timestamp={stamp(-1)}",  # not asked for
    )
    assert [b.name for b in s.buffer_list()] == ["test", "bob", "carol"]
    assert s.current == ""  # none is switched to
    assert sent(s) == [
        "MARKREAD bob", "CHATHISTORY LATEST bob * 50",
        "MARKREAD carol", "CHATHISTORY LATEST carol * 50",
    ]  # fmt: skip
    unidentified = session()
    assert not any("TARGETS" in line for line in sent(unidentified))
    feed(unidentified, ":srv 900 alice alice!u@h alice :You are now logged in as alice")
    assert [line.split()[1] for line in sent(unidentified)] == ["TARGETS"]  # NickServ IDENTIFY


# ------------------------------------------------------------------- multiline


def test_batches_respect_max_bytes_and_max_lines_and_join_long_lines_exactly() -> None:
    lim = multiline.Limits(max_bytes=40, max_lines=3)
    long = "word " * 9 + "end"  # 48 bytes: two PRIVMSGs of at most 30, cut after a space
    head, tail = "word " * 6, "word word word end"
    out = multiline.batches(["", "one", "", long, "two", "three", ""], budget=30, lim=lim)
    assert [multiline.joined(b) for b in out] == ["one", head, tail + "\ntwo\nthree"]
    assert out[2][0] == (tail, False)  # a batch never starts joined to the one before
    for batch in out:
        assert len(batch) <= 3 and len(multiline.joined(batch).encode()) <= 40
    piece = multiline.batches([long], budget=30, lim=multiline.Limits(4096, None))
    assert piece == [[(head, False), (tail, True)]]
    assert multiline.joined(piece[0]) == long
    assert multiline.batches(["", " ", ""], 30, lim) == []
    assert multiline.limits("max-bytes=4096,max-lines=32") == multiline.Limits(4096, 32)
    assert multiline.limits("max-bytes=100") == multiline.Limits(100, None)
    assert multiline.limits("max-lines=5") is None and multiline.limits("") is None


def test_a_paragraph_goes_as_one_batch_and_its_echo_confirms_it() -> None:
    s = session()
    join(s)
    sent(s)
    s.say_paragraph("#lobby", ["first line", "", "third line"], NOW)
    out = wire(s)
    assert [(m.command, m.params) for m in out] == [
        ("BATCH", ["+ml1", "draft/multiline", "#lobby"]),
        ("PRIVMSG", ["#lobby", "first line"]),
        ("PRIVMSG", ["#lobby", ""]),
        ("PRIVMSG", ["#lobby", "third line"]),
        ("BATCH", ["-ml1"]),
    ]
    assert all(m.tags == {"batch": "ml1"} for m in out[1:4])
    lobby = s.get_buffer("#lobby")
    assert lobby is not None
    pending = lobby.lines[-1]
    assert pending.pending and pending.text == "first line\n\nthird line"
    feed(
        s,
        f"@time={stamp(1)};msgid=e1 :alice!u@h BATCH +b1 draft/multiline #lobby",
        "@batch=b1 :alice!u@h PRIVMSG #lobby :first line",
        "@batch=b1 :alice!u@h PRIVMSG #lobby :",
        "@batch=b1 :alice!u@h PRIVMSG #lobby :third line",
        ":alice!u@h BATCH -b1",
    )
    confirmed = lobby.lines[-1]
    assert confirmed.seq == pending.seq and not confirmed.pending
    assert confirmed.msgid == "e1" and confirmed.time == NOW + 1
    assert [line.text for line in lobby.lines].count("first line\n\nthird line") == 1


def test_a_labeled_batch_echo_is_matched_by_its_label() -> None:
    s = session(CAPS + " labeled-response")
    join(s)
    wire(s)
    s.say_paragraph("bob", ["a", "b"], NOW)
    opener = next(m for m in wire(s) if m.command == "BATCH" and m.params[0].startswith("+"))
    label = opener.tags["label"]
    feed(
        s,
        f"@label={label};time={stamp(1)};msgid=e2 :alice!u@h BATCH +b2 draft/multiline bob",
        "@batch=b2 :alice!u@h PRIVMSG bob :a",
        "@batch=b2 :alice!u@h PRIVMSG bob :b",
        ":alice!u@h BATCH -b2",
    )
    bob = s.get_buffer("bob")
    assert bob is not None
    (line,) = [x for x in bob.lines if x.own]
    assert line.text == "a\nb" and not line.pending and not line.failed and line.msgid == "e2"


def test_past_the_limits_several_batches_and_without_the_cap_line_by_line() -> None:
    s = session(multiline_value="max-bytes=20,max-lines=2")
    join(s)
    sent(s)
    s.say_paragraph("#lobby", ["one", "two", "three", "four", "five"], NOW)
    out = sent(s)
    assert out.count("BATCH draft/multiline #lobby") == 0  # (the ref comes first)
    opened = [line for line in out if line.startswith("BATCH +")]
    assert len(opened) == 2 and out[-1] == "PRIVMSG #lobby five"  # alone: a plain message
    plain = session("batch server-time message-tags echo-message")
    join(plain)
    sent(plain)
    plain.say_paragraph("#lobby", ["one", "", "two"], NOW)
    assert sent(plain) == ["PRIVMSG #lobby one", "PRIVMSG #lobby two"]


def test_a_received_multiline_message_is_one_message_with_its_lines() -> None:
    s = session()
    lobby = join(s)
    join(s, "#dev")
    feed(
        s,
        f"@time={stamp(3)};msgid=x1 :bob!u@h BATCH +z draft/multiline #lobby",
        "@batch=z :bob!u@h PRIVMSG #lobby :here is the config:",
        "@batch=z :bob!u@h PRIVMSG #lobby :port = 8520, ",
        "@batch=z;draft/multiline-concat :bob!u@h PRIVMSG #lobby :alice: check it",
        "@batch=z :bob!u@h TOPIC #lobby :not for a multiline batch",
        ":bob!u@h BATCH -z",
    )
    line = lobby.lines[-1]
    assert line.nick == "bob" and line.msgid == "x1" and line.time == NOW + 3
    assert line.text == "here is the config:\nport = 8520, alice: check it"
    assert line.highlight and lobby.unread == 1 and lobby.topic == ""
    rows = render(line, 40)
    assert (
        len(rows) == 2 and "".join(t for _, t in rows[1]).strip() == "port = 8520, alice: check it"
    )


def test_chatds_history_rows_of_one_multiline_message_are_shown_as_one() -> None:
    s = session()
    lobby = join(s)
    feed(
        s,
        ":srv BATCH +h chathistory #lobby",
        msg(-9, "bob", "#lobby", "line one", "m5", "h"),
        msg(-9, "bob", "#lobby", "line two", "m5/1", "h"),
        msg(-8, "carol", "#lobby", "after it", "m6", "h"),
        ":srv BATCH -h",
    )
    assert shown(lobby)[:2] == [("bob", "line one\nline two"), ("carol", "after it")]
    feed(
        s,
        ":srv BATCH +h2 chathistory #lobby",
        msg(-9, "bob", "#lobby", "line two", "m5/1", "h2"),  # again after a reconnection
        ":srv BATCH -h2",
    )
    assert sum("line two" in text for _, text in shown(lobby)) == 1


# ----------------------------------------------------------------- read marker


def test_the_divider_goes_after_what_was_read_and_the_rest_is_unread() -> None:
    s = session()
    join(s, "#dev")  # the current buffer: #lobby is read elsewhere
    lobby = join(s, marker=f"timestamp={stamp(-20)}")
    assert lobby.read_marker == NOW - 20
    feed(
        s,
        ":srv BATCH +h chathistory #lobby",
        msg(-30, "bob", "#lobby", "read", "r1", "h"),
        msg(-20, "carol", "#lobby", "read too", "r2", "h"),
        msg(-10, "bob", "#lobby", "alice: unread", "r3", "h"),
        msg(-5, "alice", "#lobby", "my own, not unread", "r4", "h"),
        ":srv BATCH -h",
    )
    texts = [line.text for line in lobby.lines]
    assert texts[:6] == [
        "read", "read too", "new messages", "alice: unread", "my own, not unread",
        "You joined #lobby",
    ]  # fmt: skip
    assert lobby.unread == 1 and lobby.mentioned


def test_reading_a_buffer_sends_its_marker_once() -> None:
    s = session()
    lobby = join(s)
    sent(s)
    assert not s.mark_read(lobby.key, NOW)  # nothing said there yet
    feed(s, msg(1, "bob", "#lobby", "hello", "h1"))
    assert s.mark_read(lobby.key, NOW)
    assert sent(s) == [f"MARKREAD #lobby timestamp={stamp(1)}"]
    assert not s.mark_read(lobby.key, NOW)  # sent already
    feed(s, f":srv MARKREAD #lobby timestamp={stamp(1)}")  # the server's answer
    s.say("#lobby", "pending, not known to the server yet", NOW + 2)
    assert not s.mark_read(lobby.key, NOW + 2)
    feed(s, msg(3, "bob", "#lobby", "more", "h2"))
    assert not s.mark_read(lobby.key, NOW + 3, debounce=True)  # 2 s after the last: later
    assert s.mark_read(lobby.key, NOW + 6, debounce=True)
    assert sent(s)[-1] == f"MARKREAD #lobby timestamp={stamp(3)}"
    without = session("batch server-time message-tags")
    plain = join(without)
    feed(without, msg(1, "bob", "#lobby", "hello", "h1"))
    sent(without)
    assert not without.mark_read(plain.key, NOW) and sent(without) == []


def test_read_on_another_client_clears_the_unread_count() -> None:
    s = session()
    lobby = join(s)
    join(s, "#dev")
    feed(s, msg(1, "bob", "#lobby", "alice: one", "a1"), msg(2, "bob", "#lobby", "two", "a2"))
    assert lobby.unread == 2 and lobby.mentioned
    feed(s, f":srv MARKREAD #lobby timestamp={stamp(1)}")  # read only the first
    assert lobby.unread == 2
    feed(s, f":srv MARKREAD #lobby timestamp={stamp(2)}")
    assert lobby.unread == 0 and not lobby.mentioned and lobby.read_marker == NOW + 2
    feed(s, ":srv MARKREAD #lobby bogus", ":srv MARKREAD #nowhere *")  # nothing to act on
    assert lobby.read_marker == NOW + 2


# ------------------------------------------------------------------- redaction


def test_a_redacted_message_says_who_deleted_it_and_why() -> None:
    s = session()
    lobby = join(s)
    feed(
        s,
        msg(1, "bob", "#lobby", "my password is hunter2", "p1"),
        msg(2, "carol", "#lobby", "lol", "p2"),
        "@time=x;msgid=r :carol!u@h REDACT #lobby p1 :spoiler",
        ":bob!u@h REDACT #lobby p2",
        ":bob!u@h REDACT #lobby unknown :nothing here",
        ":bob!u@h REDACT #nowhere p1",
    )
    first, second = list(lobby.lines)[-2:]
    assert (first.nick, first.text) == ("bob", "message deleted by carol: spoiler")
    assert first.redacted and first.msgid == "p1" and first.time == NOW + 1
    assert (second.nick, second.text) == ("carol", "message deleted by bob")
    feed(s, msg(3, "bob", "alice", "private", "q1"), ":bob!u@h REDACT alice q1")
    bob = s.get_buffer("bob")
    assert bob is not None and bob.lines[-1].text == "message deleted by bob"
    assert [m.text for m in s.mention_log] == ["message deleted by bob"]  # /mentions forgets it


class _Host:
    """The part of the app /redact asks: the line at the bottom of a scrolled view."""

    def __init__(self, seq: int | None) -> None:
        self.seq = seq
        self.workspace = None
        self.config = None

    def line_in_view(self) -> int | None:
        return self.seq


def test_redact_deletes_your_last_message_or_the_one_in_view() -> None:
    s = session()
    lobby = join(s)
    s.switch(lobby.key)
    feed(s, msg(1, "alice", "#lobby", "typo", "o1"), msg(2, "bob", "#lobby", "hi", "o2"))
    sent(s)
    ctx = commands.Context(s, NOW, lambda _: None)
    commands.execute(ctx, "/redact oops")
    assert sent(s) == ["REDACT #lobby o1 oops"]
    assert lobby.lines[-1].text.startswith("Deleting the message of alice at ")
    assert "typo" not in lobby.lines[-1].text  # what is deleted is not repeated
    bob_line = next(line for line in lobby.lines if line.msgid == "o2")
    ctx.host = _Host(bob_line.seq)  # type: ignore[assignment]
    commands.execute(ctx, "/redact")
    assert sent(s) == ["REDACT #lobby o2"]
    ctx.host = _Host(lobby.lines[-1].seq)  # type: ignore[assignment]
    commands.execute(ctx, "/redact")
    assert sent(s) == [] and "not a message to delete" in lobby.lines[-1].text
    plain = session("batch server-time message-tags")
    join(plain)
    commands.execute(commands.Context(plain, NOW, lambda _: None), "/redact")
    assert sent(plain) == [] and "cannot delete messages" in plain.server_buffer.lines[-1].text


# --------------------------------------------------------------------- rename


def test_a_renamed_room_keeps_its_buffer_lines_and_place() -> None:
    s = session()
    lobby = join(s)
    join(s, "#dev")
    stale = s.channel_buffer("#hall")  # left long ago: gives way to the renamed room
    s.switch(lobby.key)
    feed(
        s,
        ":srv BATCH +h chathistory #lobby",
        msg(-9, "bob", "#lobby", "said before", "n0", "h"),
        ":srv BATCH -h",
        msg(1, "bob", "#lobby", "before the rename", "n1"),
    )
    renamed: list[tuple[str, str]] = []
    s.bufs.rename_listeners.append(lambda buf, key, name: renamed.append((key, name)))
    assert s.request_older(lobby.key)
    sent(s)
    feed(s, "@time=x :bob!u@h RENAME #lobby #hall :a better name")
    assert s.get_buffer("#lobby") is None and s.get_buffer("#hall") is lobby
    assert stale not in s.buffer_list()
    assert [b.name for b in s.buffer_list()] == ["test", "#hall", "#dev"]
    assert s.current == "#hall" and lobby.joined and "bob" in lobby.members
    assert [line.text for line in lobby.lines][-2:] == [
        "before the rename",
        "bob renamed #lobby to #hall (a better name)",
    ]
    assert renamed == [("#lobby", "#lobby")]
    assert s.loading_history("#hall")  # the request in flight follows the room
    feed(s, ":srv BATCH +o chathistory #hall", ":srv BATCH -o")
    assert not s.loading_history("#hall") and lobby.history_complete
    s.connection_lost(NOW, "reset", 1.0)
    connect(s)
    assert "JOIN #hall" in sent(s)  # rejoined under its new name


# -------------------------------------------------------------------- metadata


def test_whois_shows_the_display_name() -> None:
    s = session(CAPS + " labeled-response")
    wire(s)
    s.whois("bob")
    meta, whois = wire(s)
    assert (meta.command, meta.params) == ("METADATA", ["bob", "GET", "display-name"])
    assert whois.command == "WHOIS"
    ml, wl = meta.tags["label"], whois.tags["label"]
    feed(
        s,
        f"@label={ml} :srv BATCH +l labeled-response",
        "@batch=l :srv BATCH +m metadata bob",
        "@batch=m :srv 761 alice bob display-name * :Bob the Builder",
        "@batch=l :srv BATCH -m",
        ":srv BATCH -l",
        f"@label={wl} :srv 311 alice bob ~b host * :Robert",
    )
    texts = [line.text for line in s.server_buffer.lines][-2:]
    assert texts == ["bob is ~b@host (Robert)", "bob: display name Bob the Builder"]
    s.whois("nobody")
    meta, whois = wire(s)
    before = len(s.server_buffer.lines)
    feed(s, f"@label={meta.tags['label']} :srv FAIL METADATA INVALID_TARGET nobody :Invalid")
    assert len(s.server_buffer.lines) == before  # the WHOIS answer says it
    plain = session()
    plain.whois("bob")
    assert sent(plain) == ["WHOIS bob"]  # without labels the answers could not be told apart


# ------------------------------------------------------------------ on disk


def test_a_multiline_message_is_one_log_row_per_line(tmp_path: Path) -> None:
    line = LogLine(3, NOW, Kind.MESSAGE, "one\ntwo", nick="bob")
    rows = format_line(line).splitlines()
    assert len(rows) == 2 and rows[0].endswith("<bob> one") and rows[1].endswith("<bob> two")
    printed = linemode.format_line(Buffer("#lobby", "channel"), line).splitlines()
    assert [row[11:] for row in printed] == ["#lobby <bob> one", "#lobby <bob> two"]
    writer = LogWriter(tmp_path)
    room = Buffer("#lobby", "channel")
    writer.write("home", room, line)
    room.name = "#hall"
    writer.rename("home", "#lobby", room)
    writer.write("home", room, LogLine(4, NOW, Kind.MESSAGE, "three", nick="bob"))
    (log,) = (tmp_path / "home" / "#hall").iterdir()
    assert log.read_text().count("<bob>") == 3 and not (tmp_path / "home" / "#lobby").exists()


@pytest.mark.parametrize("text", ["deleted\nmultiline", "message deleted by carol"])
def test_a_redacted_line_is_drawn_quietly(text: str) -> None:
    line = LogLine(0, NOW, Kind.MESSAGE, text, nick="bob", redacted=True)
    rows = render(line, 60)
    assert any("class:log.deleted" in style for row in rows for style, _ in row)


def test_a_multiline_batch_without_a_target_or_an_end_is_harmless() -> None:
    s = session()
    join(s)
    feed(s, ":bob!u@h BATCH +q draft/multiline", ":bob!u@h BATCH -q", ":x BATCH -nothing")
    feed(s, "@batch=q :bob!u@h PRIVMSG #lobby :after the batch ended")
    assert s.state is ConnState.CONNECTED
