"""History and labeled-response routing for one connection, sans-IO.

Router owns the requests whose answers must be matched (labels, generated per connection and
bounded), the open BATCHes, and server history: the latest page asked for on joining a room or
opening a private buffer, older pages asked for when the user scrolls to the top, the private
conversations listed by TARGETS, chatd's plain replay on JOIN, collecting each batch aside and
placing it when it ends (above the join with a "new messages" divider, put after what the
read marker says was read, or on top of the buffer). It collects the lines of a received
draft/multiline batch, which the session then handles as one message. While one line is
handled, it says where that line's output goes: into a history batch being collected, or (an
answer to a labeled request) into the buffer the request was made in.

It does not parse or interpret lines (the session's handlers do) and does no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chatd.proto.casemap import fold
from chatd.proto.errors import ProtocolError
from chatd.proto.message import Message

from . import multiline
from .buffers import BufferList
from .model import SERVER_KEY, TALK_KINDS, Buffer, Entry, Kind, LogLine, continuation_of, iso_time

HISTORY_BATCHES = frozenset({"chathistory", "draft/chathistory"})
TARGETS_BATCH = "draft/chathistory-targets"
CHATHISTORY_CAP = "draft/chathistory"
LABELS_CAP = "labeled-response"
MAX_LABELS = 256  # requests whose answer is awaited; a server that never answers cannot grow it
MAX_BATCHES = 64  # open BATCHes; the oldest is forgotten past that
# What a labeled request was for (labeled-response routes its answer by this).
LATEST, BEFORE, REPLY, MESSAGE = "latest", "before", "reply", "message"
TARGETS, METADATA = "targets", "metadata"  # the private conversations; a /whois display name
# TARGETS on registering: the private conversations of the last 30 days, at most 20 of them.
TARGETS_WINDOW = 30 * 86400.0
TARGETS_LIMIT = 20
# chatd's plain replay on JOIN, for a client without batch or server-time.
REPLAY_START, REPLAY_END = "Replaying the last ", "End of replay"

Send = Callable[..., Message]
RenumberListener = Callable[[Buffer, int, int], None]


@dataclass
class Label:
    """A request sent with a `label` tag: what it was for, and where its answer belongs."""

    purpose: str  # LATEST / BEFORE (a history page), REPLY (/whois…), MESSAGE (our PRIVMSG)
    key: str  # the buffer
    seq: int = -1  # MESSAGE: the pending line waiting for its echo


@dataclass
class Collect:
    """History kept aside while its batch (or plain replay) runs, placed when it ends."""

    buf: Buffer
    older: bool  # a page before the oldest line (goes on top); else history up to the join
    entries: list[Entry] = field(default_factory=list)
    count: int = 0  # messages the server sent, including those already shown


@dataclass
class Batch:
    kind: str
    parent: str  # the batch this one is nested in ("" for none)
    label: str  # the label of a labeled-response batch
    collect: Collect | None = None
    opener: Message | None = None  # draft/multiline: its BATCH + line (source, target, tags)
    lines: list[tuple[str, bool]] = field(default_factory=list)  # draft/multiline: (text, concat)
    size: int = 0
    command: str = "PRIVMSG"  # draft/multiline: PRIVMSG or NOTICE, as its first line says

    def message(self) -> Message | None:
        """A draft/multiline batch that ended, as the one message it carries (its tags, time
        and msgid are those of its BATCH + line), or None if it carried nothing."""
        opener = self.opener
        if opener is None or not self.lines or len(opener.params) < 3:
            return None
        text = multiline.joined(self.lines)
        return Message(self.command, [opener.params[2], text], opener.source, dict(opener.tags))


class Router:
    def __init__(
        self, buffers: BufferList, send: Send, caps: set[str], history_page: int = 50
    ) -> None:
        self.buffers = buffers
        self._send = send
        self.caps = caps  # the session's acknowledged capabilities (shared, not copied)
        self.history_page = history_page
        self.renumber_listeners: list[RenumberListener] = []
        self._labels: dict[str, Label] = {}
        self._label_counter = 0
        self._batches: dict[str, Batch] = {}
        self._replays: dict[str, Collect] = {}  # plain replays running, by buffer key
        self._older_wanted: set[str] = set()  # buffer keys with a BEFORE request in flight
        self._latest_wanted: set[str] = set()  # buffer keys with a LATEST request in flight
        self.targets_left = 0  # private buffers a TARGETS answer in flight may still open
        # About the line being handled:
        self.label: Label | None = None  # the request it answers
        self.collect: Collect | None = None  # where it goes, if aside
        self.in_history = False

    def reset(self) -> None:
        """A new connection: nothing is in flight any more."""
        self._labels.clear()
        self._batches.clear()
        self._replays.clear()
        self._older_wanted.clear()
        self._latest_wanted.clear()
        self.targets_left = 0

    def rename(self, old_key: str, new_key: str) -> None:
        """A buffer's key changed (a room renamed): what is in flight for it follows."""
        for label in self._labels.values():
            if label.key == old_key:
                label.key = new_key
        for wanted in (self._older_wanted, self._latest_wanted):
            if old_key in wanted:
                wanted.discard(old_key)
                wanted.add(new_key)
        if old_key in self._replays:
            self._replays[new_key] = self._replays.pop(old_key)

    # ---- one line

    def begin(self, msg: Message) -> None:
        ref = msg.tags.get("batch", "")
        batch = self._batches.get(ref)
        self.in_history = batch is not None and batch.kind in HISTORY_BATCHES
        self.collect = batch.collect if batch is not None else None
        label = msg.tags.get("label", "")
        self.label = self._labels.get(label or self._batch_label(ref))

    def end(self, msg: Message) -> None:
        self.in_history = False
        self.collect = None
        self.label = None
        label = msg.tags.get("label", "")
        if label and msg.command != "BATCH":  # a one-line answer (or ACK: none at all)
            self.finish_label(label, empty=msg.command == "ACK")

    def absorb(self, msg: Message) -> bool:
        """A line inside a draft/multiline batch: kept for the message it belongs to (True)."""
        ref = msg.tags.get("batch", "")
        batch = self._batches.get(ref) if ref else None
        if batch is None or batch.opener is None:
            return False
        if msg.command in ("PRIVMSG", "NOTICE") and len(msg.params) >= 2:
            text = msg.params[1]
            size = batch.size + len(text.encode()) + 1
            room = len(batch.lines) < multiline.MAX_RECEIVED_LINES
            if room and size <= multiline.MAX_RECEIVED_BYTES:
                if not batch.lines:
                    batch.command = msg.command
                batch.lines.append((text, multiline.CONCAT in msg.tags and bool(batch.lines)))
                batch.size = size
        return True  # anything else inside it is not the client's to act on either

    def merge(self, buf: Buffer, msgid: str, nick: str, text: str) -> bool:
        """chatd's history keeps the lines of a multiline message apart (`m`, `m/1`, `m/2`…):
        a continuation joins the line of its message being collected (True)."""
        base = continuation_of(msgid)
        collect = self.collect
        if not base or collect is None or collect.buf is not buf or not collect.entries:
            return False
        when, kind, first, kw = collect.entries[-1]
        if kw.get("msgid") != base or kw.get("nick") != nick:
            return False
        collect.entries[-1] = (when, kind, first + "\n" + text, kw)
        buf.first_sighting(msgid)
        return True

    def aside(self, buf: Buffer, now: float, kind: Kind, text: str, kw: dict[str, object]) -> bool:
        """Keep a line for a history batch being collected for buf (True), or not (False)."""
        if self.in_history:
            kw["history"] = True
        if self.collect is not None and self.collect.buf is buf:
            self.collect.entries.append((now, kind, text, kw))
            return True
        return False

    def reply_buffer(self) -> Buffer | None:
        """While the answer to a labeled request is handled: the buffer it was made in."""
        if self.label is not None:
            return self.buffers.by_key.get(self.label.key)
        return None

    # ---- labeled requests

    def send_labeled(
        self, label: Label, command: str, *params: str, background: bool = False
    ) -> Label:
        """Send a command whose answer must be matched: with labeled-response it carries a
        `label` tag, and the answer is routed by it (without the cap it is sent plain).
        A `background` request (history) waits until no other line is queued."""
        if LABELS_CAP not in self.caps:
            self._send(command, *params, background=background)
            return label
        self._label_counter += 1
        name = f"c{self._label_counter}"
        self._send(command, *params, tags={"label": name}, background=background)
        self._labels[name] = label
        if len(self._labels) > MAX_LABELS:
            self._labels.pop(next(iter(self._labels)))
        return label

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

    def finish_label(self, name: str, empty: bool = False) -> None:
        """The whole answer to a labeled request has been handled (`empty`: it was an ACK)."""
        label = self._labels.pop(name, None)
        if label is None:
            return
        buf = self.buffers.by_key.get(label.key)
        if label.purpose == MESSAGE:
            if buf is not None and label.seq in buf.pending:
                buf.fail(label.seq)  # answered, but not with its echo: an error said why
        elif label.purpose == TARGETS:
            self.targets_left = 0
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

    # ---- batches

    def on_batch(self, msg: Message) -> Batch | None:
        """BATCH +ref opens a batch; BATCH -ref returns the one it ends, for the session to
        act on (a multiline message) before `finish_batch` places what it collected."""
        ref = msg.param(0)
        if ref.startswith("+") and len(ref) > 1:
            batch = Batch(msg.param(1), msg.tags.get("batch", ""), msg.tags.get("label", ""))
            if batch.kind in HISTORY_BATCHES:
                batch.collect = self._history_collect(msg.param(2))
            elif batch.kind == multiline.BATCH_TYPE:
                batch.opener = msg
            self._batches[ref[1:]] = batch
            if len(self._batches) > MAX_BATCHES:
                self._batches.pop(next(iter(self._batches)))
        elif ref.startswith("-"):
            return self._batches.pop(ref[1:], None)
        return None

    def finish_batch(self, ended: Batch) -> None:
        if ended.collect is not None:
            self.place(ended.collect)
        if ended.kind == TARGETS_BATCH:
            self.targets_left = 0
        if ended.label:
            self.finish_label(ended.label)

    def _history_collect(self, target: str) -> Collect | None:
        """Where the lines of a history batch that starts now will go. With a label, the
        request it answers says; without, a BEFORE in flight for that buffer takes it, else it
        is the history up to the join (requested, or replayed by the server on its own)."""
        label = self.label
        if label is not None and label.purpose in (LATEST, BEFORE):
            buf = self.buffers.by_key.get(label.key)
            older = label.purpose == BEFORE
        else:
            buf = self.buffers.get(target) if target else None
            older = buf is not None and buf.key in self._older_wanted
            if buf is not None and not older and buf.join_seq is None:
                return None  # not expected (a /quote): shown as it comes, marked as history
        return Collect(buf, older) if buf is not None else None

    # ---- history

    def place(self, collect: Collect) -> None:
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
        # The divider goes after what the user has read, as the read marker says (history
        # newer than it is unread, here as on their other clients); else above the join.
        marker = buf.read_marker
        split = len(entries)
        if marker is not None:
            split = next((i for i, e in enumerate(entries) if e[0] > marker), len(entries))
            if split < len(entries):
                when = entries[split][0]
                self._count_unread(buf, entries[split:])
        divider: Entry = (when, Kind.DIVIDER, "new messages", {})
        entries = [*entries[:split], divider, *entries[split:]]
        point = buf.insert_before(point, entries)
        for label in self._labels.values():
            if label.key == buf.key and 0 <= label.seq < point:
                label.seq -= len(entries)
        for listener in self.renumber_listeners:
            listener(buf, point, len(entries))

    def _count_unread(self, buf: Buffer, entries: list[Entry]) -> None:
        """History the read marker says is unread counts as unread, unless it is on screen."""
        if self.buffers.seen(buf):
            return
        talk = [kw for _, kind, _, kw in entries if kind in TALK_KINDS and not kw.get("own")]
        buf.unread += len(talk)
        if talk and (buf.kind == "query" or any(kw.get("highlight") for kw in talk)):
            buf.mentioned = True

    def request_latest(self, buf: Buffer) -> bool:
        """We joined buf (or opened a private buffer): ask for what was said before, placed
        above `buf.join_seq`. False when the server cannot be asked."""
        if CHATHISTORY_CAP not in self.caps:
            return False  # (a server may still replay it on its own, in a batch)
        page = str(self.history_page)
        try:
            self.send_labeled(
                Label(LATEST, buf.key),
                "CHATHISTORY",
                "LATEST",
                buf.name,
                "*",
                page,
                background=True,
            )
        except ProtocolError:  # a name no request can carry (from a broken server)
            buf.join_seq = None
            return False
        self._latest_wanted.add(buf.key)
        return True

    def request_targets(self, now: float) -> None:
        """Ask which private conversations the user had lately (their buffers are opened as
        the answer comes, the most recent first)."""
        if CHATHISTORY_CAP not in self.caps:
            return
        newest, oldest = iso_time(now), iso_time(now - TARGETS_WINDOW)
        self.send_labeled(
            Label(TARGETS, SERVER_KEY),
            "CHATHISTORY",
            "TARGETS",
            "timestamp=" + newest,
            "timestamp=" + oldest,
            str(TARGETS_LIMIT),
            background=True,
        )
        self.targets_left = TARGETS_LIMIT

    def request_older(self, key: str, connected: bool) -> bool:
        """Ask the server for the page of history before the oldest line of a buffer."""
        buf = self.buffers.by_key.get(key)
        if (
            buf is None
            or buf.kind == "server"
            or CHATHISTORY_CAP not in self.caps
            or not connected
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
            self.send_labeled(
                Label(BEFORE, key), "CHATHISTORY", "BEFORE", buf.name, point, page, background=True
            )
        except ProtocolError:  # a name no request can carry (from a broken server)
            return False
        self._older_wanted.add(key)
        return True

    def loading(self, key: str) -> bool:
        return key in self._older_wanted or key in self._latest_wanted

    def history_failed(self, msg: Message) -> None:
        """An unlabeled FAIL CHATHISTORY: the target in its context says which request."""
        context = msg.params[2:-1]
        sub = context[0].upper() if context else ""
        keys = {fold(word) for word in context[1:]}
        for wanted, name in ((self._latest_wanted, LATEST), (self._older_wanted, BEFORE)):
            if sub == name.upper() or not sub:
                wanted.difference_update(keys & wanted if keys else set(wanted))

    def plain_replay(self, buf: Buffer, text: str) -> bool:
        """chatd's replay on JOIN to a client without batch/server-time is framed by two
        NOTICEs; the lines between them are history, placed like a chathistory batch."""
        if text.startswith(REPLAY_START) and buf.join_seq is not None:
            self._replays[buf.key] = Collect(buf, older=False)
            return True
        replay = self._replays.pop(buf.key, None) if text == REPLAY_END else None
        if replay is not None:
            self.place(replay)
            return True
        return False

    def replaying(self, buf: Buffer) -> Collect | None:
        """The plain replay running for buf, when no batch is being collected."""
        return self._replays.get(buf.key) if self.collect is None else None

    def enter_replay(self, replay: Collect) -> None:
        """The line being handled belongs to a plain replay (reset at the end of the line)."""
        self.collect, self.in_history = replay, True

    def count_history(self) -> None:
        if self.collect is not None:
            self.collect.count += 1


def placeholder(now: float, kind: Kind, text: str) -> LogLine:
    """What logging returns for a line kept aside (it has no seq until placed)."""
    return LogLine(-1, now, kind, text)
