"""Random command sequences from several users against the state (hypothesis): no line may
raise, every reply must be a well-formed line, and the bookkeeping must stay consistent."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ircclient import carry_out

from chatd.proto.casemap import fold
from chatd.proto.message import parse

from .util import Scripted, make_state

pytestmark = pytest.mark.single_process  # drives the sans-IO state directly (time, internals)

NICKS = ["alice", "Bob", "[c]", "{C}", "d"]
CHANNELS = ["#a", "#A", "#b", "#c", "#a b", ""]
WORDS = NICKS + CHANNELS + ["*", "x*", ":", "", "0", "5", "key", "a,b", "%tnuhfr,42"]
MODES = [
    "+o",
    "-o",
    "+v",
    "+b",
    "-b",
    "+k",
    "-k",
    "+l",
    "-l",
    "+imnst",
    "-imnst",
    "+i",
    "-i",
    "+P",
    "-P",
    "+ov",
    "+Z",
    "b",
    "+kl",
]


def cheap_hash(password: str) -> str:
    """A valid stored oper hash with a tiny scrypt cost, so OPER is fast in a fuzz loop."""
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(password.encode(), salt=salt, n=16, r=1, p=1, dklen=32)
    b64 = base64.b64encode
    return f"scrypt$16$1$1${b64(salt).decode()}${b64(digest).decode()}"


def commands() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    chan = st.sampled_from(CHANNELS)
    nick = st.sampled_from(NICKS)
    text = st.sampled_from(["hi", "two words", ":-)", ""])
    return st.one_of(
        st.builds("NICK {}".format, nick),
        st.builds(
            "JOIN {} {}".format,
            st.sampled_from(["#a", "#b,#c", "#A,#b", "0", "#a b"]),
            st.sampled_from(["", "key", "key,key"]),
        ),
        st.builds("PART {} :{}".format, chan, text),
        st.builds("PRIVMSG {} :{}".format, st.sampled_from(NICKS + CHANNELS + ["#a,Bob"]), text),
        st.builds("NOTICE {} :{}".format, word, text),
        st.builds("@+t=1 TAGMSG {}".format, word),
        st.builds("MODE {} {} {} {}".format, chan, st.sampled_from(MODES), word, word),
        st.builds("MODE {} {}".format, nick, st.sampled_from(["+i", "-i", "+o", "-o", "+Z", ""])),
        st.builds("TOPIC {} :{}".format, chan, text),
        st.builds("KICK {} {} :{}".format, chan, word, text),
        st.builds("INVITE {} {}".format, nick, chan),
        st.builds("NAMES {}".format, word),
        st.builds("WHO {} {}".format, word, st.sampled_from(["", "%tnuhfr,42", "%n"])),
        st.builds("WHOIS {}".format, word),
        st.builds("AWAY :{}".format, text),
        st.builds(
            "CAP REQ :{}".format,
            st.sampled_from(
                [
                    "echo-message",
                    "message-tags server-time",
                    "-echo-message",
                    "away-notify",
                    "bad",
                    "batch draft/chathistory labeled-response",
                    "extended-join invite-notify setname",
                    "batch draft/multiline echo-message",
                    "batch draft/metadata-3",
                    "-draft/metadata-3",
                    "draft/read-marker draft/message-redaction message-tags",
                    "draft/channel-rename extended-monitor away-notify",
                ]
            ),
        ),
        # the rest of the client protocol (issue 12)
        st.builds("MONITOR {} {}".format, st.sampled_from(["+", "-", "C", "L", "S", "X"]), word),
        st.builds("WHOWAS {} {}".format, nick, st.sampled_from(["", "1", "0", "-1", "x"])),
        st.builds("LIST {}".format, st.sampled_from(["#a*", "!#a", ">1", "<2", "C<5", "T>1", "x"])),
        st.builds("PRIVMSG {}{} :{}".format, st.sampled_from(["@", "+"]), chan, text),
        st.builds("RENAME {} {} :{}".format, chan, chan, text),
        st.builds("REDACT {} {}".format, chan, st.sampled_from(["t-1", "t-2", "t-3/1", "x"])),
        st.builds(
            "MARKREAD {} {}".format,
            word,
            st.sampled_from(["", "timestamp=2023-11-14T22:13:20.000Z", "*", "x"]),
        ),
        st.builds(
            "METADATA {} {} {} :{}".format,
            st.sampled_from(["*", "#a", "Bob", "nobody"]),
            st.sampled_from(["GET", "LIST", "SET", "CLEAR", "SUB", "UNSUB", "SUBS", "SYNC", "X"]),
            st.sampled_from(["avatar", "Bad", "a.b/c-d"]),
            text,
        ),
        st.builds("BATCH +m draft/multiline {}".format, st.sampled_from(NICKS + CHANNELS)),
        st.builds("@batch=m PRIVMSG {} :{}".format, chan, text),
        st.builds("@batch=m;draft/multiline-concat PRIVMSG {} :{}".format, chan, text),
        st.sampled_from(["BATCH -m", "BATCH -x", "INVITE", "HELP", "HELP mode", "STATS m", "INFO"]),
        st.builds(
            "MODE {} {} {}".format, chan, st.sampled_from(["+e", "+I", "-e", "+C", "e"]), word
        ),
        st.builds("MODE {} {}".format, nick, st.sampled_from(["+w", "-w", "+B", "-B"])),
        st.builds("SETNAME :{}".format, text),
        st.builds("CHATHISTORY LATEST {} * {}".format, chan, st.sampled_from(["5", "0", "x"])),
        st.builds("@label=l1 {}".format, st.sampled_from(["PING x", "PRIVMSG #a :hi", "WHO #a"])),
        st.builds("KILL {} :{}".format, word, text),
        st.sampled_from(
            [
                "OPER boss pw",
                "OPER boss nope",
                "LIST",
                "LUSERS",
                "ISON Bob d",
                "USERHOST alice",
                "QUIT :bye",
                "PING x",
            ]
        ),
    )


TAG_CAPS = frozenset({"server-time", "message-tags", "batch", "labeled-response"})


def check_invariants(state) -> None:
    for key, channel in state.channels.items():
        assert key == fold(channel.name)
        assert channel.members or "P" in channel.modes, f"empty channel {channel.name} kept"
        for member in channel.members:
            assert not member.gone and channel in member.channels
            assert set(channel.members[member]) <= set("ov")
    for key, user in state.users.items():
        assert key == fold(user.nick) == user.key and not user.gone
        for channel in user.channels:
            assert user in channel.members and state.channels.get(channel.key) is channel
    registered = sum(1 for u in state.users.values() if u.registered)
    assert state.connections - state.unregistered == registered
    assert state.opers == sum(1 for u in state.users.values() if u.oper)
    assert state.invisible == sum(
        1 for u in state.users.values() if u.registered and "i" in u.modes
    )
    for key, watchers in state.watchers.items():  # MONITOR: both directions agree
        assert watchers, f"empty watcher set for {key}"
        for watcher in watchers:
            assert not watcher.gone and key in (watcher.monitoring or {})
    for user in state.clients:
        for key in user.monitoring or {}:
            assert user in state.watchers[key]
        assert len(user.metadata or {}) <= state.config.metadata_max_keys
        assert len(user.meta_subs or ()) <= state.config.metadata_max_subs
    for channel in state.channels.values():
        assert len(channel.metadata or {}) <= state.config.metadata_max_keys
        assert channel.list_entries() <= state.config.max_list_modes
    assert len(state.whowas) <= state.config.whowas_entries


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), commands()), min_size=1, max_size=40))
def test_random_sessions_keep_state_consistent(script):
    state = make_state(opers={"boss": cheap_hash("pw")})
    clients = [Scripted(state) for _ in range(4)]
    for i, c in enumerate(clients):
        c.register(f"user{i}")
    for index, line in script:
        client = clients[index]
        client.send(line)  # must not raise
        carry_out(state, "oper-checked")  # OPER's password check, done off the loop
        for other in clients:
            plain = not (other.user.caps & TAG_CAPS)
            for out in other.take():
                parsed = parse(out)  # every line the server writes parses back
                assert not (plain and parsed.tags), f"tags for a client without tag caps: {out}"
                assert "INTERNAL_ERROR" not in parsed.params, out  # no handler error swallowed
                assert len(out.encode()) <= 512 + 4096
        check_invariants(state)
