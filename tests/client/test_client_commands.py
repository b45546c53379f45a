"""Slash commands, completion, history and formatting: pure, no network."""

from __future__ import annotations

import pytest
from test_client_session import NOW, joined, registered, sent

from chatd.client import commands, formatting
from chatd.client.completion import TabCompleter, rank_nicks
from chatd.client.history import InputHistory
from chatd.client.session import Kind, Session


def run(session: Session, text: str) -> list[str]:
    quits: list[str] = []
    commands.execute(commands.Context(session, NOW, quits.append), text)
    return quits


def last(session: Session) -> str:
    return session.current_buffer.lines[-1].text


@pytest.fixture
def s() -> Session:
    session = joined(registered())
    session.switch("#lobby")
    return session


def test_plain_text_goes_to_the_current_room(s: Session) -> None:
    run(s, "hello there")
    assert sent(s) == ["PRIVMSG #lobby hello there"]


def test_double_slash_sends_a_slash(s: Session) -> None:
    run(s, "//etc/passwd is a file")
    assert sent(s) == ["PRIVMSG #lobby /etc/passwd is a file"]


def test_unknown_command_is_never_sent(s: Session) -> None:
    run(s, "/jion #dev")
    assert sent(s) == []
    assert "Unknown command /jion" in last(s)
    assert s.current_buffer.lines[-1].kind is Kind.ERROR


@pytest.mark.parametrize(
    "line", ["/join", "/msg bob", "/nick", "/nick 9lives", "/whois", "/me", "/quote", "/join a b c"]
)
def test_wrong_arguments_give_a_usage_hint(s: Session, line: str) -> None:
    run(s, line)
    assert sent(s) == []
    assert "usage: /" in last(s)


def test_join_adds_hash_and_switches_when_joined(s: Session) -> None:
    run(s, "/join dev key")
    assert sent(s) == ["JOIN #dev key"]
    s.receive(":alice!u@h JOIN #dev", NOW)
    assert s.current_buffer.name == "#dev"
    assert sent(s) == ["MODE #dev"]
    run(s, "/join #lobby")  # already there: just switch
    assert sent(s) == [] and s.current_buffer.name == "#lobby"


def test_msg_opens_a_private_buffer(s: Session) -> None:
    run(s, "/msg bob hi there")
    assert sent(s) == ["PRIVMSG bob hi there"]
    assert s.current_buffer.name == "bob" and s.current_buffer.kind == "query"


def test_query_me_part_topic_names_whois_away_list_quote(s: Session) -> None:
    run(s, "/me waves")
    run(s, "/topic")
    run(s, "/topic New topic here")
    run(s, "/names")
    run(s, "/whois bob")
    run(s, "/away lunch")
    run(s, "/away")
    run(s, "/list")
    run(s, "/quote MODE #lobby +n")
    run(s, "/part bye all")
    assert sent(s) == [
        "PRIVMSG #lobby \x01ACTION waves\x01",
        "TOPIC #lobby",
        "TOPIC #lobby New topic here",
        "NAMES #lobby",
        "WHOIS bob",
        "AWAY lunch",
        "AWAY",
        "LIST",
        "MODE #lobby +n",
        "PART #lobby bye all",
    ]
    run(s, "/query carol")
    assert s.current_buffer.name == "carol"
    run(s, "/topic")
    assert sent(s) == [] and "not in a room" in last(s)


def test_nick_close_clear_quit_help(s: Session) -> None:
    run(s, "/nick alice2")
    assert sent(s) == ["NICK alice2"]
    run(s, "/clear")
    assert len(s.current_buffer.lines) == 0
    run(s, "/help join")
    assert "/join #room [key]" in last(s)
    run(s, "/help")
    listed = " ".join(line.text for line in s.current_buffer.lines)
    assert all(f"/{name}" in listed for name in commands.names())
    assert len(s.current_buffer.lines) < 12  # a screenful, not one line per command
    assert run(s, "/quit see you") == ["see you"]
    assert run(s, "/quit") == [commands.DEFAULT_QUIT_MESSAGE]
    run(s, "/close")
    assert sent(s) == ["PART #lobby"]
    assert s.current_buffer.kind == "server"
    run(s, "/close")
    assert "cannot be closed" in last(s)


def test_talking_in_the_server_buffer_or_when_disconnected_is_refused(s: Session) -> None:
    s.switch("")
    run(s, "hello?")
    assert sent(s) == [] and "server buffer" in last(s)
    s.switch("#lobby")
    s.connection_lost(NOW, "reset", 5)
    run(s, "hello?")
    run(s, "/join #x")
    assert sent(s) == []
    assert "Not connected" in last(s)


def test_usage_hint_while_typing_a_command() -> None:
    assert commands.usage_hint("/join ") == "#room [key]"
    assert commands.usage_hint("/join") == " #room [key]"
    assert commands.usage_hint("/JOIN ") == "#room [key]"
    assert commands.usage_hint("/join #dev") == ""
    assert commands.usage_hint("/close ") == ""
    assert commands.usage_hint("/nosuch ") == ""
    assert commands.usage_hint("hello") == "" and commands.usage_hint("//join ") == ""


def test_every_command_has_usage_and_summary() -> None:
    for name, cmd in commands.REGISTRY.items():
        assert cmd.usage.startswith("/" + name) and cmd.summary
    for required in [
        "join",
        "part",
        "msg",
        "query",
        "me",
        "nick",
        "topic",
        "names",
        "list",
        "whois",
        "away",
        "close",
        "quote",
        "clear",
        "help",
        "quit",
    ]:
        assert required in commands.REGISTRY


# ------------------------------------------------------------- completion


def test_nick_completion_at_line_start_and_cycling() -> None:
    c = TabCompleter()
    nicks = ["bob", "Bobby", "carol"]
    assert c.complete("bo", 2, nicks, []) == ("bob: ", 5)
    assert c.complete("bob: ", 5, nicks, []) == ("Bobby: ", 7)
    assert c.complete("Bobby: ", 7, nicks, []) == ("bob: ", 5)
    c.reset()
    assert c.complete("hi ca", 5, nicks, []) == ("hi carol ", 9)
    assert c.complete("hi zz", 5, nicks, []) is None
    assert c.complete("", 0, nicks, []) is None


def test_command_and_room_completion() -> None:
    c = TabCompleter()
    assert c.complete("/jo", 3, ["jo"], commands.names()) == ("/join ", 6)
    c.reset()
    assert c.complete("/join #de", 9, [], [], rooms=["#dev", "#lobby"]) == ("/join #dev ", 11)


def test_rank_nicks_prefers_recent_speakers_and_skips_self() -> None:
    assert rank_nicks(["zed", "bob", "zed"], ["alice", "bob", "carol", "zed"], "alice") == [
        "zed",
        "bob",
        "carol",
    ]


def test_input_history_walks_back_and_returns_the_draft() -> None:
    h = InputHistory()
    h.add("one")
    h.add("two")
    assert h.older("draft") == "two"
    assert h.older("two") == "one"
    assert h.older("one") is None
    assert h.newer() == "two"
    assert h.newer() == "draft"
    assert h.newer() is None


# ------------------------------------------------------------- formatting


def test_formatting_codes_are_parsed_and_stripped() -> None:
    text = "\x02bold\x02 \x0304,01red\x03 \x1ditalic\x1d \x1funder\x0f plain\x07"
    assert formatting.strip(text) == "bold red italic under plain\ufffd"
    spans = formatting.parse(text)
    assert "".join(s.text for s in spans) == "bold red italic under plain\ufffd"
    by_text = {s.text: s for s in spans}
    assert by_text["bold"].attrs == {"bold"}
    assert by_text["red"].fg == "ff0000" and by_text["red"].bg == "000000"
    assert by_text["italic"].attrs == {"italic"}
    assert by_text["under"].attrs == {"underline"}
    assert by_text[" plain\ufffd"].attrs == frozenset() and by_text[" plain\ufffd"].fg is None
    assert not any("\x03" in s.text or "\x02" in s.text for s in spans)


# ------------------------------------------------------------- operator commands


def test_operator_commands_need_no_quote(s: Session) -> None:
    s.receive(":srv 005 alice MODES=2 :are supported", NOW)
    s.receive(":dave!~d@host.example JOIN #lobby", NOW)
    run(s, "/op bob carol dave")
    assert sent(s) == ["MODE #lobby +oo bob carol", "MODE #lobby +o dave"]  # MODES=2 per line
    run(s, "/deop bob")
    run(s, "/voice bob")
    run(s, "/devoice bob")
    assert sent(s) == ["MODE #lobby -o bob", "MODE #lobby +v bob", "MODE #lobby -v bob"]
    run(s, "/kick bob flooding again")
    run(s, "/kick carol")
    assert sent(s) == ["KICK #lobby bob flooding again", "KICK #lobby carol"]
    run(s, "/ban dave")  # the host is known from the JOIN
    run(s, "/ban bob")  # not known: by nick
    run(s, "/ban *!*@spam.example")
    run(s, "/unban *!*@host.example")
    assert sent(s) == [
        "MODE #lobby +b *!*@host.example",
        "MODE #lobby +b bob!*@*",
        "MODE #lobby +b *!*@spam.example",
        "MODE #lobby -b *!*@host.example",
    ]
    run(s, "/ban")
    run(s, "/invite erin")
    run(s, "/invite erin dev")
    run(s, "/mode +m")
    run(s, "/mode #dev +k key")
    run(s, "/mode alice +i")
    run(s, "/mode")
    assert sent(s) == [
        "MODE #lobby +b",
        "INVITE erin #lobby",
        "INVITE erin #dev",
        "MODE #lobby +m",
        "MODE #dev +k key",
        "MODE alice +i",
        "MODE #lobby",
    ]
    s.receive(":srv 367 alice #lobby *!*@host.example op!o@h 1700000000", NOW)
    assert last(s).startswith("Ban on #lobby: *!*@host.example by op on ")


@pytest.mark.parametrize(
    "line, hint",
    [
        ("/kick", "usage: /kick nick [reason]"),
        ("/op", "usage: /op nick [nick…]"),
        ("/unban", "usage: /unban nick|mask"),
        ("/invite", "usage: /invite nick [#room]"),
        ("/mode m", "modes start with + or -"),
        ("/ctcp bob", "usage: /ctcp nick VERSION|PING|TIME|CLIENTINFO"),
    ],
)
def test_operator_commands_explain_themselves(s: Session, line: str, hint: str) -> None:
    run(s, line)
    assert sent(s) == [] and hint in last(s)


def test_operator_commands_outside_a_room_say_so(s: Session) -> None:
    s.switch("")
    run(s, "/kick bob")
    assert sent(s) == [] and "not in a room" in last(s)


def test_usage_hints_for_the_new_commands() -> None:
    assert commands.usage_hint("/kick ") == "nick [reason]"
    assert commands.usage_hint("/ban") == " [nick|mask]"
    assert commands.usage_hint("/set ") == "[name [value]]"
    assert commands.usage_hint("/search ") == "text"


def test_nick_explains_the_length_limit(s: Session) -> None:
    run(s, "/nick averyverylongnickname")  # NICKLEN=16 on this server
    assert sent(s) == []
    assert "too long: this server allows at most 16 characters" in last(s)
    run(s, "/nick 9lives")
    assert "not a valid nick: letters, digits" in last(s)


def test_ctcp_ignore_notify_and_mentions(s: Session) -> None:
    run(s, "/ctcp bob version")
    assert sent(s) == ["PRIVMSG bob \x01VERSION\x01"] and last(s) == "Asked bob's VERSION"
    run(s, "/ignore bob")
    assert last(s).startswith("Ignoring bob!*@* on test:8520") and s.ignores == ["bob!*@*"]
    run(s, "/ignore")
    assert last(s) == "Ignored on test:8520: bob!*@*"
    run(s, "/unignore bob")
    assert s.ignores == [] and last(s) == "No longer ignoring bob"
    run(s, "/unignore bob")
    assert "bob is not ignored" in last(s)
    run(s, "/notify carol")
    assert sent(s) == [] and s.notify.nicks == ["carol"]  # ISON: asked at the next tick
    run(s, "/notify")
    assert last(s) == "Notify list on test:8520 (ISON every 60 s): carol"
    run(s, "/unnotify carol")
    assert s.notify.nicks == []
    run(s, "/mentions")
    assert last(s).startswith("No mentions yet")
    s.receive(":bob!b@h PRIVMSG #lobby :alice: ping", NOW)
    run(s, "/mentions")
    assert last(s).endswith("#lobby <bob> alice: ping")


def test_ui_commands_without_the_ui_say_so(s: Session) -> None:
    for line in ("/search x", "/set", "/save", "/buffer 1", "/connect home"):
        run(s, line)
        assert "needs the full-screen client" in last(s)


def test_completion_of_arguments_from_a_list() -> None:
    c = TabCompleter()
    names = ["bell", "home.nick", "home.notify"]
    assert c.complete("/set ho", 7, ["holly"], [], words=names) == ("/set home.nick ", 15)
    assert c.complete("/set home.nick ", 15, ["holly"], [], words=names) == (
        "/set home.notify ",
        17,
    )
    c.reset()
    assert c.complete("/op ho", 6, ["holly"], []) == ("/op holly ", 10)  # nicks by default
