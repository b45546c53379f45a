"""NickServ and ChanServ, sans-IO: registering accounts (NickServ, the REGISTER command, the
policy), identifying, registered nicks taken back after the grace period (a fake clock),
GHOST/REGAIN, grouped nicks, certificates, and rooms that keep their founders."""

from __future__ import annotations

import pytest
from ircclient import HOST, Scripted, numerics

from chatd.proto.message import parse
from chatd.store.accounts import private_key

from .account_helpers import PASSWORD, account_state, add_account, run
from .util import one, only, registered

# Sans-IO: the state is driven directly, time travels (Effects); once, on one process.
pytestmark = pytest.mark.single_process


def ns(client: Scripted, text: str) -> list[str]:
    return client.send(f"PRIVMSG NickServ :{text}")


def notices(lines: list[str], service: str = "NickServ") -> list[str]:
    return [
        parse(line).params[1]
        for line in lines
        if line.startswith(f":{service}!{service}@chatd.local NOTICE ")
    ]


def identified(state, fx, nick: str, password: str = PASSWORD, caps=()) -> Scripted:
    c = registered(state, nick, caps)
    ns(c, f"IDENTIFY {password}")
    run(state, fx)
    assert c.user.account is not None, c.take()
    c.take()
    return c


# -- registering ------------------------------------------------------------------------------


def test_nickserv_register_logs_in_and_stores_the_account():
    state, fx = account_state()
    alice = registered(state, "alice")
    assert ns(alice, f"REGISTER {PASSWORD} alice@example.org") == []  # hashed off the loop
    run(state, fx)
    lines = alice.take()
    assert notices(lines) == ["Account alice registered"]
    assert numerics(lines) == ["NOTICE", "900", "MODE"]
    assert lines[-1] == ":chatd.local MODE alice +r"
    [record] = state.store.load_accounts()  # committed by the settle before the client saw it
    assert (record.name, record.email, record.iterations) == ("alice", "alice@example.org", 4096)
    assert PASSWORD.encode() not in record.salt + record.stored_key + record.server_key


def test_nickserv_register_refusals():
    state, fx = account_state()
    add_account(state, "taken")
    c = registered(state, "taken")
    assert notices(ns(c, f"REGISTER {PASSWORD}")) == ["taken is already registered"]
    c.send("NICK bob")
    assert notices(ns(c, "REGISTER short")) == ["Passwords need at least 8 characters"]
    assert notices(ns(c, f"REGISTER {PASSWORD} not-an-address")) == [
        "That does not look like an email address"
    ]
    assert numerics(c.send("NICK NickServ")) == ["432"]
    assert numerics(c.send("NICK chanserv")) == ["432"]
    assert not [r for r in state.requests if r.kind == "account-created"]


def test_register_command_before_connect():
    state, fx = account_state()
    c = Scripted(state)
    c.send("CAP LS 302", "NICK carol")
    assert c.send(f"REGISTER * carol@example.org :{PASSWORD}") == []
    run(state, fx)
    lines = c.take()
    assert lines[0] == ":chatd.local REGISTER SUCCESS carol :Account carol registered"
    assert numerics(lines)[1] == "900"
    c.send("USER c 0 * :C")
    assert numerics(c.send("CAP END"))[0] == "001"
    assert c.user.account == "carol"


def test_register_command_failures():
    state, fx = account_state()
    add_account(state, "dave")
    c = Scripted(state)
    c.send("CAP LS 302")
    assert c.send(f"REGISTER * * :{PASSWORD}") == [
        ":chatd.local FAIL REGISTER NEED_NICK * :Send NICK first"
    ]
    c.send("NICK erin")
    fails = [
        parse(l).params[1]
        for l in c.send(
            f"REGISTER dave * {PASSWORD}",
            "REGISTER erin * weak",
            "REGISTER ns * " + PASSWORD,
            "REGISTER",
        )
    ]
    assert fails == ["ACCOUNT_EXISTS", "WEAK_PASSWORD", "BAD_ACCOUNT_NAME", "NEED_MORE_PARAMS"]


def test_registration_policy():
    state, fx = account_state(account_registration="closed")
    c = registered(state, "frank", ["cap-notify"])
    assert "Accounts are made on the server's command line here" in notices(
        ns(c, f"REGISTER {PASSWORD}")
    )
    caps = Scripted(state).send("CAP LS 302")[0]
    assert "draft/account-registration" not in caps and "sasl=" in caps
    state, fx = account_state(account_registration="opers", opers={})
    c = registered(state, "gina")
    assert "Accounts are made by the server's operators here" in notices(
        ns(c, f"REGISTER {PASSWORD}")
    )
    c.user.modes += "o"  # an IRC operator may register any name
    c.send(f"REGISTER someone * {PASSWORD}")
    run(state, fx)
    assert state.accounts.get("someone") is not None


# -- identifying ------------------------------------------------------------------------------


def test_identify_logout_and_wrong_password():
    state, fx = account_state()
    add_account(state, "alice")
    alice = registered(state, "alice")
    ns(alice, "IDENTIFY wrong-password")
    run(state, fx)
    assert notices(alice.take())[-1] == "Invalid account or password"
    ns(alice, f"IDENTIFY alice {PASSWORD}")
    run(state, fx)
    lines = alice.take()
    assert numerics(lines) == ["900", "MODE", "NOTICE"]
    assert notices(lines) == ["You are now identified as alice"]
    lines = ns(alice, "LOGOUT")
    assert numerics(lines)[:2] == ["901", "MODE"]
    assert lines[1] == ":chatd.local MODE alice -r"
    assert alice.user.account is None


def test_nickserv_alias_commands():
    state, fx = account_state()
    add_account(state, "alice")
    alice = registered(state, "alice")
    alice.send(f"NS IDENTIFY {PASSWORD}")
    run(state, fx)
    assert alice.user.account == "alice"
    alice.take()
    assert notices(alice.send("NICKSERV INFO"))[0].startswith("Account alice, registered ")
    assert notices(alice.send("CS HELP"), "ChanServ")[0].startswith("ChanServ keeps")


def test_nothing_said_to_nickserv_is_relayed_or_echoed():
    state, fx = account_state()
    watcher = registered(state, "watcher", ["echo-message"])
    ns(watcher, f"IDENTIFY {PASSWORD}")
    run(state, fx)
    assert PASSWORD not in " ".join(watcher.take())


# -- registered nicks -------------------------------------------------------------------------


def test_nick_stealing_attempt_is_renamed_after_the_grace():
    state, fx = account_state(nick_grace=30.0)
    add_account(state, "alice")
    friend = registered(state, "friend")
    friend.send("JOIN #lobby")
    thief = registered(state, "thief")
    thief.send("JOIN #lobby")
    friend.take()
    lines = thief.send("NICK alice")
    assert numerics(lines) == ["NICK", "NOTICE"]
    assert "alice is a registered nick" in notices(lines)[0]
    friend.take()
    run(state, fx, later=29.0)
    assert thief.take() == [] and thief.user.nick == "alice"
    run(state, fx, later=1.0)
    lines = thief.take()
    assert notices(lines) == ["You did not identify for alice: your nick is now Guest1"]
    assert lines[-1] == f":alice!~u@{HOST} NICK Guest1"
    assert friend.take() == [f":alice!~u@{HOST} NICK Guest1"]
    # the owner can now take it
    owner = registered(state, "someone")
    owner.send("NICK alice")
    owner.take()
    ns(owner, f"IDENTIFY {PASSWORD}")
    run(state, fx)
    run(state, fx, later=60.0)
    assert owner.user.nick == "alice" and owner.user.account == "alice"


def test_identifying_within_the_grace_keeps_the_nick():
    state, fx = account_state()
    add_account(state, "alice")
    c = registered(state, "alice")
    ns(c, f"IDENTIFY {PASSWORD}")
    run(state, fx)
    run(state, fx, later=31.0)
    assert c.user.nick == "alice"


def test_a_nick_left_and_taken_again_gets_its_own_grace():
    state, fx = account_state(nick_grace=30.0)
    add_account(state, "alice")
    c = registered(state, "bob")
    c.send("NICK alice")
    run(state, fx, later=20.0)
    c.send("NICK bob", "NICK alice")
    run(state, fx, later=15.0)  # 35 s after the first visit, 15 after the second
    assert c.user.nick == "alice"
    run(state, fx, later=15.0)
    assert c.user.nick == "Guest1"


def test_ghost_and_regain():
    state, fx = account_state()
    add_account(state, "alice")
    squatter = registered(state, "alice")
    owner = registered(state, "temp")
    ns(owner, f"IDENTIFY alice {PASSWORD}")
    run(state, fx)
    owner.take()
    lines = ns(owner, "REGAIN alice")
    assert owner.user.nick == "alice" and squatter.user.nick == "Guest1"
    assert f":temp!~u@{HOST} NICK alice" in lines
    assert "alice was taken back by its owner" in notices(squatter.take())
    second = registered(state, "temp2")
    ns(second, f"IDENTIFY alice {PASSWORD}")
    run(state, fx)
    second.take()
    ns(second, "GHOST alice")
    assert owner.sink.closed  # another connection of the same account: disconnected
    assert notices(ns(second, "GHOST nobody")) == ["nobody is not one of your nicks"]


def test_grouped_nicks_are_protected_too():
    state, fx = account_state(account_max_nicks=2)
    add_account(state, "alice")
    a = identified(state, fx, "alice")
    a.send("NICK alice_away")
    assert notices(ns(a, "GROUP")) == ["alice_away is now a nick of alice"]
    a.send("NICK alice_phone")
    assert notices(ns(a, "GROUP")) == ["An account may hold 2 nicks"]
    other = registered(state, "other")
    assert "alice_away is a registered nick" in notices(other.send("NICK alice_away"))[0]
    [record] = [r for r in state.store.load_accounts() if r.key == "alice"]
    assert ("alice_away", "alice_away") in record.nicks
    assert notices(ns(a, "UNGROUP alice_away")) == ["alice_away is no longer a nick of alice"]
    assert notices(ns(a, "UNGROUP alice")) == ["An account keeps its own name"]


def test_certificates():
    state, fx = account_state()
    add_account(state, "alice")
    a = identified(state, fx, "alice")
    assert notices(ns(a, "CERT ADD")) == [
        "Connect with a TLS client certificate, or give its SHA-256 fingerprint"
    ]
    a.user.certfp = "ab" * 32
    assert notices(ns(a, "CERT ADD"))[0].startswith("Certificate abab")
    assert notices(ns(a, "CERT ADD " + "AB:" * 31 + "AB")) == ["That certificate is already yours"]
    assert notices(ns(a, "CERT ADD xyz")) == [
        "A fingerprint is the certificate's SHA-256 in hex (64 digits)"
    ]
    assert notices(ns(a, "CERT LIST")) == [f"Certificate {'ab' * 32}", "1 client certificates"]
    assert state.accounts.cert_owner["ab" * 32].name == "alice"
    ns(a, "CERT DEL " + "ab" * 32)
    assert "ab" * 32 not in state.accounts.cert_owner


def test_set_password():
    state, fx = account_state()
    add_account(state, "alice")
    a = identified(state, fx, "alice")
    ns(a, "SET PASSWORD another-long-one")
    run(state, fx)
    assert notices(a.take()) == ["Your password is changed"]
    b = registered(state, "bob")
    ns(b, f"IDENTIFY alice {PASSWORD}")
    run(state, fx)
    assert b.user.account is None
    b2 = registered(state, "bob2")
    ns(b2, "IDENTIFY alice another-long-one")
    run(state, fx)
    assert b2.user.account == "alice"


# -- IRCv3 around accounts --------------------------------------------------------------------


def test_account_notify_extended_join_tag_whois_and_whox():
    state, fx = account_state()
    add_account(state, "alice")
    watcher = registered(
        state, "watcher", ["account-notify", "extended-join", "account-tag", "message-tags"]
    )
    watcher.send("JOIN #room")
    a = registered(state, "alice")
    a.send("JOIN #room")
    watcher.take()
    ns(a, f"IDENTIFY {PASSWORD}")
    run(state, fx)
    [notify] = [parse(line) for line in watcher.take()]
    assert (notify.source, notify.command, notify.params) == (
        f"alice!~u@{HOST}",
        "ACCOUNT",
        ["alice"],
    )
    assert notify.tags["account"] == "alice"
    a.send("PRIVMSG #room :hello")
    line = watcher.take()[0]
    assert parse(line).tags["account"] == "alice"
    a.send("PART #room", "JOIN #room")
    joins = only(watcher.take(), "JOIN")
    assert joins[-1].params == ["#room", "alice", "Real Name"]
    whois = watcher.send("WHOIS alice")
    assert one(whois, "330").params == ["watcher", "alice", "alice", "is logged in as"]
    who = watcher.send("WHO #room %na")
    assert [m.params[1:] for m in only(who, "354")] == [["watcher", "0"], ["alice", "alice"]]
    a.send("PRIVMSG NickServ :LOGOUT")
    last = parse(watcher.take()[-1])
    assert (last.command, last.params, "account" in last.tags) == ("ACCOUNT", ["*"], False)


def test_channel_modes_R_and_M_and_account_bans():
    state, fx = account_state()
    add_account(state, "alice")
    add_account(state, "mallory")
    op = registered(state, "op")
    op.send("JOIN #club", "MODE #club +R")
    guest = registered(state, "guest")
    assert numerics(guest.send("JOIN #club")) == ["477"]
    a = identified(state, fx, "alice")
    assert "JOIN" in numerics(a.send("JOIN #club"))
    op.send("MODE #club -R+M")
    guest.send("JOIN #club")
    a.take()
    assert numerics(guest.send("PRIVMSG #club :hi")) == ["404"]
    assert numerics(a.send("PRIVMSG #club :hi")) == []
    m = identified(state, fx, "mallory")
    m.send("JOIN #club")
    op.send("MODE #club -M+b $a:Mallory")
    a.take()
    m.take()
    assert numerics(m.send("PRIVMSG #club :spam")) == ["404"]
    assert numerics(a.send("PRIVMSG #club :fine")) == []
    bans = only(op.send("MODE #club +b"), "367")
    assert [b.params[2] for b in bans] == ["$a:Mallory"]
    assert numerics(op.send("MODE #club +b $x:nope")) == ["696"]


def test_user_mode_r_cannot_be_set_by_hand():
    state, fx = account_state()
    c = registered(state, "nobody")
    assert c.send("MODE nobody +r") == []
    assert "r" not in c.user.modes


# -- ChanServ ---------------------------------------------------------------------------------


def cs(client: Scripted, text: str) -> list[str]:
    return client.send(f"PRIVMSG ChanServ :{text}")


def test_chanserv_register_amode_and_ops_on_join():
    state, fx = account_state()
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice")
    a.send("JOIN #home")
    assert notices(cs(a, "REGISTER #home"), "ChanServ")[-1] == "#home is registered to alice"
    channel = state.find_channel("#home")
    assert channel.founder == "alice" and "P" in channel.modes
    assert notices(cs(a, "AMODE #home +o bob"), "ChanServ") == ["#home: bob gets auto-op"]
    b = identified(state, fx, "bob")
    lines = b.send("JOIN #home")
    assert ":ChanServ!ChanServ@chatd.local MODE #home +o bob" in lines
    a.send("PART #home")
    b.send("PART #home")
    # nobody gets ops by being first in an empty registered room
    first = registered(state, "first")
    first.send("JOIN #home")
    assert not channel.is_op(first.user)
    lines = a.send("JOIN #home")
    assert ":ChanServ!ChanServ@chatd.local MODE #home +o alice" in lines
    assert channel.is_op(a.user)
    assert numerics(a.send("MODE #home -P")) == ["FAIL"]
    [record] = state.store.load_registrations()
    assert (record.founder, record.amodes) == ("alice", {"bob": "o"})


def test_chanserv_refusals_and_drop():
    state, fx = account_state()
    add_account(state, "alice")
    add_account(state, "bob")
    nobody = registered(state, "nobody")
    nobody.send("JOIN #x")
    assert notices(cs(nobody, "REGISTER #x"), "ChanServ") == [
        "Identify first (/msg NickServ IDENTIFY <password>)"
    ]
    b = identified(state, fx, "bob")
    b.send("JOIN #x")
    assert notices(cs(b, "REGISTER #x"), "ChanServ") == ["You must be a channel operator of #x"]
    a = identified(state, fx, "alice")
    a.send("JOIN #mine")
    cs(a, "REGISTER #mine")
    assert notices(cs(b, "DROP #mine"), "ChanServ") == ["Only the founder of #mine may drop it"]
    assert notices(cs(b, "OP #mine"), "ChanServ") == ["You have no ops to ask for in #mine"]
    assert notices(cs(a, "DROP #mine"), "ChanServ")[0].startswith("#mine is no longer registered")
    assert state.store.load_registrations() == []


def test_identify_after_joining_gives_the_auto_modes():
    state, fx = account_state()
    add_account(state, "alice")
    a = identified(state, fx, "alice")
    a.send("JOIN #home")
    cs(a, "REGISTER #home")
    a.send("PART #home")
    again = registered(state, "alice2")
    again.send("JOIN #home")
    assert not state.find_channel("#home").is_op(again.user)
    ns(again, f"IDENTIFY alice {PASSWORD}")
    run(state, fx)
    assert ":ChanServ!ChanServ@chatd.local MODE #home +o alice2" in again.take()


# -- private history --------------------------------------------------------------------------


HISTORY = ["draft/chathistory", "batch", "server-time", "message-tags"]


def test_private_messages_are_kept_for_identified_users():
    state, fx = account_state()
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice", caps=HISTORY)
    b = identified(state, fx, "bob", caps=HISTORY)
    a.send("PRIVMSG bob :hi bob")
    b.send("PRIVMSG alice :hi alice")
    stranger = registered(state, "stranger")
    stranger.send("PRIVMSG alice :who are you")
    a.take()
    lines = a.send("CHATHISTORY LATEST bob * 10")
    body = [parse(l) for l in lines if " PRIVMSG " in l]
    assert [(m.source.split("!")[0], m.params) for m in body] == [
        ("alice", ["bob", "hi bob"]),
        ("bob", ["alice", "hi alice"]),
    ]
    assert parse(lines[0]).params[1:] == ["chathistory", "bob"]
    # the stranger's line is kept under its nick, apart from bob's
    lines = a.send("CHATHISTORY LATEST stranger * 10")
    assert [parse(l).params[-1] for l in lines if " PRIVMSG " in l] == ["who are you"]
    targets = a.send(
        "CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00Z timestamp=2100-01-01T00:00:00Z 10"
    )
    names = [parse(l).params[1] for l in targets if " CHATHISTORY TARGETS " in l]
    assert sorted(names) == ["bob", "stranger"]
    # the stranger has no history, and bob's copy is bob's own
    assert [l for l in stranger.send("CHATHISTORY LATEST alice * 10") if "PRIVMSG" in l] == []
    assert state.store.count(private_key("bob", "alice")) == 2
    assert state.store.count(private_key("alice", "~stranger")) == 1


# -- who runs a room after a restart ----------------------------------------------------------


def test_founder_and_auto_ops_come_back_after_a_restart_and_nobody_else_gets_ops(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    state, fx = account_state(db=db)
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice")
    a.send("JOIN #home", "JOIN #plain", "MODE #plain +P")
    cs(a, "REGISTER #home")
    cs(a, "AMODE #home +v bob")
    a.take()  # settled: committed
    state.store.close()

    state, fx = account_state(db=db)
    home, plain_room = state.find_channel("#home"), state.find_channel("#plain")
    first = registered(state, "first")
    first.send("JOIN #home", "JOIN #plain")
    assert not home.is_op(first.user) and not plain_room.is_op(first.user)
    b = identified(state, fx, "bob")
    assert ":ChanServ!ChanServ@chatd.local MODE #home +v bob" in b.send("JOIN #home")
    a = identified(state, fx, "alice")
    assert ":ChanServ!ChanServ@chatd.local MODE #home +o alice" in a.send("JOIN #home")
    # the unregistered +P room: nobody runs it until an IRC operator says who does
    a.send("JOIN #plain")
    assert not plain_room.is_op(a.user)
    assert notices(cs(a, "REGISTER #plain"), "ChanServ") == [
        "You must be a channel operator of #plain; nobody runs it since the restart: ask an "
        "IRC operator"
    ]
    oper = registered(state, "oper")
    oper.user.modes += "o"
    oper.send("MODE #plain +o alice")
    assert plain_room.is_op(a.user) and not plain_room.opless
    assert notices(cs(a, "REGISTER #plain"), "ChanServ")[-1] == "#plain is registered to alice"


def test_removed_accounts_lose_their_rooms_and_auto_modes(tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    state, fx = account_state(db=db)
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice")
    a.send("JOIN #home")
    cs(a, "REGISTER #home")
    cs(a, "AMODE #home +o bob")
    a.take()
    state.store.delete_account("bob")  # what `chatd account remove bob` does
    state.store.flush(state.now)
    [record] = state.store.load_registrations()
    assert record.amodes == {}  # a new "bob" must not inherit the ops
    assert state.reload_accounts() == ["accounts: 1 removed"]
    assert state.find_channel("#home").amodes == {}


def test_a_nick_made_an_account_on_the_command_line_is_protected_after_a_reload(tmp_path):
    from chatd.proto.casemap import fold
    from chatd.server import sasl
    from chatd.server.accounts import Account

    state, fx = account_state(db=str(tmp_path / "chatd.sqlite3"))
    holder = registered(state, "carol")
    creds = sasl.make_credentials(PASSWORD, 4096)
    state.store.save_account(
        Account("carol", fold("carol"), 0, creds, None, {"carol": "carol"}).record()
    )
    state.store.flush(state.now)  # what `chatd account add carol` did to the database
    assert state.reload_accounts() == ["accounts: 1 added"]
    assert "carol is a registered nick" in notices(holder.take())[0]
    assert state.reload_accounts() == []  # told once, not at every reload
    assert holder.take() == []


def test_a_password_saslprep_refuses_costs_a_check_and_matches_nothing():
    from chatd.server import sasl

    creds = sasl.make_credentials(PASSWORD, 4096)
    assert not sasl.verify_password(creds, PASSWORD + "\u0007")


def test_a_private_message_is_committed_before_its_recipient_can_read_it(tmp_path):
    import sqlite3

    db = str(tmp_path / "chatd.sqlite3")
    state, fx = account_state(db=db)
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice")
    b = identified(state, fx, "bob")
    state.handle_line(a.user, b"PRIVMSG bob :kept before you see it")
    # queued for bob; the reactor sends queues only after the settle, which commits first
    assert b"kept before you see it" in b"".join(b.sink.data)
    state.settle()
    other = sqlite3.connect(db)  # another connection: only committed rows are visible
    rows = other.execute("SELECT target, text FROM messages WHERE target LIKE '@%'").fetchall()
    other.close()
    assert sorted(rows) == [
        ("@alice/bob", "kept before you see it"),
        ("@bob/alice", "kept before you see it"),
    ]


def test_a_multiline_private_message_is_kept_as_its_lines():
    state, fx = account_state()
    add_account(state, "alice")
    add_account(state, "bob")
    a = identified(state, fx, "alice", caps=[*HISTORY, "draft/multiline"])
    identified(state, fx, "bob", caps=HISTORY)
    for line in (
        "BATCH +p draft/multiline bob",
        "@batch=p PRIVMSG bob :first line",
        "@batch=p PRIVMSG bob :second line",
        "BATCH -p",
    ):
        a.send(line)
    a.send("PRIVMSG bob :a plain one")
    lines = a.send("CHATHISTORY LATEST bob * 10")
    body = [parse(l) for l in lines if " PRIVMSG " in l]
    assert [m.params[-1] for m in body] == ["first line", "second line", "a plain one"]
    first, second = (m.tags["msgid"] for m in body[:2])
    assert second == first + "/1"  # one message: msgid, then msgid/1
