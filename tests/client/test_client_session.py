"""The sans-IO client session: feed server lines, check state and what it would send."""

from __future__ import annotations

import pytest

from chatd.client.session import ConnState, Kind, Session, mentions, parse_server_time, split_text
from chatd.proto.message import serialise

NOW = 1_700_000_000.0


def sent(session: Session) -> list[str]:
    """What the session would send, as "COMMAND param param..." (wire quoting aside)."""
    out = []
    for m in session.pull_outgoing():
        serialise(m)  # it must be serialisable
        out.append(" ".join([m.command, *m.params]))
    return out


def feed(session: Session, *lines: str) -> None:
    for line in lines:
        session.receive(line, NOW)


def texts(session: Session, name: str) -> list[str]:
    buf = session.get_buffer(name) if name else session.server_buffer
    assert buf is not None
    return [line.text for line in buf.lines]


def registered(
    nick: str = "alice", caps: str = "", channels: tuple[str, ...] = ("#lobby",)
) -> Session:
    s = Session(nick, channels=channels, server_label="test:8520")
    s.connecting(NOW)
    s.connection_made(NOW)
    sent(s)
    feed(s, f":srv CAP * LS :{caps}" if caps else ":srv 421 * CAP :Unknown command")
    if caps:
        feed(s, f":srv CAP {nick} ACK :{caps}")
    feed(
        s,
        f":srv 001 {nick} :Welcome to chatd, {nick}",
        f":srv 005 {nick} PREFIX=(ov)@+ CHANTYPES=# NICKLEN=16 NETWORK=chatd :are supported",
        f":srv 422 {nick} :MOTD File is missing",
    )
    sent(s)
    return s


def joined(s: Session, channel: str = "#lobby", others: str = "bob @carol") -> Session:
    feed(
        s,
        f":{s.nick}!u@h JOIN {channel}",
        f":srv 332 {s.nick} {channel} :Talk here",
        f":srv 353 {s.nick} = {channel} :{s.nick} {others}",
        f":srv 366 {s.nick} {channel} :End of /NAMES list",
        f":srv 324 {s.nick} {channel} +nt",
    )
    assert f"MODE {channel}" in sent(s)  # asked on joining, for the status line
    return s


# ---------------------------------------------------------------- registration


def test_registration_sends_cap_ls_nick_user_and_requests_offered_caps() -> None:
    s = Session("alice", password="sekrit", realname="Alice A")
    s.connection_made(NOW)
    assert sent(s) == ["CAP LS 302", "PASS sekrit", "NICK alice", "USER alice 0 * Alice A"]
    feed(
        s,
        ":srv CAP * LS * :server-time echo-message sasl",
        ":srv CAP * LS :multi-prefix cap-notify foo=bar",
    )
    assert sent(s) == ["CAP REQ cap-notify echo-message multi-prefix server-time"]
    feed(s, ":srv CAP alice ACK :cap-notify echo-message multi-prefix server-time")
    assert sent(s) == ["CAP END"]
    assert s.caps == {"cap-notify", "echo-message", "multi-prefix", "server-time"}
    assert s.state is ConnState.REGISTERING


def test_cap_nak_ends_negotiation_and_server_without_cap_still_registers() -> None:
    s = Session("alice")
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv CAP * LS :server-time", ":srv CAP alice NAK :server-time")
    assert sent(s) == ["CAP REQ server-time", "CAP END"]
    assert s.caps == set()
    t = registered("alice")  # a server answering 421 to CAP
    assert t.state is ConnState.CONNECTED and t.registered


def test_welcome_joins_the_rooms_and_switches_to_the_first_on_join() -> None:
    s = Session("alice", channels=["#lobby", "#dev"])
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 001 alice :Welcome")
    assert sent(s) == ["JOIN #lobby", "JOIN #dev"]
    feed(s, ":alice!u@h JOIN #dev", ":alice!u@h JOIN #lobby")
    assert s.current_buffer.name == "#lobby"
    assert [b.name for b in s.buffer_list()] == [
        "test:8520" if False else s.server_label,
        "#dev",
        "#lobby",
    ]


def test_nick_in_use_during_registration_falls_back_and_says_so() -> None:
    s = Session("alice")
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 433 * alice :Nickname is already in use")
    assert sent(s) == ["NICK alice_"]
    feed(s, ":srv 433 * alice_ :Nickname is already in use")
    assert sent(s) == ["NICK alice__"]
    feed(s, ":srv 001 alice__ :Welcome", ":alice__!u@h JOIN #lobby")
    assert s.nick == "alice__"
    assert any("alice is taken" in t for t in texts(s, ""))
    assert "Your nick is alice__: alice was taken" in texts(s, "#lobby")[-1]


def test_nick_fallback_respects_nicklen() -> None:
    s = Session("abcdefghij")
    s.isupport.nicklen = 10
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 433 * abcdefghij :in use")
    assert sent(s) == ["NICK abcdefghi1"]


def test_nick_in_use_after_registration_is_an_error_not_a_fallback() -> None:
    s = registered()
    s.change_nick("bob", NOW)
    assert sent(s) == ["NICK bob"]
    feed(s, ":srv 433 alice bob :Nickname is already in use")
    assert sent(s) == []
    assert s.nick == "alice"
    assert "Nick bob is not available" in s.current_buffer.lines[-1].text


# ------------------------------------------------------------------- channels


def test_join_names_topic_and_members() -> None:
    s = joined(registered())
    buf = s.get_buffer("#LOBBY")
    assert buf is not None and buf.joined and buf.topic == "Talk here"
    assert sorted(buf.nicks()) == ["alice", "bob", "carol"]
    assert buf.member("carol").prefixes == "@"  # type: ignore[union-attr]
    feed(s, ":dave!d@h JOIN #lobby", ":bob!b@h PART #lobby :later", ":carol!c@h QUIT :gone")
    assert sorted(buf.nicks()) == ["alice", "dave"]
    kinds = [line.kind for line in list(buf.lines)[-3:]]
    assert kinds == [Kind.JOIN, Kind.PART, Kind.QUIT]


def test_multi_prefix_and_userhost_in_names() -> None:
    s = joined(registered(), others="@+bob!b@host +carol!c@h")
    buf = s.get_buffer("#lobby")
    assert buf is not None
    assert buf.member("bob").prefixes == "@+"  # type: ignore[union-attr]
    assert buf.member("carol").prefixes == "+"  # type: ignore[union-attr]


def test_mode_changes_update_prefixes_and_channel_modes() -> None:
    s = joined(registered())
    buf = s.get_buffer("#lobby")
    assert buf is not None and buf.modes == "nt" and buf.modes_known
    feed(s, ":carol!c@h MODE #lobby +ovn-t bob bob", ":carol!c@h MODE #lobby +k-o secret carol")
    assert buf.member("bob").prefixes == "@+"  # type: ignore[union-attr]
    assert buf.member("carol").prefixes == ""  # type: ignore[union-attr]
    assert buf.modes == "n"


def test_nick_change_renames_members_and_query_buffers() -> None:
    s = joined(registered())
    feed(s, ":bob!b@h PRIVMSG alice :psst")
    feed(s, ":bob!b@h NICK robert")
    buf = s.get_buffer("#lobby")
    assert buf is not None and "robert" in buf.nicks() and "bob" not in buf.nicks()
    assert s.get_buffer("bob") is None and s.get_buffer("robert") is not None
    feed(s, ":alice!u@h NICK alicia")
    assert s.nick == "alicia" and "alicia" in buf.nicks()


def test_topic_change_and_kick() -> None:
    s = joined(registered())
    feed(s, ":bob!b@h TOPIC #lobby :New topic")
    buf = s.get_buffer("#lobby")
    assert buf is not None and buf.topic == "New topic"
    feed(s, ":carol!c@h KICK #lobby alice :out")
    assert not buf.joined and buf.members == {}


def test_part_keeps_the_buffer_and_close_parts_a_joined_room() -> None:
    s = joined(registered())
    feed(s, ":alice!u@h PART #lobby")
    assert s.get_buffer("#lobby") is not None
    joined(s, "#dev")
    s.switch("#dev")
    s.close("#dev", NOW)
    assert sent(s) == ["PART #dev"]
    assert s.get_buffer("#dev") is None and s.current_buffer.name == "#lobby"
    assert s.close("", NOW) is not None  # the server buffer stays


# ------------------------------------------------------------------- messages


def test_channel_message_unread_and_mention() -> None:
    s = joined(registered())
    joined(s, "#dev")
    s.switch("#dev")
    feed(s, ":bob!b@h PRIVMSG #lobby :hi all", ":bob!b@h PRIVMSG #lobby :alice: you there?")
    lobby = s.get_buffer("#lobby")
    assert lobby is not None
    assert [(l.nick, l.text) for l in list(lobby.lines)[-2:]] == [
        ("bob", "hi all"),
        ("bob", "alice: you there?"),
    ]
    assert lobby.unread == 2 and lobby.mentioned
    assert lobby.lines[-1].highlight and not lobby.lines[-2].highlight
    s.switch("#lobby")
    assert lobby.unread == 0 and not lobby.mentioned


def test_private_message_opens_query_buffer_marked_as_mention() -> None:
    s = joined(registered())
    feed(s, ":bob!b@h PRIVMSG alice :secret")
    q = s.get_buffer("bob")
    assert q is not None and q.kind == "query" and q.unread == 1 and q.mentioned
    assert s.current_buffer.name == "#lobby"


def test_action_and_ctcp_version() -> None:
    s = joined(registered())
    feed(
        s,
        ":bob!b@h PRIVMSG #lobby :\x01ACTION waves\x01",
        ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
    )
    line = s.get_buffer("#lobby").lines[-2]  # type: ignore[union-attr]
    assert line.kind is Kind.ACTION and line.text == "waves" and line.nick == "bob"
    assert sent(s) == ["NOTICE bob \x01VERSION chatd chat-client\x01"]
    assert s.get_buffer("bob") is None
    assert texts(s, "#lobby")[-1] == "bob asked your VERSION"  # where the user is reading


def test_say_logs_locally_without_echo_message() -> None:
    s = joined(registered())
    s.say("#lobby", "hello", NOW)
    assert sent(s) == ["PRIVMSG #lobby hello"]
    line = s.get_buffer("#lobby").lines[-1]  # type: ignore[union-attr]
    assert (line.text, line.own, line.nick) == ("hello", True, "alice")


def test_say_with_echo_message_waits_for_the_echo() -> None:
    s = joined(registered(caps="echo-message server-time"))
    buf = s.get_buffer("#lobby")
    assert buf is not None
    s.say("#lobby", "hello", NOW)
    assert sent(s) == ["PRIVMSG #lobby hello"]
    before = len(buf.lines)
    pending = buf.lines[-1]
    assert pending.pending and pending.own and pending.text == "hello"
    feed(s, "@time=2023-11-14T22:13:20.500Z :alice!u@h PRIVMSG #lobby :hello")
    assert len(buf.lines) == before  # the echo confirms the line, it does not add one
    line = buf.lines[-1]
    assert line.own and not line.pending and line.seq == pending.seq
    assert line.text == "hello" and line.time == 1_700_000_000.5
    assert buf.unread == 0 and not buf.pending


def test_unconfirmed_messages_are_reported_when_the_connection_drops() -> None:
    s = joined(registered(caps="echo-message"))
    s.say("#lobby", "into the void", NOW)
    s.connection_lost(NOW, "reset", 1.0)
    buf = s.get_buffer("#lobby")
    assert buf is not None
    assert "1 message(s) above were not confirmed" in texts(s, "#lobby")[-2]
    assert not buf.pending


def test_echoed_private_message_goes_to_the_peer_buffer() -> None:
    s = registered(caps="echo-message")
    feed(s, ":alice!u@h PRIVMSG bob :hi bob")
    q = s.get_buffer("bob")
    assert q is not None and q.lines[-1].own


def test_long_messages_are_split() -> None:
    s = joined(registered())
    s.say("#lobby", "word " * 200, NOW)
    out = s.pull_outgoing()
    assert len(out) >= 3
    assert all(len(m.params[1].encode()) <= 512 - 100 - len("#lobby") for m in out)
    assert " ".join(m.params[1] for m in out).strip() == ("word " * 200).strip()
    assert split_text("abc", 10) == ["abc"]
    assert "".join(split_text("x" * 25, 10)) == "x" * 25


def test_server_notices_before_registration_go_to_server_buffer() -> None:
    s = Session("alice")
    s.connection_made(NOW)
    feed(s, ":srv NOTICE * :*** Looking up your hostname")
    assert s.server_buffer.lines[-1].kind is Kind.NOTICE


def test_unparsable_line_is_reported_not_raised() -> None:
    s = registered()
    feed(s, ":only-a-source")
    assert "Unparsable" in s.server_buffer.lines[-1].text


def test_error_numerics_show_in_the_current_buffer() -> None:
    s = joined(registered())
    feed(s, ":srv 401 alice nobody :No such nick")
    assert s.current_buffer.lines[-1].kind is Kind.ERROR
    assert "nobody" in s.current_buffer.lines[-1].text


def test_mentions_matches_words_only() -> None:
    assert mentions("hey Alice!", "alice")
    assert mentions("alice: hi", "alice")
    assert not mentions("malice aforethought", "alice")
    assert not mentions("alice_ there", "alice")


def test_server_time_parsing() -> None:
    assert parse_server_time("2023-11-14T22:13:20.000Z") == 1_700_000_000.0
    assert parse_server_time("garbage") is None


# ----------------------------------------------------------- ping, lag, loss


def test_answers_ping_and_measures_lag() -> None:
    s = registered()
    feed(s, "PING :abc")
    assert sent(s) == ["PONG abc"]
    token = s.send_ping(NOW)
    assert sent(s) == [f"PING {token}"]
    s.receive(f":srv PONG srv :{token}", NOW + 0.25)
    assert s.lag == pytest.approx(0.25)
    assert not s.ping_overdue(NOW + 100, 30)


def test_ping_overdue_when_no_pong() -> None:
    s = registered()
    s.send_ping(NOW)
    assert not s.ping_overdue(NOW + 10, 30)
    assert s.ping_overdue(NOW + 31, 30)


def test_connection_lost_then_reconnect_rejoins_and_says_so() -> None:
    s = joined(registered(channels=("#lobby", "#dev")))
    joined(s, "#dev")
    feed(s, ":alice!u@h PART #dev")  # left on purpose: not rejoined
    joined(s, "#ops")
    s.connection_lost(NOW, "connection reset", 2.0)
    assert s.state is ConnState.RECONNECTING and s.retry_at == NOW + 2.0
    lobby = s.get_buffer("#lobby")
    assert lobby is not None and not lobby.joined and lobby.members == {}
    assert "reconnecting in 2 s" in lobby.lines[-1].text
    s.connecting(NOW + 2)
    s.connection_made(NOW + 2)
    sent(s)
    feed(s, ":srv 001 alice :Welcome back")
    assert sent(s) == ["JOIN #lobby", "JOIN #ops"]
    assert all("Reconnected" in b.lines[-1].text for b in s.buffer_list())
    feed(s, ":alice!u@h JOIN #lobby")
    assert lobby.joined


def test_rejoin_after_reconnect_uses_the_channel_key() -> None:
    s = registered()
    s.join("#secret", "hunter2")
    assert sent(s) == ["JOIN #secret hunter2"]
    joined(s, "#secret")
    s.connection_lost(NOW, "reset", 1.0)
    s.connection_made(NOW + 1)
    sent(s)
    feed(s, ":srv 001 alice :Welcome back")
    assert sent(s) == ["JOIN #secret hunter2"]


def test_reconnect_uses_the_wanted_nick_again() -> None:
    s = Session("alice")
    s.connection_made(NOW)
    feed(s, ":srv 433 * alice :in use", ":srv 001 alice_ :Welcome")
    s.connection_lost(NOW, "reset", 1.0)
    s.connection_made(NOW + 1)
    assert "NICK alice" in sent(s)


def test_quit_sends_quit_and_does_not_reconnect_message() -> None:
    s = registered()
    s.quitting("bye")
    assert sent(s) == ["QUIT bye"]
    feed(s, "ERROR :Closing link")
    s.connection_lost(NOW, "closed", None)
    assert s.state is ConnState.DISCONNECTED
    assert all(line.kind is not Kind.ERROR for line in s.server_buffer.lines)


def test_log_is_bounded() -> None:
    s = Session("alice", max_lines=50)
    s.connection_made(NOW)
    for i in range(200):
        feed(s, f":srv NOTICE * :n{i}")
    assert len(s.server_buffer.lines) == 50
    assert s.server_buffer.lines[-1].seq == s.server_buffer.lines[0].seq + 49


def test_output_pacer_allows_a_burst_then_a_steady_rate() -> None:
    from chatd.client.transport import Pacer

    pacer = Pacer(burst=3, rate=2.0, now=0.0)
    assert [pacer.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert pacer.wait() == pytest.approx(0.5)
    assert not pacer.take(0.4)
    assert pacer.take(0.5)
    assert pacer.take(100.0) and pacer.tokens == pytest.approx(2.0)  # refills only up to the burst


def test_whois_replies_are_readable_in_the_current_buffer() -> None:
    s = joined(registered())
    feed(
        s,
        ":srv 311 alice bob ~bob 127.0.0.1 * :Bob B",
        ":srv 317 alice bob 42 1700000000 :seconds idle, signon time",
        ":srv 318 alice bob :End of /WHOIS list",
    )
    got = texts(s, "#lobby")[-3:]
    assert got[0] == "bob is ~bob@127.0.0.1 (Bob B)"
    assert got[1].startswith("bob: idle 42 s, signed on 2023-11-")
    assert got[2] == "bob: End of /WHOIS list"


def test_nick_fallback_gives_up_after_a_while_and_nick_works_before_welcome() -> None:
    s = Session("averyveryverylongnickname")
    s.connection_made(NOW)
    sent(s)
    tried = []
    for _ in range(20):
        feed(s, f":srv 432 * {s.nick} :Erroneous nickname")
        tried += sent(s)
    # Cut down (16, then RFC 1459's 9), never lengthened; then it stops and says why.
    assert tried == ["NICK averyveryverylon", "NICK averyvery"]
    assert "refused by the server (Erroneous nickname)" in s.server_buffer.lines[-1].text
    s.change_nick("short", NOW)
    assert sent(s) == ["NICK short"]


def test_nick_while_disconnected_is_kept_for_the_next_connection() -> None:
    s = Session("alice")
    s.change_nick("bob", NOW)
    assert sent(s) == [] and s.wanted_nick == "bob"
    s.connection_made(NOW)
    assert "NICK bob" in sent(s)


def test_history_batch_is_shown_but_not_counted_as_unread() -> None:
    s = joined(registered(caps="batch server-time"))
    joined(s, "#dev")
    s.switch("#dev")
    feed(
        s,
        ":srv BATCH +h1 chathistory #lobby",
        "@batch=h1;time=2023-11-14T22:13:20.000Z :bob!b@h PRIVMSG #lobby :alice: old news",
        "@batch=h1;time=2023-11-14T22:13:21.000Z :alice!u@h PRIVMSG #lobby :my old line",
        ":srv BATCH -h1",
        ":bob!b@h PRIVMSG #lobby :fresh",
    )
    lobby = s.get_buffer("#lobby")
    assert lobby is not None
    old, mine, divider, joined_line = list(lobby.lines)[:4]
    assert old.history and old.time == 1_700_000_000.0 and old.text == "alice: old news"
    assert old.highlight  # drawn as mentioning you, but not counted as a mention
    assert mine.history and mine.own
    assert divider.kind is Kind.DIVIDER and joined_line.text == "You joined #lobby"
    fresh = lobby.lines[-1]
    assert not fresh.history and fresh.text == "fresh"
    assert lobby.unread == 1 and not lobby.mentioned


def test_messages_seen_before_are_not_shown_twice() -> None:
    s = joined(registered(caps="batch server-time message-tags"))
    line = "@msgid=abc;time=2023-11-14T22:13:20.000Z :bob!b@h PRIVMSG #lobby :once"
    feed(s, line, ":srv BATCH +r chathistory #lobby", "@batch=r;" + line[1:], ":srv BATCH -r")
    assert texts(s, "#lobby").count("once") == 1


def test_reconnect_backoff_doubles_up_to_the_cap_and_resets() -> None:
    from chatd.client.transport import Backoff

    backoff = Backoff(1.0, 60.0)
    assert [backoff.next() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    assert backoff.next() == 1


def test_unsendable_text_never_raises() -> None:
    s = joined(registered())
    feed(s, "PING :\x00", ":bob!b@h PRIVMSG alice :\x01PING \x00\x01")
    assert sent(s) == []
    s.say("#lobby", "a\x00b\r\nc", NOW)
    assert sent(s) == ["PRIVMSG #lobby ab c"]


def test_away_state_follows_the_server() -> None:
    s = registered()
    feed(s, ":srv 306 alice :You have been marked as being away")
    assert s.away
    feed(s, ":srv 305 alice :You are no longer marked as being away")
    assert not s.away


def test_away_is_set_again_after_a_reconnection() -> None:
    s = registered()
    s.set_away("lunch")
    assert sent(s) == ["AWAY lunch"]
    s.connection_lost(NOW, "reset", 1.0)
    s.connection_made(NOW + 1)
    sent(s)
    feed(s, ":srv 001 alice :Welcome back")
    assert sent(s)[0] == "AWAY lunch"


def test_a_server_that_was_down_at_start_still_gets_the_rooms_joined() -> None:
    s = Session("alice", channels=["#lobby", "#dev"])
    s.connecting(NOW)
    s.connection_lost(NOW, "connection refused", 1.0)
    s.connecting(NOW + 1)
    s.connection_made(NOW + 1)
    sent(s)
    feed(s, ":srv 001 alice :Welcome")
    assert sent(s) == ["JOIN #lobby", "JOIN #dev"]
    assert not any("Reconnected" in t for t in texts(s, ""))


def history_session() -> Session:
    s = Session("alice", channels=["#lobby"], history_page=3)
    s.connection_made(NOW)
    feed(
        s,
        ":srv CAP * LS :batch server-time message-tags draft/chathistory",
        ":srv CAP alice ACK :batch draft/chathistory message-tags server-time",
        ":srv 001 alice :Welcome",
    )
    sent(s)
    return s


def test_chathistory_latest_on_join_and_older_pages_on_request() -> None:
    s = history_session()
    feed(s, ":alice!u@h JOIN #lobby")
    assert sent(s) == ["MODE #lobby", "CHATHISTORY LATEST #lobby * 3"]
    assert s.loading_history("#lobby") and not s.request_older("#lobby")  # first page first
    feed(
        s,
        ":srv BATCH +a chathistory #lobby",
        "@batch=a;msgid=m4;time=2023-11-14T22:13:24Z :bob!b@h PRIVMSG #lobby :four",
        "@batch=a;msgid=m5;time=2023-11-14T22:13:25Z :bob!b@h PRIVMSG #lobby :five",
        ":srv BATCH -a",
    )
    buf = s.get_buffer("#lobby")
    assert buf is not None
    assert texts(s, "#lobby") == ["four", "five", "new messages", "You joined #lobby"]
    assert not s.loading_history("#lobby")
    assert s.request_older("#lobby")
    assert sent(s) == ["CHATHISTORY BEFORE #lobby msgid=m4 3"]
    assert not s.request_older("#lobby")  # one request at a time
    first_seq = buf.lines[0].seq
    feed(
        s,
        ":srv BATCH +b chathistory #lobby",
        "@batch=b;msgid=m2;time=2023-11-14T22:13:22Z :bob!b@h PRIVMSG #lobby :two",
        "@batch=b;msgid=m3;time=2023-11-14T22:13:23Z :carol!c@h PRIVMSG #lobby :alice: three",
        ":srv BATCH -b",
    )
    assert texts(s, "#lobby")[:2] == ["two", "alice: three"]
    assert [line.seq for line in list(buf.lines)[:3]] == [first_seq - 2, first_seq - 1, first_seq]
    assert all(line.history for line in list(buf.lines)[:2]) and buf.unread == 0
    assert s.request_older("#lobby")
    assert sent(s) == ["CHATHISTORY BEFORE #lobby msgid=m2 3"]
    feed(s, ":srv BATCH +c chathistory #lobby", ":srv BATCH -c")
    assert buf.history_complete and not s.request_older("#lobby")


def test_live_lines_during_the_first_fetch_stay_below_the_divider() -> None:
    s = history_session()
    feed(s, "@time=2023-11-14T22:20:00Z :alice!u@h JOIN #lobby")
    sent(s)
    s.switch("")  # reading another buffer: history must not count as unread
    buf = s.get_buffer("#lobby")
    assert buf is not None
    joined_seq = buf.lines[-1].seq
    feed(
        s,
        "@msgid=m6;time=2023-11-14T22:20:01Z :bob!b@h PRIVMSG #lobby :six (live)",
        ":srv BATCH +a chathistory #lobby",
        "@batch=a;msgid=m4;time=2023-11-13T22:13:24Z :bob!b@h PRIVMSG #lobby :four, yesterday",
        "@batch=a;msgid=m5;time=2023-11-14T22:13:25Z :bob!b@h PRIVMSG #lobby :alice: five",
        "@batch=a;msgid=m6;time=2023-11-14T22:20:01Z :bob!b@h PRIVMSG #lobby :six (live)",
        ":srv BATCH -a",
    )
    assert texts(s, "#lobby") == [
        "four, yesterday",
        "alice: five",
        "new messages",
        "You joined #lobby",
        "six (live)",
    ]
    lines = list(buf.lines)
    assert [line.time for line in lines[:2]] == [1_699_913_604.0, 1_700_000_005.0]
    assert lines[2].time == lines[3].time == 1_700_000_400.0  # the divider, at the join
    assert lines[3].seq == joined_seq  # live lines keep their seqs
    assert [line.seq for line in lines] == list(range(lines[0].seq, lines[0].seq + 5))
    assert buf.unread == 1 and not buf.mentioned  # only "six" is new
    assert not lines[4].history


def test_history_insertion_tells_listeners_how_seqs_moved() -> None:
    s = history_session()
    feed(s, ":srv NOTICE alice :before joining")  # server buffer; #lobby gets its own lines
    feed(s, ":alice!u@h JOIN #lobby")
    sent(s)
    buf = s.get_buffer("#lobby")
    assert buf is not None
    buf.add(NOW, Kind.INFO, "placeholder")  # stands for lines after the join
    moves: list[tuple[str, int, int]] = []
    s.renumber_listeners.append(lambda b, point, shift: moves.append((b.name, point, shift)))
    feed(
        s,
        ":srv BATCH +a chathistory #lobby",
        "@batch=a;msgid=m1;time=2023-11-14T22:13:24Z :bob!b@h PRIVMSG #lobby :one",
        ":srv BATCH -a",
    )
    assert moves == [("#lobby", 0, 2)]  # one line and the divider went in above seq 0


def test_a_server_replay_batch_without_chathistory_goes_above_the_join() -> None:
    s = registered(caps="batch server-time message-tags")
    feed(
        s,
        ":alice!u@h JOIN #lobby",
        ":srv 353 alice = #lobby :alice bob",
        ":srv 366 alice #lobby :End of /NAMES list",
        ":srv BATCH +r chathistory #lobby",
        "@batch=r;msgid=x1;time=2023-11-14T22:13:20Z :bob!b@h PRIVMSG #lobby :replayed",
        ":srv BATCH -r",
    )
    assert sent(s) == ["MODE #lobby"]  # without draft/chathistory, no history is asked for
    got = texts(s, "#lobby")
    assert got[:3] == ["replayed", "new messages", "You joined #lobby"]


def test_plain_replay_is_read_as_history_with_its_original_times() -> None:
    s = registered()  # no CAP at all: chatd replays with NOTICEs and [HH:MM:SS] stamps
    feed(s, ":alice!u@h JOIN #lobby")
    s.switch("")
    feed(
        s,
        ":srv NOTICE #lobby :Replaying the last 3 messages (times in UTC)",
        ":bob!b@h PRIVMSG #lobby :[2023-11-13 09:00:00] alice: from yesterday",
        ":bob!b@h PRIVMSG #lobby :\x01ACTION [22:13:20] waves\x01",
        ":bob!b@h NOTICE #lobby :[22:13:21] a notice",
        ":srv NOTICE #lobby :End of replay",
        ":bob!b@h PRIVMSG #lobby :[12:00:00] live, not a replay",
    )
    buf = s.get_buffer("#lobby")
    assert buf is not None
    lines = list(buf.lines)
    assert [line.text for line in lines] == [
        "alice: from yesterday",
        "waves",
        "a notice",
        "new messages",
        "You joined #lobby",
        "[12:00:00] live, not a replay",
    ]
    assert [line.time for line in lines[:3]] == [1_699_866_000.0, NOW, NOW + 1]
    assert all(line.history for line in lines[:3]) and lines[1].kind is Kind.ACTION
    assert buf.unread == 1 and not buf.mentioned


def test_own_history_lines_never_confirm_a_pending_message() -> None:
    s = joined(registered(caps="echo-message batch server-time"))
    s.say("#lobby", "again", NOW)
    feed(
        s,
        ":srv BATCH +h chathistory #lobby",
        "@batch=h;time=2023-11-14T22:00:00Z :alice!u@h PRIVMSG #lobby :again",
        ":srv BATCH -h",
    )
    buf = s.get_buffer("#lobby")
    assert buf is not None and len(buf.pending) == 1


# ------------------------------------------------------------ labeled-response


def wire(session: Session) -> list[str]:
    """What the session would send, serialised with its tags."""
    return [serialise(m) for m in session.pull_outgoing()]


def labeled_session() -> Session:
    s = Session("alice", channels=["#lobby"], history_page=3)
    s.connection_made(NOW)
    sent(s)
    caps = "batch draft/chathistory echo-message labeled-response message-tags server-time"
    feed(s, f":srv CAP * LS :{caps} sasl", f":srv CAP alice ACK :{caps}")
    assert sent(s) == [f"CAP REQ {caps}", "CAP END"]
    feed(s, ":srv 001 alice :Welcome", ":srv 005 alice CHANTYPES=# :are supported")
    sent(s)
    return s


def test_labels_route_history_to_the_buffer_that_asked() -> None:
    s = labeled_session()
    feed(s, ":alice!u@h JOIN #lobby", ":alice!u@h JOIN #dev")
    assert wire(s) == [
        "MODE #lobby",
        "MODE #dev",
        "@label=c1 CHATHISTORY LATEST #lobby * 3",  # history requests wait for other lines
        "@label=c2 CHATHISTORY LATEST #dev * 3",
    ]
    # Answers nested in labeled-response batches; the label, not the batch's target, decides.
    feed(
        s,
        "@label=c2 :srv BATCH +L2 labeled-response",
        "@batch=L2 :srv BATCH +h2 chathistory #DEV",
        "@batch=h2;msgid=d1;time=2023-11-14T22:13:20Z :bob!b@h PRIVMSG #dev :in dev",
        "@batch=L2 :srv BATCH -h2",
        ":srv BATCH -L2",
        "@label=c1 :srv BATCH +L1 labeled-response",
        "@batch=L1 :srv BATCH +h1 chathistory #lobby",
        "@batch=h1;msgid=l1;time=2023-11-14T22:13:21Z :bob!b@h PRIVMSG #lobby :in lobby",
        "@batch=L1 :srv BATCH -h1",
        ":srv BATCH -L1",
    )
    assert texts(s, "#dev")[:2] == ["in dev", "new messages"]
    assert texts(s, "#lobby")[:2] == ["in lobby", "new messages"]
    assert not s.loading_history("#dev") and not s.loading_history("#lobby")
    assert s.request_older("#lobby")
    assert wire(s) == ["@label=c3 CHATHISTORY BEFORE #lobby msgid=l1 3"]
    assert not s.request_older("#lobby")
    feed(
        s,
        "@label=c3 :srv BATCH +L3 labeled-response",
        "@batch=L3 :srv BATCH +h3 chathistory #lobby",
        "@batch=L3 :srv BATCH -h3",
        ":srv BATCH -L3",
    )
    buf = s.get_buffer("#lobby")
    assert buf is not None and buf.history_complete and not s.request_older("#lobby")


def test_a_failed_or_empty_labeled_history_request_is_no_longer_in_flight() -> None:
    s = labeled_session()
    feed(s, ":alice!u@h JOIN #lobby")
    sent(s)
    feed(s, "@label=c1 :srv FAIL CHATHISTORY MESSAGE_ERROR LATEST #lobby :Messages could not be")
    assert not s.loading_history("#lobby")
    assert "MESSAGE_ERROR" in texts(s, "#lobby")[-1]
    assert s.request_older("#lobby")
    sent(s)
    feed(s, "@label=c2 :srv ACK")  # a server that sends no empty batch
    buf = s.get_buffer("#lobby")
    assert buf is not None and buf.history_complete and not s.loading_history("#lobby")


def test_unlabeled_fail_clears_the_request_it_names() -> None:
    s = history_session()
    feed(s, ":alice!u@h JOIN #lobby")
    sent(s)
    feed(s, ":srv FAIL CHATHISTORY INVALID_TARGET LATEST #lobby :Messages could not be")
    assert not s.loading_history("#lobby")


def test_labeled_replies_go_to_the_buffer_the_command_was_typed_in() -> None:
    s = labeled_session()
    feed(s, ":alice!u@h JOIN #lobby", ":alice!u@h JOIN #dev")
    sent(s)
    s.switch("#dev")
    s.request("WHOIS", "bob")
    assert wire(s) == ["@label=c3 WHOIS bob"]
    s.switch("#lobby")  # the user moved on before the answer came
    feed(
        s,
        "@label=c3 :srv BATCH +w labeled-response",
        "@batch=w :srv 311 alice bob ~bob 127.0.0.1 * :Bob B",
        "@batch=w :srv 318 alice bob :End of /WHOIS list",
        ":srv BATCH -w",
        ":srv 311 alice carol ~c h * :Carol",  # unlabeled: the current buffer
    )
    assert texts(s, "#dev")[-2:] == ["bob is ~bob@127.0.0.1 (Bob B)", "bob: End of /WHOIS list"]
    assert texts(s, "#lobby")[-1] == "carol is ~c@h (Carol)"
    s.switch("#dev")
    s.request("WHOIS", "nobody")
    s.switch("#lobby")
    feed(s, "@label=c4 :srv 401 alice nobody :No such nick/channel")
    assert texts(s, "#dev")[-1] == "nobody: No such nick/channel"


def test_echo_is_matched_by_label_and_an_error_answer_marks_the_line_failed() -> None:
    s = labeled_session()
    feed(s, ":alice!u@h JOIN #lobby", "@label=c1 :srv ACK")
    sent(s)
    buf = s.get_buffer("#lobby")
    assert buf is not None
    s.say("#lobby", "same", NOW)
    s.say("#lobby", "same", NOW)
    first, second = list(buf.lines)[-2:]
    assert wire(s) == ["@label=c2 PRIVMSG #lobby :same", "@label=c3 PRIVMSG #lobby :same"]
    feed(s, "@label=c3;msgid=e3;time=2023-11-14T22:13:21Z :alice!u@h PRIVMSG #lobby :same")
    assert list(buf.pending) == [first.seq]  # the second one was confirmed, by its label
    assert buf.lines[-1].msgid == "e3" and not buf.lines[-1].pending
    feed(s, "@label=c2 :srv 404 alice #lobby :Cannot send to channel")
    assert not buf.pending
    failed = buf.lines[-3]
    assert failed.seq == first.seq and failed.failed and not failed.pending
    assert texts(s, "#lobby")[-1] == "#lobby: Cannot send to channel"


def test_no_history_requests_without_the_capability_or_in_line_mode() -> None:
    s = joined(registered(caps="batch server-time"))
    assert not s.request_older("#lobby") and sent(s) == []
    t = Session("ci", fetch_history=False)
    t.connection_made(NOW)
    sent(t)
    feed(t, ":srv CAP * LS :batch draft/chathistory server-time")
    assert sent(t) == ["CAP REQ batch server-time"]


# ------------------------------------------------------------ the dispatch table


@pytest.mark.parametrize(
    "line",
    [
        ":x WELCOME alice :hi",
        ":x ISUPPORT alice PREFIX=(q)~ CHANTYPES=! NICKLEN=3 :are supported",
        ":x NUMERIC alice :x",
        ":x ERROR_NUMERIC alice :x",
        ":x REPLY_TO_CURRENT alice :x",
        ":x NICK_UNAVAILABLE alice :x",
        ":x MESSAGE #lobby :x",
        ":x CONFIRM x",
        ":x __INIT__ x",
    ],
)
def test_a_server_cannot_reach_anything_but_the_table(line: str) -> None:
    s = Session("alice", channels=["#lobby"])
    s.connection_made(NOW)
    sent(s)
    before = (s.isupport.prefix_chars, s.isupport.chantypes, s.isupport.nicklen)
    feed(s, line)
    assert not s.registered and s.state is ConnState.REGISTERING
    assert (s.isupport.prefix_chars, s.isupport.chantypes, s.isupport.nicklen) == before
    assert sent(s) == []  # no JOIN, nothing at all
    # Shown as text (or refused by the parser: a command is letters or 3 digits), no more.
    assert s.server_buffer.lines[-1].kind in (Kind.INFO, Kind.ERROR)


def test_the_table_holds_only_command_words_and_numerics() -> None:
    from chatd.client.events import HANDLERS

    assert all(k.isdigit() and len(k) == 3 or k.isalpha() and k.isupper() for k in HANDLERS)
    assert "WELCOME" not in HANDLERS and "ISUPPORT" not in HANDLERS


# ------------------------------------------------------------ modes on joining


def test_modes_are_asked_on_join_shown_quietly_and_forgotten_on_disconnect() -> None:
    s = registered()
    feed(s, ":alice!u@h JOIN #lobby")
    assert sent(s) == ["MODE #lobby"]
    buf = s.get_buffer("#lobby")
    assert buf is not None and buf.modes == "" and not buf.modes_known
    feed(s, ":srv 324 alice #lobby +ntl 10", ":srv 329 alice #lobby 1700000000")
    assert buf.modes == "lnt" and buf.modes_known
    assert not any("Modes" in t for t in texts(s, "#lobby"))  # the status line shows them
    feed(s, ":carol!c@h MODE #lobby -l")
    assert buf.modes == "nt"
    s.connection_lost(NOW, "reset", 1.0)
    assert buf.modes == "" and not buf.modes_known  # stale after a reconnection
    feed(s, ":srv 324 alice #lobby +m")  # asked by the user (/mode): shown
    assert texts(s, "#lobby")[-1] == "Modes: +m"


# ------------------------------------------------------------------------ CTCP


def test_ctcp_requests_are_shown_and_own_echoes_are_hidden() -> None:
    s = joined(registered(caps="echo-message"))
    feed(s, ":bob!b@h PRIVMSG alice :\x01VERSION\x01")
    assert sent(s) == ["NOTICE bob \x01VERSION chatd chat-client\x01"]
    assert texts(s, "#lobby")[-1] == "bob asked your VERSION"
    before = texts(s, "#lobby") + texts(s, "")
    # echo-message sends our own reply back, and our own requests: neither is shown,
    # and a request of ours is never answered as if someone had asked us.
    feed(
        s,
        ":alice!u@h NOTICE bob :\x01VERSION chatd chat-client\x01",
        ":alice!u@h PRIVMSG bob :\x01VERSION\x01",
    )
    assert texts(s, "#lobby") + texts(s, "") == before and sent(s) == []
    assert s.get_buffer("bob") is None
    feed(
        s,
        ":bob!b@h NOTICE alice :\x01VERSION irssi 1.4\x01",
        ":bob!b@h PRIVMSG #lobby :\x01PING 42\x01",
    )
    assert texts(s, "#lobby")[-2:] == [
        "bob's VERSION: irssi 1.4",
        "bob asked your PING (in #lobby)",
    ]
    assert sent(s) == ["NOTICE bob \x01PING 42\x01"]


# ------------------------------------------------------------------------ nick


def test_a_nick_too_long_is_cut_down_said_so_and_cut_at_once_next_time() -> None:
    s = Session("averyverylongnickname", channels=["#lobby"])
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 432 * averyverylongnickname :Erroneous nickname")
    assert sent(s) == ["NICK averyverylongnic"]  # 16, never lengthened with _
    assert "too long for this server" in texts(s, "")[-1] and "taken" not in texts(s, "")[-1]
    feed(s, ":srv 001 averyverylongnic :Welcome", ":srv 005 averyverylongnic NICKLEN=16 :ok")
    assert "averyverylongnickname is too long for this server" in texts(s, "")[-1]
    feed(s, ":averyverylongnic!u@h JOIN #lobby")
    assert "is too long for this server" in texts(s, "#lobby")[-1]
    s.connection_lost(NOW, "reset", 1.0)
    s.connection_made(NOW + 1)
    assert "NICK averyverylongnic" in sent(s)  # NICKLEN is known now: no round trip wasted


def test_alternative_nicks_are_tried_first() -> None:
    s = Session("alice", alt_nicks=["alicia", "ally"])
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 433 * alice :in use")
    assert sent(s) == ["NICK alicia"]
    feed(s, ":srv 433 * alicia :in use")
    assert sent(s) == ["NICK ally"]
    feed(s, ":srv 433 * ally :in use")
    assert sent(s) == ["NICK alice_"]


def test_nick_after_registration_explains_the_length_limit() -> None:
    s = registered()  # NICKLEN=16
    feed(s, ":srv 432 alice averyverylongnickname :Erroneous nickname")
    assert (
        texts(s, "")[-1]
        == "Nick averyverylongnickname is too long: this server allows at most 16 characters"
    )


# ------------------------------------------------------------ refusals for good


def test_a_refused_password_stops_the_reconnections() -> None:
    s = Session("alice", password="wrong")
    s.connection_made(NOW)
    sent(s)
    feed(s, ":srv 464 * :Password incorrect", "ERROR :Closing Link: 127.0.0.1 (Bad password)")
    assert s.fatal is not None and "--password" in s.fatal and "Password incorrect" in s.fatal
    s.connection_lost(NOW, "connection closed by server", 1.0)
    assert s.state is ConnState.DISCONNECTED and s.retry_at is None
    assert "reconnecting" not in texts(s, "")[-1]
    assert s.closing_reason == "Closing Link: 127.0.0.1 (Bad password)"


# ------------------------------------------------------------------ lag probes


def test_lag_probes_and_pongs_jump_the_queue_of_paced_lines() -> None:
    s = joined(registered())
    for i in range(30):
        s.say("#lobby", f"pasted line {i}", NOW)
    feed(s, "PING :srv")
    token = s.send_ping(NOW)
    urgent = [" ".join([m.command, *m.params]) for m in s.outbox.pull_urgent()]
    assert urgent == ["PONG srv", f"PING {token}"]
    rest = sent(s)
    assert len(rest) == 30 and all(r.startswith("PRIVMSG") for r in rest)
    ack = s.send_ping(NOW, "eof1")  # line mode's "everything before this was seen": in order
    assert s.outbox.pull_urgent() == [] and sent(s) == [f"PING {ack}"]


# ------------------------------------------------------------ ignore, highlight


def test_ignored_people_are_not_shown_answered_or_counted() -> None:
    s = joined(registered(), others="bob carol")
    s.ignore("bob")
    s.ignore("*!*@spam.example")
    s.switch("")
    feed(
        s,
        ":bob!b@h PRIVMSG #lobby :buy now",
        ":bob!b@h PRIVMSG alice :psst",
        ":bob!b@h PRIVMSG alice :\x01VERSION\x01",
        ":x!y@spam.example NOTICE alice :hello",
        ":BOB!b@h INVITE alice #spam",
        ":carol!c@h PRIVMSG #lobby :hi",
    )
    lobby = s.get_buffer("#lobby")
    assert lobby is not None and lobby.unread == 1 and texts(s, "#lobby")[-1] == "hi"
    assert s.get_buffer("bob") is None and sent(s) == []
    assert not any("spam" in t or "invites" in t for t in texts(s, ""))
    assert s.unignore("bob") and not s.unignore("bob")
    assert s.ignores == ["*!*@spam.example"]


def test_highlight_words_mark_lines_and_mentions_are_listed() -> None:
    s = joined(registered())
    s.highlights = ["deploy", "c++"]
    s.switch("")
    feed(
        s,
        ":bob!b@h PRIVMSG #lobby :the Deploy is at 3",
        ":bob!b@h PRIVMSG #lobby :redeploying",
        ":bob!b@h PRIVMSG #lobby :we use c++ here",
        ":bob!b@h PRIVMSG alice :private word",
        ":alice!u@h PRIVMSG #lobby :deploy from me",
    )
    lobby = s.get_buffer("#lobby")
    assert lobby is not None
    assert [line.highlight for line in list(lobby.lines)[-4:]] == [True, False, True, False]
    assert lobby.mentioned
    assert [(m.buffer, m.text) for m in s.mention_log] == [
        ("#lobby", "the Deploy is at 3"),
        ("#lobby", "we use c++ here"),
        ("bob", "private word"),
    ]
