"""Channel modes +e (ban exceptions), +I (invite exceptions) and +C (no CTCP), INVITE with no
parameters, STATUSMSG (`PRIVMSG @#room`), and bot mode (+B, BOT=B, 335, the WHO flag and the
`bot` tag), without sockets."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N

from .util import HOST, history_texts, make_state, msgs, numerics, one, only, registered, room

# -- +e ban exceptions --------------------------------------------------------------------------


def test_ban_exception_lets_a_banned_user_join_and_speak():
    state = make_state()
    alice, bob = room(state, "alice", "bob")
    carol = registered(state, "carol")
    alice.send(f"MODE #room +b *!*@{HOST}")
    bob.take()
    assert numerics(carol.send("JOIN #room")) == [N.ERR_BANNEDFROMCHAN]
    assert numerics(bob.send("PRIVMSG #room :hi")) == [N.ERR_CANNOTSENDTOCHAN]
    assert msgs(alice.send("MODE #room +e carol")) == msgs(
        [f":alice!~u@{HOST} MODE #room +e carol!*@*"]
    )
    bob.take()
    assert numerics(carol.send("JOIN #room"))[0] == "JOIN"
    bob.take()
    assert numerics(bob.send("PRIVMSG #room :hi")) == [N.ERR_CANNOTSENDTOCHAN]  # not excepted
    alice.send("MODE #room -e carol!*@*")
    carol.send("PART #room")
    assert numerics(carol.send("JOIN #room")) == [N.ERR_BANNEDFROMCHAN]


@pytest.mark.parametrize(
    ("mode", "reply", "end", "text"),
    [
        ("b", N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
        ("e", N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
        ("I", N.RPL_INVEXLIST, N.RPL_ENDOFINVEXLIST, "End of Channel Invite Exception List"),
    ],
)
def test_list_modes_are_listed_with_their_numerics(mode, reply, end, text):
    state = make_state()
    alice, bob = room(state, "alice", "bob")
    alice.send(f"MODE #room +{mode} x!*@*")
    bob.take()
    for who in (alice, bob):
        lines = msgs(who.send(f"MODE #room +{mode}"))
        assert [m.command for m in lines] == [reply, end]
        assert lines[0].params[1:3] == ["#room", "x!*@*"] and lines[1].params[-1] == text


def test_exception_lists_are_hidden_from_outsiders():
    state = make_state()
    (alice,) = room(state, "alice")
    carol = registered(state, "carol")
    alice.send("MODE #room +eI a!*@* b!*@*")
    assert numerics(carol.send("MODE #room e")) == [N.ERR_CHANOPRIVSNEEDED]
    assert numerics(carol.send("MODE #room b")) == [N.RPL_ENDOFBANLIST]


def test_the_three_lists_share_maxlist():
    state = make_state(max_list_modes=2)
    (alice,) = room(state, "alice")
    alice.send("MODE #room +be a b")
    assert msgs(alice.send("MODE #room +I c")) == msgs(
        [":chatd.local 478 alice #room I :Channel list is full"]
    )


@pytest.mark.single_process  # restarts the state on the same database
def test_exceptions_persist_with_the_channel(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    state = make_state(db=db)
    (alice,) = room(state, "alice")
    alice.send("MODE #room +P", "MODE #room +beI ban!*@* ex!*@* inv!*@*")
    state.settle()
    state.store.close()
    again = make_state(db=db)
    channel = again.find_channel("#room")
    assert [b.mask for b in channel.bans] == ["ban!*@*"]
    assert [b.mask for b in channel.excepts] == ["ex!*@*"]
    assert [b.mask for b in channel.invexes] == ["inv!*@*"]


# -- +I invite exceptions -----------------------------------------------------------------------


def test_invite_exception_opens_an_invite_only_channel():
    state = make_state()
    (alice,) = room(state, "alice")
    carol, dave = registered(state, "carol"), registered(state, "dave")
    alice.send("MODE #room +i", "MODE #room +I carol")
    assert numerics(carol.send("JOIN #room"))[0] == "JOIN"
    assert numerics(dave.send("JOIN #room")) == [N.ERR_INVITEONLYCHAN]


# -- INVITE with no parameters ------------------------------------------------------------------


def test_invite_alone_lists_pending_invitations():
    state = make_state()
    (alice,) = room(state, "alice", channel="#b")
    alice.send("JOIN #a")
    carol = registered(state, "carol")
    assert msgs(carol.send("INVITE")) == msgs([":chatd.local 337 carol :End of /INVITE list"])
    alice.send("INVITE carol #b", "INVITE carol #a")
    carol.take()
    assert msgs(carol.send("INVITE")) == msgs(
        [
            ":chatd.local 336 carol #a",
            ":chatd.local 336 carol #b",
            ":chatd.local 337 carol :End of /INVITE list",
        ]
    )
    carol.send("JOIN #a")
    assert [m.params[1] for m in only(carol.send("INVITE"), N.RPL_INVITELIST)] == ["#b"]
    assert numerics(carol.send("INVITE alice")) == [N.ERR_NEEDMOREPARAMS]


# -- +C no CTCP ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "allowed"),
    [
        ("\x01VERSION\x01", False),
        ("\x01PING 123\x01", False),
        ("\x01ACTION waves\x01", True),
        ("plain text", True),
    ],
)
def test_no_ctcp_mode(text, allowed):
    state = make_state()
    alice, bob = room(state, "alice", "bob")
    alice.send("MODE #room +C")
    bob.take()
    lines = alice.send(f"PRIVMSG #room :{text}")
    if allowed:
        assert lines == [] and msgs(bob.take())[0].params == ["#room", text]
    else:
        assert msgs(lines) == msgs(
            [":chatd.local 404 alice #room :Cannot send CTCP to channel (+C)"]
        )
        assert bob.take() == []
        assert alice.send(f"NOTICE #room :{text}") == [] and bob.take() == []  # no reply


# -- STATUSMSG ----------------------------------------------------------------------------------


def status_world():
    state = make_state()
    op, voiced, plain = room(state, "op", "voiced", "plain")
    op.send("MODE #room +v voiced")
    voiced.take()
    plain.take()
    return state, op, voiced, plain


@pytest.mark.parametrize(("target", "reaches"), [("@#room", {"op"}), ("+#room", {"op", "voiced"})])
def test_statusmsg_reaches_only_that_status_and_up(target, reaches):
    state, op, voiced, plain = status_world()
    assert plain.send(f"PRIVMSG {target} :psst") == []  # anyone who may speak may send
    got = {c.user.nick for c in (op, voiced, plain) if c.take()}
    assert got == reaches
    op.send(f"NOTICE {target} :n")
    assert msgs(voiced.take()) == (
        msgs([f":op!~u@{HOST} NOTICE {target} :n"]) if "voiced" in reaches else []
    )


def test_statusmsg_is_not_in_history_and_echoes():
    state = make_state()
    op, other = room(state, "op", "other", caps=("echo-message",))
    op.send("MODE #room +v other")
    other.take()
    assert msgs(other.send("PRIVMSG @#room :to ops")) == msgs(
        [f":other!~u@{HOST} PRIVMSG @#room :to ops"]
    )
    op.send("PRIVMSG #room :to all")
    other.take()
    assert history_texts(other, "#room") == ["to all"]


def test_statusmsg_checks_the_channel():
    state, op, voiced, plain = status_world()
    outsider = registered(state, "outsider")
    assert numerics(outsider.send("PRIVMSG @#room :x")) == [N.ERR_CANNOTSENDTOCHAN]
    assert msgs(outsider.send("PRIVMSG @#nowhere :x")) == msgs(
        [":chatd.local 401 outsider @#nowhere :No such nick/channel"]
    )


def test_statusmsg_is_advertised():
    state = make_state()
    c = registered(state, "c")
    tokens = " ".join(" ".join(m.params[1:-1]) for m in only(c.send("VERSION"), N.RPL_ISUPPORT))
    assert "STATUSMSG=@+" in tokens.split() and "BOT=B" in tokens.split()


# -- bot mode -----------------------------------------------------------------------------------


def test_bot_mode_whois_who_and_tag():
    state = make_state()
    bot, human = room(state, "robodan", "alice", caps=("message-tags",))
    plain = registered(state, "plain")
    plain.send("JOIN #room")
    for c in (bot, human):
        c.take()
    assert msgs(bot.send("MODE robodan +B")) == msgs([f":robodan!~u@{HOST} MODE robodan +B"])
    whois = msgs(human.send("WHOIS robodan"))
    assert one([f":x {m.command} " + " ".join(m.params) for m in whois], N.RPL_WHOISBOT)
    (w335,) = [m for m in whois if m.command == N.RPL_WHOISBOT]
    assert w335.params == ["alice", "robodan", "is a Bot on chatd"]
    (who,) = only(human.send("WHO #room"), N.RPL_WHOREPLY)[:1]
    assert who.params[5] == "robodan" and who.params[6] == "HB@"
    bot.send("PRIVMSG #room :Hello! Try typing .help")
    (tagged,) = msgs(human.take())
    assert "bot" in tagged.tags and tagged.tags["bot"] == ""
    (untagged,) = msgs(plain.take())
    assert untagged.tags == {}  # the tag is for message-tags clients only
    bot.send("MODE robodan -B", "PRIVMSG #room :human now")
    assert "bot" not in msgs(human.take())[-1].tags
