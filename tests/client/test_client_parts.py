"""The parts behind the Session façade, each on its own (sans-IO): the buffer list, CAP and
SASL registration, the router, the notify list, masks, and the workspace of several servers."""

from __future__ import annotations

import base64

import pytest
from test_client_session import NOW, feed, joined, registered, sent, texts

from chatd.client import sasl
from chatd.client.buffers import BufferList
from chatd.client.masks import ban_mask, matches, normalise
from chatd.client.model import Buffer, ISupport, Kind
from chatd.client.notify import NotifyList
from chatd.client.outbox import Outbox
from chatd.client.registration import Registration
from chatd.client.routing import MAX_LABELS, REPLY, Label, Router
from chatd.client.sasl import SaslConfig
from chatd.client.session import Session
from chatd.client.workspace import Workspace, key_hint
from chatd.proto import scram
from chatd.proto.message import parse

# ------------------------------------------------------------------ buffer list


def test_buffer_list_navigation_unread_and_focus() -> None:
    bufs = BufferList("srv")
    for name in ("#a", "#b"):
        bufs.channel(name)
    bufs.query("bob")
    assert [b.name for b in bufs.all()] == ["srv", "#a", "#b", "bob"]
    bufs.switch_index(1)
    a, b = bufs.get("#A"), bufs.get("#b")
    assert a is not None and b is not None and bufs.current_buffer is a
    bufs.add_line(a, NOW, Kind.MESSAGE, "seen")
    bufs.add_line(b, NOW, Kind.MESSAGE, "unseen")
    assert (a.unread, b.unread) == (0, 1)
    bufs.focused = False  # another server is on screen: even the current buffer counts
    bufs.add_line(a, NOW, Kind.MESSAGE, "while away")
    assert a.unread == 1
    bufs.switch_relative(-1)
    assert bufs.current == ""
    bufs.switch_relative(-1)
    assert bufs.current == "bob"
    q = bufs.current_buffer
    bufs.rename(q, "robert")
    assert bufs.current == "robert" and [b.name for b in bufs.all()][-1] == "robert"
    bufs.remove("robert")
    assert bufs.current == "#b"
    bufs.remove("")  # the server buffer stays
    assert bufs.server.name == "srv"


# --------------------------------------------------------- registration and SASL


def registration(**kw: object) -> tuple[Registration, Outbox, list[tuple[str, bool]]]:
    out = Outbox()
    notes: list[tuple[str, bool]] = []
    reg = Registration(
        "alice",
        send=out.send,
        note=lambda text, err: notes.append((text, err)),
        isupport=ISupport(),
        **kw,  # type: ignore[arg-type]
    )
    reg.start()
    out.pull()
    return reg, out, notes


def lines(out: Outbox) -> list[str]:
    return [" ".join([m.command, *m.params]) for m in out.pull()]


def test_registration_on_its_own_requests_caps_and_ends() -> None:
    reg, out, _ = registration()
    reg.on_cap(parse(":srv CAP * LS :server-time sasl=PLAIN batch"))
    assert lines(out) == ["CAP REQ batch server-time"]  # no sasl: none configured
    reg.on_cap(parse(":srv CAP alice ACK :batch server-time"))
    assert lines(out) == ["CAP END"] and reg.caps == {"batch", "server-time"}


def test_sasl_plain() -> None:
    reg, out, notes = registration(sasl_config=SaslConfig("PLAIN", "alice", "hunter2"))
    reg.on_cap(parse(":srv CAP * LS :server-time sasl=PLAIN,SCRAM-SHA-256"))
    assert lines(out) == ["CAP REQ sasl server-time"]
    reg.on_cap(parse(":srv CAP alice ACK :sasl server-time"))
    assert lines(out) == ["AUTHENTICATE PLAIN"]  # CAP END waits for the outcome
    reg.on_authenticate(parse("AUTHENTICATE +"))
    payload = base64.b64encode(b"alice\0alice\0hunter2").decode()
    assert lines(out) == [f"AUTHENTICATE {payload}"]
    reg.on_sasl_numeric(parse(":srv 900 alice alice!a@h alice :You are now logged in as alice"))
    reg.on_sasl_numeric(parse(":srv 903 alice :SASL authentication successful"))
    assert lines(out) == ["CAP END"] and reg.account == "alice"
    assert ("SASL PLAIN: logged in", False) in notes


def test_sasl_scram_sha_256_against_the_server_side_primitives() -> None:
    reg, out, notes = registration(sasl_config=SaslConfig("SCRAM-SHA-256", "alice", "pencil"))
    creds = scram.make_credentials("pencil")
    server = scram.ScramServer(scram.make_nonce())
    reg.on_cap(parse(":srv CAP * LS :sasl"))
    reg.on_cap(parse(":srv CAP alice ACK :sasl"))
    assert lines(out) == ["CAP REQ sasl", "AUTHENTICATE SCRAM-SHA-256"]

    def exchange(challenge: str) -> str:
        reg.on_authenticate(parse(f"AUTHENTICATE {challenge}"))
        (answer,) = out.pull()
        return base64.b64decode(answer.params[0]).decode() if answer.params[0] != "+" else ""

    first = exchange("+")
    assert server.receive_first(first) == "alice"
    final = exchange(base64.b64encode(server.challenge(creds).encode()).decode())
    verdict = server.receive_final(final)  # raises on a wrong proof
    assert exchange(base64.b64encode(verdict.encode()).decode()) == ""  # verified: "+"
    reg.on_sasl_numeric(parse(":srv 903 alice :SASL authentication successful"))
    assert lines(out) == ["CAP END"]
    assert not any(err for _, err in notes)


def test_sasl_scram_aborts_when_the_server_cannot_prove_itself() -> None:
    reg, out, notes = registration(sasl_config=SaslConfig("SCRAM-SHA-256", "alice", "pencil"))
    reg.on_cap(parse(":srv CAP * LS :sasl"))
    reg.on_cap(parse(":srv CAP alice ACK :sasl"))
    reg.on_authenticate(parse("AUTHENTICATE +"))
    out.pull()
    reg.on_authenticate(
        parse("AUTHENTICATE " + base64.b64encode(b"r=wrongnonce,s=QQ==,i=4096").decode())
    )
    assert lines(out) == ["AUTHENTICATE *"]
    assert "does not extend ours" in notes[-1][0] and notes[-1][1]
    reg.on_sasl_numeric(parse(":srv 906 alice :SASL authentication aborted"))
    assert lines(out) == ["CAP END"]


def test_sasl_external_and_failures() -> None:
    reg, out, notes = registration(sasl_config=SaslConfig("EXTERNAL"))
    reg.on_cap(parse(":srv CAP * LS :sasl=EXTERNAL"))
    reg.on_cap(parse(":srv CAP alice ACK :sasl"))
    reg.on_authenticate(parse("AUTHENTICATE +"))
    assert lines(out) == ["CAP REQ sasl", "AUTHENTICATE EXTERNAL", "AUTHENTICATE +"]
    reg.on_sasl_numeric(parse(":srv 904 alice :SASL authentication failed"))
    assert lines(out) == ["CAP END"]
    assert "failed" in notes[-1][0] and "continuing without logging in" in notes[-1][0]
    # A mechanism the server does not offer, or no SASL at all: said, not requested.
    reg, out, notes = registration(sasl_config=SaslConfig("SCRAM-SHA-256", "a", "b"))
    reg.on_cap(parse(":srv CAP * LS :sasl=PLAIN server-time"))
    assert lines(out) == ["CAP REQ server-time"] and "offers PLAIN" in notes[-1][0]
    reg, out, notes = registration(sasl_config=SaslConfig("PLAIN", "a", "b"))
    reg.on_cap(parse(":srv CAP * LS :server-time"))
    assert lines(out) == ["CAP REQ server-time"] and "does not offer it" in notes[-1][0]


def test_authenticate_framing() -> None:
    assert sasl.encode(b"") == ["+"]
    exact = sasl.encode(b"x" * 300)  # 400 base64 characters: a "+" says it ended
    assert [len(c) for c in exact] == [400, 1] and exact[-1] == "+"
    long = sasl.encode(b"y" * 500)
    assert [len(c) for c in long] == [400, 268]
    decoder = sasl.Decoder()
    assert decoder.feed(long[0]) is None and decoder.feed(long[1]) == b"y" * 500
    assert decoder.feed(exact[0]) is None and decoder.feed("+") == b"x" * 300
    with pytest.raises(sasl.SaslError, match="base64"):
        sasl.Decoder().feed("!!")
    assert SaslConfig("PLAIN").problem() is not None and SaslConfig("EXTERNAL").problem() is None


def test_sasl_through_the_session() -> None:
    s = Session("alice", sasl=SaslConfig("PLAIN", "alice", "pw"), channels=["#lobby"])
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv CAP * LS :sasl", ":srv CAP alice ACK :sasl", "AUTHENTICATE +")
    assert sent(s) == [
        "CAP REQ sasl",
        "AUTHENTICATE PLAIN",
        "AUTHENTICATE " + base64.b64encode(b"alice\0alice\0pw").decode(),
    ]
    feed(s, ":srv 903 alice :SASL authentication successful", ":srv 001 alice :Welcome")
    assert sent(s) == ["CAP END", "JOIN #lobby"]
    assert "SASL PLAIN: logged in" in texts(s, "")


# ------------------------------------------------------------------- the router


def test_router_on_its_own_bounds_labels_and_routes_replies() -> None:
    bufs = BufferList("srv")
    out = Outbox()
    router = Router(bufs, out.send, {"labeled-response"})
    dev = bufs.channel("#dev")
    for _ in range(MAX_LABELS + 10):
        router.send_labeled(Label(REPLY, dev.key), "WHOIS", "bob")
    assert len(router._labels) == MAX_LABELS  # a server that never answers cannot grow it
    last = out.pull()[-1].tags["label"]
    router.begin(parse(f"@label={last} :srv 311 alice bob u h * :Bob"))
    assert router.reply_buffer() is dev
    router.end(parse(f"@label={last} :srv 311 alice bob u h * :Bob"))
    assert router.reply_buffer() is None and last not in router._labels
    assert not router.request_older(dev.key, connected=True)  # no draft/chathistory


# -------------------------------------------------------------- the notify list


def test_notify_with_monitor() -> None:
    out = Outbox()
    notify = NotifyList(["bob", "carol", "Bob"], out.send)
    assert notify.nicks == ["bob", "carol"]
    notify.start("100", NOW)
    assert lines(out) == ["MONITOR + bob,carol"]
    assert notify.on_numeric(parse(":srv 730 alice :bob!b@h,dave!d@h")) == ["bob is online"]
    assert notify.on_numeric(parse(":srv 731 alice :bob,carol")) == ["bob went offline"]
    assert notify.add("dave") and lines(out) == ["MONITOR + dave"]
    assert notify.remove("DAVE") and lines(out) == ["MONITOR - DAVE"]
    assert "full" in notify.on_numeric(parse(":srv 734 alice 100 eve :Monitor list is full."))[0]


def test_notify_with_ison_polling_through_the_session() -> None:
    s = Session("alice", notify=["bob", "carol"])
    s.connection_made(NOW)
    feed(s, ":srv 001 alice :Welcome", ":srv 005 alice CHANTYPES=# :are supported")
    sent(s)
    s.tick(NOW)
    assert sent(s) == ["ISON bob carol"]
    s.tick(NOW + 30)
    assert sent(s) == []  # once a minute
    feed(s, ":srv 303 alice :Bob")
    assert texts(s, "")[-1] == "Bob is online"
    s.tick(NOW + 61)
    assert sent(s) == ["ISON bob carol"]
    feed(s, ":srv 303 alice :carol")
    assert texts(s, "")[-2:] == ["carol is online", "Bob went offline"]


def test_notify_uses_monitor_when_the_server_offers_it() -> None:
    s = Session("alice", notify=["bob"])
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 001 alice :Welcome", ":srv 005 alice MONITOR=100 CHANTYPES=# :are supported")
    assert sent(s) == ["MONITOR + bob"]  # 005 comes after 001: MONITOR replaces ISON then
    s.tick(NOW + 100)
    assert sent(s) == []  # no polling
    feed(s, ":srv 730 alice :bob!b@h")
    assert texts(s, "")[-1] == "bob is online"


# ------------------------------------------------------------------------ masks


def test_masks() -> None:
    assert normalise("bob") == "bob!*@*" and normalise("u@h") == "*!u@h"
    assert matches("bob", "BOB!x@y") and not matches("bob", "bobby!x@y")
    assert matches("*!*@*.example", "z!u@spam.example") and matches("b?b", "bib!u@h")
    assert matches("[a]", "{A}!u@h")  # rfc1459 casemapping
    assert ban_mask("bob", "~b@host.example") == "*!*@host.example"
    assert ban_mask("bob", "") == "bob!*@*"


# ------------------------------------------------------------------- workspace


def two_servers() -> tuple[Workspace, Session, Session]:
    home = joined(registered(channels=("#lobby",)))
    home.name = "home"
    work = joined(registered(channels=("#ops",)), "#ops")
    work.name = "work"
    for s in (home, work):
        s.switch(s.get_buffer("#lobby" if s is home else "#ops").key)  # type: ignore[union-attr]
    return Workspace([home, work]), home, work


def test_workspace_numbers_every_buffer_and_switches_across_servers() -> None:
    ws, home, work = two_servers()
    names = [(s.name, b.name) for s, b in ws.entries()]
    assert names == [
        ("home", "test:8520"),
        ("home", "#lobby"),
        ("work", "test:8520"),
        ("work", "#ops"),
    ]
    assert ws.session is home and ws.current_index() == 1
    ws.switch_index(3)
    assert ws.session is work and work.current_buffer.name == "#ops"
    assert not home.bufs.focused and work.bufs.focused
    ws.switch_relative(1)
    assert ws.session is home and home.current_buffer.kind == "server"
    found = ws.find("work/#ops")
    assert found is not None and found[0] is work
    assert ws.find("4") == (work, work.get_buffer("#ops")) and ws.find("#nowhere") is None
    assert [key_hint(n) for n in (1, 9, 10, 11)] == ["Alt-1", "Alt-9", "Alt-0", "/buffer 11"]


def test_a_private_message_elsewhere_is_announced_where_you_read_and_rings() -> None:
    ws, home, work = two_servers()
    assert not ws.take_bell()
    feed(work, ":bob!b@h PRIVMSG alice :psst")
    assert texts(home, "#lobby")[-1] == "private message from bob on work (Alt-5)"
    assert ws.take_bell() and not ws.take_bell()
    feed(work, ":bob!b@h PRIVMSG alice :again")  # once per visit, not per line
    assert texts(home, "#lobby")[-1] == "private message from bob on work (Alt-5)"
    assert texts(home, "#lobby").count("private message from bob on work (Alt-5)") == 1
    feed(home, ":carol!c@h PRIVMSG #lobby :alice: look")  # a mention rings too
    assert ws.take_bell()
    ws.bell = False
    feed(home, ":carol!c@h PRIVMSG #lobby :alice: again")
    assert not ws.take_bell()
    found = [(s.name, m.text) for s, m in ws.mentions()]  # same time here: server order
    assert found == [
        ("home", "alice: look"),
        ("home", "alice: again"),
        ("work", "psst"),
        ("work", "again"),
    ]


def test_a_private_message_in_the_buffer_you_read_is_not_announced() -> None:
    ws, home, _ = two_servers()
    home.open_query("bob")
    before = len(home.get_buffer("bob").lines)  # type: ignore[union-attr]
    feed(home, ":bob!b@h PRIVMSG alice :hi")
    assert [b.name for b in home.buffer_list()].count("bob") == 1
    assert texts(home, "bob")[before:] == ["hi"]
    assert not any("private message" in t for t in texts(home, "#lobby"))


def test_buffer_is_a_plain_model() -> None:
    buf = Buffer("#x", "channel")
    assert buf.modes == "" and not buf.modes_known
