"""What chatd got wrong against the Modern IRC docs and the IRCv3 specs (issue 12, "Wrong
today"), each row a command and what it must answer: WHOWAS, unknown command words, the LUSERS
peak, echo-message to oneself, USER with an empty realname, the tag length limit, KICK and NAMES
lists, LIST masks and ELIST, INFO, ADMIN, LINKS, STATS, HELP, WALLOPS."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N
from chatd.proto.message import parse
from chatd.server.passwords import hash_password

from .util import HOST, Scripted, make_state, msgs, numerics, one, only, registered, room


@pytest.fixture(scope="module")
def oper_hash() -> str:
    return hash_password("pw")


# -- WHOWAS ---------------------------------------------------------------------------------------


def whowas_world(**settings):
    """bob was "old1" then "old2" (two nick changes), then "gone" quit; carol asks."""
    state = make_state(**settings)
    bob = registered(state, "old1")
    bob.send("NICK old2")
    state.set_clock(200.0, 1_700_000_100.0)
    bob.send("NICK old1")  # a second record for old1 (newer)
    bob.send("NICK gone")
    bob.send("QUIT :bye")
    carol = registered(state, "carol")
    return state, carol


@pytest.mark.single_process  # a fixed clock
@pytest.mark.parametrize(
    ("command", "entries"),
    [
        ("WHOWAS old1", 2),  # no count: every record, newest first
        ("WHOWAS old1 1", 1),  # a positive count
        ("WHOWAS old1 0", 2),  # zero: a full search (Modern IRC docs)
        ("WHOWAS old1 -1", 2),  # negative: the same
        ("WHOWAS old1 x", 2),  # not a number: the same
        ("WHOWAS gone", 1),  # the nick it quit with
        ("WHOWAS OLD2", 1),  # casefolded
        ("WHOWAS old1,old2", 2),  # the first nick of a list
    ],
)
def test_whowas_answers_314_312_per_record_then_369(command, entries):
    _, carol = whowas_world()
    lines = carol.send(command)
    assert numerics(lines) == [N.RPL_WHOWASUSER, N.RPL_WHOISSERVER] * entries + [N.RPL_ENDOFWHOWAS]
    first = msgs(lines)[0]
    assert first.params[2:5] == ["~u", HOST, "*"] and first.params[-1] == "Real Name"
    assert msgs(lines)[1].params[2] == "chatd.local"


def test_whowas_after_a_nick_change_and_a_quit():
    state = make_state()
    bob = registered(state, "bob")
    bob.send("NICK robert")
    bob.send("QUIT :bye")
    carol = registered(state, "carol")
    for nick in ("bob", "robert"):
        lines = msgs(carol.send(f"WHOWAS {nick}"))
        assert [m.command for m in lines] == [
            N.RPL_WHOWASUSER,
            N.RPL_WHOISSERVER,
            N.RPL_ENDOFWHOWAS,
        ]
        assert lines[0].params[1:4] == [nick, "~u", HOST]


@pytest.mark.single_process  # a fixed clock
def test_whowas_newest_first_with_the_time_it_was_given_up():
    _, carol = whowas_world()
    lines = only(carol.send("WHOWAS old1"), N.RPL_WHOISSERVER)
    assert [m.params[-1] for m in lines] == [
        "Tue Nov 14 22:15:00 2023 UTC",  # the second use of old1 ended 100 s later
        "Tue Nov 14 22:13:20 2023 UTC",
    ]


@pytest.mark.single_process  # a fixed clock
def test_whowas_unknown_nick_is_406_then_369():
    _, carol = whowas_world()
    assert msgs(carol.send("WHOWAS nobody")) == msgs(
        [
            ":chatd.local 406 carol nobody :There was no such nickname",
            ":chatd.local 369 carol nobody :End of WHOWAS",
        ]
    )


@pytest.mark.single_process  # a fixed clock
def test_whowas_without_a_nick_is_431_or_461():
    _, carol = whowas_world()
    assert numerics(carol.send("WHOWAS")) == [N.ERR_NEEDMOREPARAMS]
    assert numerics(carol.send("WHOWAS :")) == [N.ERR_NONICKNAMEGIVEN]


@pytest.mark.single_process  # a fixed clock
def test_whowas_records_expire_and_are_bounded():
    state, carol = whowas_world(whowas_age=150.0)
    state.set_clock(260.0, 1_700_000_160.0)  # the record made at 100 is 160 s old now
    assert len(only(carol.send("WHOWAS old1"), N.RPL_WHOWASUSER)) == 1  # the one from 200
    state.set_clock(360.0, 1_700_000_260.0)  # and now every record is
    for nick in ("old1", "old2", "gone"):
        assert numerics(carol.send(f"WHOWAS {nick}")) == [N.ERR_WASNOSUCHNICK, N.RPL_ENDOFWHOWAS]


@pytest.mark.single_process  # looks at the ring's size
@pytest.mark.parametrize(("entries", "per_nick", "kept"), [(3, 5, 3), (100, 2, 2), (0, 5, 0)])
def test_whowas_ring_sizes(entries, per_nick, kept):
    state = make_state(whowas_entries=entries, whowas_per_nick=per_nick)
    u = registered(state, "a")
    for _ in range(5):
        u.send("NICK b", "NICK a")  # each change remembers the nick given up
    carol = registered(state, "carol")
    found = only(carol.send("WHOWAS a"), N.RPL_WHOWASUSER) + only(
        carol.send("WHOWAS b"), N.RPL_WHOWASUSER
    )
    assert len(found) == min(kept * 2, entries) if entries else found == []
    assert len(state.whowas) <= max(entries, 0)


# -- unknown commands -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", ["NONEXISTENT_COMMAND", "FOO1", "FOO1 a b :c", "PRIV-MSG #a :x", "12 x", "ü"]
)
def test_any_command_word_that_is_no_command_gets_421(line):
    c = registered(make_state(), "alice")
    (reply,) = msgs(c.send(line))
    assert reply.command == N.ERR_UNKNOWNCOMMAND
    assert reply.params == ["alice", line.split(" ")[0].upper(), "Unknown command"]


def test_421_for_a_bad_command_word_is_labeled():
    c = registered(make_state(), "alice", ["labeled-response", "batch"])
    assert msgs(c.send("@label=q7 FOO1 x")) == msgs(
        ["@label=q7 :chatd.local 421 alice FOO1 :Unknown command"]
    )


def test_bad_command_word_before_registration_is_451():
    c = Scripted(make_state())
    assert numerics(c.send("FOO_BAR")) == [N.ERR_NOTREGISTERED]


# -- LUSERS ---------------------------------------------------------------------------------------


def test_265_266_max_is_the_most_users_seen_at_once():
    state = make_state(max_clients=500)
    a, b, c = (registered(state, n) for n in ("a", "b", "c"))
    c.send("QUIT")
    lines = msgs(a.send("LUSERS"))
    local = next(m for m in lines if m.command == N.RPL_LOCALUSERS)
    glob = next(m for m in lines if m.command == N.RPL_GLOBALUSERS)
    assert local.params[1:] == ["2", "3", "Current local users 2, max 3"]
    assert glob.params[1:] == ["2", "3", "Current global users 2, max 3"]


# -- echo-message to oneself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caps", "line", "expected"),
    [
        ([], "PRIVMSG alice :hi", [f":alice!~u@{HOST} PRIVMSG alice :hi"]),
        (["echo-message"], "PRIVMSG alice :hi", [f":alice!~u@{HOST} PRIVMSG alice :hi"]),
        (
            ["echo-message", "labeled-response", "batch"],
            "@label=a1 PRIVMSG alice :hi",
            [f"@label=a1 :alice!~u@{HOST} PRIVMSG alice :hi"],
        ),
        (
            ["echo-message", "labeled-response", "message-tags"],
            "@label=a2 NOTICE alice :hi",
            [f"@label=a2;msgid=* :alice!~u@{HOST} NOTICE alice :hi"],
        ),
    ],
)
def test_a_message_to_oneself_arrives_once_with_the_label(caps, line, expected):
    c = registered(make_state(), "alice", caps)
    got = msgs(c.send(line))
    for m in got:
        if "msgid" in m.tags:
            m.tags["msgid"] = "*"  # whatever the server numbered it
    assert got == msgs(expected)


# -- USER ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["USER u * * :", "USER u * *", "USER u 0 * :"])
def test_user_with_an_empty_or_missing_realname_is_461(line):
    c = Scripted(make_state())
    c.send("NICK alice")
    assert msgs(c.send(line)) == msgs([":chatd.local 461 alice USER :Not enough parameters"])
    assert not c.user.registered


# -- the tag length limit ----------------------------------------------------------------------------


@pytest.mark.parametrize(("tag_bytes", "refused"), [(4095, False), (4096, False), (4097, True)])
def test_tags_count_the_at_sign_and_the_space(tag_bytes, refused):
    state = make_state()
    a, b = room(state, "alice", "bob")
    tags = "@+x=" + "y" * (tag_bytes - len("@+x=") - 1) + " "  # tag_bytes with @ and space
    assert len(tags) == tag_bytes
    lines = a.send(tags + "PRIVMSG #room :hi")
    assert numerics(lines) == ([N.ERR_INPUTTOOLONG] if refused else [])
    assert (b.take() == []) is refused


def test_tag_limit_over_a_real_socket(server):
    alice = server.client("alice")
    alice.send("@+x=" + "y" * (4096 - len("@+x=") - 1) + " PING :fits")
    alice.expect("PONG .*fits")
    alice.send("@+x=" + "y" * (4097 - len("@+x=") - 1) + " PING :toolong")
    alice.expect_numeric(N.ERR_INPUTTOOLONG)


# -- KICK and NAMES lists -------------------------------------------------------------------------


def kick_world():
    state = make_state()
    alice, bob, carol = room(state, "alice", "bob", "carol", channel="#a")
    for c in (alice, bob, carol):
        c.send("JOIN #b")
    for c in (alice, bob, carol):
        c.take()
    return state, alice, bob, carol


@pytest.mark.parametrize(
    ("line", "kicks"),
    [
        ("KICK #a bob", [("#a", "bob")]),  # Modern docs: KICK #Finnish Matthew
        ("KICK #a bob,carol :Speaking English", [("#a", "bob"), ("#a", "carol")]),
        ("KICK #a,#b bob,carol", [("#a", "bob"), ("#b", "carol")]),  # RFC 2812 pairs
        ("KICK #b,#a bob,bob", [("#b", "bob"), ("#a", "bob")]),
    ],
)
def test_kick_takes_one_channel_and_many_users_or_pairs(line, kicks):
    _, alice, _, _ = kick_world()
    seen = [(m.params[0], m.params[1]) for m in only(alice.send(line), "KICK")]
    assert seen == kicks


def test_kick_lists_of_different_lengths_are_461():
    _, alice, _, _ = kick_world()
    assert numerics(alice.send("KICK #a,#b bob,carol,alice")) == [N.ERR_NEEDMOREPARAMS]


def test_kick_pairs_check_each_channel_once():
    state, alice, bob, carol = kick_world()
    lines = bob.send("KICK #a,#a alice,carol")  # bob is no operator of #a
    assert msgs(lines) == msgs([":chatd.local 482 bob #a :You're not channel operator"])


def test_kick_sends_one_kick_per_user():
    _, alice, bob, _ = kick_world()
    alice.send("KICK #a bob,carol :out")
    assert [m.params for m in only(bob.take(), "KICK")] == [["#a", "bob", "out"]]


def test_names_answers_per_channel():
    state, alice, _, _ = kick_world()
    lines = msgs(alice.send("NAMES #a,#nowhere,#b"))
    assert [
        (m.command, m.params[-2] if m.command == N.RPL_NAMREPLY else m.params[1]) for m in lines
    ] == [
        (N.RPL_NAMREPLY, "#a"),
        (N.RPL_ENDOFNAMES, "#a"),
        (N.RPL_ENDOFNAMES, "#nowhere"),
        (N.RPL_NAMREPLY, "#b"),
        (N.RPL_ENDOFNAMES, "#b"),
    ]


# -- LIST -----------------------------------------------------------------------------------------


def list_world():
    """#dev (3 users, created at 1_700_000_000, topic set then), #design (1 user, created an
    hour later, no topic), #ops (2 users, +s), #random (1 user)."""
    state = make_state()
    a, b, c = (registered(state, n) for n in ("a", "b", "c"))
    for u in (a, b, c):
        u.send("JOIN #dev")
    a.send("TOPIC #dev :development talk")
    b.send("JOIN #ops", "MODE #ops +s")
    c.send("JOIN #ops")
    state.set_clock(3700.0, 1_700_003_600.0)
    a.send("JOIN #design", "JOIN #random")
    asker = registered(state, "asker")
    return state, asker


def listed(asker, line):
    lines = asker.send(line)
    assert numerics(lines)[0] == N.RPL_LISTSTART and numerics(lines)[-1] == N.RPL_LISTEND
    return [m.params[1] for m in only(lines, N.RPL_LIST)]


@pytest.mark.single_process  # a fixed clock (creation and topic times)
@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("LIST", ["#dev", "#design", "#random"]),  # +s hidden
        ("LIST #dev,#random", ["#dev", "#random"]),  # Modern docs: LIST #twilight_zone,#42
        ("LIST *dev*", ["#dev"]),  # ELIST M
        ("LIST #d*", ["#dev", "#design"]),
        ("LIST #D?V", ["#dev"]),
        ("LIST !#d*", ["#random"]),  # ELIST N
        ("LIST #d*,!*sign", ["#dev"]),
        ("LIST >2", ["#dev"]),  # ELIST U, Modern docs: LIST >3
        ("LIST <2", ["#design", "#random"]),
        ("LIST #d* <2", ["#design"]),
        ("LIST C<30", ["#design", "#random"]),  # ELIST C: created less than 30 minutes ago
        ("LIST C>30", ["#dev"]),
        ("LIST T>30", ["#dev"]),  # ELIST T: topic older than 30 minutes
        ("LIST T<30", []),
        ("LIST #ops", []),  # secret
        ("LIST *ops*", []),
    ],
)
def test_list_masks_and_elist_conditions(line, expected):
    _, asker = list_world()
    assert listed(asker, line) == expected


@pytest.mark.single_process  # list_world has a fixed clock
@pytest.mark.parametrize("line", ["LIST >x", "LIST C<", "LIST " + ",".join(["#a"] * 17)])
def test_list_with_a_bad_condition_fails(line):
    _, asker = list_world()
    lines = msgs(asker.send(line))
    assert lines[0].command == "FAIL" and lines[0].params[:2] == ["LIST", "INVALID_PARAMS"]
    assert lines[-1].command == N.RPL_LISTEND


def test_list_is_cut_at_list_max():
    state = make_state(list_max=2)
    a = registered(state, "a")
    for i in range(5):
        a.send(f"JOIN #c{i}")
    assert len(listed(a, "LIST")) == 2


def test_elist_is_advertised():
    c = Scripted(make_state())
    tokens = " ".join(" ".join(m.params) for m in only(c.register("alice"), N.RPL_ISUPPORT))
    assert " ELIST=CMNTU " in f" {tokens} "


# -- INFO, ADMIN, LINKS ---------------------------------------------------------------------------


def test_info():
    c = registered(make_state(), "alice")
    lines = c.send("INFO")
    assert set(numerics(lines[:-1])) == {N.RPL_INFO} and numerics(lines)[-1] == N.RPL_ENDOFINFO
    assert "chatd 0.1.0" in msgs(lines)[0].params[1]


@pytest.mark.parametrize(
    ("settings", "line", "expected"),
    [
        (
            {"admin_location": "Lyon, FR", "admin_info": "Example Org", "admin_email": "a@b.c"},
            "ADMIN",
            [
                "256 chatd.local :Administrative info",
                "257 :Lyon, FR",
                "258 :Example Org",
                "259 :a@b.c",
            ],
        ),
        ({}, "ADMIN chatd.local", None),  # our own name (Modern docs: ADMIN tolsun.oulu.fi)
        ({}, "ADMIN bob", None),  # a user on this server (Modern docs: ADMIN syrk)
        ({}, "ADMIN *.local", None),  # wildcards are allowed
        ({}, "ADMIN other.server", ["402 other.server :No such server"]),
    ],
)
def test_admin(settings, line, expected):
    state = make_state(**settings)
    registered(state, "bob")
    c = registered(state, "alice")
    lines = c.send(line)
    if expected is None:
        assert numerics(lines) == [
            N.RPL_ADMINME,
            N.RPL_ADMINLOC1,
            N.RPL_ADMINLOC2,
            N.RPL_ADMINEMAIL,
        ]
    else:
        assert msgs(lines) == msgs(
            [f":chatd.local {e.split(' ', 1)[0]} alice {e.split(' ', 1)[1]}" for e in expected]
        )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "LINKS",
            ["364 alice * chatd.local :0 chatd chat server", "365 alice * :End of /LINKS list"],
        ),
        (
            "LINKS *.local",
            [
                "364 alice *.local chatd.local :0 chatd chat server",
                "365 alice *.local :End of /LINKS list",
            ],
        ),
        ("LINKS *.fi", ["365 alice *.fi :End of /LINKS list"]),
    ],
)
def test_links(line, expected):
    c = registered(make_state(), "alice")
    assert msgs(c.send(line)) == msgs([":chatd.local " + e for e in expected])


# -- STATS ----------------------------------------------------------------------------------------


@pytest.mark.single_process  # a fixed clock
def test_stats_u_and_m():
    state = make_state()
    c = registered(state, "alice")
    state.set_clock(100.0 + 90061, 1_700_000_000.0 + 90061)  # 1 day, 1:01:01 later
    assert msgs(c.send("STATS u")) == msgs(
        [
            ":chatd.local 242 alice :Server Up 1 days 1:01:01",
            ":chatd.local 219 alice u :End of /STATS report",
        ]
    )
    c.send("PING x", "PING y", "TIME")
    counts = {m.params[1]: m.params[2] for m in only(c.send("STATS m"), N.RPL_STATSCOMMANDS)}
    assert counts["PING"] == "2" and counts["TIME"] == "1" and counts["STATS"] == "2"


def test_stats_o_and_l_are_for_operators(oper_hash):
    state = make_state(opers={"admin": oper_hash})
    c = registered(state, "alice")
    for query in ("o", "l"):
        assert numerics(c.send(f"STATS {query}")) == [N.ERR_NOPRIVILEGES, N.RPL_ENDOFSTATS]
    c.send_answered("OPER admin pw")
    assert msgs(c.send("STATS o"))[0].params[1:] == ["O", "*", "*", "admin"]
    (link,) = only(c.send("STATS l"), N.RPL_STATSLINKINFO)
    name, sendq, sent, sent_kb, received, received_kb, open_for = link.params[1:]
    assert (
        name == "alice[~u@127.0.0.1]"
    )  # operators see the address and received.isdigit() and int(received) >= 4
    assert (sendq, sent, sent_kb) == ("0", "0", "0") and open_for == "0"


def test_stats_needs_a_query_and_knows_only_this_server():
    c = registered(make_state(), "alice")
    assert numerics(c.send("STATS")) == [N.ERR_NEEDMOREPARAMS]
    assert numerics(c.send("STATS u far.away")) == [N.ERR_NOSUCHSERVER]
    assert numerics(c.send("STATS z")) == [N.RPL_ENDOFSTATS]  # nothing to report for z


# -- HELP, HELPOP ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["HELP", "HELPOP"])
def test_help_index_and_one_command(command):
    c = registered(make_state(), "alice")
    index = msgs(c.send(command))
    assert index[0].command == N.RPL_HELPSTART and index[0].params[1] == "*"
    assert index[1].command == N.RPL_HELPTXT and index[1].params[2] == ""  # first line empty
    assert index[-1].command == N.RPL_ENDOFHELP
    assert "PRIVMSG" in " ".join(m.params[2] for m in index if m.command == N.RPL_HELPTXT)
    one_cmd = msgs(c.send(f"{command} privmsg"))
    assert one_cmd[0].params[1:] == ["PRIVMSG", "PRIVMSG <target>[,<target>] :text"]
    assert {m.params[1] for m in one_cmd} == {"PRIVMSG"}


def test_help_unknown_subject_is_524():
    c = registered(make_state(), "alice")
    assert msgs(c.send("HELP :unknown subject")) == msgs(
        [":chatd.local 524 alice UNKNOWN_SUBJECT :No help available on this topic"]
    )


def test_every_command_has_help():
    from chatd.server.dispatch import COMMANDS
    from chatd.server.help import HELP

    assert set(COMMANDS) == set(HELP)


# -- WALLOPS and +w -------------------------------------------------------------------------------


def test_wallops_reaches_users_with_w(oper_hash):
    state = make_state(opers={"admin": oper_hash})
    op = registered(state, "op")
    reader, other = registered(state, "reader"), registered(state, "other")
    assert msgs(reader.send("MODE reader +w")) == msgs([f":reader!~u@{HOST} MODE reader +w"])
    assert numerics(op.send("WALLOPS :hello")) == [N.ERR_NOPRIVILEGES]
    op.send_answered("OPER admin pw")
    op.send("WALLOPS :server restarts at noon")
    assert msgs(reader.take()) == msgs([f":op!~u@{HOST} WALLOPS :server restarts at noon"])
    assert other.take() == []
    reader.send("MODE reader -w")
    op.send("WALLOPS :again")
    assert reader.take() == []


def test_umode_lists_w_and_b():
    c = registered(make_state(), "alice")
    c.send("MODE alice +wB")
    assert one(c.send("MODE alice"), N.RPL_UMODEIS).params[1] == "+Bw"
    assert parse(c.send("MODE alice -B")[0]).params == ["alice", "-B"]
