"""Whatever a server sends, the session never raises (it logs what it cannot use)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_client_session import NOW, joined, registered

from chatd.client.sasl import SaslConfig
from chatd.client.session import Session

COMMANDS = [
    "PRIVMSG", "NOTICE", "JOIN", "PART", "KICK", "QUIT", "NICK", "TOPIC", "MODE", "AWAY", "CAP",
    "PING", "PONG", "ERROR", "BATCH", "INVITE", "001", "005", "311", "317", "332", "333", "353",
    "366", "324", "401", "433", "432", "482", "999", "ACK", "FAIL", "AUTHENTICATE", "303",
    "464", "465", "730", "731", "734", "900", "903", "904", "908", "367", "WELCOME",
    "ISUPPORT", "MARKREAD", "REDACT", "RENAME", "CHATHISTORY", "761", "766",
]  # fmt: skip
word = st.text(st.characters(blacklist_characters="\r\n\0 "), min_size=0, max_size=12)
targets = (
    st.sampled_from(["#lobby", "#dev", "alice", "bob", "*", "@#lobby", ""])
    | st.sampled_from(["+zz", "-zz", "+c1", "chathistory", "labeled-response", "CHATHISTORY"])
    | st.sampled_from(["draft/multiline", "TARGETS", "timestamp=2023-11-14T22:13:20Z", "#hall"])
    | word
)


@st.composite
def lines(draw: st.DrawFn) -> str:
    tags = draw(
        st.sampled_from(
            [
                "",
                "@time=bogus ",
                "@batch=zz;msgid=1 ",
                "@time=2023-11-14T22:13:20Z ",
                "@label=c1 ",
                "@label=c2 ",
                "@batch=c1;label=c3 ",
                "@batch=zz;time=2023-11-14T22:13:20Z ",
                "@batch=zz;draft/multiline-concat ",
                "@msgid=m1/1 ",
            ]
        )
    )
    source = draw(st.sampled_from(["", ":srv ", ":bob!b@h ", ":alice!u@h ", ":carol "]))
    command = draw(st.sampled_from(COMMANDS))
    params = draw(st.lists(targets, max_size=4))
    trailing = draw(
        st.none() | st.text(max_size=30).map(lambda t: t.replace("\r", "").replace("\n", ""))
    )
    line = tags + source + command + "".join(" " + p for p in params if p and not p.startswith(":"))
    return line + (f" :{trailing}" if trailing is not None else "")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), max_size=15))
def test_session_survives_any_server_lines(batch: list[str]) -> None:
    s: Session = joined(registered())
    for line in batch:
        s.receive(line, NOW)
    s.pull_outgoing()
    assert s.server_buffer is not None


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), max_size=15))
def test_session_with_history_and_labels_survives_any_server_lines(batch: list[str]) -> None:
    caps = (
        "batch draft/chathistory echo-message labeled-response message-tags server-time "
        "draft/read-marker draft/message-redaction draft/channel-rename draft/metadata-3 "
        "draft/multiline"
    )
    s: Session = joined(registered(caps=caps))  # c1: its LATEST request
    s.request("WHOIS", "bob")  # c2
    s.say("#lobby", "hello", NOW)  # c3
    s.open_query("bob")  # MARKREAD bob, CHATHISTORY LATEST bob (c4)
    for line in batch:
        s.receive(line, NOW)
        s.mark_read(s.current, NOW)
    s.pull_outgoing()
    assert s.server_buffer is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines(), max_size=15))
def test_session_registering_with_sasl_and_a_notify_list_survives_any_lines(
    batch: list[str],
) -> None:
    s = Session("alice", sasl=SaslConfig("SCRAM-SHA-256", "alice", "pw"), notify=["bob"])
    s.connection_made(NOW)
    for line in (":srv CAP * LS :sasl batch", ":srv CAP alice ACK :sasl batch", *batch):
        s.receive(line, NOW)
        s.tick(NOW)
    s.pull_outgoing()
    assert s.server_buffer is not None
