"""Slash commands: one registry, declared once, that drives execution, /help and completion.

Owns turning a line the user typed into session calls. A line starting with "/" is a command
and is never sent as a message when the command is unknown or misused (a one-line hint is
logged instead); "//text" sends "/text". Anything else is a message to the current buffer.
It must not do I/O or touch the UI: actions the view owns (quitting) come in as callbacks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from chatd.proto.caps import REDACTION
from chatd.proto.casemap import fold, valid_nick
from chatd.proto.errors import ProtocolError
from chatd.proto.message import parse

from . import masks
from .session import TALK_KINDS, Buffer, ConnState, Session

if TYPE_CHECKING:
    from .config import ConfigFile
    from .workspace import Workspace


class UsageError(Exception):
    """Wrong arguments: the command's usage line is shown as the hint."""


class Host(Protocol):
    """What the full-screen app offers commands beyond the current session."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def config(self) -> ConfigFile | None: ...

    def start_search(self, text: str) -> None: ...

    def setting_changed(self, name: str) -> str: ...

    def connect(self, target: str) -> str | None: ...

    def disconnect(self, session: Session, message: str) -> None: ...

    def line_in_view(self) -> int | None:
        """The seq of the line at the bottom of the log when it is scrolled up (after a
        search, the match), or None when it is at its end."""
        ...


@dataclass
class Context:
    session: Session
    now: float
    request_quit: Callable[[str], None]
    host: Host | None = None

    @property
    def buffer(self) -> Buffer:
        return self.session.current_buffer

    def info(self, text: str) -> None:
        self.session.info(text, self.now)

    def persist(self) -> None:
        """Save the configuration file now (an /ignore is kept), saying where, or why not."""
        config = self.host.config if self.host is not None else None
        if config is None:
            return
        try:
            config.save()
        except (OSError, ValueError) as exc:
            self.session.error(f"Not saved: {exc}", self.now)


Handler = Callable[[Context, str], None]


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    summary: str
    handler: Handler
    needs_connection: bool = True


REGISTRY: dict[str, Command] = {}
DEFAULT_QUIT_MESSAGE = "chat-client"
HELP_WIDTH = 70  # the command list of /help, in lines of about this many characters


def command(
    name: str, usage: str, summary: str, *, needs_connection: bool = True
) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        REGISTRY[name] = Command(name, usage, summary, fn, needs_connection)
        return fn

    return register


def names() -> list[str]:
    return sorted(REGISTRY)


def usage_hint(text: str) -> str:
    """What to show after the input while a command's arguments are still to be typed:
    "/join " gives "#room [key]" (from the command's usage string)."""
    if not text.startswith("/") or text.startswith("//"):
        return ""
    name, space, args = text[1:].partition(" ")
    cmd = REGISTRY.get(name.lower())
    if cmd is None or args.strip():
        return ""
    rest = cmd.usage.partition(" ")[2]
    if not rest:
        return ""
    return rest if space else " " + rest


def execute(ctx: Context, text: str) -> None:
    """Run one line of user input."""
    if not text.strip():
        return
    if text.startswith("//"):
        say(ctx, text[1:])
    elif text.startswith("/"):
        _run_command(ctx, text[1:])
    else:
        say(ctx, text)


def _run_command(ctx: Context, text: str) -> None:
    name, _, args = text.partition(" ")
    cmd = REGISTRY.get(name.lower())
    if cmd is None:
        ctx.session.error(
            f"Unknown command /{name} — /help lists commands, //{name} sends it as text", ctx.now
        )
        return
    if cmd.needs_connection and ctx.session.state is not ConnState.CONNECTED:
        ctx.session.error(f"Not connected — /{cmd.name} not sent", ctx.now)
        return
    try:
        cmd.handler(ctx, args.strip())
    except UsageError as exc:
        detail = f"{exc} — " if str(exc) else ""
        ctx.session.error(f"{detail}usage: {cmd.usage}", ctx.now)
    except ProtocolError as exc:
        ctx.session.error(f"/{cmd.name} not sent: {exc}", ctx.now)


def _can_talk(ctx: Context) -> bool:
    buf = ctx.buffer
    if buf.kind == "server":
        ctx.session.error(
            "This is the server buffer: /join a room or /msg someone to talk", ctx.now
        )
        return False
    if ctx.session.state is not ConnState.CONNECTED:
        ctx.session.error("Not connected — message not sent", ctx.now)
        return False
    if buf.kind == "channel" and not buf.joined:
        ctx.session.error(f"You are not in {buf.name} — /join {buf.name}", ctx.now)
        return False
    return True


def say(ctx: Context, text: str, action: bool = False) -> None:
    if _can_talk(ctx):
        ctx.session.say(ctx.buffer.name, text, ctx.now, action=action)


def say_paragraph(ctx: Context, lines: list[str]) -> None:
    """Pasted lines, sent as text (never as commands): one multiline message where the
    server offers it, else line by line."""
    if _can_talk(ctx):
        ctx.session.say_paragraph(ctx.buffer.name, lines, ctx.now)


def _words(args: str, least: int, most: int | None = None) -> list[str]:
    words = args.split()
    if len(words) < least or (most is not None and len(words) > most):
        raise UsageError()
    return words


def _channel_arg(ctx: Context, name: str) -> str:
    return name if ctx.session.is_channel(name) else "#" + name


def _current_channel(ctx: Context) -> Buffer:
    if ctx.buffer.kind != "channel":
        raise UsageError("not in a room")
    return ctx.buffer


@command("join", "/join #room [key]", "Join a room (or switch to it)")
def _join(ctx: Context, args: str) -> None:
    words = _words(args, 1, 2)
    ctx.session.join(_channel_arg(ctx, words[0]), words[1] if len(words) > 1 else None)


@command("part", "/part [#room] [reason]", "Leave the current room (its buffer stays until /close)")
def _part(ctx: Context, args: str) -> None:
    first, _, rest = args.partition(" ")
    if first and ctx.session.is_channel(first):
        ctx.session.part(first, rest.strip())
    else:
        ctx.session.part(_current_channel(ctx).name, args)


@command("msg", "/msg nick text", "Send a private message (opens a private buffer)")
def _msg(ctx: Context, args: str) -> None:
    target, _, text = args.partition(" ")
    if not target or not text.strip():
        raise UsageError()
    if not ctx.session.is_channel(target):
        ctx.session.open_query(target)
    ctx.session.say(target, text, ctx.now)


@command("query", "/query nick [text]", "Open a private buffer with nick", needs_connection=False)
def _query(ctx: Context, args: str) -> None:
    target, _, text = args.partition(" ")
    if not target or ctx.session.is_channel(target):
        raise UsageError()
    ctx.session.open_query(target)
    if text.strip():
        say(ctx, text)


@command("me", "/me action", "Describe an action (* alice waves)")
def _me(ctx: Context, args: str) -> None:
    if not args:
        raise UsageError()
    say(ctx, args, action=True)


@command("notice", "/notice target text", "Send a notice")
def _notice(ctx: Context, args: str) -> None:
    target, _, text = args.partition(" ")
    if not target or not text:
        raise UsageError()
    ctx.session.notice(target, text, ctx.now)


@command("nick", "/nick newnick", "Change your nick", needs_connection=False)
def _nick(ctx: Context, args: str) -> None:
    (nick,) = _words(args, 1, 1)
    limit = ctx.session.isupport.nicklen
    if valid_nick(nick, len(nick)) and len(nick) > limit:
        raise UsageError(
            f"{nick!r} is too long: this server allows at most {limit} characters (NICKLEN)"
        )
    if not valid_nick(nick, limit):
        raise UsageError(
            f"{nick!r} is not a valid nick: letters, digits and []\\`_^{{|}}- only, "
            "not starting with a digit or -"
        )
    ctx.session.change_nick(nick, ctx.now)


@command("topic", "/topic [text]", "Show or set the topic of the current room")
def _topic(ctx: Context, args: str) -> None:
    buf = _current_channel(ctx)
    if args:
        ctx.session.send("TOPIC", buf.name, args)
    else:
        ctx.session.request("TOPIC", buf.name)


# ---- operator commands (on the current room)


def _mode_chunks(ctx: Context, sign: str, mode: str, args: list[str]) -> None:
    """MODE #room +ooo a b c, as many per line as the server's MODES allows."""
    buf = _current_channel(ctx)
    per_line = ctx.session.isupport.raw.get("MODES", "")
    step = int(per_line) if per_line.isdigit() and int(per_line) > 0 else 3
    for i in range(0, len(args), step):
        chunk = args[i : i + step]
        ctx.session.send("MODE", buf.name, sign + mode * len(chunk), *chunk)


def _prefix_command(name: str, sign: str, mode: str, summary: str) -> None:
    @command(name, f"/{name} nick [nick…]", summary)
    def _run(ctx: Context, args: str) -> None:
        _mode_chunks(ctx, sign, mode, _words(args, 1))


_prefix_command("op", "+", "o", "Give channel operator status (+o)")
_prefix_command("deop", "-", "o", "Take channel operator status away (-o)")
_prefix_command("voice", "+", "v", "Give voice (+v)")
_prefix_command("devoice", "-", "v", "Take voice away (-v)")


@command("kick", "/kick nick [reason]", "Remove someone from the current room")
def _kick(ctx: Context, args: str) -> None:
    buf = _current_channel(ctx)
    nick, _, reason = args.partition(" ")
    if not nick:
        raise UsageError()
    ctx.session.send("KICK", buf.name, nick, *([reason.strip()] if reason.strip() else []))


def _mask_for(ctx: Context, buf: Buffer, who: str) -> str:
    if any(ch in who for ch in "!@*?"):
        return masks.normalise(who)
    member = buf.member(who)
    return masks.ban_mask(who, member.userhost if member is not None else "")


@command("ban", "/ban [nick|mask]", "Ban from the current room (*!*@host); no argument: list")
def _ban(ctx: Context, args: str) -> None:
    buf = _current_channel(ctx)
    words = _words(args, 0, 1)
    if not words:
        ctx.session.request("MODE", buf.name, "+b")
        return
    ctx.session.send("MODE", buf.name, "+b", _mask_for(ctx, buf, words[0]))


@command("unban", "/unban nick|mask", "Lift a ban in the current room")
def _unban(ctx: Context, args: str) -> None:
    buf = _current_channel(ctx)
    (who,) = _words(args, 1, 1)
    ctx.session.send("MODE", buf.name, "-b", _mask_for(ctx, buf, who))


@command("invite", "/invite nick [#room]", "Invite someone to a room (default: this one)")
def _invite(ctx: Context, args: str) -> None:
    words = _words(args, 1, 2)
    room = _channel_arg(ctx, words[1]) if len(words) > 1 else _current_channel(ctx).name
    ctx.session.send("INVITE", words[0], room)


@command("mode", "/mode [target] [+modes [args…]]", "Show or change modes (default: this room)")
def _mode(ctx: Context, args: str) -> None:
    words = args.split()
    if words and (ctx.session.is_channel(words[0]) or ctx.session.is_me(words[0])):
        target, words = words[0], words[1:]
    else:
        target = _current_channel(ctx).name
    if words and not words[0].startswith(("+", "-")):
        raise UsageError(f"modes start with + or -, not {words[0]!r}")
    if words:
        ctx.session.send("MODE", target, *words)
    else:
        ctx.session.request("MODE", target)


@command("ctcp", "/ctcp nick VERSION|PING|TIME|CLIENTINFO", "Ask a client-to-client question")
def _ctcp(ctx: Context, args: str) -> None:
    target, _, request = args.partition(" ")
    if not target or not request.strip():
        raise UsageError()
    ctx.session.ctcp(target, request.strip(), ctx.now)


# ---- people: ignore, notify, mentions


@command("ignore", "/ignore [nick|mask]", "Hide someone's messages (kept in the config); no "
         "argument: list", needs_connection=False)  # fmt: skip
def _ignore(ctx: Context, args: str) -> None:
    words = _words(args, 0, 1)
    if not words:
        shown = ", ".join(ctx.session.ignores) or "nobody"
        ctx.info(f"Ignored on {ctx.session.name}: {shown}")
        return
    mask = masks.normalise(words[0])
    if not ctx.session.ignore(words[0]):
        ctx.info(f"{mask} is already ignored")
        return
    _remember(ctx, "ignore", ctx.session.ignores)
    ctx.info(f"Ignoring {mask} on {ctx.session.name} (/unignore {words[0]} to stop)")


@command("unignore", "/unignore nick|mask", "Stop ignoring someone", needs_connection=False)
def _unignore(ctx: Context, args: str) -> None:
    (who,) = _words(args, 1, 1)
    if not ctx.session.unignore(who):
        raise UsageError(f"{who} is not ignored (/ignore lists who is)")
    _remember(ctx, "ignore", ctx.session.ignores)
    ctx.info(f"No longer ignoring {who}")


def _remember(ctx: Context, key: str, values: list[str]) -> None:
    """Keep a per-server list in the configuration (and save it at once)."""
    config = ctx.host.config if ctx.host is not None else None
    if config is None:
        return
    server = config.settings.server(ctx.session.name)
    if server is None:
        return
    setattr(server, key, list(values))
    ctx.persist()


@command("notify", "/notify [nick]", "Be told when nick comes online or leaves; no argument: "
         "list", needs_connection=False)  # fmt: skip
def _notify(ctx: Context, args: str) -> None:
    words = _words(args, 0, 1)
    notify = ctx.session.notify
    if not words:
        if not notify.nicks:
            ctx.info("Your notify list is empty (/notify nick adds to it)")
            return
        online = {fold(n) for n in notify.online}
        shown = ", ".join(n + (" (online)" if fold(n) in online else "") for n in notify.nicks)
        how = {"monitor": " (MONITOR)", "ison": " (ISON every 60 s)"}.get(notify.mode, "")
        ctx.info(f"Notify list on {ctx.session.name}{how}: {shown}")
        return
    if not notify.add(words[0]):
        ctx.info(f"{words[0]} is already on your notify list")
        return
    _remember(ctx, "notify", notify.nicks)
    ctx.info(f"You will be told when {words[0]} comes online or leaves")


@command("unnotify", "/unnotify nick", "Take nick off the notify list", needs_connection=False)
def _unnotify(ctx: Context, args: str) -> None:
    (nick,) = _words(args, 1, 1)
    if not ctx.session.notify.remove(nick):
        raise UsageError(f"{nick} is not on your notify list")
    _remember(ctx, "notify", ctx.session.notify.nicks)
    ctx.info(f"{nick} is off your notify list")


@command("mentions", "/mentions", "List the lines that mentioned you", needs_connection=False)
def _mentions(ctx: Context, args: str) -> None:
    if ctx.host is not None:
        found = [(s.name, m) for s, m in ctx.host.workspace.mentions()]
        several = len(ctx.host.workspace.sessions) > 1
    else:
        found = [(ctx.session.name, m) for m in ctx.session.mention_log]
        several = False
    if not found:
        ctx.info("No mentions yet (your nick, highlight words and private messages count)")
        return
    ctx.info(f"Mentions ({len(found)}, oldest first):")
    for server, m in found:
        stamp = time.strftime("%d %b %H:%M", time.localtime(m.time))
        where = f"{server}/{m.buffer}" if several else m.buffer
        ctx.info(f"  {stamp} {where} <{m.nick}> {m.text}")


# ---- the UI: search, settings, buffers, servers


def _need_host(ctx: Context, what: str) -> Host:
    if ctx.host is None:
        raise UsageError(f"{what} needs the full-screen client")
    return ctx.host


@command("search", "/search text", "Find text in this buffer (Up/Down: older/newer, Esc: "
         "back)", needs_connection=False)  # fmt: skip
def _search(ctx: Context, args: str) -> None:
    _need_host(ctx, "/search").start_search(args)


@command("set", "/set [name [value]]", "Show or change settings (/save keeps them)",
         needs_connection=False)  # fmt: skip
def _set(ctx: Context, args: str) -> None:
    from .config import ConfigError

    host = _need_host(ctx, "/set")
    config = host.config
    if config is None:
        raise UsageError("no configuration")
    name, _, value = args.strip().partition(" ")
    try:
        if not name:
            ctx.info(f"Settings ({config.path}{', not saved' if config.dirty else ''}):")
            for key in config.names():
                ctx.info("  " + config.describe(key))
            return
        if not value.strip():
            ctx.info(config.describe(name))
            return
        config.set(name, value)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    note = host.setting_changed(name)
    ctx.info(config.describe(name) + (f" — {note}" if note else "") + " (/save keeps it)")


@command("save", "/save", "Write the settings to the configuration file", needs_connection=False)
def _save(ctx: Context, args: str) -> None:
    host = _need_host(ctx, "/save")
    if host.config is None:
        raise UsageError("no configuration")
    try:
        path = host.config.save()
    except (OSError, ValueError) as exc:
        ctx.session.error(f"Not saved: {exc}", ctx.now)
        return
    ctx.info(f"Saved to {path}")


@command("buffer", "/buffer number|name", "Go to a buffer (server/name for another server's)",
         needs_connection=False)  # fmt: skip
def _buffer(ctx: Context, args: str) -> None:
    (name,) = _words(args, 1, 1)
    host = _need_host(ctx, "/buffer")
    found = host.workspace.find(name)
    if found is None:
        raise UsageError(f"no buffer {name!r}")
    host.workspace.focus(*(found[0], found[1].key))


@command("connect", "/connect server|NICK@HOST[:PORT]", "Connect to another server too",
         needs_connection=False)  # fmt: skip
def _connect(ctx: Context, args: str) -> None:
    (target,) = _words(args, 1, 1)
    problem = _need_host(ctx, "/connect").connect(target)
    if problem:
        raise UsageError(problem)


@command("disconnect", "/disconnect [message]", "Leave this server (its buffers stay)",
         needs_connection=False)  # fmt: skip
def _disconnect(ctx: Context, args: str) -> None:
    _need_host(ctx, "/disconnect").disconnect(ctx.session, args or DEFAULT_QUIT_MESSAGE)


@command("names", "/names [#room]", "List the people in a room")
def _names(ctx: Context, args: str) -> None:
    words = _words(args, 0, 1)
    room = _channel_arg(ctx, words[0]) if words else _current_channel(ctx).name
    ctx.session.request("NAMES", room)


@command("list", "/list [pattern]", "List the rooms on the server")
def _list(ctx: Context, args: str) -> None:
    ctx.session.request("LIST", *args.split()[:1])


@command("whois", "/whois nick", "Show who someone is")
def _whois(ctx: Context, args: str) -> None:
    (nick,) = _words(args, 1, 1)
    ctx.session.whois(nick)


@command("redact", "/redact [reason]", "Delete a message: the one at the bottom of the view "
         "when scrolled up (a search's match), else your last one here")  # fmt: skip
def _redact(ctx: Context, args: str) -> None:
    session, buf = ctx.session, ctx.buffer
    if REDACTION not in session.caps:
        raise UsageError("this server cannot delete messages (no draft/message-redaction)")
    if buf.kind == "server":
        raise UsageError("not in a room or a private buffer")
    seq = ctx.host.line_in_view() if ctx.host is not None else None
    if seq is not None:
        line = next((x for x in buf.lines if x.seq == seq), None)
        if line is None or not line.msgid or line.redacted or line.kind not in TALK_KINDS:
            raise UsageError("the line at the bottom of the view is not a message to delete")
    else:
        line = next((x for x in reversed(buf.lines) if x.own and x.msgid and not x.redacted), None)
        if line is None:
            raise UsageError(f"no message of yours to delete in {buf.name}")
    session.redact(buf, line, args)
    # Not its text: what is deleted (a password pasted in the wrong window) is not repeated.
    when = time.strftime("%H:%M:%S", time.localtime(line.time))
    ctx.info(f"Deleting the message of {line.nick} at {when}")


@command("away", "/away [reason]", "Mark yourself away (no reason: back again)")
def _away(ctx: Context, args: str) -> None:
    ctx.session.set_away(args)


@command("close", "/close", "Close the current buffer (leaving the room)", needs_connection=False)
def _close(ctx: Context, args: str) -> None:
    hint = ctx.session.close(ctx.session.current, ctx.now)
    if hint:
        ctx.session.error(hint, ctx.now)


@command("quote", "/quote RAW LINE", "Send a raw protocol line to the server")
def _quote(ctx: Context, args: str) -> None:
    if not args:
        raise UsageError()
    try:
        msg = parse(args)
    except ProtocolError as exc:
        raise UsageError(str(exc)) from None
    ctx.session.send(msg.command, *msg.params, tags=msg.tags or None)


@command("clear", "/clear", "Clear the current buffer's messages", needs_connection=False)
def _clear(ctx: Context, args: str) -> None:
    ctx.session.clear(ctx.session.current)


@command("help", "/help [command]", "List commands, or explain one", needs_connection=False)
def _help(ctx: Context, args: str) -> None:
    name = args.strip().lstrip("/").lower()
    if name:
        cmd = REGISTRY.get(name)
        if cmd is None:
            raise UsageError(f"no command /{name}")
        ctx.session.info(f"{cmd.usage} — {cmd.summary}", ctx.now)
        return
    ctx.session.info("Commands (/help command for one):", ctx.now)
    row: list[str] = []
    for name in names():
        row.append(f"/{name}")
        if len(" ".join(row)) > HELP_WIDTH:
            ctx.session.info("  " + " ".join(row[:-1]), ctx.now)
            row = row[-1:]
    ctx.session.info("  " + " ".join(row), ctx.now)
    ctx.session.info(
        "Keys: Alt-1..9 / Ctrl-N / Ctrl-P switch buffers, PgUp/PgDn scroll, Ctrl-R searches, "
        "Tab completes, F2 nick list (Alt-PgUp/PgDn scroll it), F3 mouse, Ctrl-C quits",
        ctx.now,
    )


@command("quit", "/quit [message]", "Leave every server and exit", needs_connection=False)
def _quit(ctx: Context, args: str) -> None:
    ctx.request_quit(args or DEFAULT_QUIT_MESSAGE)
