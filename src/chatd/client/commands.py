"""Slash commands: one registry, declared once, that drives execution, /help and completion.

Owns turning a line the user typed into session calls. A line starting with "/" is a command
and is never sent as a message when the command is unknown or misused (a one-line hint is
logged instead); "//text" sends "/text". Anything else is a message to the current buffer.
It must not do I/O or touch the UI: actions the view owns (quitting) come in as callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chatd.proto.casemap import valid_nick
from chatd.proto.errors import ProtocolError
from chatd.proto.message import parse

from .session import Buffer, ConnState, Session


class UsageError(Exception):
    """Wrong arguments: the command's usage line is shown as the hint."""


@dataclass
class Context:
    session: Session
    now: float
    request_quit: Callable[[str], None]

    @property
    def buffer(self) -> Buffer:
        return self.session.current_buffer


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


def say(ctx: Context, text: str, action: bool = False) -> None:
    buf = ctx.buffer
    if buf.kind == "server":
        ctx.session.error(
            "This is the server buffer: /join a room or /msg someone to talk", ctx.now
        )
        return
    if ctx.session.state is not ConnState.CONNECTED:
        ctx.session.error("Not connected — message not sent", ctx.now)
        return
    if buf.kind == "channel" and not buf.joined:
        ctx.session.error(f"You are not in {buf.name} — /join {buf.name}", ctx.now)
        return
    ctx.session.say(buf.name, text, ctx.now, action=action)


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
    if not valid_nick(nick, ctx.session.isupport.nicklen):
        raise UsageError(f"{nick!r} is not a valid nick")
    ctx.session.change_nick(nick, ctx.now)


@command("topic", "/topic [text]", "Show or set the topic of the current room")
def _topic(ctx: Context, args: str) -> None:
    buf = _current_channel(ctx)
    if args:
        ctx.session.send("TOPIC", buf.name, args)
    else:
        ctx.session.request("TOPIC", buf.name)


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
    ctx.session.request("WHOIS", nick)


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
    for cmd in sorted(REGISTRY.values(), key=lambda c: c.name):
        ctx.session.info(f"  {cmd.usage:<26} {cmd.summary}", ctx.now)
    ctx.session.info(
        "Keys: Alt-1..9 / Ctrl-N / Ctrl-P switch buffers, PgUp/PgDn scroll, Tab completes, "
        "F2 nick list, F3 mouse, Ctrl-C quits",
        ctx.now,
    )


@command("quit", "/quit [message]", "Leave the server and exit", needs_connection=False)
def _quit(ctx: Context, args: str) -> None:
    ctx.request_quit(args or DEFAULT_QUIT_MESSAGE)
