"""The client's view of one IRC connection, sans-IO: the façade the UI and commands use.

Session composes the parts, each tested on its own:

- `buffers.BufferList`: the buffers, the current one, unread counts and mention marks;
- `registration.Registration`: CAP, SASL, the nick and its fallbacks, a refused password;
- `routing.Router`: labeled requests, batches and server history;
- `events.HANDLERS`: the one table turning server lines into state and log text;
- `notify.NotifyList`: MONITOR or ISON; `outbox.Outbox`: what to write;
- `multiline`: the batches a pasted paragraph goes in.

It adds what belongs to the connection as a whole: its state and lag, the rooms to join and
rejoin, the history of private buffers (on opening, on reconnecting, and those TARGETS lists),
the read markers it sends, away, ignores and highlight words, and the user's intentions (`say`,
`say_paragraph`, `join`, `redact`…).
Lines go in through `receive()`; what must be written piles up in the outbox.

It must not import socket, asyncio or time: every method that needs the clock takes `now`
(seconds since the epoch), so tests feed it lines and inspect state and output directly.
The UI only reads it (and calls its user-intention methods).
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from chatd.proto import caps as C
from chatd.proto.casemap import fold
from chatd.proto.errors import ProtocolError
from chatd.proto.message import Message, parse

from . import events, masks, multiline
from .buffers import BufferList
from .model import (
    MAX_LOG_LINES,
    QUIET_KINDS,
    SERVER_KEY,
    TALK_KINDS,
    Buffer,
    ConnState,
    ISupport,
    Kind,
    LogLine,
    Member,
    iso_time,
    mentions,
    parse_server_time,
    split_text,
)
from .notify import NotifyList
from .outbox import Outbox
from .registration import WANTED_CAPS, Registration
from .routing import (
    CHATHISTORY_CAP,
    LABELS_CAP,
    MESSAGE,
    METADATA,
    REPLY,
    Label,
    Router,
    placeholder,
)
from .sasl import SaslConfig

__all__ = [
    "MAX_LOG_LINES",
    "QUIET_KINDS",
    "SERVER_KEY",
    "TALK_KINDS",
    "Buffer",
    "ConnState",
    "ISupport",
    "Kind",
    "LogLine",
    "Member",
    "Mention",
    "Session",
    "mentions",
    "parse_server_time",
    "split_text",
]

# Bytes a server adds around our text when relaying it (":nick!user@host PRIVMSG target :").
_RELAY_OVERHEAD = 100
_MAX_LINE = 512
MAX_MENTIONS = 200
MARKREAD_INTERVAL = 5.0  # seconds between two read markers for a buffer one keeps reading
MAX_DISPLAY_NAMES = 256  # display names (draft/metadata-3) remembered for /whois


@dataclass(frozen=True)
class Mention:
    """A line that named you (or a highlight word), or a private message: for /mentions."""

    time: float
    buffer: str
    nick: str
    text: str
    msgid: str = ""


def _budget(target: str) -> int:
    """Bytes of text one PRIVMSG to target can carry once the server relays it."""
    return _MAX_LINE - _RELAY_OVERHEAD - len(target.encode())


class Session:
    """The state of one client connection and everything it has shown the user."""

    def __init__(
        self,
        nick: str,
        *,
        username: str | None = None,
        realname: str = "chatd client",
        password: str | None = None,
        channels: Iterable[str] = (),
        server_label: str = "server",
        max_lines: int = MAX_LOG_LINES,
        fetch_history: bool = True,
        history_page: int = 50,
        alt_nicks: Iterable[str] = (),
        sasl: SaslConfig | None = None,
        highlights: Iterable[str] = (),
        ignores: Iterable[str] = (),
        notify: Iterable[str] = (),
        name: str = "",
    ) -> None:
        self.server_label = server_label
        self.name = name or server_label  # what the room bar and the log directory call it
        self.isupport = ISupport()
        self.outbox = Outbox()
        self.bufs = BufferList(server_label, max_lines)
        # With draft/chathistory the client asks for history itself: the latest page on
        # joining, older pages when the user scrolls to the top.
        wanted = WANTED_CAPS | ({CHATHISTORY_CAP} if fetch_history else set())
        self.reg = Registration(
            nick,
            send=self.outbox.send,
            note=self._note,
            isupport=self.isupport,
            username=username,
            realname=realname,
            password=password,
            alt_nicks=alt_nicks,
            sasl_config=sasl,
            wanted_caps=frozenset(wanted),
        )
        self.router = Router(self.bufs, self.outbox.send, self.reg.caps, history_page)
        self.notify = NotifyList(notify, self.outbox.send)
        self.highlights: list[str] = [w for w in highlights if w]
        self.ignores: list[str] = [m for m in ignores if m]
        self.mention_log: deque[Mention] = deque(maxlen=MAX_MENTIONS)
        self.state = ConnState.DISCONNECTED
        self.retry_at: float | None = None
        self.registered = False
        self.welcomed = False  # registered at least once (never reset)
        self.away = False
        self.lag: float | None = None
        self.acked: set[str] = set()  # PONG tokens received (line mode waits on these)
        self.closing_reason = ""  # the text of the server's last ERROR line
        self.autojoin: list[str] = [c for c in channels if c]
        self.mode_queries: set[str] = set()  # rooms whose MODE we asked for on joining
        self.refused: dict[str, str] = {}  # folded room -> why the server refused it
        self._ping_token: str | None = None
        self._ping_sent = 0.0
        self._ping_counter = 0
        self._switch_on_join: set[str] = set()
        self._rejoin: list[str] = []
        self._reconnecting = False
        self._away_reason = ""
        self._channel_keys: dict[str, str] = {}
        self._now = 0.0  # the time of the line being handled (for notes from the parts)
        self._batch_counter = 0  # references of the multiline batches we send
        self.display_names: dict[str, str] = {}  # folded nick -> display-name (metadata)

    # ------------------------------------------------------------ the parts

    @property
    def nick(self) -> str:
        return self.reg.nick

    @property
    def wanted_nick(self) -> str:
        return self.reg.wanted_nick

    @property
    def caps(self) -> set[str]:
        return self.reg.caps

    @property
    def fatal(self) -> str | None:
        """Why reconnecting is pointless (a refused password), or None."""
        return self.reg.fatal

    @property
    def buffers(self) -> dict[str, Buffer]:
        return self.bufs.by_key

    @property
    def current(self) -> str:
        return self.bufs.current

    @current.setter
    def current(self, key: str) -> None:
        self.bufs.current = key

    @property
    def listeners(self) -> list[Callable[[Buffer, LogLine], None]]:
        return self.bufs.listeners

    @property
    def renumber_listeners(self) -> list[Callable[[Buffer, int, int], None]]:
        return self.router.renumber_listeners

    @property
    def wakeup(self) -> Callable[[], None] | None:
        return self.outbox.wakeup

    @wakeup.setter
    def wakeup(self, callback: Callable[[], None] | None) -> None:
        self.outbox.wakeup = callback

    # ------------------------------------------------------------------ buffers

    def add_buffer(self, buf: Buffer) -> Buffer:
        return self.bufs.add(buf)

    @property
    def server_buffer(self) -> Buffer:
        return self.bufs.server

    @property
    def current_buffer(self) -> Buffer:
        return self.bufs.current_buffer

    def buffer_list(self) -> list[Buffer]:
        return self.bufs.all()

    def get_buffer(self, name: str) -> Buffer | None:
        return self.bufs.get(name)

    def is_channel(self, name: str) -> bool:
        return bool(name) and name[0] in self.isupport.chantypes

    def channel_buffer(self, name: str) -> Buffer:
        return self.bufs.channel(name)

    def query_buffer(self, nick: str) -> Buffer:
        """The private buffer with nick; one that opens now asks for its history."""
        buf = self.bufs.get(nick)
        if buf is None:
            buf = self.bufs.query(nick)
            if self.registered:
                self._private_history(buf, buf.next_seq)
        return buf

    def _private_history(self, buf: Buffer, point: int) -> None:
        """Ask for what was said in a private buffer (placed above `point`, the line to come
        or the "Reconnected" line), and first for its read marker (which places the divider)."""
        if CHATHISTORY_CAP not in self.caps:
            return
        if C.READ_MARKER in self.caps:
            with contextlib.suppress(ProtocolError):
                self.send("MARKREAD", buf.name, background=True)
        buf.join_seq = point
        self.router.request_latest(buf)

    def switch(self, key: str) -> None:
        self.bufs.switch(key)

    def switch_relative(self, step: int) -> None:
        self.bufs.switch_relative(step)

    def switch_index(self, index: int) -> None:
        self.bufs.switch_index(index)

    def close(self, key: str, now: float) -> str | None:
        """Close a buffer (parting a joined room). Returns an error hint, or None."""
        buf = self.buffers.get(key)
        if buf is None or buf.kind == "server":
            return "The server buffer cannot be closed; /quit leaves."
        if buf.kind == "channel" and buf.joined and self.state is ConnState.CONNECTED:
            self.send("PART", buf.name)
        self.bufs.remove(key)
        return None

    def log(self, buf: Buffer, now: float, kind: Kind, text: str, **kw: object) -> LogLine:
        if self.router.aside(buf, now, kind, text, kw):  # history: placed at its batch's end
            return placeholder(now, kind, text)
        line = self.bufs.add_line(buf, now, kind, text, **kw)
        talk = kind in TALK_KINDS and not line.own and not line.history
        if talk and (line.highlight or buf.kind == "query"):
            mention = Mention(line.time, buf.name, line.nick or "", text, line.msgid)
            self.mention_log.append(mention)
        return line

    def info(self, text: str, now: float, buf: Buffer | None = None) -> None:
        self.log(buf or self.reply_buffer, now, Kind.INFO, text)

    def error(self, text: str, now: float, buf: Buffer | None = None) -> None:
        self.log(buf or self.reply_buffer, now, Kind.ERROR, text)

    def _note(self, text: str, is_error: bool) -> None:
        """What registration tells the user: in the server buffer, at the time of the line."""
        kind = Kind.ERROR if is_error else Kind.INFO
        self.log(self.server_buffer, self._now, kind, text)

    @property
    def reply_buffer(self) -> Buffer:
        """Where an answer goes: while the answer to a labeled request is handled, the buffer
        the request was made in (/whois typed in #dev answers in #dev); else the current one."""
        return self.router.reply_buffer() or self.current_buffer

    # ----------------------------------------------------------------- outbox

    def send(
        self,
        command: str,
        *params: str,
        tags: dict[str, str] | None = None,
        urgent: bool = False,
        background: bool = False,
    ) -> None:
        self.outbox.send(command, *params, tags=tags, urgent=urgent, background=background)

    def request(self, command: str, *params: str) -> None:
        """A query (/whois, /names, /list, /topic) whose answer belongs in the current buffer,
        even if the user has switched away when it arrives."""
        self.router.send_labeled(Label(REPLY, self.current), command, *params)

    def pull_outgoing(self) -> list[Message]:
        return self.outbox.pull()

    # -------------------------------------------------------------- connection

    def connecting(self, now: float) -> None:
        self.state = ConnState.CONNECTING
        self.retry_at = None
        if not self._reconnecting:
            self.info(f"Connecting to {self.server_label}…", now, self.server_buffer)

    def connection_made(self, now: float) -> None:
        """The socket is up: start registration."""
        self.state = ConnState.REGISTERING
        self.registered = False
        self.closing_reason = ""
        self.router.reset()
        self.mode_queries.clear()
        for buf in self.buffers.values():
            buf.marker_sent, buf.marker_sent_at = 0.0, float("-inf")  # a new server's view
        self.outbox.clear()
        self._ping_token = None
        self._now = now
        self.reg.start()

    def connection_lost(self, now: float, reason: str, retry_in: float | None) -> None:
        """The socket is gone. `retry_in` is None when no reconnection will be tried."""
        was_up = self.state in (ConnState.CONNECTED, ConnState.REGISTERING)
        if self.registered:
            self._rejoin = [
                b.name for b in self.buffers.values() if b.kind == "channel" and b.joined
            ]
        self.registered = False
        self.away = False  # a new connection starts present
        self.lag = None
        self.outbox.clear()
        self.notify.stop()
        if self.state is ConnState.QUITTING:
            self.state = ConnState.DISCONNECTED
            return
        for buf in self.buffers.values():
            if buf.kind == "channel":
                buf.joined = False
                buf.members.clear()
                buf.modes, buf.modes_known = "", False  # stale until the next join says
            if buf.pending:
                count = len(buf.pending)
                buf.pending.clear()
                self.error(f"{count} message(s) above were not confirmed by the server", now, buf)
        if retry_in is None or self.fatal:
            self.state = ConnState.DISCONNECTED
            self.retry_at = None
            retry_in = None
        else:
            self.state = ConnState.RECONNECTING
            self.retry_at = now + retry_in
            self._reconnecting = True
        note = f" — reconnecting in {retry_in:.0f} s" if retry_in is not None else ""
        if was_up:
            for buf in self.buffers.values():
                self.error(f"Disconnected: {reason}{note}", now, buf)
        else:
            self.error(
                f"Cannot connect to {self.server_label}: {reason}{note}", now, self.server_buffer
            )

    def fail_for_good(self, reason: str, now: float) -> None:
        """The server refused us in a way retrying cannot fix (a wrong password)."""
        self.reg.fatal = reason
        self.error(reason, now, self.server_buffer)

    def quitting(self, message: str) -> None:
        if self.state in (ConnState.CONNECTED, ConnState.REGISTERING):
            self.send("QUIT", message)
        self.state = ConnState.QUITTING

    def welcome(self, nick: str, text: str, now: float) -> None:
        """001: registered. Join the rooms (first time) or rejoin them (after a reconnection)."""
        first = not self.welcomed  # the first registration joins the rooms asked for
        self.reg.welcomed(nick)
        self.registered = True
        self.welcomed = True
        self.state = ConnState.CONNECTED
        self.retry_at = None
        self.info(text, now, self.server_buffer)
        rooms = self.autojoin if first else self._rejoin
        if not first:
            for buf in self.buffers.values():
                self.info(f"Reconnected to {self.server_label} as {self.nick}", now, buf)
        elif self.autojoin:
            self._switch_on_join.add(fold(self.autojoin[0]))
        for buf in self.buffers.values():
            if buf.kind == "query":  # what was said while away goes above "Reconnected"
                self._private_history(buf, buf.next_seq - 1 if not first else buf.next_seq)
        self._reconnecting = False
        if self.reg.nick_note:
            self.info(self.reg.nick_note, now, self.server_buffer)
        if self._away_reason:
            self.send("AWAY", self._away_reason)
        for room in rooms:
            key = self._channel_keys.get(fold(room))
            self.send("JOIN", room, *([key] if key else []))
        self._rejoin = []
        self.notify.start(self.isupport.raw.get("MONITOR"), now)
        if self.reg.account is not None:  # private history is kept for accounts
            self.router.request_targets(now)

    def joined_room(self, buf: Buffer, now: float) -> None:
        """We joined buf: say why our nick differs, switch if asked, ask its modes and history."""
        if self.reg.nick_note:
            self.info(self.reg.nick_note, now, buf)
            self.reg.nick_note = ""
        if buf.key in self._switch_on_join:
            self._switch_on_join.discard(buf.key)
            self.switch(buf.key)
        try:
            self.send("MODE", buf.name)  # the status line shows the room's modes
            self.mode_queries.add(buf.key)
        except ProtocolError:
            pass
        self.router.request_latest(buf)

    def tick(self, now: float) -> None:
        """Called about once a second while connected: timed work (ISON polling)."""
        if self.registered:
            self.notify.tick(now)

    # ------------------------------------------------------------ read markers

    def mark_read(self, key: str, now: float, *, debounce: bool = False) -> bool:
        """The user has read a buffer to its end: tell the server (draft/read-marker), so that
        their other clients know. Nothing is sent when the server's marker is there already,
        nor (`debounce`, for a buffer one keeps reading) within MARKREAD_INTERVAL of the last."""
        buf = self.buffers.get(key)
        if (
            buf is None
            or buf.kind == "server"
            or C.READ_MARKER not in self.caps
            or self.state is not ConnState.CONNECTED
        ):
            return False
        stamp = buf.last_read_time()
        if stamp is None or stamp <= max(buf.marker_sent, buf.read_marker or 0.0):
            return False
        if debounce and now - buf.marker_sent_at < MARKREAD_INTERVAL:
            return False
        try:
            self.send("MARKREAD", buf.name, "timestamp=" + iso_time(stamp), background=True)
        except ProtocolError:
            return False
        buf.marker_sent, buf.marker_sent_at = stamp, now
        return True

    def read_elsewhere(self, buf: Buffer, stamp: float | None) -> None:
        """The server's read marker for buf (on joining, or one of the user's clients moved it):
        read up to its newest message, it has nothing unread here either."""
        buf.read_marker = stamp
        newest = buf.last_read_time()
        if stamp is not None and newest is not None and stamp >= newest:
            buf.unread = 0
            buf.mentioned = False

    # -------------------------------------------------------------------- lag

    def send_ping(self, now: float, token: str | None = None) -> str:
        """Send a PING; its PONG measures lag (or, with a token, acknowledges what came before).
        A lag probe jumps the queue of paced lines; an acknowledgement stays behind them."""
        urgent = token is None
        if token is None:
            self._ping_counter += 1
            token = f"lag{self._ping_counter}"
            self._ping_token = token
            self._ping_sent = now
        self.send("PING", token, urgent=urgent)
        return token

    @property
    def ping_outstanding(self) -> bool:
        """A lag PING is waiting for its PONG (no new one is sent meanwhile)."""
        return self._ping_token is not None

    def ping_overdue(self, now: float, timeout: float) -> bool:
        return self._ping_token is not None and now - self._ping_sent > timeout

    def pong(self, token: str, now: float) -> None:
        self.acked.add(token)
        if token == self._ping_token:
            self.lag = max(0.0, now - self._ping_sent)
            self._ping_token = None

    # ------------------------------------------------------------------ input

    def receive(self, line: str, now: float) -> Message | None:
        """Handle one line from the server (no CR/LF); returns it parsed."""
        try:
            msg = parse(line)
        except ProtocolError:
            self.error(f"Unparsable line from server: {line[:200]}", now, self.server_buffer)
            return None
        if self.router.absorb(msg):  # a line of a multiline message, handled at its end
            return msg
        self.handle(msg, now)
        return msg

    def handle(self, msg: Message, now: float) -> None:
        """One parsed message (a line, or a whole multiline batch)."""
        when = now
        if "time" in msg.tags and msg.command != "PONG":  # lag is measured on our own clock
            when = parse_server_time(msg.tags["time"]) or now
        self._now = when
        self.router.begin(msg)
        try:
            handler = events.HANDLERS.get(msg.command)
            if handler is not None:
                handler(self, msg, when)
            elif msg.command.isdigit():
                events.on_other_numeric(self, msg, when)
            else:
                self.info(" ".join(msg.params), when, self.server_buffer)
        finally:
            self.router.end(msg)

    def request_older(self, key: str) -> bool:
        """Ask the server for the page of history before the oldest line of a buffer."""
        return self.router.request_older(key, self.state is ConnState.CONNECTED)

    def loading_history(self, key: str) -> bool:
        return self.router.loading(key)

    def is_me(self, nick: str | None) -> bool:
        return nick is not None and fold(nick) == fold(self.nick)

    def ignored(self, source: str | None) -> bool:
        return bool(source) and any(masks.matches(m, source or "") for m in self.ignores)

    def notify_changes(self, changes: list[str], now: float) -> None:
        """Notify-list news: in the server buffer, and in front of the user if elsewhere."""
        for text in changes:
            self.info(text, now, self.server_buffer)
            if self.current_buffer is not self.server_buffer:
                self.info(text, now, self.current_buffer)

    # ---- members and modes

    def parse_name(self, entry: str) -> Member:
        """One entry of a NAMES reply: prefixes, nick and (userhost-in-names) user@host."""
        i = 0
        while i < len(entry) and entry[i] in self.isupport.prefix_chars:
            i += 1
        nick, _, host = entry[i:].partition("!")
        member = Member(nick, userhost=host)
        for char in entry[:i]:
            self._set_prefix(member, char, True)
        return member

    def member_sort_key(self, member: Member) -> tuple[int, str]:
        chars = self.isupport.prefix_chars
        rank = (
            chars.index(member.prefixes[0])
            if member.prefixes and member.prefixes[0] in chars
            else len(chars)
        )
        return rank, fold(member.nick)

    def apply_channel_modes(self, buf: Buffer, params: list[str]) -> None:
        if not params:
            return
        args = iter(params[1:])
        adding = True
        modes = set(buf.modes)
        always_arg = self.isupport.chanmodes[0] + self.isupport.chanmodes[1]
        set_arg = self.isupport.chanmodes[2]
        for ch in params[0]:
            if ch in "+-":
                adding = ch == "+"
            elif ch in self.isupport.prefix_modes:
                member = buf.member(next(args, ""))
                if member is not None:
                    self._set_prefix(
                        member,
                        self.isupport.prefix_chars[self.isupport.prefix_modes.index(ch)],
                        adding,
                    )
            elif ch in always_arg:
                next(args, None)
            else:
                if ch in set_arg and adding:
                    next(args, None)
                (modes.add if adding else modes.discard)(ch)
        buf.modes = "".join(sorted(modes))

    def _set_prefix(self, member: Member, char: str, adding: bool) -> None:
        held = set(member.prefixes)
        (held.add if adding else held.discard)(char)
        member.prefixes = "".join(c for c in self.isupport.prefix_chars if c in held)

    # ------------------------------------------------------- user intentions

    def say(self, target: str, text: str, now: float, action: bool = False) -> None:
        """Send text to a room or nick; logged locally unless echo-message will echo it."""
        text = text.replace("\0", "").replace("\r", "").replace("\n", " ")
        budget = _budget(target) - (9 if action else 0)
        buf = self._talk_buffer(target)
        for piece in split_text(text, budget):
            payload = f"\x01ACTION {piece}\x01" if action else piece
            label = self.router.send_labeled(Label(MESSAGE, buf.key), "PRIVMSG", target, payload)
            self._own_line(buf, label, Kind.ACTION if action else Kind.MESSAGE, piece, now)

    def _talk_buffer(self, target: str) -> Buffer:
        return self.channel_buffer(target) if self.is_channel(target) else self.query_buffer(target)

    def _own_line(self, buf: Buffer, label: Label, kind: Kind, text: str, now: float) -> None:
        if "echo-message" in self.caps:
            # Shown at once, marked pending until the server echoes it back (matched by its
            # label with labeled-response, else by its text).
            line = self.log(buf, now, kind, text, nick=self.nick, own=True, pending=True)
            buf.pending.append(line.seq)
            label.seq = line.seq
        else:
            self.log(buf, now, kind, text, nick=self.nick, own=True)

    def say_paragraph(self, target: str, lines: list[str], now: float) -> None:
        """Several lines (a paste) as one message: with draft/multiline, in batches within the
        server's max-bytes and max-lines (a paste past them goes as several messages);
        without it, line by line, blank lines left out."""
        lines = [line.replace("\0", "").replace("\r", "").replace("\n", " ") for line in lines]
        limits = self.reg.multiline_limits()
        if limits is None or sum(1 for line in lines if line.strip()) < 2:
            for line in lines:
                if line.strip():
                    self.say(target, line, now)
            return
        buf = self._talk_buffer(target)
        for pieces in multiline.batches(lines, _budget(target), limits):
            if len(pieces) == 1:
                self.say(target, pieces[0][0], now)
                continue
            self._batch_counter += 1
            ref = f"ml{self._batch_counter}"
            label = self.router.send_labeled(
                Label(MESSAGE, buf.key), "BATCH", "+" + ref, multiline.BATCH_TYPE, target
            )
            for text, concat in pieces:
                tags = {"batch": ref, **({multiline.CONCAT: ""} if concat else {})}
                self.send("PRIVMSG", target, text, tags=tags)
            self.send("BATCH", "-" + ref)
            self._own_line(buf, label, Kind.MESSAGE, multiline.joined(pieces), now)

    def redacted(self, buf: Buffer, msgid: str, text: str) -> None:
        """The server deleted a message: the line says so, and /mentions forgets its text."""
        line = buf.redact(msgid, text)
        if line is None:
            return
        for i, mention in enumerate(self.mention_log):
            if mention.msgid == msgid and mention.buffer == buf.name:
                self.mention_log[i] = replace(mention, text=text)

    def logged_in(self, now: float) -> None:
        """A login after registration (NickServ IDENTIFY): the private conversations kept for
        the account can be listed now."""
        if self.registered:
            self.router.request_targets(now)

    def redact(self, buf: Buffer, line: LogLine, reason: str = "") -> None:
        """Ask the server to delete a message (draft/message-redaction); the REDACT it sends
        back replaces the line."""
        self.send("REDACT", buf.name, line.msgid, *([reason] if reason else []))

    def whois(self, nick: str) -> None:
        """/whois, with the display name (draft/metadata-3) asked for first, so that it is
        known when the answer's first line is shown."""
        if C.METADATA in self.caps and LABELS_CAP in self.caps:
            self.display_names.pop(fold(nick), None)
            self.router.send_labeled(
                Label(METADATA, self.current), "METADATA", nick, "GET", "display-name"
            )
        self.request("WHOIS", nick)

    def remember_display_name(self, nick: str, value: str) -> None:
        key = fold(nick)
        self.display_names.pop(key, None)
        if value:
            self.display_names[key] = value
            while len(self.display_names) > MAX_DISPLAY_NAMES:
                self.display_names.pop(next(iter(self.display_names)))

    def notice(self, target: str, text: str, now: float) -> None:
        self.send("NOTICE", target, text)
        if "echo-message" not in self.caps:
            self.log(
                self.current_buffer,
                now,
                Kind.NOTICE,
                f"-> {target}: {text}",
                nick=self.nick,
                own=True,
            )

    def ctcp(self, target: str, request: str, now: float) -> None:
        """Ask target a CTCP question (VERSION, PING, TIME…); the answer is shown as it comes."""
        word, _, arg = request.partition(" ")
        word = word.upper()
        if word == "PING" and not arg:
            arg = str(int(now * 1000))
        self.send("PRIVMSG", target, f"\x01{word}{' ' + arg if arg else ''}\x01")
        self.info(f"Asked {target}'s {word}", now, self.current_buffer)

    def join(self, channel: str, key: str | None = None) -> None:
        buf = self.get_buffer(channel)
        if buf is not None and buf.joined:
            self.switch(buf.key)
            return
        self._switch_on_join.add(fold(channel))
        if key:
            self._channel_keys[fold(channel)] = key  # needed again to rejoin after a reconnection
        self.send("JOIN", channel, *([key] if key else []))

    def set_away(self, reason: str) -> None:
        """Mark away (or back, with no reason); remembered across reconnections."""
        self._away_reason = reason
        self.send("AWAY", *([reason] if reason else []))

    def part(self, channel: str, reason: str = "") -> None:
        self.send("PART", channel, *([reason] if reason else []))

    def rename_buffer(self, buf: Buffer, new: str) -> None:
        """A buffer takes a new name (a private one its peer's new nick), keeping its lines;
        the requests in flight for it follow."""
        old_key = buf.key
        self.bufs.rename(buf, new)
        self.router.rename(old_key, buf.key)

    def rename_room(self, buf: Buffer, new: str) -> None:
        """A room was renamed (draft/channel-rename): its buffer, with its lines, takes the new
        name; what is in flight or remembered for it follows."""
        old_key = buf.key
        self.rename_buffer(buf, new)
        new_key = buf.key
        for keys in (self.mode_queries, self._switch_on_join):
            if old_key in keys:
                keys.discard(old_key)
                keys.add(new_key)
        if old_key in self._channel_keys:
            self._channel_keys[new_key] = self._channel_keys.pop(old_key)
        self.refused.pop(new_key, None)
        self._rejoin = [new if fold(r) == old_key else r for r in self._rejoin]

    def open_query(self, nick: str) -> Buffer:
        buf = self.query_buffer(nick)
        self.switch(buf.key)
        return buf

    def change_nick(self, nick: str, now: float) -> None:
        connected = self.state in (ConnState.CONNECTED, ConnState.REGISTERING)
        self.reg.change_nick(nick, connected, self.registered)
        if not connected:
            self.info(f"You will be {nick} when connected", now)

    def clear(self, key: str) -> None:
        buf = self.buffers.get(key)
        if buf is not None:
            buf.clear()

    def member_nicks(self, key: str) -> list[str]:
        buf = self.buffers.get(key)
        if buf is None:
            return []
        if buf.kind == "query":
            return [buf.name]
        return [m.nick for m in sorted(buf.members.values(), key=lambda m: fold(m.nick))]

    def iter_lines(self, key: str) -> Iterator[LogLine]:
        buf = self.buffers.get(key)
        return iter(buf.lines) if buf is not None else iter(())

    # ---- ignores, highlights, notify

    def ignore(self, mask: str) -> bool:
        mask = masks.normalise(mask)
        if any(fold(m) == fold(mask) for m in self.ignores):
            return False
        self.ignores.append(mask)
        return True

    def unignore(self, mask: str) -> bool:
        wanted = {fold(mask), fold(masks.normalise(mask))}
        kept = [m for m in self.ignores if fold(m) not in wanted]
        changed = len(kept) != len(self.ignores)
        self.ignores = kept
        return changed
