"""Registration without sockets: CAP negotiation, PASS, NICK/USER, the welcome burst (001-005,
LUSERS, MOTD), PING/PONG and QUIT before and after registration."""

from __future__ import annotations

import pytest

from chatd.proto.caps import SUPPORTED
from chatd.server.isupport import tokens

from .util import HOST, Scripted, make_state, msgs, numerics, one, only, registered

WELCOME = [
    "001",
    "002",
    "003",
    "004",
    "005",
    "005",
    "005",
    "251",
    "252",
    "253",
    "254",
    "255",
    "265",
    "266",
]


def isupport(lines: list[str]) -> dict[str, str]:
    """The 005 tokens of a welcome burst as name -> value ("" for a bare token)."""
    out: dict[str, str] = {}
    for m in only(lines, "005"):
        assert m.params[-1] == "are supported by this server"
        for token in m.params[1:-1]:
            name, _, value = token.partition("=")
            out[name] = value
    return out


# -- plain registration -------------------------------------------------------------------------


def test_nick_user_registers_with_full_burst():
    state = make_state()
    c = Scripted(state)
    assert c.send("NICK alice") == []
    lines = c.send("USER al 0 * :Alice Liddell")
    assert numerics(lines) == WELCOME + ["422"]
    welcome = msgs(lines)
    assert all(m.source == "chatd.local" and m.params[0] == "alice" for m in welcome)
    assert welcome[0].params[1] == f"Welcome to the chatd IRC Network alice!~al@{HOST}"
    assert "chatd-0.1.0" in welcome[1].params[1]
    assert welcome[3].params[1:] == [
        "chatd.local",
        "chatd-0.1.0",
        "Biorw",
        "CIMPRbeiklmnostv",
        "Ibeklov",
    ]
    assert c.user.registered and c.user.realname == "Alice Liddell"


def test_user_before_nick_also_registers():
    c = Scripted(make_state())
    assert c.send("USER al 0 * :Alice") == []
    assert numerics(c.send("NICK alice"))[0] == "001"


def test_isupport_tokens_are_real():
    state = make_state(
        network="TestNet",
        nicklen=20,
        channellen=40,
        topiclen=300,
        kicklen=200,
        awaylen=150,
        max_targets=3,
    )
    c = Scripted(state)
    toks = isupport(c.register("alice"))
    assert toks["CASEMAPPING"] == "rfc1459"
    assert toks["CHANTYPES"] == "#"
    assert toks["PREFIX"] == "(ov)@+"
    assert toks["CHANMODES"] == "beI,k,l,CMPRimnst"
    assert toks["NICKLEN"] == "20"
    assert toks["CHANNELLEN"] == "40"
    assert toks["TOPICLEN"] == "300"
    assert toks["KICKLEN"] == "200"
    assert toks["AWAYLEN"] == "150"
    assert toks["NETWORK"] == "TestNet"
    assert toks["UTF8ONLY"] == ""
    targmax = dict(item.split(":") for item in toks["TARGMAX"].split(","))
    assert targmax["PRIVMSG"] == "3" and targmax["NOTICE"] == "3"
    # every token the server builds is sent, and no 005 line carries too many
    assert len(toks) == len(tokens(state.config))
    assert all(len(m.params) <= 15 for m in only(c.send("VERSION"), "005"))


def test_advertised_limits_are_enforced():
    state = make_state(nicklen=9, channellen=10, topiclen=5, awaylen=4, kicklen=3)
    a, b = registered(state, "alice"), registered(state, "bob")
    assert numerics(a.send("NICK abcdefghij")) == ["432"]
    assert numerics(a.send("NICK abcdefghi")) == ["NICK"]
    assert numerics(a.send("JOIN #123456789a")) == ["403"]
    a.send("JOIN #12345678a")
    b.send("JOIN #12345678a")
    a.take(), b.take()
    assert one(a.send("TOPIC #12345678a :abcdefgh"), "TOPIC").params[1] == "abcde"
    a.send("AWAY :gone fishing")
    assert one(b.send("PRIVMSG abcdefghi :hi"), "301").params[2] == "gone"
    b.take()
    assert one(a.send("KICK #12345678a bob :no reason"), "KICK").params[2] == "no "


@pytest.mark.parametrize("nick", ["a", "Alice", "[x]", "\\o", "`tick`", "a-1", "^_^", "{x}|y"])
def test_valid_nicks(nick):
    c = Scripted(make_state())
    assert numerics(c.register(nick))[0] == "001"


@pytest.mark.parametrize(
    "nick", ["1abc", "-x", "a!b", "a@b", "#chan", "a,b", "a*", "ni.ck", "x" * 31]
)
def test_erroneous_nicks(nick):
    c = Scripted(make_state())
    lines = c.send(f"NICK :{nick}")
    assert numerics(lines) == ["432"]
    assert msgs(lines)[0].params[:2] == ["*", nick]
    assert not c.user.registered


def test_nick_in_use_is_case_insensitive_under_rfc1459():
    state = make_state()
    registered(state, "[a]")
    c = Scripted(state)
    lines = c.send("NICK {A}")
    assert numerics(lines) == ["433"]
    assert msgs(lines)[0].params[:2] == ["*", "{A}"]
    assert numerics(c.send("NICK {b}", "USER u 0 * :r"))[0] == "001"


def test_unregistered_nick_holder_blocks_the_nick_until_it_leaves():
    state = make_state()
    first = Scripted(state)
    first.send("NICK alice")
    second = Scripted(state)
    assert numerics(second.send("NICK alice")) == ["433"]
    first.send("QUIT")
    assert numerics(second.register("alice"))[0] == "001"


def test_commands_before_registration_get_451():
    c = Scripted(make_state())
    for line in ("JOIN #a", "PRIVMSG x :y", "WHOIS x", "MODE x", "FROBNICATE"):
        lines = c.send(line)
        assert numerics(lines) == ["451"], line
        assert msgs(lines)[0].params == ["*", "You have not registered"]


def test_reregistration_is_refused():
    c = registered(make_state(), "alice")
    assert numerics(c.send("USER x 0 * :y")) == ["462"]
    assert numerics(c.send("PASS secret")) == ["462"]


def test_username_is_sanitised_and_truncated():
    state = make_state(userlen=6)
    c = Scripted(state)
    c.send("NICK alice", "USER a$b%c.defghij 0 * :R")
    assert c.user.username == "~abc.d"
    assert c.user.prefix == f"alice!~abc.d@{HOST}"


# -- CAP ----------------------------------------------------------------------------------------


def test_cap_ls_302_holds_registration_until_cap_end():
    state = make_state()
    c = Scripted(state)
    ls = msgs(c.send("CAP LS 302"))
    assert ls[0].command == "CAP" and ls[0].params[:2] == ["*", "LS"]
    offered = dict(item.partition("=")[::2] for item in ls[0].params[2].split())
    assert set(offered) == set(SUPPORTED)  # every capability, with its CAP LS 302 value
    assert offered["sasl"] == SUPPORTED["sasl"]
    assert c.send("NICK alice", "USER a 0 * :A") == []  # waiting for CAP END
    assert not c.user.registered
    ack = msgs(c.send("CAP REQ :multi-prefix server-time"))
    assert ack[0].params == ["alice", "ACK", "multi-prefix server-time"]
    listed = msgs(c.send("CAP LIST"))[0]
    assert listed.params[1] == "LIST"
    assert set(listed.params[2].split()) == {"multi-prefix", "server-time", "cap-notify"}
    assert not c.user.registered
    lines = c.send("CAP END")
    assert numerics(lines)[:5] == ["001", "002", "003", "004", "005"]
    assert c.user.registered
    assert c.send("CAP END") == []  # a second END changes nothing


def test_cap_req_alone_also_holds_registration():
    c = Scripted(make_state())
    c.send("CAP REQ :echo-message")
    assert c.send("NICK alice", "USER a 0 * :A") == []
    assert numerics(c.send("CAP END"))[0] == "001"
    assert "echo-message" in c.user.caps


def test_cap_list_alone_does_not_hold_registration():
    c = Scripted(make_state())
    assert one(c.send("CAP LIST"), "CAP").params[1:] == ["LIST", ""]
    assert numerics(c.register("alice"))[0] == "001"


def test_cap_ls_without_version_has_no_cap_notify_implied():
    c = Scripted(make_state())
    c.send("CAP LS")
    assert c.user.caps == frozenset()
    c.send("CAP LS 302")
    assert c.user.caps == frozenset({"cap-notify"})


@pytest.mark.parametrize("request_", ["foo", "multi-prefix foo", "-nonsense", "draft/no-such-cap"])
def test_cap_req_unknown_is_naked_whole(request_):
    c = Scripted(make_state())
    c.send("CAP LS 302")
    reply = one(c.send(f"CAP REQ :{request_}"), "CAP")
    assert reply.params == ["*", "NAK", request_]
    assert c.user.caps == frozenset({"cap-notify"})  # nothing from a NAKed request applies


def test_cap_req_can_remove_a_cap():
    c = Scripted(make_state())
    c.send("CAP REQ :echo-message server-time")
    assert one(c.send("CAP REQ :-echo-message"), "CAP").params[1] == "ACK"
    assert c.user.caps == frozenset({"server-time"})


def test_cap_notify_cannot_be_disabled_after_302():
    c = Scripted(make_state())
    c.send("CAP LS 302")
    assert one(c.send("CAP REQ :-cap-notify"), "CAP").params[1] == "NAK"


def test_cap_after_registration_changes_caps_without_reregistering():
    c = registered(make_state(), "alice")
    assert one(c.send("CAP REQ :away-notify"), "CAP").params == ["alice", "ACK", "away-notify"]
    assert "away-notify" in c.user.caps
    assert c.send("CAP END") == []


@pytest.mark.parametrize("sub", ["FOO", "ACK", "NEW"])
def test_cap_bad_subcommand_is_410(sub):
    c = Scripted(make_state())
    lines = c.send(f"CAP {sub}")
    assert numerics(lines) == ["410"]
    assert msgs(lines)[0].params == ["*", sub, "Invalid CAP command"]


def test_cap_without_subcommand_is_461():
    c = Scripted(make_state())
    assert numerics(c.send("CAP")) == ["461"]


def test_cap_subcommand_is_case_insensitive():
    c = Scripted(make_state())
    assert one(c.send("cap ls 302"), "CAP").params[1] == "LS"


# -- PASS ---------------------------------------------------------------------------------------


def test_right_password_registers():
    c = Scripted(make_state(password="sesame"))
    assert numerics(c.send("PASS sesame", "NICK alice", "USER a 0 * :A"))[0] == "001"


@pytest.mark.parametrize("pass_line", [None, "PASS wrong", "PASS Sesame", "PASS sesame2"])
def test_wrong_or_missing_password_is_464_error_and_close(pass_line):
    state = make_state(password="sesame")
    c = Scripted(state)
    lines = c.send(*([pass_line] if pass_line else []), "NICK alice", "USER a 0 * :A")
    assert numerics(lines) == ["464", "ERROR"]
    assert msgs(lines)[1].params[0].startswith("Closing Link: 127.0.0.1")
    assert c.sink.closed and c.user.gone
    assert state.find_user("alice") is None and "alice" not in state.users
    assert state.connections == 0 and state.unregistered == 0


def test_password_is_checked_at_cap_end():
    c = Scripted(make_state(password="sesame"))
    c.send("CAP LS 302", "PASS bad", "NICK alice", "USER a 0 * :A")
    assert not c.sink.closed
    assert numerics(c.send("CAP END")) == ["464", "ERROR"]
    assert c.sink.closed


def test_pass_without_parameter_is_461():
    c = Scripted(make_state(password="sesame"))
    assert numerics(c.send("PASS")) == ["461"]


# -- LUSERS and MOTD in the burst -----------------------------------------------------------------


def test_lusers_counts(tmp_path, backend):
    servers = 3 if backend == "cluster" else 1  # a cluster's nodes count as its servers
    state = make_state()
    registered(state, "alice")
    b = registered(state, "bob")
    b.send("MODE bob +i", "JOIN #a", "JOIN #b")
    Scripted(state)  # an unknown connection
    c = Scripted(state)
    lines = c.register("carol")
    by = {m.command: m for m in msgs(lines)}
    assert by["251"].params[1] == f"There are 2 users and 1 invisible on {servers} servers"
    assert by["252"].params[1] == "0"
    assert by["253"].params[1] == "1"
    assert by["254"].params[1] == "2"
    assert by["255"].params[1] == f"I have 3 clients and {servers - 1} servers"
    assert by["265"].params[1] == "3" and by["266"].params[1] == "3"


def test_motd_from_file(tmp_path):
    motd = tmp_path / "motd.txt"
    motd.write_text("Welcome to the test server.\nBe nice.\n", encoding="utf-8")
    c = Scripted(make_state(motd=str(motd)))
    lines = c.register("alice")
    assert numerics(lines)[-4:] == ["375", "372", "372", "376"]
    assert [m.params[1] for m in only(lines, "372")] == [
        "- Welcome to the test server.",
        "- Be nice.",
    ]
    assert numerics(c.send("MOTD")) == ["375", "372", "372", "376"]


def test_missing_motd_file_is_422(tmp_path):
    c = Scripted(make_state(motd=str(tmp_path / "absent.txt")))
    assert numerics(c.register("alice"))[-1] == "422"
    lines = c.send("MOTD")
    assert numerics(lines) == ["422"]
    assert msgs(lines)[0].params == ["alice", "MOTD File is missing"]


def test_default_channels_are_joined_after_the_welcome():
    state = make_state(default_channels=["#lobby", "#help"])
    c = Scripted(state)
    lines = c.register("alice")
    commands = numerics(lines)
    assert commands.index("JOIN") > commands.index("422")
    assert [m.params[0] for m in only(lines, "JOIN")] == ["#lobby", "#help"]
    assert {ch.name for ch in c.user.channels} == {"#lobby", "#help"}


# -- PING, PONG, QUIT ---------------------------------------------------------------------------


def test_ping_pong_before_and_after_registration():
    c = Scripted(make_state())
    assert msgs(c.send("PING abc")) == msgs([":chatd.local PONG chatd.local abc"])
    c.register("alice")
    assert msgs(c.send("PING :two words")) == msgs([":chatd.local PONG chatd.local :two words"])
    assert c.send("PONG chatd.local") == []
    assert numerics(c.send("PING")) == ["409"]


def test_quit_before_registration_closes_with_error():
    state = make_state()
    c = Scripted(state)
    c.send("NICK alice")
    lines = c.send("QUIT :bye")
    assert numerics(lines) == ["ERROR"]
    assert c.sink.closed
    assert state.connections == 0 and state.unregistered == 0 and not state.users
    assert c.send("NICK again") == []  # a gone user is ignored


def test_malformed_and_non_utf8_lines():
    c = registered(make_state(), "alice")
    assert c.send(":onlysource") == []  # unparseable: ignored
    fail = one(c.send(b"PRIVMSG #a :\xff\xfe"), "FAIL")
    assert fail.params[:2] == ["PRIVMSG", "INVALID_UTF8"]
    assert one(c.send("X" * 600), "417").params[0] == "alice"
