"""draft/multiline: the spec's examples (a batch with a concatenated line, the fallback for
clients without the capability, each FAIL), limits from the capability value, history, labels
with echo-message, and private messages."""

from __future__ import annotations

import pytest

from chatd.proto import numerics as N
from chatd.proto.caps import MULTILINE

from .util import HOST, history_texts, make_state, msgs, numerics, registered

CAPS = ["batch", "draft/multiline"]

SPEC_BATCH = [
    "BATCH +123 draft/multiline #channel",
    "@batch=123 PRIVMSG #channel hello",
    "@batch=123 privmsg #channel :how is ",
    "@batch=123;draft/multiline-concat PRIVMSG #channel :everyone?",
    "BATCH -123",
]


def world(**settings):
    state = make_state(**settings)
    sender = registered(state, "n", CAPS)
    modern = registered(state, "modern", CAPS)
    plain = registered(state, "plain")
    tagged = registered(state, "tagged", ["message-tags", "server-time"])
    for c in (sender, modern, plain, tagged):
        c.send("JOIN #channel")
    for c in (sender, modern, plain, tagged):
        c.take()
    return state, sender, modern, plain, tagged


def send_all(client, lines):
    out = []
    for line in lines:
        out += client.send(line)
    return out


def test_the_spec_example_batch_and_its_fallback():
    state, sender, modern, plain, tagged = world()
    assert send_all(sender, SPEC_BATCH) == []
    batch = msgs(modern.take())
    ref = batch[0].params[0][1:]
    assert [(m.command, m.params, m.tags) for m in batch] == [
        ("BATCH", ["+" + ref, "draft/multiline", "#channel"], {}),
        ("PRIVMSG", ["#channel", "hello"], {"batch": ref}),
        ("PRIVMSG", ["#channel", "how is "], {"batch": ref}),
        ("PRIVMSG", ["#channel", "everyone?"], {"batch": ref, "draft/multiline-concat": ""}),
        ("BATCH", ["-" + ref], {}),
    ]
    assert all(m.source == f"n!~u@{HOST}" for m in batch)
    assert msgs(plain.take()) == msgs(
        [
            f":n!~u@{HOST} PRIVMSG #channel :hello",
            f":n!~u@{HOST} PRIVMSG #channel :how is ",
            f":n!~u@{HOST} PRIVMSG #channel :everyone?",
        ]
    )
    fallback = msgs(tagged.take())
    assert "msgid" in fallback[0].tags and "time" in fallback[0].tags
    assert ["msgid" in m.tags for m in fallback] == [True, False, False]  # the first only
    assert all("time" in m.tags for m in fallback)


def test_message_tags_go_on_the_batch_start():
    state = make_state()
    sender = registered(state, "n", CAPS)
    modern = registered(state, "modern", [*CAPS, "message-tags", "server-time"])
    for c in (sender, modern):
        c.send("JOIN #channel")
    modern.take()
    send_all(
        sender,
        [
            "@+draft/reply=abc BATCH +x draft/multiline #channel",
            "@batch=x PRIVMSG #channel :one",
            "BATCH -x",
        ],
    )
    start, line, end = msgs(modern.take())
    assert set(start.tags) == {"time", "msgid", "+draft/reply"}
    assert line.tags == {"batch": start.params[0][1:]} and end.command == "BATCH"


def test_blank_lines_go_to_multiline_clients_only_and_history_keeps_the_lines():
    state, sender, modern, plain, _ = world()
    send_all(
        sender,
        [
            "BATCH +b draft/multiline #channel",
            "@batch=b PRIVMSG #channel :para one",
            "@batch=b PRIVMSG #channel :",
            "@batch=b PRIVMSG #channel :para two",
            "BATCH -b",
        ],
    )
    assert [m.params[-1] for m in msgs(modern.take()) if m.command == "PRIVMSG"] == [
        "para one",
        "",
        "para two",
    ]
    assert [m.params[-1] for m in msgs(plain.take())] == ["para one", "para two"]
    assert history_texts(plain, "#channel") == ["para one", "para two"]
    tagged = registered(state, "reader", ["message-tags"])
    tagged.send("JOIN #channel")
    tagged.take()
    rows = [
        m for m in msgs(tagged.send("CHATHISTORY LATEST #channel * 10")) if m.command == "PRIVMSG"
    ]
    assert rows[1].tags["msgid"] == rows[0].tags["msgid"] + "/1"


def test_echo_message_with_a_label_labels_the_batch_start():
    state = make_state()
    sender = registered(state, "n", [*CAPS, "echo-message", "labeled-response"])
    sender.send("JOIN #channel")
    lines = send_all(
        sender,
        [
            "@label=L1 BATCH +e draft/multiline #channel",
            "@batch=e PRIVMSG #channel :a",
            "@batch=e PRIVMSG #channel :b",
            "BATCH -e",
        ],
    )
    parsed = msgs(lines)
    assert parsed[0].command == "BATCH" and parsed[0].tags == {"label": "L1"}
    assert [m.command for m in parsed] == ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"]
    assert all("label" not in m.tags for m in parsed[1:])


def test_echo_without_the_batch_of_labeled_response_is_not_acked_at_the_start():
    state = make_state()
    sender = registered(state, "n", [*CAPS, "labeled-response"])
    sender.send("JOIN #channel")
    assert sender.send("@label=L2 BATCH +q draft/multiline #channel") == []
    sender.send("@batch=q PRIVMSG #channel :a")
    assert msgs(sender.send("BATCH -q")) == msgs(["@label=L2 :chatd.local ACK"])


def test_private_multiline_message():
    state = make_state()
    sender = registered(state, "n", [*CAPS, "echo-message"])
    modern, plain = registered(state, "modern", CAPS), registered(state, "plain")
    for target, client in (("modern", modern), ("plain", plain)):
        echoed = send_all(
            sender,
            [
                f"BATCH +p draft/multiline {target}",
                f"@batch=p PRIVMSG {target} :x",
                f"@batch=p PRIVMSG {target} :y",
                "BATCH -p",
            ],
        )
        assert [m.command for m in msgs(echoed)] == ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"]
        got = msgs(client.take())
        assert [m.command for m in got] == (
            ["BATCH", "PRIVMSG", "PRIVMSG", "BATCH"] if client is modern else ["PRIVMSG"] * 2
        )
    assert history_texts(modern, "n") == []  # private messages are not kept


# -- errors: the spec's FAIL codes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "fail"),
    [
        (
            ["BATCH +456 draft/multiline #channel", "@batch=456 PRIVMSG #bar hello"],
            "FAIL BATCH MULTILINE_INVALID_TARGET #channel #bar :Invalid multiline target",
        ),
        (
            ["BATCH +abc draft/multiline #channel"] + ["@batch=abc PRIVMSG #channel :x"] * 4,
            "FAIL BATCH MULTILINE_MAX_LINES 3 :Multiline batch max-lines exceeded",
        ),
        (
            ["BATCH +abc draft/multiline #channel", "@batch=abc PRIVMSG #channel :" + "y" * 41],
            "FAIL BATCH MULTILINE_MAX_BYTES 40 :Multiline batch max-bytes exceeded",
        ),
        (
            [
                "BATCH +abc draft/multiline #channel",
                "@batch=abc PRIVMSG #channel :" + "y" * 20,
                "@batch=abc PRIVMSG #channel :" + "y" * 20,  # 20 + \n + 20 = 41
            ],
            "FAIL BATCH MULTILINE_MAX_BYTES 40 :Multiline batch max-bytes exceeded",
        ),
        (
            ["BATCH +999 draft/multiline #channel", "@batch=999 NOTICE #channel :x"],
            "FAIL BATCH MULTILINE_INVALID :Only PRIVMSG lines",
        ),
        (
            [
                "BATCH +999 draft/multiline #channel",
                "@batch=999;draft/multiline-concat PRIVMSG #channel :",
            ],
            "FAIL BATCH MULTILINE_INVALID :A blank line cannot be joined",
        ),
        (
            ["BATCH +999 draft/multiline #channel", "@batch=999 PRIVMSG #channel :", "BATCH -999"],
            "FAIL BATCH MULTILINE_INVALID :Invalid multiline batch",  # blank lines only
        ),
        (
            ["BATCH +999 draft/multiline #channel", "BATCH -999"],
            "FAIL BATCH MULTILINE_INVALID :Invalid multiline batch",  # no line at all
        ),
        (
            [
                "BATCH +9 draft/multiline #channel",
                "@batch=9;draft/multiline-concat PRIVMSG #channel :x",
                "BATCH -9",
            ],
            "FAIL BATCH MULTILINE_INVALID :Invalid multiline batch",  # joined to nothing
        ),
        (
            ["BATCH -nope"],
            "FAIL BATCH MULTILINE_INVALID :No such multiline batch is open",
        ),
        (
            ["BATCH +a draft/multiline #channel", "BATCH +b draft/multiline #channel"],
            "FAIL BATCH MULTILINE_INVALID :A multiline batch is already open",
        ),
        (
            ["BATCH +a chathistory #channel"],
            "FAIL BATCH MULTILINE_INVALID :Only draft/multiline batches can be sent",
        ),
        (
            ["BATCH +a draft/multiline"],
            "FAIL BATCH MULTILINE_INVALID :BATCH +ref draft/multiline <target>",
        ),
    ],
)
def test_multiline_failures(lines, fail):
    state, sender, modern, plain, _ = world(multiline_max_lines=3, multiline_max_bytes=40)
    out = send_all(sender, lines)
    assert msgs(out) == msgs([":chatd.local " + fail])
    sender.send("BATCH -" + lines[0].split()[1][1:])  # whatever is open ends, delivering nothing
    assert modern.take() == [] and plain.take() == []


def test_a_failed_batch_swallows_the_rest_of_its_lines():
    state, sender, modern, plain, _ = world(multiline_max_lines=1)
    out = send_all(
        sender,
        [
            "BATCH +f draft/multiline #channel",
            "@batch=f PRIVMSG #channel :1",
            "@batch=f PRIVMSG #channel :2",
            "@batch=f PRIVMSG #channel :3",
            "BATCH -f",
        ],
    )
    assert numerics(out) == ["FAIL"]
    assert plain.take() == []


def test_without_the_capability_batch_is_refused_and_tagged_lines_are_plain():
    state, _, modern, plain, _ = world()
    old = registered(state, "old")
    old.send("JOIN #channel")
    modern.take()
    plain.take()
    assert msgs(old.send("BATCH +x draft/multiline #channel")) == msgs(
        [":chatd.local FAIL BATCH MULTILINE_INVALID :draft/multiline and batch must be enabled"]
    )
    old.send("@batch=x PRIVMSG #channel :plain line")  # no open batch: an ordinary message
    assert [m.params[-1] for m in msgs(plain.take())] == ["plain line"]


def test_the_limits_are_in_the_capability_value():
    state = make_state(multiline_max_bytes=1000, multiline_max_lines=7)
    from .util import Scripted

    c = Scripted(state)
    caps = msgs(c.send("CAP LS 302"))[0].params[-1].split()
    assert f"{MULTILINE}=max-bytes=1000,max-lines=7" in caps


def test_multiline_respects_channel_rules():
    state, sender, modern, _, _ = world()
    op = next(u for u in state.channels["#channel"].members if u.nick == "n")
    assert op is sender.user
    outsider = registered(state, "out", CAPS)
    lines = send_all(
        outsider,
        ["BATCH +o draft/multiline #channel", "@batch=o PRIVMSG #channel :x", "BATCH -o"],
    )
    assert numerics(lines) == [N.ERR_CANNOTSENDTOCHAN]
    assert modern.take() == []


def test_multiline_over_sockets(server):
    sender = server.client()
    sender.send("CAP LS 302", "CAP REQ :batch draft/multiline", "NICK sender", "USER u 0 * :S")
    sender.send("CAP END")
    sender.expect_numeric("001")
    sender.send("JOIN #m")
    sender.expect_numeric(N.RPL_ENDOFNAMES)
    reader = server.client("reader")
    reader.join("#m")
    sender.send(
        "BATCH +s draft/multiline #m",
        "@batch=s PRIVMSG #m :first",
        "@batch=s PRIVMSG #m :second",
        "BATCH -s",
    )
    assert reader.expect("PRIVMSG #m").params == ["#m", "first"]
    assert reader.expect("PRIVMSG #m").params == ["#m", "second"]
