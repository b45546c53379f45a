"""Turning server lines into state and log text: one handler per command, in one table.

Each handler takes the Session, the parsed Message and its time, updates the model (members,
topics, modes, away marks) and logs what the user should read. `HANDLERS` is the only way in:
`Session.receive` looks the command up there, so a server can reach nothing but these
(a line `:x WELCOME alice :hi` or `:x ISUPPORT PREFIX=…` is just an unknown command, shown
as text). Registration and history handlers are thin: the work is in registration.py and
routing.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chatd.proto import numerics as N
from chatd.proto.casemap import fold
from chatd.proto.errors import ProtocolError
from chatd.proto.message import Message

from . import notify, sasl
from .model import Buffer, ConnState, Kind, Member, mentions, parse_server_time, replay_stamp
from .routing import LATEST, MESSAGE, METADATA, REPLAY_END, REPLAY_START

if TYPE_CHECKING:
    from .session import Session

Handler = Callable[["Session", Message, float], None]

CLIENT_VERSION = "chatd chat-client"


def last(msg: Message) -> str:
    """The last parameter (usually the human text), or "" for a message without any."""
    return msg.params[-1] if msg.params else ""


def userhost(source: str | None) -> str:
    if not source or "!" not in source:
        return ""
    return source.split("!", 1)[1]


def _reply(s: Session, command: str, *params: str, urgent: bool = False) -> None:
    """An automatic answer to the server; one that cannot be serialised is dropped."""
    with contextlib.suppress(ProtocolError):
        s.send(command, *params, urgent=urgent)


# ------------------------------------------------------------------ registration


def on_cap(s: Session, msg: Message, now: float) -> None:
    s.reg.on_cap(msg)


def on_authenticate(s: Session, msg: Message, now: float) -> None:
    s.reg.on_authenticate(msg)


def on_sasl_numeric(s: Session, msg: Message, now: float) -> None:
    before = s.reg.account
    s.reg.on_sasl_numeric(msg)
    if before is None and s.reg.account is not None:
        s.logged_in(now)


def on_welcome(s: Session, msg: Message, now: float) -> None:
    s.welcome(msg.param(0, s.nick), last(msg), now)


def on_isupport(s: Session, msg: Message, now: float) -> None:
    s.isupport.update(msg.params[1:-1])
    if "MONITOR" in s.isupport.raw and s.notify.mode == "ison":
        s.notify.start(s.isupport.raw["MONITOR"], now)  # 005 came after our guess


def on_nick_refused(s: Session, msg: Message, now: float) -> None:
    problem = s.reg.nick_refused(msg, s.registered)
    if problem is not None:
        s.error(problem, now)


def on_password_mismatch(s: Session, msg: Message, now: float) -> None:
    s.fail_for_good(
        f"The server refused the password ({last(msg)}): give the right one with --password "
        "(or password in the config)",
        now,
    )


def on_banned(s: Session, msg: Message, now: float) -> None:
    s.fail_for_good(f"You are banned from this server: {last(msg)}", now)


def on_motd(s: Session, msg: Message, now: float) -> None:
    s.info(last(msg), now, s.server_buffer)


def on_unknown_command(s: Session, msg: Message, now: float) -> None:
    if msg.param(1).upper() == "CAP":
        s.reg.no_cap()  # a server without CAP: nothing to end
        return
    on_error_numeric(s, msg, now)


# ------------------------------------------------------------------------ pings


def on_ping(s: Session, msg: Message, now: float) -> None:
    _reply(s, "PONG", *msg.params[-1:], urgent=True)


def on_pong(s: Session, msg: Message, now: float) -> None:
    s.pong(last(msg), now)


def on_error(s: Session, msg: Message, now: float) -> None:
    s.closing_reason = last(msg)
    if s.state is ConnState.QUITTING:
        s.info(f"Server closed the connection: {msg.param(0)}", now, s.server_buffer)
        return
    s.error(f"Server closed the connection: {last(msg)}", now, s.server_buffer)


# --------------------------------------------------------------------- messages


def on_privmsg(s: Session, msg: Message, now: float) -> None:
    _on_message(s, msg, now, notice=False)


def on_notice(s: Session, msg: Message, now: float) -> None:
    _on_message(s, msg, now, notice=True)


def _on_message(s: Session, msg: Message, now: float, notice: bool) -> None:
    target, text = msg.param(0), msg.param(1)
    sender = msg.nick or ""
    own = s.is_me(sender) or _own_in_private_history(s, sender, target)
    from_server = not s.registered or (msg.source and "!" not in msg.source and not own)
    if not own and not from_server and s.ignored(msg.source):
        return
    if from_server and not s.is_channel(target):
        s.log(s.server_buffer, now, Kind.NOTICE, text, nick=sender or None)
        return
    if from_server and notice and _plain_replay(s, target, text):
        return
    kind = Kind.NOTICE if notice else Kind.MESSAGE
    if text.startswith("\x01"):
        ctcp, _, arg = text.strip("\x01").partition(" ")
        if ctcp.upper() == "ACTION":
            kind, text = Kind.ACTION, arg
        else:
            _on_ctcp(s, sender, target, ctcp.upper(), arg, notice, own, now)
            return
    collect = s.router.collect
    if collect is not None and collect.buf.kind == "query" and not s.is_channel(target):
        buf = collect.buf  # a private conversation's history: every line is of that buffer
    else:
        buf = _message_buffer(s, target, sender, own, notice)
    replay = s.router.replaying(buf)
    if replay is not None and not from_server:
        stamped = replay_stamp(text, now)  # a plain replay: "[HH:MM:SS] text"
        if stamped is not None:
            now, text = stamped
        s.router.enter_replay(replay)  # reset when the line is done
    s.router.count_history()
    msgid = msg.tags.get("msgid", "")
    if s.router.merge(buf, msgid, sender, text):
        return  # the next line of a multiline message that chatd's history keeps apart
    if not buf.first_sighting(msgid):
        return  # history replayed again after a reconnection: already shown
    echo = own and buf.pending and not s.router.in_history
    if echo and _confirm(s, buf, kind, text, now, msgid):
        return
    highlight = not own and mentions(text, s.nick, s.highlights)
    s.log(buf, now, kind, text, nick=sender, own=own, highlight=highlight, msgid=msgid)


def _own_in_private_history(s: Session, sender: str, target: str) -> bool:
    """In the history of a private conversation, what we said under another nick (the account
    is the same): sent to the peer, by someone who is not the peer."""
    collect = s.router.collect
    if collect is None or collect.buf.kind != "query" or not sender:
        return False
    peer = collect.buf.key
    return fold(target) == peer and fold(sender) != peer


def _confirm(s: Session, buf: Buffer, kind: Kind, text: str, now: float, msgid: str) -> bool:
    """Our own message came back (echo-message): confirm the pending line it echoes,
    known by its label when there is one, else the oldest pending line with its text."""
    label = s.router.label
    if (
        label is not None
        and label.purpose == MESSAGE
        and label.key == buf.key
        and buf.confirm(kind, text, now, msgid, seq=label.seq) is not None
    ):
        return True
    return buf.confirm(kind, text, now, msgid) is not None


def _plain_replay(s: Session, target: str, text: str) -> bool:
    buf = s.get_buffer(target)
    if buf is None or not (text.startswith(REPLAY_START) or text == REPLAY_END):
        return False
    return s.router.plain_replay(buf, text)


def _message_buffer(s: Session, target: str, sender: str, own: bool, notice: bool) -> Buffer:
    room = target.lstrip(s.isupport.prefix_chars)
    if s.is_channel(room):
        return s.channel_buffer(room)
    peer = target if own else sender
    if notice and s.get_buffer(peer) is None:
        return s.current_buffer
    return s.query_buffer(peer)


def _on_ctcp(
    s: Session,
    sender: str,
    target: str,
    ctcp: str,
    arg: str,
    reply: bool,
    own: bool,
    now: float,
) -> None:
    """CTCP (other than ACTION). Our own, echoed back by echo-message, are not shown again
    (and never answered); a request from someone else is answered and shown."""
    if own:
        return
    if reply:
        detail = f": {arg}" if arg else ""
        s.info(f"{sender}'s {ctcp}{detail}", now, s.reply_buffer)
        return
    answer = {
        "VERSION": CLIENT_VERSION,
        "PING": arg,
        "CLIENTINFO": "ACTION CLIENTINFO PING TIME VERSION",
        "TIME": datetime.fromtimestamp(now).strftime("%a %b %d %H:%M:%S %Y"),
    }.get(ctcp)
    if answer is not None:
        _reply(s, "NOTICE", sender, f"\x01{ctcp} {answer}\x01" if answer else f"\x01{ctcp}\x01")
    where = f" (in {target})" if s.is_channel(target) else ""
    s.info(f"{sender} asked your {ctcp}{where}", now, s.current_buffer)


# ------------------------------------------------------------------- membership


def on_join(s: Session, msg: Message, now: float) -> None:
    channel, nick = msg.param(0), msg.nick or ""
    if s.is_me(nick):
        buf = s.channel_buffer(channel)
        buf.name = channel
        buf.joined = True
        buf.members.clear()
        buf.modes, buf.modes_known = "", False
        line = s.log(buf, now, Kind.JOIN, f"You joined {channel}", nick=nick, own=True)
        buf.join_seq = line.seq  # history before the join goes in above this line
        s.joined_room(buf, now)
        return
    room = s.get_buffer(channel)
    if room is None:
        return
    room.members[fold(nick)] = Member(nick, userhost=userhost(msg.source))
    if s.ignored(msg.source):
        return
    s.log(room, now, Kind.JOIN, f"{nick} ({userhost(msg.source)}) joined {channel}", nick=nick)


def on_part(s: Session, msg: Message, now: float) -> None:
    channel, nick = msg.param(0), msg.nick or ""
    buf = s.get_buffer(channel)
    if buf is None:
        return
    reason = f" ({msg.param(1)})" if msg.param(1) else ""
    if s.is_me(nick):
        buf.joined = False
        buf.members.clear()
        s.log(buf, now, Kind.PART, f"You left {channel}{reason}", nick=nick, own=True)
        return
    buf.members.pop(fold(nick), None)
    if not s.ignored(msg.source):
        s.log(buf, now, Kind.PART, f"{nick} left {channel}{reason}", nick=nick)


def on_kick(s: Session, msg: Message, now: float) -> None:
    channel, victim = msg.param(0), msg.param(1)
    buf = s.get_buffer(channel)
    if buf is None:
        return
    reason = msg.param(2)
    if s.is_me(victim):
        buf.joined = False
        buf.members.clear()
        s.log(buf, now, Kind.ERROR, f"You were kicked from {channel} by {msg.nick} ({reason})")
    else:
        buf.members.pop(fold(victim), None)
        s.log(buf, now, Kind.PART, f"{victim} was kicked by {msg.nick} ({reason})", nick=victim)


def on_quit(s: Session, msg: Message, now: float) -> None:
    nick = msg.nick or ""
    reason = msg.param(0)
    key = fold(nick)
    quiet = s.ignored(msg.source)
    for buf in s.buffer_list():
        if key in buf.members or (buf.kind == "query" and buf.key == key):
            buf.members.pop(key, None)
            if not quiet:
                s.log(buf, now, Kind.QUIT, f"{nick} quit ({reason})", nick=nick)


def on_nick(s: Session, msg: Message, now: float) -> None:
    old, new = msg.nick or "", msg.param(0)
    own = s.is_me(old)
    if own:
        s.reg.nick = new
        s.reg.wanted_nick = new
        s.log(s.server_buffer, now, Kind.NICK, f"You are now known as {new}", own=True)
    old_key, new_key = fold(old), fold(new)
    for buf in s.buffer_list():
        if old_key in buf.members:
            member = buf.members.pop(old_key)
            member.nick = new
            buf.members[new_key] = member
            text = f"You are now known as {new}" if own else f"{old} is now known as {new}"
            s.log(buf, now, Kind.NICK, text, nick=new, own=own)
    query = s.buffers.get(old_key)
    if query is not None and query.kind == "query" and not own:
        s.rename_buffer(query, new)
        s.log(query, now, Kind.NICK, f"{old} is now known as {new}", nick=new)


def on_invite(s: Session, msg: Message, now: float) -> None:
    if s.ignored(msg.source):
        return
    channel = msg.param(1)
    if s.is_me(msg.param(0)):
        s.info(f"{msg.nick} invites you to {channel} (/join {channel})", now)
    else:  # invite-notify: someone else was invited to a room we are in
        buf = s.get_buffer(channel)
        s.info(f"{msg.nick} invited {msg.param(0)} to {channel}", now, buf)


def on_away(s: Session, msg: Message, now: float) -> None:
    key = fold(msg.nick or "")
    for buf in s.buffer_list():
        member = buf.members.get(key)
        if member is not None:
            member.away = bool(msg.params)


def on_topic(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(0))
    if buf is None:
        return
    buf.topic = msg.param(1)
    who = "You" if s.is_me(msg.nick) else msg.nick
    if buf.topic:
        s.log(buf, now, Kind.TOPIC, f"{who} set the topic: {buf.topic}", nick=msg.nick)
    else:
        s.log(buf, now, Kind.TOPIC, f"{who} cleared the topic", nick=msg.nick)


def on_mode(s: Session, msg: Message, now: float) -> None:
    target = msg.param(0)
    buf = s.get_buffer(target) if s.is_channel(target) else None
    text = f"{msg.nick} sets mode {' '.join(msg.params[1:])}"
    if buf is None:
        s.log(s.server_buffer, now, Kind.MODE, text)
        return
    s.apply_channel_modes(buf, msg.params[1:])
    s.log(buf, now, Kind.MODE, text, nick=msg.nick)


def on_batch(s: Session, msg: Message, now: float) -> None:
    ended = s.router.on_batch(msg)
    if ended is None:
        return
    whole = ended.message()
    if whole is not None:  # a draft/multiline batch: one message with its lines
        s.handle(whole, now)
    s.router.finish_batch(ended)


def on_chathistory(s: Session, msg: Message, now: float) -> None:
    """CHATHISTORY TARGETS <name> <timestamp>, answering the request made on registering:
    each private conversation gets its buffer (with its history), without switching to it."""
    router = s.router
    name = msg.param(1)
    if msg.param(0).upper() != "TARGETS" or router.targets_left <= 0 or not name:
        return
    if s.is_channel(name) or s.is_me(name) or s.get_buffer(name) is not None:
        return
    try:
        s.query_buffer(name)
    except ProtocolError:
        return
    router.targets_left -= 1


def on_markread(s: Session, msg: Message, now: float) -> None:
    """draft/read-marker: MARKREAD <target> timestamp=…|*, on joining, answering our own, or
    sent when another client of the user read further."""
    buf = s.get_buffer(msg.param(0))
    if buf is None or buf.kind == "server":
        return
    kind, _, value = msg.param(1).partition("=")
    stamp = parse_server_time(value) if kind == "timestamp" else None
    if stamp is None and msg.param(1) != "*":
        return
    s.read_elsewhere(buf, stamp)


def on_redact(s: Session, msg: Message, now: float) -> None:
    """draft/message-redaction: REDACT <target> <msgid> [:reason] — the message says it was
    deleted, by whom and why (the text is gone from the screen; a log file keeps what it
    wrote)."""
    target, msgid, reason = msg.param(0), msg.param(1), msg.param(2)
    sender = msg.nick or ""
    # A room's message, or one of ours to someone; else a private message its sender deleted.
    buf = s.get_buffer(sender if s.is_me(target) else target)
    if buf is None or not msgid:
        return
    who = "you" if s.is_me(sender) else sender or "the server"
    text = f"message deleted by {who}" + (f": {reason}" if reason else "")
    s.redacted(buf, msgid, text)


def on_rename(s: Session, msg: Message, now: float) -> None:
    """draft/channel-rename: RENAME <old> <new> [:reason] — the buffer moves, lines and all."""
    old, new, reason = msg.param(0), msg.param(1), msg.param(2)
    buf = s.get_buffer(old)
    if buf is None or buf.kind != "channel" or not s.is_channel(new):
        return
    s.rename_room(buf, new)
    who = "You" if s.is_me(msg.nick) else msg.nick or "The server"
    why = f" ({reason})" if reason else ""
    s.log(buf, now, Kind.TOPIC, f"{who} renamed {old} to {new}{why}", nick=msg.nick)


def on_keyvalue(s: Session, msg: Message, now: float) -> None:
    """761 <target> <key> <visibility> :<value> (draft/metadata-3): a display name is kept for
    /whois (asked for quietly); any other value is shown."""
    target, key, value = msg.param(1), msg.param(2), last(msg)
    if key == "display-name":
        s.remember_display_name(target, value)
    if s.router.label is None or s.router.label.purpose != METADATA:
        s.info(f"{target} {key}: {value}", now)


def on_keynotset(s: Session, msg: Message, now: float) -> None:
    target, key = msg.param(1), msg.param(2)
    if key == "display-name":
        s.remember_display_name(target, "")
    if s.router.label is None or s.router.label.purpose != METADATA:
        s.info(f"{target} {key}: {last(msg)}", now)


def on_ack(s: Session, msg: Message, now: float) -> None:
    """labeled-response: the labeled command produced no answer (the router finishes it)."""


def on_fail(s: Session, msg: Message, now: float) -> None:
    """IRCv3 standard replies: FAIL <command> <code> [context…] :text."""
    command, code = msg.param(0), msg.param(1)
    context = msg.params[2:-1]
    label = s.router.label
    if label is not None and label.purpose == METADATA:
        return  # the display name /whois asks for: the WHOIS answer says what is wrong
    if command.upper() == "CHATHISTORY" and s.router.label is None:
        s.router.history_failed(msg)
    where = " ".join(context)
    s.error(f"{command} failed ({code}{' ' + where if where else ''}): {last(msg)}", now)


def on_warn(s: Session, msg: Message, now: float) -> None:
    s.info(f"{msg.param(0)}: {last(msg)}", now)


# ------------------------------------------------------------- numerics with state


def on_topic_reply(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(1))
    if buf is not None:
        buf.topic = last(msg)
        s.log(buf, now, Kind.TOPIC, f"Topic: {buf.topic}")


def on_notopic(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(1))
    if buf is not None:
        buf.topic = ""
        s.log(buf, now, Kind.TOPIC, "No topic is set")


def _date(text: str) -> str:
    return datetime.fromtimestamp(int(text)).strftime("%Y-%m-%d %H:%M") if text.isdigit() else text


def on_topicwhotime(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(1))
    if buf is not None and len(msg.params) >= 4:
        setter = msg.param(2).split("!", 1)[0]
        s.log(buf, now, Kind.TOPIC, f"Topic set by {setter} on {_date(msg.param(3))}")


def on_namreply(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(2))
    if buf is None or not buf.joined:
        s.info(f"Names in {msg.param(2)}: {last(msg)}", now)
        return
    if buf._names_pending is None:
        buf._names_pending = {}
    for entry in last(msg).split():
        member = s.parse_name(entry)
        buf._names_pending[fold(member.nick)] = member


def on_endofnames(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(1))
    if buf is None or buf._names_pending is None:
        return
    buf.members = buf._names_pending
    buf._names_pending = None
    shown = sorted(buf.members.values(), key=s.member_sort_key)
    names = " ".join(m.prefixes[:1] + m.nick for m in shown)
    count = f"{len(shown)} user" + ("" if len(shown) == 1 else "s")
    s.log(buf, now, Kind.INFO, f"{count} in {buf.name}: {names}")


def on_channelmodeis(s: Session, msg: Message, now: float) -> None:
    buf = s.get_buffer(msg.param(1))
    if buf is None:
        return
    buf.modes = ""
    s.apply_channel_modes(buf, msg.params[2:])
    automatic = not buf.modes_known and buf.key in s.mode_queries
    buf.modes_known = True
    s.mode_queries.discard(buf.key)
    if not automatic:  # the query made on joining is only shown in the status line
        s.log(buf, now, Kind.MODE, f"Modes: {' '.join(msg.params[2:])}")


def on_banlist(s: Session, msg: Message, now: float) -> None:
    setter = msg.param(3).split("!", 1)[0]
    when = f" by {setter} on {_date(msg.param(4))}" if setter else ""
    s.info(f"Ban on {msg.param(1)}: {msg.param(2)}{when}", now)


def on_to_current(s: Session, msg: Message, now: float) -> None:
    s.info(" ".join(msg.params[1:]), now)


def on_whoisuser(s: Session, msg: Message, now: float) -> None:
    nick, user, host, real = msg.param(1), msg.param(2), msg.param(3), last(msg)
    s.info(f"{nick} is {user}@{host} ({real})", now)
    display = s.display_names.get(fold(nick))
    if display:
        s.info(f"{nick}: display name {display}", now)


def on_whois_line(s: Session, msg: Message, now: float) -> None:
    s.info(f"{msg.param(1)}: {' '.join(msg.params[2:])}", now)


def on_whoisidle(s: Session, msg: Message, now: float) -> None:
    idle, signon = msg.param(2), msg.param(3)
    text = (
        f"{msg.param(1)}: idle {idle} s"
        if idle.isdigit()
        else f"{msg.param(1)}: {' '.join(msg.params[2:])}"
    )
    if signon.isdigit():
        text += f", signed on {_date(signon)}"
    s.info(text, now)


def on_liststart(s: Session, msg: Message, now: float) -> None:
    s.info("Channel              Users  Topic", now)


def on_list(s: Session, msg: Message, now: float) -> None:
    s.info(f"{msg.param(1):<20} {msg.param(2):>4}  {last(msg)}", now)


def on_nowaway(s: Session, msg: Message, now: float) -> None:
    s.away = msg.command == N.RPL_NOWAWAY
    s.info(last(msg), now)


def on_whoreply(s: Session, msg: Message, now: float) -> None:
    p = msg.params
    if len(p) >= 8:
        s.info(f"{p[1]} {p[5]} {p[6]} {p[2]}@{p[3]} {p[7]}", now)


def on_ison(s: Session, msg: Message, now: float) -> None:
    changes = s.notify.on_ison(msg)
    if changes is None:
        s.info(f"Online: {last(msg) or 'nobody'}", now)
    else:
        s.notify_changes(changes, now)


def on_monitor(s: Session, msg: Message, now: float) -> None:
    s.notify_changes(s.notify.on_numeric(msg), now)


def on_ignore_quietly(s: Session, msg: Message, now: float) -> None:
    """A reply with nothing to tell the user."""


def on_error_numeric(s: Session, msg: Message, now: float) -> None:
    subject = " ".join(msg.params[1:-1])
    text = f"{subject}: {last(msg)}" if subject else last(msg)
    room = msg.param(1)
    buf = s.get_buffer(room) if s.is_channel(room) else None
    if s.is_channel(room) and (buf is None or not buf.joined):
        s.refused[fold(room)] = text  # a JOIN refused (invite only, banned, full, bad key…)
    s.error(text, now, buf)


def on_other_numeric(s: Session, msg: Message, now: float) -> None:
    """A numeric without a handler of its own: errors are errors, the rest is information."""
    if msg.command.startswith(("4", "5")):
        on_error_numeric(s, msg, now)
    else:
        s.info(" ".join(msg.params[1:]), now, s.server_buffer)


# The one table: the command words and numerics a server can trigger, and nothing else.
HANDLERS: dict[str, Handler] = {
    "CAP": on_cap,
    "AUTHENTICATE": on_authenticate,
    "PING": on_ping,
    "PONG": on_pong,
    "ERROR": on_error,
    "PRIVMSG": on_privmsg,
    "NOTICE": on_notice,
    "JOIN": on_join,
    "PART": on_part,
    "KICK": on_kick,
    "QUIT": on_quit,
    "NICK": on_nick,
    "INVITE": on_invite,
    "AWAY": on_away,
    "TOPIC": on_topic,
    "MODE": on_mode,
    "BATCH": on_batch,
    "CHATHISTORY": on_chathistory,
    "MARKREAD": on_markread,
    "REDACT": on_redact,
    "RENAME": on_rename,
    "ACK": on_ack,
    "FAIL": on_fail,
    "WARN": on_warn,
    "NOTE": on_warn,
    N.RPL_WELCOME: on_welcome,
    N.RPL_ISUPPORT: on_isupport,
    N.ERR_NICKNAMEINUSE: on_nick_refused,
    N.ERR_ERRONEUSNICKNAME: on_nick_refused,
    "437": on_nick_refused,  # ERR_UNAVAILRESOURCE
    N.ERR_PASSWDMISMATCH: on_password_mismatch,
    N.ERR_YOUREBANNEDCREEP: on_banned,
    N.ERR_UNKNOWNCOMMAND: on_unknown_command,
    N.RPL_MOTDSTART: on_motd,
    N.RPL_MOTD: on_motd,
    N.RPL_ENDOFMOTD: on_motd,
    N.ERR_NOMOTD: on_motd,
    N.RPL_TOPIC: on_topic_reply,
    N.RPL_NOTOPIC: on_notopic,
    N.RPL_TOPICWHOTIME: on_topicwhotime,
    N.RPL_NAMREPLY: on_namreply,
    N.RPL_ENDOFNAMES: on_endofnames,
    N.RPL_CHANNELMODEIS: on_channelmodeis,
    N.RPL_CREATIONTIME: on_ignore_quietly,
    N.RPL_BANLIST: on_banlist,
    N.RPL_ENDOFBANLIST: on_to_current,
    N.RPL_WHOISUSER: on_whoisuser,
    N.RPL_WHOISSERVER: on_whois_line,
    N.RPL_WHOISIDLE: on_whoisidle,
    N.RPL_WHOISCHANNELS: on_whois_line,
    N.RPL_WHOISOPERATOR: on_whois_line,
    N.RPL_WHOISHOST: on_whois_line,
    N.RPL_WHOISACCOUNT: on_whois_line,
    N.RPL_WHOISBOT: on_whois_line,
    "671": on_whois_line,  # RPL_WHOISSECURE (not in proto/numerics.py: chatd does not send it)
    N.RPL_ENDOFWHOIS: on_whois_line,
    N.RPL_AWAY: on_whois_line,
    N.RPL_UNAWAY: on_nowaway,
    N.RPL_NOWAWAY: on_nowaway,
    N.RPL_LISTSTART: on_liststart,
    N.RPL_LIST: on_list,
    N.RPL_LISTEND: on_to_current,
    N.RPL_WHOREPLY: on_whoreply,
    N.RPL_ENDOFWHO: on_to_current,
    N.RPL_INVITING: on_to_current,
    N.RPL_ISON: on_ison,
    N.RPL_KEYVALUE: on_keyvalue,
    N.RPL_KEYNOTSET: on_keynotset,
    **{code: on_sasl_numeric for code in sasl.SASL_NUMERICS},
    **{code: on_monitor for code in notify.MONITOR_NUMERICS},
}

__all__ = ["HANDLERS", "LATEST", "on_other_numeric"]
