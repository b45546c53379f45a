"""The client's view of one IRC connection, sans-IO.

Session owns everything the client knows: registration and CAP negotiation, the buffers (the
server buffer, rooms, private conversations) with their bounded logs, members, topics, modes,
unread counts and mention marks, the connection state shown in the status line, and the lag.
Lines go in through `receive()`, user intentions through methods such as `say()` or `join()`;
what must be written to the socket piles up in the outbox (`pull_outgoing()`).

It must not import socket, asyncio or time: every method that needs the clock takes `now`
(seconds since the epoch), so tests can feed it lines and inspect state and output directly.
The UI only reads it (and calls its user-intention methods).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from chatd.proto import numerics as N
from chatd.proto.casemap import fold
from chatd.proto.errors import ProtocolError
from chatd.proto.message import Message, parse, serialise

from .model import (
    MAX_LOG_LINES,
    QUIET_KINDS,
    SERVER_KEY,
    TALK_KINDS,
    Buffer,
    ConnState,
    Entry,
    ISupport,
    Kind,
    LogLine,
    Member,
    iso_time,
    mentions,
    parse_server_time,
    replay_stamp,
    split_text,
)

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
    "Session",
    "mentions",
    "parse_server_time",
    "split_text",
]

WANTED_CAPS = frozenset(
    {
        "server-time",
        "echo-message",
        "message-tags",
        "multi-prefix",
        "away-notify",
        "userhost-in-names",
        "cap-notify",
        "batch",
        "labeled-response",
    }
)
HISTORY_BATCHES = frozenset({"chathistory", "draft/chathistory"})
CHATHISTORY_CAP = "draft/chathistory"
LABELS_CAP = "labeled-response"
MAX_LABELS = 256  # requests whose answer is awaited; a server that never answers cannot grow it
MAX_BATCHES = 64  # open BATCHes; the oldest is forgotten past that
# What a labeled request was for (labeled-response routes its answer by this).
LATEST, BEFORE, REPLY, MESSAGE = "latest", "before", "reply", "message"
# chatd's plain replay on JOIN, for a client without batch or server-time.
REPLAY_START, REPLAY_END = "Replaying the last ", "End of replay"
# Bytes a server adds around our text when relaying it (":nick!user@host PRIVMSG target :").
_RELAY_OVERHEAD = 100
_MAX_LINE = 512
MAX_NICK_ATTEMPTS = 12


@dataclass
class _Label:
    """A request sent with a `label` tag: what it was for, and where its answer belongs."""

    purpose: str  # LATEST / BEFORE (a history page), REPLY (/whois…), MESSAGE (our PRIVMSG)
    key: str  # the buffer
    seq: int = -1  # MESSAGE: the pending line waiting for its echo


@dataclass
class _Collect:
    """History kept aside while its batch (or plain replay) runs, placed when it ends."""

    buf: Buffer
    older: bool  # a page before the oldest line (goes on top); else history up to the join
    entries: list[Entry] = field(default_factory=list)
    count: int = 0  # messages the server sent, including those already shown


@dataclass
class _Batch:
    kind: str
    parent: str  # the batch this one is nested in ("" for none)
    label: str  # the label of a labeled-response batch
    collect: _Collect | None = None


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
    ) -> None:
        self.wanted_nick = nick
        self.nick = nick
        # With draft/chathistory the client asks for history itself: the latest page on
        # joining, older pages when the user scrolls to the top.
        self.wanted_caps = WANTED_CAPS | ({CHATHISTORY_CAP} if fetch_history else set())
        self.history_page = history_page
        self._older_wanted: set[str] = set()  # buffer keys with a BEFORE request in flight
        self._latest_wanted: set[str] = set()  # buffer keys with a LATEST request in flight
        self._collect: _Collect | None = None  # where the line being handled goes, if aside
        self._replays: dict[str, _Collect] = {}  # plain replays running, by buffer key
        self._labels: dict[str, _Label] = {}  # labeled requests awaiting their answer
        self._label_counter = 0
        self._label: _Label | None = None  # the request the line being handled answers
        self.username = username or nick
        self.realname = realname
        self.password = password
        self.server_label = server_label
        self.max_lines = max_lines
        self.state = ConnState.DISCONNECTED
        self.retry_at: float | None = None
        self.registered = False
        self.welcomed = False  # registered at least once (never reset)
        self.away = False
        self.isupport = ISupport()
        self.caps: set[str] = set()
        self.lag: float | None = None
        self.autojoin: list[str] = [c for c in channels if c]
        self.buffers: dict[str, Buffer] = {}
        self.current = SERVER_KEY
        self.add_buffer(Buffer(server_label, "server", max_lines))
        self.listeners: list[Callable[[Buffer, LogLine], None]] = []
        # (buffer, point, shift): history went in before the line `point`, and the seqs of
        # the lines before it decreased by `shift` (a view anchored there follows them).
        self.renumber_listeners: list[Callable[[Buffer, int, int], None]] = []
        self.wakeup: Callable[[], None] | None = None
        self.acked: set[str] = set()  # PONG tokens received (line mode waits on these)
        self._outbox: list[Message] = []
        self._cap_ls: set[str] = set()
        self._cap_negotiating = False
        self._nick_attempt = 0
        self._ping_token: str | None = None
        self._ping_sent = 0.0
        self._ping_counter = 0
        self._switch_on_join: set[str] = set()
        self._rejoin: list[str] = []
        self._reconnecting = False
        self._nick_note = ""
        self._away_reason = ""
        self._batches: dict[str, _Batch] = {}  # open BATCH reference -> what it is
        self._in_history = False
        self._channel_keys: dict[str, str] = {}

    # ------------------------------------------------------------------ buffers

    def add_buffer(self, buf: Buffer) -> Buffer:
        self.buffers.setdefault(buf.key, buf)
        return self.buffers[buf.key]

    @property
    def server_buffer(self) -> Buffer:
        return self.buffers[SERVER_KEY]

    @property
    def current_buffer(self) -> Buffer:
        return self.buffers.get(self.current) or self.server_buffer

    def buffer_list(self) -> list[Buffer]:
        return list(self.buffers.values())

    def get_buffer(self, name: str) -> Buffer | None:
        return self.buffers.get(fold(name))

    def is_channel(self, name: str) -> bool:
        return bool(name) and name[0] in self.isupport.chantypes

    def channel_buffer(self, name: str) -> Buffer:
        return self.add_buffer(Buffer(name, "channel", self.max_lines))

    def query_buffer(self, nick: str) -> Buffer:
        buf = self.get_buffer(nick)
        if buf is None:
            buf = self.add_buffer(Buffer(nick, "query", self.max_lines))
        return buf

    def switch(self, key: str) -> None:
        if key in self.buffers:
            self.current = key
            buf = self.buffers[key]
            buf.unread = 0
            buf.mentioned = False

    def switch_relative(self, step: int) -> None:
        keys = list(self.buffers)
        index = keys.index(self.current) if self.current in keys else 0
        self.switch(keys[(index + step) % len(keys)])

    def switch_index(self, index: int) -> None:
        keys = list(self.buffers)
        if 0 <= index < len(keys):
            self.switch(keys[index])

    def close(self, key: str, now: float) -> str | None:
        """Close a buffer (parting a joined room). Returns an error hint, or None."""
        buf = self.buffers.get(key)
        if buf is None or buf.kind == "server":
            return "The server buffer cannot be closed; /quit leaves."
        if buf.kind == "channel" and buf.joined:
            self.send("PART", buf.name)
        keys = list(self.buffers)
        index = keys.index(key)
        del self.buffers[key]
        if self.current == key:
            remaining = list(self.buffers)
            self.switch(remaining[min(index, len(remaining)) - 1])
        return None

    def log(self, buf: Buffer, now: float, kind: Kind, text: str, **kw: object) -> LogLine:
        if self._in_history:
            kw["history"] = True
        if self._collect is not None and self._collect.buf is buf:  # history: placed at its end
            self._collect.entries.append((now, kind, text, kw))
            return LogLine(-1, now, kind, text)
        line = buf.add(now, kind, text, **kw)
        if buf.key != self.current and kind in TALK_KINDS and not line.own and not line.history:
            buf.unread += 1
            if line.highlight or buf.kind == "query":
                buf.mentioned = True
        for listener in self.listeners:
            listener(buf, line)
        return line

    def info(self, text: str, now: float, buf: Buffer | None = None) -> None:
        self.log(buf or self.reply_buffer, now, Kind.INFO, text)

    def error(self, text: str, now: float, buf: Buffer | None = None) -> None:
        self.log(buf or self.reply_buffer, now, Kind.ERROR, text)

    @property
    def reply_buffer(self) -> Buffer:
        """Where an answer goes: while the answer to a labeled request is handled, the buffer
        the request was made in (/whois typed in #dev answers in #dev); else the current one."""
        label = self._label
        if label is not None:
            buf = self.buffers.get(label.key)
            if buf is not None:
                return buf
        return self.current_buffer

    # ----------------------------------------------------------------- outbox

    def send(self, command: str, *params: str, tags: dict[str, str] | None = None) -> None:
        msg = Message(command, list(params), tags=tags)
        serialise(msg)  # raise ProtocolError now, not in the transport
        self._outbox.append(msg)
        if self.wakeup is not None:
            self.wakeup()

    def _send_labeled(self, label: _Label, command: str, *params: str) -> _Label:
        """Send a command whose answer must be matched: with labeled-response it carries a
        `label` tag, and the answer is routed by it (without the cap it is sent plain)."""
        if LABELS_CAP not in self.caps:
            self.send(command, *params)
            return label
        self._label_counter += 1
        name = f"c{self._label_counter}"
        self.send(command, *params, tags={"label": name})
        self._labels[name] = label
        if len(self._labels) > MAX_LABELS:
            self._labels.pop(next(iter(self._labels)))
        return label

    def request(self, command: str, *params: str) -> None:
        """A query (/whois, /names, /list, /topic) whose answer belongs in the current buffer,
        even if the user has switched away when it arrives."""
        self._send_labeled(_Label(REPLY, self.current), command, *params)

    def pull_outgoing(self) -> list[Message]:
        out, self._outbox = self._outbox, []
        return out

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
        self.caps.clear()
        self._cap_ls.clear()
        self._batches.clear()
        self._replays.clear()
        self._labels.clear()
        self._older_wanted.clear()
        self._latest_wanted.clear()
        self._outbox.clear()
        self._nick_attempt = 0
        self.nick = self.wanted_nick
        self._ping_token = None
        self._cap_negotiating = True
        self.send("CAP", "LS", "302")
        if self.password:
            self.send("PASS", self.password)
        self.send("NICK", self.nick)
        self.send("USER", self.username, "0", "*", self.realname)

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
        self._outbox.clear()
        if self.state is ConnState.QUITTING:
            self.state = ConnState.DISCONNECTED
            return
        for buf in self.buffers.values():
            if buf.kind == "channel":
                buf.joined = False
                buf.members.clear()
            if buf.pending:
                count = len(buf.pending)
                buf.pending.clear()
                self.error(f"{count} message(s) above were not confirmed by the server", now, buf)
        if retry_in is None:
            self.state = ConnState.DISCONNECTED
            self.retry_at = None
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

    def quitting(self, message: str) -> None:
        if self.state in (ConnState.CONNECTED, ConnState.REGISTERING):
            self.send("QUIT", message)
        self.state = ConnState.QUITTING

    # -------------------------------------------------------------------- lag

    def send_ping(self, now: float, token: str | None = None) -> str:
        """Send a PING; its PONG measures lag (or, with a token, acknowledges what came before)."""
        if token is None:
            self._ping_counter += 1
            token = f"lag{self._ping_counter}"
            self._ping_token = token
            self._ping_sent = now
        self.send("PING", token)
        return token

    @property
    def ping_outstanding(self) -> bool:
        """A lag PING is waiting for its PONG (no new one is sent meanwhile)."""
        return self._ping_token is not None

    def ping_overdue(self, now: float, timeout: float) -> bool:
        return self._ping_token is not None and now - self._ping_sent > timeout

    # ------------------------------------------------------------------ input

    def receive(self, line: str, now: float) -> Message | None:
        """Handle one line from the server (no CR/LF)."""
        try:
            msg = parse(line)
        except ProtocolError:
            self.error(f"Unparsable line from server: {line[:200]}", now, self.server_buffer)
            return None
        when = now
        if "time" in msg.tags and msg.command != "PONG":  # lag is measured on our own clock
            when = parse_server_time(msg.tags["time"]) or now
        ref = msg.tags.get("batch", "")
        batch = self._batches.get(ref)
        self._in_history = batch is not None and batch.kind in HISTORY_BATCHES
        self._collect = batch.collect if batch is not None else None
        label = msg.tags.get("label", "")
        self._label = self._labels.get(label or self._batch_label(ref))
        try:
            handler = getattr(self, f"_on_{msg.command.lower()}", None)
            if handler is not None:
                handler(msg, when)
            elif msg.command.isdigit():
                self._on_numeric(msg, when)
            else:
                self.info(" ".join(msg.params), when, self.server_buffer)
        finally:
            self._in_history = False
            self._collect = None
            self._label = None
            if label and msg.command != "BATCH":  # a one-line answer (or ACK: none at all)
                self._finish_label(label, now, empty=msg.command == "ACK")
        return msg

    def _batch_label(self, ref: str) -> str:
        """The label of the labeled-response batch that a batch is (or is nested in)."""
        for _ in range(8):  # nesting is shallow; a batch naming itself as parent ends here
            batch = self._batches.get(ref)
            if batch is None:
                return ""
            if batch.label:
                return batch.label
            ref = batch.parent
        return ""

    def _on_batch(self, msg: Message, now: float) -> None:
        ref = msg.param(0)
        if ref.startswith("+") and len(ref) > 1:
            batch = _Batch(msg.param(1), msg.tags.get("batch", ""), msg.tags.get("label", ""))
            if batch.kind in HISTORY_BATCHES:
                batch.collect = self._history_collect(msg.param(2))
            self._batches[ref[1:]] = batch
            if len(self._batches) > MAX_BATCHES:
                self._batches.pop(next(iter(self._batches)))
        elif ref.startswith("-"):
            ended = self._batches.pop(ref[1:], None)
            if ended is not None and ended.collect is not None:
                self._place_history(ended.collect, now)
            if ended is not None and ended.label:
                self._finish_label(ended.label, now)

    def _history_collect(self, target: str) -> _Collect | None:
        """Where the lines of a history batch that starts now will go. With a label, the
        request it answers says; without, a BEFORE in flight for that buffer takes it, else it
        is the history up to the join (requested, or replayed by the server on its own)."""
        label = self._label
        if label is not None and label.purpose in (LATEST, BEFORE):
            buf = self.buffers.get(label.key)
            older = label.purpose == BEFORE
        else:
            buf = self.get_buffer(target) if target else None
            older = buf is not None and buf.key in self._older_wanted
            if buf is not None and not older and buf.join_seq is None:
                return None  # not expected (a /quote): shown as it comes, marked as history
        return _Collect(buf, older) if buf is not None else None

    def _place_history(self, collect: _Collect, now: float) -> None:
        """A history batch ended: put its lines where they belong."""
        buf = collect.buf
        entries = collect.entries
        if collect.older:
            self._older_wanted.discard(buf.key)
            if not entries or buf.prepend(entries) < len(entries):
                buf.history_complete = True  # an empty page: nothing older to fetch
            return
        self._latest_wanted.discard(buf.key)
        if collect.count == 0:
            buf.history_complete = True
        point = buf.join_seq if buf.join_seq is not None else buf.next_seq
        buf.join_seq = None
        if not entries:
            return
        index = point - buf.lines[0].seq if buf.lines else -1
        when = buf.lines[index].time if 0 <= index < len(buf.lines) else entries[-1][0]
        entries = [*entries, (when, Kind.DIVIDER, "new messages", {})]
        point = buf.insert_before(point, entries)
        for label in self._labels.values():
            if label.key == buf.key and 0 <= label.seq < point:
                label.seq -= len(entries)
        for listener in self.renumber_listeners:
            listener(buf, point, len(entries))

    def _finish_label(self, name: str, now: float, empty: bool = False) -> None:
        """The whole answer to a labeled request has been handled (`empty`: it was an ACK)."""
        label = self._labels.pop(name, None)
        if label is None:
            return
        buf = self.buffers.get(label.key)
        if label.purpose == MESSAGE:
            if buf is not None and label.seq in buf.pending:
                buf.fail(label.seq)  # answered, but not with its echo: an error said why
        elif label.purpose in (LATEST, BEFORE):
            # Normally the history batch has already been placed; this covers an answer
            # without one (FAIL, or ACK from a server that sends no empty batch).
            newer = (x for x in self._labels.values() if x.key == label.key)
            if any(x.purpose == label.purpose for x in newer):
                return  # a newer request for the same buffer is in flight
            (self._latest_wanted if label.purpose == LATEST else self._older_wanted).discard(
                label.key
            )
            if buf is not None and empty:
                if label.purpose == BEFORE:
                    buf.history_complete = True
                else:
                    buf.join_seq = None

    def _on_ack(self, msg: Message, now: float) -> None:
        """labeled-response: the labeled command produced no answer (handled in receive)."""

    def _on_fail(self, msg: Message, now: float) -> None:
        """IRCv3 standard replies: FAIL <command> <code> [context…] :text."""
        command, code = msg.param(0), msg.param(1)
        context = msg.params[2:-1]
        if command.upper() == "CHATHISTORY" and self._label is None:
            # Unlabeled: the target in the context says which request failed, if given.
            sub = context[0].upper() if context else ""
            keys = {fold(word) for word in context[1:]}
            for wanted, name in ((self._latest_wanted, LATEST), (self._older_wanted, BEFORE)):
                if sub == name.upper() or not sub:
                    wanted.difference_update(keys & wanted if keys else set(wanted))
        where = " ".join(context)
        self.error(f"{command} failed ({code}{' ' + where if where else ''}): {_last(msg)}", now)

    def _on_warn(self, msg: Message, now: float) -> None:
        self.info(f"{msg.param(0)}: {_last(msg)}", now)

    _on_note = _on_warn

    def request_older(self, key: str) -> bool:
        """Ask the server for the page of history before the oldest line of a buffer."""
        buf = self.buffers.get(key)
        if (
            buf is None
            or buf.kind == "server"
            or CHATHISTORY_CAP not in self.caps
            or self.state is not ConnState.CONNECTED
            or buf.history_complete
            or key in self._older_wanted
            or key in self._latest_wanted  # the first page is not in yet
        ):
            return False
        oldest = next((line for line in buf.lines if line.msgid), None)
        if oldest is not None:
            point = f"msgid={oldest.msgid}"
        elif buf.lines:
            point = "timestamp=" + iso_time(buf.lines[0].time)
        else:
            point = "*"
        page = str(self.history_page)
        try:
            self._send_labeled(_Label(BEFORE, key), "CHATHISTORY", "BEFORE", buf.name, point, page)
        except ProtocolError:  # a name no request can carry (from a broken server)
            return False
        self._older_wanted.add(key)
        return True

    def loading_history(self, key: str) -> bool:
        return key in self._older_wanted or key in self._latest_wanted

    def _is_me(self, nick: str | None) -> bool:
        return nick is not None and fold(nick) == fold(self.nick)

    # ---- registration

    def _on_cap(self, msg: Message, now: float) -> None:
        sub = msg.param(1).upper()
        if sub == "LS":
            more = msg.param(2) == "*"
            caps = msg.params[3] if more else msg.param(2)
            self._cap_ls.update(c.split("=", 1)[0] for c in caps.split())
            if not more:
                self._request_caps(self._cap_ls)
        elif sub == "ACK":
            for cap in _last(msg).split():
                if cap.startswith("-"):
                    self.caps.discard(cap[1:])
                else:
                    self.caps.add(cap)
            self._end_cap()
        elif sub == "NAK":
            self._end_cap()
        elif sub == "NEW":
            new = {c.split("=", 1)[0] for c in _last(msg).split()}
            self._cap_ls |= new
            wanted = sorted((new & self.wanted_caps) - self.caps)
            if wanted:
                self.send("CAP", "REQ", " ".join(wanted))
        elif sub == "DEL":
            for cap in _last(msg).split():
                self.caps.discard(cap)
                self._cap_ls.discard(cap)

    def _request_caps(self, offered: set[str]) -> None:
        wanted = sorted(offered & self.wanted_caps)
        if "batch" not in offered and CHATHISTORY_CAP in wanted:
            wanted.remove(CHATHISTORY_CAP)  # a page of history must come in its batch
        if wanted and self._cap_negotiating:
            self.send("CAP", "REQ", " ".join(wanted))
        else:
            self._end_cap()

    def _end_cap(self) -> None:
        if self._cap_negotiating:
            self._cap_negotiating = False
            self.send("CAP", "END")

    def _on_numeric(self, msg: Message, now: float) -> None:
        handler = _NUMERIC_HANDLERS.get(msg.command)
        if handler is not None:
            handler(self, msg, now)
        elif msg.command.startswith(("4", "5")):
            self._on_error_numeric(msg, now)
        else:
            self.info(" ".join(msg.params[1:]), now, self.server_buffer)

    def _on_welcome(self, msg: Message, now: float) -> None:
        first = not self.welcomed  # the first registration joins the rooms asked for
        self.nick = msg.param(0, self.nick)
        self.registered = True
        self.welcomed = True
        self.state = ConnState.CONNECTED
        self.retry_at = None
        self._cap_negotiating = False
        self.info(_last(msg), now, self.server_buffer)
        rooms = self.autojoin if first else self._rejoin
        if not first:
            for buf in self.buffers.values():
                self.info(f"Reconnected to {self.server_label} as {self.nick}", now, buf)
        elif self.autojoin:
            self._switch_on_join.add(fold(self.autojoin[0]))
        self._reconnecting = False
        if fold(self.nick) != fold(self.wanted_nick):
            self._nick_note = (
                f"Your nick is {self.nick}: {self.wanted_nick} was taken (/nick to change it)"
            )
            self.info(self._nick_note, now, self.server_buffer)
        if self._away_reason:
            self.send("AWAY", self._away_reason)
        for room in rooms:
            key = self._channel_keys.get(fold(room))
            self.send("JOIN", room, *([key] if key else []))
        self._rejoin = []

    def _on_isupport(self, msg: Message, now: float) -> None:
        self.isupport.update(msg.params[1:-1])

    def _on_nick_unavailable(self, msg: Message, now: float) -> None:
        tried = msg.param(1, self.nick)
        if self.registered:
            self.error(f"Nick {tried} is not available: {_last(msg)}", now)
            return
        self._nick_attempt += 1
        why = "is taken" if msg.command != N.ERR_ERRONEUSNICKNAME else "is refused"
        if self._nick_attempt > MAX_NICK_ATTEMPTS:
            self.error(
                f"Nick {tried} {why}; no fallback left — choose one with /nick NEWNICK",
                now,
                self.server_buffer,
            )
            return
        new = self._fallback_nick(self._nick_attempt)
        self.nick = new
        self.send("NICK", new)
        self.info(f"Nick {tried} {why}, trying {new}", now, self.server_buffer)

    def _fallback_nick(self, attempt: int) -> str:
        """alice_, alice__, alice___, then alice4, alice5…; later ones fit even a 9-char limit."""
        limit = self.isupport.nicklen if attempt <= 5 else min(self.isupport.nicklen, 9)
        base = self.wanted_nick[:limit]
        if attempt <= 3:
            candidate = base + "_" * attempt
            if len(candidate) <= limit:
                return candidate
        suffix = str(attempt)
        return base[: limit - len(suffix)] + suffix

    def _on_motd(self, msg: Message, now: float) -> None:
        self.info(_last(msg), now, self.server_buffer)

    # ---- pings

    def _on_ping(self, msg: Message, now: float) -> None:
        self._reply("PONG", *msg.params[-1:])

    def _reply(self, command: str, *params: str) -> None:
        """An automatic answer to the server; one that cannot be serialised is dropped."""
        with contextlib.suppress(ProtocolError):
            self.send(command, *params)

    def _on_pong(self, msg: Message, now: float) -> None:
        token = _last(msg) if msg.params else ""
        self.acked.add(token)
        if token == self._ping_token:
            self.lag = max(0.0, now - self._ping_sent)
            self._ping_token = None

    def _on_error(self, msg: Message, now: float) -> None:
        if self.state is ConnState.QUITTING:
            self.info(f"Server closed the connection: {msg.param(0)}", now, self.server_buffer)
            return
        self.error(
            f"Server closed the connection: {_last(msg) if msg.params else ''}",
            now,
            self.server_buffer,
        )

    # ---- messages

    def _on_privmsg(self, msg: Message, now: float) -> None:
        self._on_message(msg, now, notice=False)

    def _on_notice(self, msg: Message, now: float) -> None:
        self._on_message(msg, now, notice=True)

    def _on_message(self, msg: Message, now: float, notice: bool) -> None:
        target, text = msg.param(0), msg.param(1)
        sender = msg.nick or ""
        own = self._is_me(sender)
        from_server = not self.registered or (msg.source and "!" not in msg.source and not own)
        if from_server and not self.is_channel(target):
            self.log(self.server_buffer, now, Kind.NOTICE, text, nick=sender or None)
            return
        if from_server and notice and self._plain_replay(target, text, now):
            return
        kind = Kind.NOTICE if notice else Kind.MESSAGE
        if text.startswith("\x01"):
            ctcp, _, arg = text.strip("\x01").partition(" ")
            if ctcp.upper() == "ACTION":
                kind, text = Kind.ACTION, arg
            else:
                self._on_ctcp(sender, ctcp.upper(), arg, notice, now)
                return
        buf = self._message_buffer(target, sender, own, notice)
        replay = self._replays.get(buf.key) if self._collect is None else None
        if replay is not None and not from_server:
            stamped = replay_stamp(text, now)  # a plain replay: "[HH:MM:SS] text"
            if stamped is not None:
                now, text = stamped
            self._collect, self._in_history = replay, True  # reset by receive()
        if self._collect is not None:
            self._collect.count += 1
        msgid = msg.tags.get("msgid", "")
        if not buf.first_sighting(msgid):
            return  # history replayed again after a reconnection: already shown
        echo = own and buf.pending and not self._in_history
        if echo and self._confirm(buf, kind, text, now, msgid):
            return
        highlight = not own and mentions(text, self.nick)
        self.log(buf, now, kind, text, nick=sender, own=own, highlight=highlight, msgid=msgid)

    def _confirm(self, buf: Buffer, kind: Kind, text: str, now: float, msgid: str) -> bool:
        """Our own message came back (echo-message): confirm the pending line it echoes,
        known by its label when there is one, else the oldest pending line with its text."""
        label = self._label
        if (
            label is not None
            and label.purpose == MESSAGE
            and label.key == buf.key
            and buf.confirm(kind, text, now, msgid, seq=label.seq) is not None
        ):
            return True
        return buf.confirm(kind, text, now, msgid) is not None

    def _plain_replay(self, target: str, text: str, now: float) -> bool:
        """chatd's replay on JOIN to a client without batch/server-time is framed by two
        NOTICEs; the lines between them are history, placed like a chathistory batch."""
        buf = self.get_buffer(target)
        if buf is None:
            return False
        if text.startswith(REPLAY_START) and buf.join_seq is not None:
            self._replays[buf.key] = _Collect(buf, older=False)
            return True
        replay = self._replays.pop(buf.key, None) if text == REPLAY_END else None
        if replay is not None:
            self._place_history(replay, now)
            return True
        return False

    def _message_buffer(self, target: str, sender: str, own: bool, notice: bool) -> Buffer:
        if self.is_channel(target.lstrip(self.isupport.prefix_chars)):
            return self.channel_buffer(target.lstrip(self.isupport.prefix_chars))
        peer = target if own else sender
        if notice and self.get_buffer(peer) is None:
            return self.current_buffer
        return self.query_buffer(peer)

    def _on_ctcp(self, sender: str, ctcp: str, arg: str, reply: bool, now: float) -> None:
        if reply:
            self.info(f"CTCP {ctcp} reply from {sender}: {arg}", now)
            return
        if ctcp == "VERSION":
            self._reply("NOTICE", sender, "\x01VERSION chatd chat-client\x01")
        elif ctcp == "PING":
            self._reply("NOTICE", sender, f"\x01PING {arg}\x01")
        self.info(f"CTCP {ctcp} from {sender}", now, self.server_buffer)

    # ---- membership

    def _on_join(self, msg: Message, now: float) -> None:
        channel, nick = msg.param(0), msg.nick or ""
        if self._is_me(nick):
            buf = self.channel_buffer(channel)
            buf.name = channel
            buf.joined = True
            buf.members.clear()
            line = self.log(buf, now, Kind.JOIN, f"You joined {channel}", nick=nick, own=True)
            buf.join_seq = line.seq  # history before the join goes in above this line
            if self._nick_note:
                self.info(self._nick_note, now, buf)
                self._nick_note = ""
            if buf.key in self._switch_on_join:
                self._switch_on_join.discard(buf.key)
                self.switch(buf.key)
            if CHATHISTORY_CAP in self.caps:
                page = str(self.history_page)
                try:
                    self._send_labeled(
                        _Label(LATEST, buf.key), "CHATHISTORY", "LATEST", channel, "*", page
                    )
                    self._latest_wanted.add(buf.key)
                except ProtocolError:  # a name no request can carry (from a broken server)
                    buf.join_seq = None
            return
        room = self.get_buffer(channel)
        if room is None:
            return
        room.members[fold(nick)] = Member(nick)
        self.log(
            room, now, Kind.JOIN, f"{nick} ({_userhost(msg.source)}) joined {channel}", nick=nick
        )

    def _on_part(self, msg: Message, now: float) -> None:
        channel, nick = msg.param(0), msg.nick or ""
        buf = self.get_buffer(channel)
        if buf is None:
            return
        reason = f" ({msg.param(1)})" if msg.param(1) else ""
        if self._is_me(nick):
            buf.joined = False
            buf.members.clear()
            self.log(buf, now, Kind.PART, f"You left {channel}{reason}", nick=nick, own=True)
            return
        buf.members.pop(fold(nick), None)
        self.log(buf, now, Kind.PART, f"{nick} left {channel}{reason}", nick=nick)

    def _on_kick(self, msg: Message, now: float) -> None:
        channel, victim = msg.param(0), msg.param(1)
        buf = self.get_buffer(channel)
        if buf is None:
            return
        reason = msg.param(2)
        if self._is_me(victim):
            buf.joined = False
            buf.members.clear()
            self.log(
                buf, now, Kind.ERROR, f"You were kicked from {channel} by {msg.nick} ({reason})"
            )
        else:
            buf.members.pop(fold(victim), None)
            self.log(
                buf, now, Kind.PART, f"{victim} was kicked by {msg.nick} ({reason})", nick=victim
            )

    def _on_quit(self, msg: Message, now: float) -> None:
        nick = msg.nick or ""
        reason = msg.param(0)
        key = fold(nick)
        for buf in self.buffers.values():
            if key in buf.members or (buf.kind == "query" and buf.key == key):
                buf.members.pop(key, None)
                self.log(buf, now, Kind.QUIT, f"{nick} quit ({reason})", nick=nick)

    def _on_nick(self, msg: Message, now: float) -> None:
        old, new = msg.nick or "", msg.param(0)
        own = self._is_me(old)
        if own:
            self.nick = new
            self.wanted_nick = new
            self.log(self.server_buffer, now, Kind.NICK, f"You are now known as {new}", own=True)
        old_key, new_key = fold(old), fold(new)
        for buf in list(self.buffers.values()):
            if old_key in buf.members:
                member = buf.members.pop(old_key)
                member.nick = new
                buf.members[new_key] = member
                text = f"You are now known as {new}" if own else f"{old} is now known as {new}"
                self.log(buf, now, Kind.NICK, text, nick=new, own=own)
        query = self.buffers.get(old_key)
        if query is not None and query.kind == "query" and not own:
            self._rename_buffer(query, new)
            self.log(query, now, Kind.NICK, f"{old} is now known as {new}", nick=new)

    def _rename_buffer(self, buf: Buffer, new: str) -> None:
        old_key = buf.key
        items = [(k, b) for k, b in self.buffers.items()]
        buf.name = new
        self.buffers = {(buf.key if k == old_key else k): b for k, b in items}
        if self.current == old_key:
            self.current = buf.key

    def _on_invite(self, msg: Message, now: float) -> None:
        channel = msg.param(1)
        self.info(f"{msg.nick} invites you to {channel} (/join {channel})", now)

    def _on_away(self, msg: Message, now: float) -> None:
        key = fold(msg.nick or "")
        for buf in self.buffers.values():
            member = buf.members.get(key)
            if member is not None:
                member.away = bool(msg.params)

    def _on_topic(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(0))
        if buf is None:
            return
        buf.topic = msg.param(1)
        who = "You" if self._is_me(msg.nick) else msg.nick
        if buf.topic:
            self.log(buf, now, Kind.TOPIC, f"{who} set the topic: {buf.topic}", nick=msg.nick)
        else:
            self.log(buf, now, Kind.TOPIC, f"{who} cleared the topic", nick=msg.nick)

    def _on_mode(self, msg: Message, now: float) -> None:
        target = msg.param(0)
        buf = self.get_buffer(target) if self.is_channel(target) else None
        text = f"{msg.nick} sets mode {' '.join(msg.params[1:])}"
        if buf is None:
            self.log(self.server_buffer, now, Kind.MODE, text)
            return
        self._apply_channel_modes(buf, msg.params[1:])
        self.log(buf, now, Kind.MODE, text, nick=msg.nick)

    def _apply_channel_modes(self, buf: Buffer, params: list[str]) -> None:
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

    # ---- numerics with state

    def _on_topic_reply(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(1))
        if buf is not None:
            buf.topic = _last(msg)
            self.log(buf, now, Kind.TOPIC, f"Topic: {buf.topic}")

    def _on_notopic(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(1))
        if buf is not None:
            buf.topic = ""
            self.log(buf, now, Kind.TOPIC, "No topic is set")

    def _on_topicwhotime(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(1))
        if buf is not None and len(msg.params) >= 4:
            when = msg.param(3)
            stamp = (
                datetime.fromtimestamp(int(when)).strftime("%Y-%m-%d %H:%M")
                if when.isdigit()
                else when
            )
            setter = msg.param(2).split("!", 1)[0]
            self.log(buf, now, Kind.TOPIC, f"Topic set by {setter} on {stamp}")

    def _on_namreply(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(2))
        if buf is None or not buf.joined:
            self.info(f"Names in {msg.param(2)}: {_last(msg)}", now)
            return
        if buf._names_pending is None:
            buf._names_pending = {}
        for entry in _last(msg).split():
            member = self._parse_name(entry)
            buf._names_pending[fold(member.nick)] = member

    def _parse_name(self, entry: str) -> Member:
        i = 0
        while i < len(entry) and entry[i] in self.isupport.prefix_chars:
            i += 1
        nick = entry[i:].split("!", 1)[0]
        member = Member(nick)
        for char in entry[:i]:
            self._set_prefix(member, char, True)
        return member

    def _on_endofnames(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(1))
        if buf is None or buf._names_pending is None:
            return
        buf.members = buf._names_pending
        buf._names_pending = None
        shown = sorted(buf.members.values(), key=lambda m: self.member_sort_key(m))
        names = " ".join(m.prefixes[:1] + m.nick for m in shown)
        count = f"{len(shown)} user" + ("" if len(shown) == 1 else "s")
        self.log(buf, now, Kind.INFO, f"{count} in {buf.name}: {names}")

    def member_sort_key(self, member: Member) -> tuple[int, str]:
        chars = self.isupport.prefix_chars
        rank = (
            chars.index(member.prefixes[0])
            if member.prefixes and member.prefixes[0] in chars
            else len(chars)
        )
        return rank, fold(member.nick)

    def _on_channelmodeis(self, msg: Message, now: float) -> None:
        buf = self.get_buffer(msg.param(1))
        if buf is not None:
            buf.modes = ""
            self._apply_channel_modes(buf, msg.params[2:])
            self.log(buf, now, Kind.MODE, f"Modes: {' '.join(msg.params[2:])}")

    def _on_reply_to_current(self, msg: Message, now: float) -> None:
        self.info(" ".join(msg.params[1:]), now)

    def _on_whoisuser(self, msg: Message, now: float) -> None:
        nick, user, host, real = msg.param(1), msg.param(2), msg.param(3), _last(msg)
        self.info(f"{nick} is {user}@{host} ({real})", now)

    def _on_whois_line(self, msg: Message, now: float) -> None:
        self.info(f"{msg.param(1)}: {' '.join(msg.params[2:])}", now)

    def _on_whoisidle(self, msg: Message, now: float) -> None:
        idle, signon = msg.param(2), msg.param(3)
        text = (
            f"{msg.param(1)}: idle {idle} s"
            if idle.isdigit()
            else f"{msg.param(1)}: {' '.join(msg.params[2:])}"
        )
        if signon.isdigit():
            text += f", signed on {datetime.fromtimestamp(int(signon)).strftime('%Y-%m-%d %H:%M')}"
        self.info(text, now)

    def _on_list(self, msg: Message, now: float) -> None:
        self.info(f"{msg.param(1):<20} {msg.param(2):>4}  {_last(msg)}", now)

    def _on_nowaway(self, msg: Message, now: float) -> None:
        self.away = msg.command == N.RPL_NOWAWAY
        self.info(_last(msg), now)

    def _on_error_numeric(self, msg: Message, now: float) -> None:
        if msg.command == N.ERR_UNKNOWNCOMMAND and msg.param(1).upper() == "CAP":
            self._cap_negotiating = False  # a server without CAP: nothing to end
            return
        subject = " ".join(msg.params[1:-1])
        text = f"{subject}: {_last(msg)}" if subject else _last(msg)
        buf = self.get_buffer(msg.param(1)) if self.is_channel(msg.param(1)) else None
        self.error(text, now, buf)

    def _on_whoreply(self, msg: Message, now: float) -> None:
        p = msg.params
        if len(p) >= 8:
            self.info(f"{p[1]} {p[5]} {p[6]} {p[2]}@{p[3]} {p[7]}", now)

    # ------------------------------------------------------- user intentions

    def say(self, target: str, text: str, now: float, action: bool = False) -> None:
        """Send text to a room or nick; logged locally unless echo-message will echo it."""
        text = text.replace("\0", "").replace("\r", "").replace("\n", " ")
        budget = _MAX_LINE - _RELAY_OVERHEAD - len(target.encode()) - (9 if action else 0)
        buf = self.channel_buffer(target) if self.is_channel(target) else self.query_buffer(target)
        for piece in split_text(text, budget):
            payload = f"\x01ACTION {piece}\x01" if action else piece
            label = self._send_labeled(_Label(MESSAGE, buf.key), "PRIVMSG", target, payload)
            kind = Kind.ACTION if action else Kind.MESSAGE
            if "echo-message" in self.caps:
                # Shown at once, marked pending until the server echoes it back (matched by
                # its label with labeled-response, else by its text).
                line = self.log(buf, now, kind, piece, nick=self.nick, own=True, pending=True)
                buf.pending.append(line.seq)
                label.seq = line.seq
            else:
                self.log(buf, now, kind, piece, nick=self.nick, own=True)

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

    def open_query(self, nick: str) -> Buffer:
        buf = self.query_buffer(nick)
        self.switch(buf.key)
        return buf

    def change_nick(self, nick: str, now: float) -> None:
        self.wanted_nick = nick
        if self.state in (ConnState.CONNECTED, ConnState.REGISTERING):
            if not self.registered:
                self.nick = nick
            self.send("NICK", nick)
        else:
            self.nick = nick
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


def _last(msg: Message) -> str:
    """The last parameter (usually the human text), or "" for a message without any."""
    return msg.params[-1] if msg.params else ""


def _userhost(source: str | None) -> str:
    if not source or "!" not in source:
        return source or ""
    return source.split("!", 1)[1]


_NUMERIC_HANDLERS: dict[str, Callable[[Session, Message, float], None]] = {
    N.RPL_WELCOME: Session._on_welcome,
    N.RPL_ISUPPORT: Session._on_isupport,
    N.ERR_NICKNAMEINUSE: Session._on_nick_unavailable,
    N.ERR_ERRONEUSNICKNAME: Session._on_nick_unavailable,
    "437": Session._on_nick_unavailable,  # ERR_UNAVAILRESOURCE
    N.RPL_MOTDSTART: Session._on_motd,
    N.RPL_MOTD: Session._on_motd,
    N.RPL_ENDOFMOTD: Session._on_motd,
    N.ERR_NOMOTD: Session._on_motd,
    N.RPL_TOPIC: Session._on_topic_reply,
    N.RPL_NOTOPIC: Session._on_notopic,
    N.RPL_TOPICWHOTIME: Session._on_topicwhotime,
    N.RPL_NAMREPLY: Session._on_namreply,
    N.RPL_ENDOFNAMES: Session._on_endofnames,
    N.RPL_CHANNELMODEIS: Session._on_channelmodeis,
    N.RPL_CREATIONTIME: lambda s, m, n: None,
    N.RPL_WHOISUSER: Session._on_whoisuser,
    N.RPL_WHOISSERVER: Session._on_whois_line,
    N.RPL_WHOISIDLE: Session._on_whoisidle,
    N.RPL_WHOISCHANNELS: Session._on_whois_line,
    N.RPL_WHOISOPERATOR: Session._on_whois_line,
    N.RPL_WHOISHOST: Session._on_whois_line,
    "330": Session._on_whois_line,  # RPL_WHOISACCOUNT
    "671": Session._on_whois_line,  # RPL_WHOISSECURE
    N.RPL_ENDOFWHOIS: Session._on_whois_line,
    N.RPL_AWAY: Session._on_whois_line,
    N.RPL_UNAWAY: Session._on_nowaway,
    N.RPL_NOWAWAY: Session._on_nowaway,
    N.RPL_LISTSTART: lambda s, m, n: s.info("Channel              Users  Topic", n),
    N.RPL_LIST: Session._on_list,
    N.RPL_LISTEND: Session._on_reply_to_current,
    N.RPL_WHOREPLY: Session._on_whoreply,
    N.RPL_ENDOFWHO: Session._on_reply_to_current,
    N.RPL_INVITING: Session._on_reply_to_current,
}
