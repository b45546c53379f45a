"""MODE without sockets: user +i, channel flags +n +t +m +i +s, parameters +k +l, lists +b and
prefixes +o +v, including ban masks with wildcards and rfc1459 casemapping."""

from __future__ import annotations

import pytest

from .util import HOST, make_state, msgs, numerics, one, registered, room

# -- user modes ---------------------------------------------------------------------------------


def test_user_mode_invisible():
    state = make_state()
    a = registered(state, "alice")
    assert msgs(a.send("MODE alice")) == msgs([":chatd.local 221 alice +"])
    assert msgs(a.send("MODE alice +i")) == msgs([f":alice!~u@{HOST} MODE alice +i"])
    assert a.send("MODE alice +i") == []  # no change, no echo
    assert msgs(a.send("MODE ALICE")) == msgs([":chatd.local 221 alice +i"])
    assert numerics(a.send("MODE alice -i")) == ["MODE"]
    assert set(a.user.modes) == set()


def test_user_mode_unknown_flag_and_self_oper_ignored():
    state = make_state()
    a = registered(state, "alice")
    assert numerics(a.send("MODE alice +iZ")) == ["501", "MODE"]
    assert "i" in a.user.modes
    assert a.send("MODE alice +o") == []  # only OPER grants +o
    assert not a.user.oper


def test_user_mode_on_others():
    state = make_state()
    a = registered(state, "alice")
    registered(state, "bob")
    assert msgs(a.send("MODE bob +i")) == msgs(
        [":chatd.local 502 alice :Cant change mode for other users"]
    )
    assert numerics(a.send("MODE bob")) == ["502"]
    assert numerics(a.send("MODE nobody +i")) == ["401"]


# -- channel modes ------------------------------------------------------------------------------


@pytest.mark.single_process  # fixed clock and timestamps
def test_channel_mode_query():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +kl secret 10")
    lines = a.send("MODE #room")
    assert numerics(lines) == ["324", "329"]
    assert msgs(lines)[0].params == ["alice", "#room", "+ntkl", "secret", "10"]
    assert msgs(lines)[1].params == ["alice", "#room", "1700000000"]
    outsider = registered(state, "eve")
    assert msgs(outsider.send("MODE #room"))[0].params[2:] == ["+ntkl", "*", "10"]


def test_mode_changes_are_broadcast_compactly():
    state = make_state()
    a, b = room(state, "alice", "bob")
    lines = a.send("MODE #room +mi-t+v bob")
    expected = msgs([f":alice!~u@{HOST} MODE #room +mi-t+v bob"])
    assert msgs(lines) == expected
    assert msgs(b.take()) == expected
    assert state.find_channel("#room").modes == {"n", "m", "i"}
    assert a.send("MODE #room +mi") == []  # already set: nothing to announce


def test_flag_modes_need_op():
    state = make_state()
    a, b = room(state, "alice", "bob")
    lines = b.send("MODE #room +mis")
    assert numerics(lines) == ["482"]  # one refusal, not one per mode
    assert state.find_channel("#room").modes == {"n", "t"}
    assert a.take() == []


def test_no_external_messages_plus_n():
    state = make_state()
    (a,) = room(state, "alice")
    outsider = registered(state, "eve")
    assert numerics(outsider.send("PRIVMSG #room :hi")) == ["404"]
    a.send("MODE #room -n")
    outsider.send("PRIVMSG #room :hi")
    assert msgs(a.take()) == msgs([f":eve!~u@{HOST} PRIVMSG #room :hi"])


def test_moderated_plus_m_and_voice():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +m")
    b.take()
    refused = b.send("PRIVMSG #room :hello?")
    assert msgs(refused) == msgs([":chatd.local 404 bob #room :Cannot send to channel"])
    assert a.take() == []
    assert b.send("NOTICE #room :quiet") == []  # NOTICE never answers with an error
    a.send("MODE #room +v bob")
    b.take()
    b.send("PRIVMSG #room :now I can")
    assert one(a.take(), "PRIVMSG").params == ["#room", "now I can"]
    a.send("PRIVMSG #room :ops always can")
    assert one(b.take(), "PRIVMSG").params[1] == "ops always can"
    a.send("MODE #room -v bob")
    b.take()
    assert numerics(b.send("PRIVMSG #room :again")) == ["404"]


def test_invite_only_plus_i():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +i")
    b = registered(state, "bob")
    assert msgs(b.send("JOIN #room")) == msgs(
        [":chatd.local 473 bob #room :Cannot join channel (+i)"]
    )
    a.send("MODE #room -i")
    assert numerics(b.send("JOIN #room")) == ["JOIN", "353", "366"]


def test_secret_plus_s_hides_channel():
    state = make_state()
    (a,) = room(state, "alice")
    a.send("MODE #room +s")
    outsider = registered(state, "eve")
    assert numerics(outsider.send("LIST")) == ["321", "323"]
    assert numerics(outsider.send("WHOIS alice")) == ["311", "312", "317", "318"]
    assert numerics(a.send("WHOIS alice")) == ["311", "319", "312", "378", "317", "318"]
    assert numerics(outsider.send("WHO #room")) == ["315"]


def test_key_plus_k():
    state = make_state()
    (a,) = room(state, "alice")
    assert msgs(a.send("MODE #room +k sesame")) == msgs([f":alice!~u@{HOST} MODE #room +k sesame"])
    b = registered(state, "bob")
    assert msgs(b.send("JOIN #room")) == msgs(
        [":chatd.local 475 bob #room :Cannot join channel (+k)"]
    )
    assert numerics(b.send("JOIN #room wrong")) == ["475"]
    assert numerics(b.send("JOIN #room sesame")) == ["JOIN", "353", "366"]
    a.take()
    assert msgs(a.send("MODE #room -k whatever")) == msgs([f":alice!~u@{HOST} MODE #room -k *"])
    assert state.find_channel("#room").password is None


@pytest.mark.parametrize("key", ["a,b", ":a b", "x" * 24])
def test_malformed_key_is_525(key):
    state = make_state()
    (a,) = room(state, "alice")
    lines = a.send(f"MODE #room +k {key}")
    assert numerics(lines) == ["525"]
    assert msgs(lines)[0].params[:2] == ["alice", "#room"]
    assert state.find_channel("#room").password is None


def test_limit_plus_l():
    state = make_state()
    a, b = room(state, "alice", "bob")
    assert numerics(a.send("MODE #room +l 2")) == ["MODE"]
    c = registered(state, "carol")
    assert msgs(c.send("JOIN #room")) == msgs(
        [":chatd.local 471 carol #room :Cannot join channel (+l)"]
    )
    b.send("PART #room")
    assert numerics(c.send("JOIN #room")) == ["JOIN", "353", "366"]
    a.take()
    assert msgs(a.send("MODE #room -l")) == msgs([f":alice!~u@{HOST} MODE #room -l"])
    assert state.find_channel("#room").limit is None


@pytest.mark.parametrize("arg", ["abc", "0", "-5", "1000000"])
def test_bad_limit_is_696(arg):
    state = make_state()
    (a,) = room(state, "alice")
    lines = a.send(f"MODE #room +l {arg}")
    assert numerics(lines) == ["696"]
    assert msgs(lines)[0].params[:4] == ["alice", "#room", "l", arg]


def test_op_and_voice_prefixes():
    state = make_state()
    a, b = room(state, "alice", "bob")
    lines = a.send("MODE #room +ov bob bob")
    assert msgs(lines) == msgs([f":alice!~u@{HOST} MODE #room +ov bob bob"])
    channel = state.find_channel("#room")
    assert channel.members[b.user] == "ov"
    b.take()
    assert numerics(b.send("MODE #room -o alice")) == ["MODE"]  # bob is op now
    assert not channel.is_op(a.user)
    assert numerics(a.send("MODE #room +o alice")) == ["MODE", "482"]
    assert numerics(b.send("MODE #room +o nobody")) == ["401"]
    registered(state, "carol")
    assert numerics(b.send("MODE #room +v carol")) == ["441"]


def test_at_most_four_parameter_modes_per_command():
    state = make_state()
    clients = room(state, "alice", "b1", "b2", "b3", "b4", "b5")
    a = clients[0]
    lines = a.send("MODE #room +vvvvv b1 b2 b3 b4 b5")
    assert msgs(lines)[0].params == ["#room", "+vvvv", "b1", "b2", "b3", "b4"]


def test_unknown_channel_mode_is_472():
    state = make_state()
    (a,) = room(state, "alice")
    lines = a.send("MODE #room +mZ")
    assert numerics(lines) == ["472", "MODE"]
    assert msgs(lines)[0].params == ["alice", "Z", "is unknown mode char to me"]


def test_mode_on_unknown_channel_is_403():
    a = registered(make_state(), "alice")
    assert msgs(a.send("MODE #nope +m")) == msgs([":chatd.local 403 alice #nope :No such channel"])


# -- bans ---------------------------------------------------------------------------------------

BAN_CASES = [
    # (mask, nick, user, banned?)
    ("bob", "bob", "u", True),
    ("bob", "bobby", "u", False),
    ("bob!*@*", "BOB", "u", True),
    ("b*", "bobby", "u", True),
    ("b?b", "bob", "u", True),
    ("b?b", "bb", "u", False),
    ("*!~evil@*", "anyone", "evil", True),
    ("*!~evil@*", "anyone", "good", False),
    (f"~evil@{HOST}", "x", "evil", True),
    ("*@127.0.0.*", "x", "u", True),
    ("*@10.*", "x", "u", False),
    ("[a]*", "{A}nother", "u", True),  # rfc1459: [ and { are the same letter
    ("{b}", "[b]", "u", True),
    ("a\\b", "A|b", "u", True),
    ("a~b", "a^B", "u", True),
    ("a.b", "axb", "u", False),  # regex metacharacters are literal
    ("*", "anyone", "u", True),
]


@pytest.mark.single_process  # changes the state directly
@pytest.mark.parametrize("mask,nick,username,banned", BAN_CASES)
def test_ban_matching(mask, nick, username, banned):
    state = make_state()
    (a,) = room(state, "alice")
    a.send(f"MODE #room +b {mask}")
    c = registered(state, "tmp")
    c.send(f"NICK {nick}")
    c.user.set_username("~" + username)
    assert numerics(c.send("JOIN #room"))[0] == ("474" if banned else "JOIN")


@pytest.mark.single_process  # fixed clock and timestamps
def test_ban_mask_is_completed_listed_and_removed():
    state = make_state()
    a, b = room(state, "alice", "bob")
    assert msgs(a.send("MODE #room +b bob")) == msgs([f":alice!~u@{HOST} MODE #room +b bob!*@*"])
    assert numerics(a.send("MODE #room +b BOB!*@*")) == []  # the same mask, casefolded
    a.send("MODE #room +b ~x@host", "MODE #room +b nick!user")
    lines = b.send("MODE #room +b")
    assert numerics(lines) == ["MODE", "MODE", "MODE", "367", "367", "367", "368"]
    bans = [m.params[2] for m in msgs(lines) if m.command == "367"]
    assert bans == ["bob!*@*", "*!~x@host", "nick!user@*"]
    first = next(m for m in msgs(lines) if m.command == "367")
    assert first.params[3:] == [f"alice!~u@{HOST}", "1700000000"]
    assert numerics(b.send("MODE #room b")) == ["367", "367", "367", "368"]
    assert msgs(a.send("MODE #room -b BOB")) == msgs([f":alice!~u@{HOST} MODE #room -b bob!*@*"])
    assert a.send("MODE #room -b bob") == []


def test_a_rendered_ban_list_follows_every_change():
    """The list is rendered once per content and kept: each asker still gets its own nick,
    and an added or removed mask, or a renamed channel, shows at once."""
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +b x!*@*", "MODE #room +b y!*@*")
    b.take()

    def listed(who):
        return [(m.params[0], m.params[1], m.params[2]) for m in msgs(who.send("MODE #room b"))]

    assert listed(a)[:2] == [("alice", "#room", "x!*@*"), ("alice", "#room", "y!*@*")]
    assert listed(b)[:2] == [("bob", "#room", "x!*@*"), ("bob", "#room", "y!*@*")]
    a.send("MODE #room -b x!*@*", "MODE #room +b z!*@*")
    b.take()
    assert [m for _, _, m in listed(b)] == ["y!*@*", "z!*@*", "End of channel ban list"]
    a.send("CAP REQ :draft/channel-rename", "RENAME #room #hall :moved")
    b.take()
    lines = msgs(b.send("MODE #hall b"))
    assert [m.params[1] for m in lines] == ["#hall", "#hall", "#hall"]


@pytest.mark.single_process  # looks at the state's cache
def test_rendered_lists_are_bounded():
    from chatd.limits import RENDERED_LISTS

    state = make_state(max_channels=RENDERED_LISTS + 20)
    (a,) = room(state, "alice")
    for i in range(RENDERED_LISTS + 10):
        a.send(f"JOIN #r{i}", f"MODE #r{i} +b m{i}!*@*", f"MODE #r{i} b")
    assert len(state._lists) == RENDERED_LISTS
    assert numerics(a.send(f"MODE #r{RENDERED_LISTS + 9} b")) == ["367", "368"]


def test_banned_member_cannot_speak_but_voiced_can():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +b b?b")
    b.take()
    assert numerics(b.send("PRIVMSG #room :hi")) == ["404"]
    a.send("MODE #room +v bob")
    b.take()
    assert b.send("PRIVMSG #room :hi") == []
    assert numerics(a.take()) == ["PRIVMSG"]


def test_ban_list_is_bounded():
    state = make_state(max_list_modes=2)
    (a,) = room(state, "alice")
    a.send("MODE #room +bb x y")
    lines = a.send("MODE #room +b z")
    assert msgs(lines) == msgs([":chatd.local 478 alice #room b :Channel list is full"])
    assert len(state.find_channel("#room").bans) == 2


def test_non_op_cannot_ban():
    state = make_state()
    _a, b = room(state, "alice", "bob")
    assert numerics(b.send("MODE #room +b alice")) == ["482"]
    assert state.find_channel("#room").bans == []


# -- ban lists of secret channels, long masks, nick changes under a ban -------------------------


@pytest.fixture(scope="module")
def oper_hash() -> str:
    from chatd.server.passwords import hash_password

    return hash_password("pw")  # scrypt: hash once for the module


def test_non_member_cannot_read_a_secret_channels_ban_list(oper_hash):
    state = make_state(opers={"root": oper_hash})
    a, b = room(state, "alice", "bob", channel="#secret")
    a.send("MODE #secret +s", "MODE #secret +b evil")
    outsider = registered(state, "eve")
    assert msgs(outsider.send("MODE #secret b")) == msgs(
        [":chatd.local 442 eve #secret :You're not on that channel"]
    )
    assert numerics(b.take() + b.send("MODE #secret b")) == ["MODE", "MODE", "367", "368"]
    oper = registered(state, "oper")
    oper.send_answered("OPER root pw")
    assert numerics(oper.send("MODE #secret b")) == ["367", "368"]  # IRC operators may look
    a.send("MODE #secret -s")
    assert numerics(outsider.send("MODE #secret b")) == ["367", "368"]  # a public channel's are


def test_ban_mask_is_bounded_and_every_367_fits_in_512_bytes():
    nick, channel = "n" * 30, "#" + "c" * 49
    state = make_state(name="s" * 63)
    op = registered(state, nick)
    op.user.set_username("~" + "u" * 15)
    op.send(f"JOIN {channel}")
    longest = 30 + 1 + 16 + 1 + 64
    too_long = "x" * 30 + "!" + "y" * 16 + "@" + "*" * 65
    lines = op.send(f"MODE {channel} +b {too_long}")
    assert numerics(lines) == ["696"] and "Ban mask is too long" in lines[0]
    assert len(lines[0]) + 2 <= 512
    mask = "x" * 30 + "!" + "y" * 16 + "@" + "*" * 64
    assert len(mask) == longest
    assert numerics(op.send(f"MODE {channel} +b {mask}")) == ["MODE"]
    # the setter's host at its longest: a 64-character host
    op.user.host = "h" * 64
    op.user.set_nick(op.user.nick)
    op.send(f"MODE {channel} +b {'z' * 30}!{'y' * 16}@{'*' * 64}")
    listing = op.send(f"MODE {channel} b")
    assert numerics(listing) == ["367", "367", "368"]
    assert max(len(line.encode()) + 2 for line in listing) <= 512


def test_nick_change_while_banned_is_refused():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +b bob!*@*")
    b.take()
    assert msgs(b.send("NICK notbob")) == msgs(
        [":chatd.local 435 bob notbob #room :Cannot change nickname while banned on channel"]
    )
    assert b.user.nick == "bob" and numerics(b.send("PRIVMSG #room :hi")) == ["404"]
    assert numerics(b.send("NICK BOB")) == ["NICK"]  # the same nick in another case is fine
    a.send("MODE #room +v BOB")  # voiced: bans no longer bind it
    b.take()
    assert numerics(b.send("NICK notbob")) == ["NICK"]
    a.take()


def test_nick_change_after_leaving_the_banning_channel():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +b bob")
    b.send("PART #room")
    assert numerics(b.send("NICK notbob")) == ["NICK"]


def test_a_ban_on_the_new_nick_applies_at_once():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("MODE #room +b evil!*@*")
    b.take()
    assert numerics(b.send("NICK evil")) == ["NICK"]
    assert numerics(b.send("PRIVMSG #room :hi")) == ["404"]
    assert numerics(b.send("NICK good")) == ["435"]  # and now it holds that nick
    b.send("PART #room")
    assert numerics(b.send("JOIN #room")) == ["474"]
