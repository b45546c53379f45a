"""draft/metadata-3: every METADATA subcommand against the spec's examples, the notifications
(761/766) to subscribers, the automatic batches (registration, JOIN, SUB, MONITOR), the limits
in the capability value, and the capability's absence."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N
from chatd.proto.caps import METADATA

from .util import Scripted, make_state, msgs, numerics, registered

CAPS = ["batch", METADATA]


def world(**settings):
    state = make_state(**settings)
    client = registered(state, "client", CAPS)
    user1 = registered(state, "user1", CAPS)
    plain = registered(state, "plain")
    for c in (client, user1, plain):
        c.send("JOIN #example")
    for c in (client, user1, plain):
        c.take()
    return state, client, user1, plain


def unbatched(lines):
    """The lines of a reply without its BATCH frame and batch tags, as the examples show."""
    out = []
    for m in msgs(lines):
        if m.command == "BATCH":
            continue
        m.tags.pop("batch", None)
        out.append(m)
    return out


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "METADATA * SET url :http://www.example.com",
            ["761 client client url * :http://www.example.com"],
        ),
        (
            "METADATA client SET url :http://www.example.com",
            ["761 client client url * :http://www.example.com"],
        ),
        (
            "METADATA #example SET url :http://www.example.com",
            ["761 client #example url * :http://www.example.com"],
        ),
        (
            "METADATA user1 SET url :http://www.example.com",
            ["FAIL METADATA KEY_NO_PERMISSION user1 url :Permission denied"],
        ),
        (
            "METADATA $a:user SET url :http://www.example.com",
            ["FAIL METADATA INVALID_TARGET $a:user :Invalid metadata target"],
        ),
        (
            "METADATA * SET $url$ :http://www.example.com",
            ["FAIL METADATA INVALID_KEY $url$ :Invalid key"],
        ),
        ("METADATA * SET URL :x", ["FAIL METADATA INVALID_KEY URL :Invalid key"]),
        (
            "METADATA * SET url :" + "v" * 301,
            ["FAIL METADATA INVALID_VALUE url :At most 300 bytes"],
        ),
        (
            "METADATA * SET url",
            ["766 client client url :Key not set"],
        ),  # removing what is not there
        ("METADATA", ["FAIL METADATA INVALID_PARAMS * :Not enough parameters"]),
        ("METADATA #example GET", ["FAIL METADATA INVALID_PARAMS GET :Not enough parameters"]),
        ("METADATA #example SNEEZE", ["FAIL METADATA INVALID_PARAMS SNEEZE :Unknown subcommand"]),
        ("METADATA #example :: hi!", ["FAIL METADATA INVALID_PARAMS _hi! :Unknown subcommand"]),
        (
            "METADATA #nowhere LIST",
            ["FAIL METADATA INVALID_TARGET #nowhere :Invalid metadata target"],
        ),
        (
            "METADATA user1 SUB avatar",
            ["FAIL METADATA INVALID_TARGET user1 :Subscriptions are your own: use *"],
        ),
    ],
)
def test_metadata_replies(line, expected):
    _, client, _, _ = world()
    assert msgs(client.send(line)) == msgs([":chatd.local " + e for e in expected])


def test_a_channel_needs_its_operator():
    _, client, user1, _ = world()
    assert msgs(user1.send("METADATA #example SET url :x")) == msgs(
        [":chatd.local FAIL METADATA KEY_NO_PERMISSION #example url :Permission denied"]
    )
    assert msgs(user1.send("METADATA #example CLEAR")) == msgs(
        [":chatd.local FAIL METADATA KEY_NO_PERMISSION #example * :Permission denied"]
    )


def test_get_and_list_in_a_metadata_batch():
    _, client, user1, _ = world()
    user1.send("METADATA * SET im.xmpp :user1@xmpp.example.com", "METADATA * SET url :http://x")
    lines = client.send("METADATA user1 GET blargh splot im.xmpp $bad")
    start, *_, end = msgs(lines)
    assert start.params[1:] == ["metadata", "user1"] and end.command == "BATCH"
    assert unbatched(lines) == msgs(
        [
            ":chatd.local 766 client user1 blargh :Key not set",
            ":chatd.local 766 client user1 splot :Key not set",
            ":chatd.local 761 client user1 im.xmpp * :user1@xmpp.example.com",
            ":chatd.local WARN METADATA INVALID_KEY $bad :Invalid key",
        ]
    )
    assert unbatched(client.send("METADATA user1 LIST")) == msgs(
        [
            ":chatd.local 761 client user1 im.xmpp * :user1@xmpp.example.com",
            ":chatd.local 761 client user1 url * :http://x",
        ]
    )


def test_clear_answers_766_per_key():
    _, client, _, _ = world()
    client.send("METADATA * SET a :1", "METADATA * SET b :2")
    assert unbatched(client.send("METADATA * CLEAR")) == msgs(
        [
            ":chatd.local 766 client client a :Key not set",
            ":chatd.local 766 client client b :Key not set",
        ]
    )
    assert unbatched(client.send("METADATA * LIST")) == []


def test_the_key_limit():
    _, client, _, _ = world(metadata_max_keys=2)
    client.send("METADATA * SET a :1", "METADATA * SET b :2")
    assert msgs(client.send("METADATA * SET c :3")) == msgs(
        [":chatd.local FAIL METADATA LIMIT_REACHED client 2 :Metadata limit reached"]
    )
    assert numerics(client.send("METADATA * SET a :changed")) == [N.RPL_KEYVALUE]  # not new


# -- subscriptions -----------------------------------------------------------------------------


def test_sub_unsub_subs():
    _, client, _, _ = world()
    assert msgs(client.send("METADATA * SUB avatar website foo bar"))[:1] == msgs(
        [":chatd.local 770 client avatar website foo bar"]
    )
    assert msgs(client.send("METADATA * UNSUB foo bar")) == msgs(
        [":chatd.local 771 client foo bar"]
    )
    assert unbatched(client.send("METADATA * SUBS")) == msgs(
        [":chatd.local 772 client avatar website"]
    )
    batch = msgs(client.send("METADATA * SUBS"))
    assert batch[0].params[1:] == ["metadata-subs"]


def test_sub_with_an_invalid_key_and_past_the_limit():
    _, client, _, _ = world(metadata_max_subs=3)
    lines = client.send("METADATA * SUB foo $url bar")
    assert msgs(lines)[:2] == msgs(
        [
            ":chatd.local WARN METADATA INVALID_KEY $url :Invalid key",
            ":chatd.local 770 client foo bar",
        ]
    )
    lines = client.send("METADATA * SUB baz email city")
    assert msgs(lines)[:2] == msgs(
        [
            ":chatd.local FAIL METADATA LIMIT_REACHED email 3 :Too many subscriptions",
            ":chatd.local 770 client baz",
        ]
    )
    assert unbatched(client.send("METADATA * SUBS")) == msgs(
        [":chatd.local 772 client bar baz foo"]
    )


def test_subscribing_sends_the_current_values_of_the_new_keys():
    _, client, user1, _ = world()
    user1.send("METADATA * SET avatar :http://a/1.png", "METADATA * SET status :busy")
    client.send("METADATA #example SET avatar :http://a/chan.png")
    lines = client.send("METADATA * SUB avatar")
    parsed = msgs(lines)
    assert parsed[0].command == N.RPL_METADATASUBOK
    assert parsed[1].params[1:] == ["metadata", "*ALL"]
    assert unbatched(lines)[1:] == msgs(
        [
            ":chatd.local 761 client #example avatar * :http://a/chan.png",
            ":chatd.local 761 client user1 avatar * :http://a/1.png",
        ]
    )
    assert numerics(client.send("METADATA * SUB avatar")) == [N.RPL_METADATASUBOK]  # nothing new


def test_notifications_reach_subscribers_who_see_the_target():
    state, client, user1, plain = world()
    client.send("METADATA * SUB display-name")
    stranger = registered(state, "stranger", CAPS)  # shares no channel with user1
    stranger.send("METADATA * SUB display-name")
    unsubscribed = registered(state, "unsub", CAPS)
    unsubscribed.send("JOIN #example")
    for c in (client, user1, plain, stranger, unsubscribed):
        c.take()
    assert msgs(user1.send("METADATA * SET display-name :User One")) == msgs(
        [":chatd.local 761 user1 user1 display-name * :User One"]
    )
    assert msgs(client.take()) == msgs([":chatd.local 761 client user1 display-name * :User One"])
    assert stranger.take() == [] and plain.take() == [] and unsubscribed.take() == []
    user1.send("METADATA * SET display-name")
    assert msgs(client.take()) == msgs([":chatd.local 766 client user1 display-name :Key not set"])


def test_a_change_on_oneself_is_not_notified_back_but_a_change_by_others_is(oper_state):
    state, admin = oper_state
    user = registered(state, "someone", CAPS)
    user.send("METADATA * SUB color")
    assert numerics(user.send("METADATA * SET color :red")) == [N.RPL_KEYVALUE]  # the reply only
    admin.send("METADATA someone SET color :blue")
    assert msgs(user.take()) == msgs([":chatd.local 761 someone someone color * :blue"])


@pytest.fixture
def oper_state():
    from chatd.server.passwords import hash_password

    state = make_state(opers={"admin": hash_password("pw")})
    admin = registered(state, "admin", CAPS)
    admin.send_answered("OPER admin pw")
    admin.take()
    return state, admin


def test_channel_changes_reach_its_subscribed_members():
    _, client, user1, _ = world()
    user1.send("METADATA * SUB topic-url")
    client.send("METADATA #example SET topic-url :http://wiki")
    assert msgs(user1.take()) == msgs([":chatd.local 761 user1 #example topic-url * :http://wiki"])


def test_monitoring_subscribers_are_notified_too():
    state = make_state()
    far = registered(state, "far", CAPS)
    watcher = registered(state, "watcher", CAPS)
    watcher.send("METADATA * SUB avatar", "MONITOR + far")
    watcher.take()
    far.send("METADATA * SET avatar :http://a")
    assert msgs(watcher.take()) == msgs([":chatd.local 761 watcher far avatar * :http://a"])


# -- automatic synchronisation -------------------------------------------------------------------


def test_join_sends_a_batch_of_the_channel_and_its_members():
    state, client, user1, _ = world()
    user1.send("METADATA * SET avatar :http://a/u1", "METADATA * SET other :x")
    client.send("METADATA #example SET avatar :http://a/c")
    joiner = registered(state, "joiner", CAPS)
    joiner.send("METADATA * SUB avatar")
    lines = joiner.send("JOIN #example")
    parsed = msgs(lines)
    names_end = next(i for i, m in enumerate(parsed) if m.command == N.RPL_ENDOFNAMES)
    batch = parsed[names_end + 1 :]
    assert batch[0].params[1:] == ["metadata", "#example"]
    assert unbatched(lines[names_end + 1 :]) == msgs(
        [
            ":chatd.local 761 joiner #example avatar * :http://a/c",
            ":chatd.local 761 joiner user1 avatar * :http://a/u1",
        ]
    )


def test_too_much_metadata_is_synced_later():
    state, client, user1, _ = world(metadata_sync_max=1)
    user1.send("METADATA * SET avatar :1")
    client.send("METADATA * SET avatar :2")
    joiner = registered(state, "joiner", CAPS)
    joiner.send("METADATA * SUB avatar")
    lines = msgs(joiner.send("JOIN #example"))
    assert lines[-1].command == N.RPL_METADATASYNCLATER
    assert lines[-1].params[1:3] == ["#example", "30"]
    assert msgs(joiner.send("METADATA user1 SYNC"))[1].params[-1] == "1"  # one user fits


def test_registration_sends_ones_own_metadata_batch_before_the_motd_end():
    c = Scripted(make_state())
    c.send("CAP LS 302", "CAP REQ :batch draft/metadata-3", "NICK abc", "USER u s e :r")
    lines = msgs(c.send("CAP END"))
    kinds = [m.command for m in lines]
    start = kinds.index("BATCH")
    assert lines[start].params[1:] == ["metadata", "abc"]
    assert kinds[start + 1] == "BATCH" and kinds[-1] == N.ERR_NOMOTD


def test_without_the_capability_no_batches_come_unasked():
    state, _, _, plain = world()
    assert "BATCH" not in numerics(Scripted(state).register("other"))
    plain.send("PART #example")
    assert numerics(plain.send("JOIN #example"))[-1] == N.RPL_ENDOFNAMES


def test_dropping_the_capability_drops_the_subscriptions():
    _, client, _, _ = world()
    client.send("METADATA * SUB avatar")
    client.send("CAP REQ :-draft/metadata-3")
    assert client.user.meta_subs is None


def test_the_limits_are_in_the_capability_value():
    c = Scripted(make_state(metadata_max_subs=5, metadata_max_keys=6))
    caps = msgs(c.send("CAP LS 302"))[0].params[-1].split()
    assert "draft/metadata-3=max-subs=5,max-keys=6,max-key-bytes=64,max-value-bytes=300" in caps


def test_metadata_over_sockets(server):
    a = server.client()
    a.send("CAP REQ :batch draft/metadata-3", "NICK a", "USER u 0 * :A", "CAP END")
    a.expect_numeric("001")
    a.send("METADATA * SUB avatar", "JOIN #m")
    a.expect_numeric(N.RPL_ENDOFNAMES)
    b = server.client("b")
    b.join("#m")
    b.send("METADATA * SET avatar :http://example.com/b.png")
    b.expect_numeric(N.RPL_KEYVALUE)
    assert a.expect_numeric(N.RPL_KEYVALUE).params[1:] == [
        "b",
        "avatar",
        "*",
        "http://example.com/b.png",
    ]
