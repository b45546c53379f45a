"""server/hidden.py: the copy of a line that holds a password, as a cluster's log carries it.

The copies as a table (the secret's span replaced by `*`, the same fate for lines no handler
sees), and a property: applying a line at its origin and its copy on a replica (a user that is
not local, with the origin's verdict in `state.hidden`) leaves the replicated state the same,
line after line, registered or not. The cluster test (tests/cluster/test_secrets.py) checks the
same on three real nodes and scans Redis for the passwords.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ircclient import Scripted, make_state

from chatd.server import hidden
from chatd.server.hidden import Hidden, hide, param_spans

from .util import numerics

# Sans-IO: two states side by side; once, on one process.
pytestmark = pytest.mark.single_process

NETPASS = "net-pass-123"
SETTINGS = {"password": NETPASS}


def copy_of(raw: bytes, **settings: object) -> Hidden | None:
    return hide(raw, make_state(**(settings or SETTINGS)).config)


@pytest.mark.parametrize(
    ("raw", "copy"),
    [
        (b"PASS hunter2", b"PASS *"),
        (b"pass :two words", b"pass :*"),
        (b"PASS :", b"PASS :"),  # nothing to hide, but the verdict travels
        (b"PASS", None),  # 461
        (b"OPER admin s3cret", b"OPER admin *"),
        (b"OPER admin s3cret extra :words here", b"OPER admin *"),
        (b"OPER admin", None),
        (b"@label=x AUTHENTICATE AGFsaWNlAHB3", b"@label=x AUTHENTICATE *"),
        (b":me!u@h AUTHENTICATE PLAIN", b":me!u@h AUTHENTICATE *"),
        (b"REGISTER alice a@b.c :my pass", b"REGISTER alice a@b.c :*"),
        (b"REGISTER alice *", None),
        (b"PRIVMSG NickServ :IDENTIFY pw", b"PRIVMSG NickServ :IDENTIFY *"),
        (
            b"PRIVMSG nickserv,NICKSERV :identify alice my pass",
            b"PRIVMSG nickserv,NICKSERV :identify alice *",
        ),
        (b"PRIVMSG NickServ :id  pw", b"PRIVMSG NickServ :id  *"),
        (b"PRIVMSG NickServ :LOGIN\tacc\tpw", b"PRIVMSG NickServ :LOGIN\tacc\t*"),
        (b"PRIVMSG NickServ :REGISTER pw a@b.c", b"PRIVMSG NickServ :REGISTER * a@b.c"),
        (b"PRIVMSG NickServ :set password new one", b"PRIVMSG NickServ :set password *"),
        (b"PRIVMSG NickServ :SET EMAIL x", None),
        (b"PRIVMSG NickServ :GHOST bob pw", b"PRIVMSG NickServ :GHOST bob *"),
        (b"PRIVMSG NickServ :RECOVER bob pw", b"PRIVMSG NickServ :RECOVER bob *"),
        (b"PRIVMSG NickServ :GHOST bob", None),
        (b"PRIVMSG NickServ :INFO", None),
        (b"PRIVMSG NickServ :IDENTIFY", None),
        (b"NOTICE NickServ :ID pw", b"NOTICE NickServ :ID *"),
        (b"NS IDENTIFY pw", b"NS IDENTIFY *"),
        (b"NICKSERV LOGIN acc :pw with spaces", b"NICKSERV LOGIN acc :*"),
        (b"NS :REGISTER pw :email", b"NS :REGISTER * :email"),
        (b"PRIVMSG #chan,NickServ :IDENTIFY pw", None),  # delivered to #chan as sent
        (b"PRIVMSG alice :IDENTIFY pw", None),
        (b"PRIVMSG #pass :OPER admin pw", None),
        (b"JOIN #pass", None),
        (b"PASS\tsecret", b"*"),  # not a command (421): hidden all the same
        (b"@label=y OPER\tadmin\tpw", b"@label=y *"),
        (b":src :PASS :secret", b":s :PASS :"),  # read as PASS with no parameters (461)
        (b"PASS caf\xe9", b"PASS \xff"),  # FAIL PASS INVALID_UTF8 either way
        (b"@a=b PASS \xe9", b"* \xff"),  # FAIL * INVALID_UTF8
        (b"PASS a\x00b", b"* \x00"),  # FAIL * INVALID_MESSAGE
        (b"PASS " + b"x" * 600, b"*" * 511),  # 417
        (b"@=x PASS pw", b"@+ *"),  # unparseable: ignored
    ],
)
def test_the_copy_of_each_line(raw, copy):
    got = copy_of(raw)
    assert (got.line if got is not None else None) == copy


def test_the_pass_verdict_is_decided_at_the_origin():
    assert copy_of(f"PASS {NETPASS}".encode()) == Hidden(b"PASS *", True)
    assert copy_of(b"PASS wrong") == Hidden(b"PASS *", False)
    assert copy_of(f"PASS {NETPASS}".encode(), nicklen=30) == Hidden(b"PASS *", False)  # none


@given(st.text(st.characters(codec="utf-8", exclude_characters="\r\n\0"), max_size=80))
@settings(max_examples=300)
def test_param_spans_follow_the_parser(text):
    from chatd.proto.errors import ProtocolError
    from chatd.proto.message import parse

    try:
        msg = parse(text)
    except ProtocolError:
        return
    spans = param_spans(text)
    assert text[spans[0][0] : spans[0][1]].upper() == msg.command
    assert [text[s:e] for s, e in spans[1:]] == msg.params


# -- the origin and a replica reach the same state -------------------------------------------

SECRET = "Sekr1t"  # every password word the property's lines carry starts with this


def cheap_hash(password: str) -> str:
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16, r=1, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt$16$1$1${b64(salt).decode()}${b64(digest).decode()}"


secret_words = st.builds(lambda n: f"{SECRET}{n}", st.integers(0, 99))
space = st.sampled_from([" ", "  ", "\t", " \u3000 "])
nickserv_text = st.one_of(
    st.builds(
        lambda v, a, s, p: f"{v}{s}{a}{s}{p}",
        st.sampled_from(["IDENTIFY", "id", "LOGIN"]),
        st.sampled_from(["alice", "bob"]),
        space,
        secret_words,
    ),
    st.builds(
        lambda v, s, p: f"{v}{s}{p}", st.sampled_from(["IDENTIFY", "REGISTER"]), space, secret_words
    ),
    st.builds(lambda s, p: f"SET{s}PASSWORD{s}{p} {p}", space, secret_words),
    st.builds(
        lambda v, s, p: f"{v} bob{s}{p}", st.sampled_from(["GHOST", "REGAIN"]), space, secret_words
    ),
)
secret_lines = st.one_of(
    st.builds(lambda p: f"PASS {p}", st.one_of(secret_words, st.just(NETPASS))),
    st.builds(lambda p: f"PASS :{p} {p}", secret_words),
    st.builds(lambda p: f"OPER boss {p}", st.one_of(secret_words, st.just("pw"))),
    st.builds(
        lambda p: f"AUTHENTICATE {p}", st.one_of(secret_words, st.just("PLAIN"), st.just("*"))
    ),
    st.builds(lambda p: f"REGISTER * * {p}", secret_words),
    st.builds(
        lambda t, c: f"{c} NickServ :{t}", nickserv_text, st.sampled_from(["PRIVMSG", "NOTICE"])
    ),
    st.builds(lambda t, c: f"{c} {t}", nickserv_text, st.sampled_from(["NS", "NICKSERV"])),
)
decorated = st.builds(
    lambda tags, line, tail: (tags + line).encode() + tail,
    st.sampled_from(["", "@label=l1 ", "@batch=b1 ", ":src ", ":src :"]),
    secret_lines,
    st.sampled_from([b"", b"", b"\xff", b"\x00", b" " + b"x" * 520]),
)
plain_lines = st.sampled_from(
    [
        b"NICK alice",
        b"NICK bob",
        b"USER u 0 * :Real Name",
        b"CAP LS 302",
        b"CAP REQ :sasl",
        b"CAP END",
        b"JOIN #a",
        b"PRIVMSG #a :hi",
        b"AWAY :x",
        b"MODE alice",
    ]
)


def replicated(state, user) -> tuple:
    """What a replica must agree on about one user and the state around it."""
    return (
        user.registered,
        user.gone,
        user.nick,
        user.pass_ok,
        user.early_lines,
        user.lines_in,
        user.last_seen,
        user.last_spoke,
        user.modes,
        user.account,
        user.auth_failures,
        user.oper_next,
        user.away,
        user.batch is None,
        sorted(c.key for c in user.channels),
        sorted(state.command_counts.items()),
        state.oper_next,
        state.unregistered,
        state.connections,
    )


@given(st.lists(st.one_of(plain_lines, decorated), min_size=1, max_size=12))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_origin_and_a_replica_agree_line_after_line(lines):
    config = {**SETTINGS, "opers": {"boss": cheap_hash("pw")}}
    origin, replica = make_state(**config), make_state(**config)
    at_origin, on_replica = Scripted(origin), Scripted(replica)
    on_replica.user.local = False  # as cluster/replica.py makes another node's user
    for raw in lines:
        copy = hide(raw, origin.config)
        at_origin.send(raw)
        if copy is None:
            on_replica.send(raw)
        else:
            assert SECRET.encode() not in copy.line, (raw, copy)
            replica.hidden = copy
            try:
                on_replica.send(copy.line)
            finally:
                replica.hidden = None
        assert replicated(origin, at_origin.user) == replicated(replica, on_replica.user), raw


def test_single_process_pass_is_unchanged():
    """One process applies every line as sent (no copies): PASS as before."""
    state = make_state(password=NETPASS)
    good, bad, none = Scripted(state), Scripted(state), Scripted(state)
    good.send(f"PASS {NETPASS}")
    assert numerics(good.register("good"))[0] == "001"
    bad.send("PASS nope")
    assert numerics(bad.register("bad")) == ["464", "ERROR"]
    assert numerics(none.register("none")) == ["464", "ERROR"]
    assert state.hidden is None and hidden.HIDDEN == "*"


def test_no_multiline_batch_to_a_service():
    state = make_state()
    c = Scripted(state)
    c.send("CAP REQ :batch draft/multiline")
    c.register("alice")
    c.send("CAP END")
    c.take()
    lines = c.send("BATCH +b draft/multiline NickServ")
    assert lines == [
        ":chatd.local FAIL BATCH MULTILINE_INVALID :Services take single lines, not multiline "
        "batches"
    ]
    assert c.user.batch is None
