"""The data a client session keeps and the view reads: buffers with their bounded logs,
log lines, members, the server's ISUPPORT, and small pure helpers about text.

Nothing here does I/O or knows the protocol flow; Session (session.py) drives it.
"""

from __future__ import annotations

import enum
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from chatd.proto.casemap import fold

MAX_LOG_LINES = 2000
SERVER_KEY = ""  # the buffer key of the server buffer


class ConnState(enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    REGISTERING = "registering"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    QUITTING = "quitting"


class Kind(enum.Enum):
    """What a log line is; the view picks a look for each."""

    MESSAGE = "message"
    ACTION = "action"
    NOTICE = "notice"
    JOIN = "join"
    PART = "part"
    QUIT = "quit"
    NICK = "nick"
    TOPIC = "topic"
    MODE = "mode"
    INFO = "info"
    ERROR = "error"
    DIVIDER = "divider"  # "— new messages —": where the history fetched on joining ends


QUIET_KINDS = frozenset({Kind.JOIN, Kind.PART, Kind.QUIT, Kind.NICK, Kind.MODE})
TALK_KINDS = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.NOTICE})


@dataclass(frozen=True)
class LogLine:
    seq: int
    time: float
    kind: Kind
    text: str
    nick: str | None = None
    own: bool = False
    highlight: bool = False
    history: bool = False  # replayed from the server's history (a chathistory batch)
    pending: bool = False  # sent, waiting for the server's echo (echo-message)
    msgid: str = ""  # the server's id for it (message-tags), a reference for older history
    failed: bool = False  # sent, but the server answered with an error instead of the echo
    redacted: bool = False  # deleted by its sender or an operator (draft/message-redaction)


# A line kept aside before it goes into a buffer: (time, kind, text, LogLine fields).
Entry = tuple[float, Kind, str, dict[str, object]]


@dataclass
class Member:
    nick: str
    prefixes: str = ""  # mode prefixes held, highest first, e.g. "@+"
    away: bool = False
    userhost: str = ""  # user@host when the server told us (JOIN, userhost-in-names)


class Buffer:
    """One window of conversation: the server buffer, a room, or a private query."""

    def __init__(self, name: str, kind: str, max_lines: int = MAX_LOG_LINES) -> None:
        self.name = name
        self.kind = kind  # "server" | "channel" | "query"
        self.lines: deque[LogLine] = deque(maxlen=max_lines)
        self.next_seq = 0
        self.members: dict[str, Member] = {}
        self.topic = ""
        self.modes = ""
        self.unread = 0
        self.mentioned = False
        self.joined = False
        self.modes_known = False  # the server answered our MODE query since the last join
        self.history_complete = False  # the server has nothing older to give
        # The seq of our own "You joined" line while the history before it is still to come:
        # that history goes in just before it, followed by a "new messages" divider.
        self.join_seq: int | None = None
        self._names_pending: dict[str, Member] | None = None
        self._msgids: set[str] = set()
        self._msgid_order: deque[str] = deque()
        self.pending: deque[int] = deque()  # seqs of own lines waiting for their echo
        # draft/read-marker: the time up to which the user has read this buffer, as the server
        # keeps it for all their clients (None: unknown), and the last time we sent.
        self.read_marker: float | None = None
        self.marker_sent = 0.0
        self.marker_sent_at = float("-inf")

    def _index(self, seq: int) -> int:
        """The position of the line with this seq, or -1 when it is not (or no longer) here."""
        index = seq - self.lines[0].seq if self.lines else -1
        return index if 0 <= index < len(self.lines) else -1

    def confirm(
        self, kind: Kind, text: str, time: float, msgid: str = "", seq: int | None = None
    ) -> LogLine | None:
        """The echo of one of our pending lines arrived: mark it sent, with the server's time
        and msgid. The line is the one with `seq` (known from a label), else the oldest
        pending line of that kind and text."""
        for candidate in list(self.pending) if seq is None else [seq]:
            index = self._index(candidate) if candidate in self.pending else -1
            if index < 0:
                continue
            line = self.lines[index]
            if seq is None and (line.kind is not kind or line.text != text):
                continue
            self.pending.remove(candidate)
            confirmed = replace(line, time=time, pending=False, msgid=msgid or line.msgid)
            self.lines[index] = confirmed
            return confirmed
        return None

    def fail(self, seq: int) -> None:
        """One of our pending lines was answered with an error: it will never be echoed."""
        if seq in self.pending:
            self.pending.remove(seq)
            index = self._index(seq)
            if index >= 0:
                self.lines[index] = replace(self.lines[index], pending=False, failed=True)

    def first_sighting(self, msgid: str) -> bool:
        """False for a message id this buffer has already shown (bounded memory). A line of a
        multiline message that chatd's history keeps apart (`<msgid>/<n>`) has been shown with
        its message."""
        if not msgid:
            return True
        if msgid in self._msgids or continuation_of(msgid) in self._msgids:
            return False
        self._msgids.add(msgid)
        self._msgid_order.append(msgid)
        if len(self._msgid_order) > MAX_LOG_LINES:
            self._msgids.discard(self._msgid_order.popleft())
        return True

    def redact(self, msgid: str, text: str) -> LogLine | None:
        """The message with this id was deleted: it now says so (`text`), in place."""
        for index in range(len(self.lines) - 1, -1, -1):
            line = self.lines[index]
            if line.msgid == msgid and line.kind in TALK_KINDS:
                redacted = replace(line, text=text, redacted=True, highlight=False)
                self.lines[index] = redacted
                return redacted
        return None

    def last_read_time(self) -> float | None:
        """The time of the newest message here the server knows of (for MARKREAD): not one
        of ours still waiting for its echo, nor one that failed."""
        for line in reversed(self.lines):
            if line.kind in TALK_KINDS and not line.pending and not line.failed:
                return line.time
        return None

    @property
    def key(self) -> str:
        return SERVER_KEY if self.kind == "server" else fold(self.name)

    def add(self, time: float, kind: Kind, text: str, **kw: object) -> LogLine:
        line = LogLine(self.next_seq, time, kind, text, **kw)  # type: ignore[arg-type]
        self.next_seq += 1
        self.lines.append(line)
        return line

    def prepend(self, entries: list[Entry]) -> int:
        """Put older lines (oldest first) before the current ones, as far as the bound allows.
        Their seqs count down from the first line's, so scroll anchors stay valid."""
        room = (self.lines.maxlen or len(entries)) - len(self.lines)
        if room <= 0:
            return 0
        entries = entries[-room:]
        seq = self.lines[0].seq if self.lines else self.next_seq
        for time, kind, text, kw in reversed(entries):
            seq -= 1
            self.lines.appendleft(LogLine(seq, time, kind, text, **kw))  # type: ignore[arg-type]
        return len(entries)

    def insert_before(self, seq: int, entries: list[Entry]) -> int:
        """Put lines (oldest first) just before the line `seq` (at the end if it is gone).
        The lines before that point move down: their seqs decrease by len(entries), while
        that line and the ones after it keep theirs, so what is live stays where it is.
        Returns the seq of that point; the bound drops the oldest lines if need be."""
        lines = list(self.lines)
        first = lines[0].seq if lines else self.next_seq
        index = min(max(seq - first, 0), len(lines))
        shift = len(entries)
        point = lines[index].seq if index < len(lines) else self.next_seq
        moved = [replace(line, seq=line.seq - shift) for line in lines[:index]]
        added = [
            LogLine(point - shift + i, time, kind, text, **kw)  # type: ignore[arg-type]
            for i, (time, kind, text, kw) in enumerate(entries)
        ]
        self.lines = deque(moved + added + lines[index:], maxlen=self.lines.maxlen)
        self.pending = deque(s - shift if s < point else s for s in self.pending)
        return point

    def clear(self) -> None:
        self.lines.clear()

    def member(self, nick: str) -> Member | None:
        return self.members.get(fold(nick))

    def nicks(self) -> list[str]:
        return [m.nick for m in self.members.values()]

    def __repr__(self) -> str:
        return f"Buffer({self.name!r}, {self.kind!r})"


@dataclass
class ISupport:
    prefix_modes: str = "ov"
    prefix_chars: str = "@+"
    chantypes: str = "#&"
    nicklen: int = 30
    network: str = ""
    chanmodes: tuple[str, str, str, str] = ("beI", "k", "l", "imnpst")
    raw: dict[str, str] = field(default_factory=dict)

    def update(self, tokens: Iterable[str]) -> None:
        for token in tokens:
            key, _, value = token.partition("=")
            self.raw[key] = value
            if key == "PREFIX" and value.startswith("("):
                modes, _, chars = value[1:].partition(")")
                if len(modes) == len(chars):
                    self.prefix_modes, self.prefix_chars = modes, chars
            elif key == "CHANTYPES" and value:
                self.chantypes = value
            elif key == "NICKLEN" and value.isdigit():
                self.nicklen = int(value)
            elif key == "NETWORK":
                self.network = value
            elif key == "CHANMODES":
                parts = value.split(",")
                if len(parts) >= 4:
                    self.chanmodes = (parts[0], parts[1], parts[2], parts[3])


def parse_server_time(value: str) -> float | None:
    """An IRCv3 `time` tag ('2026-01-02T03:04:05.678Z') as epoch seconds."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


_REPLAY_STAMP = re.compile(r"\[(?:(\d{4}-\d\d-\d\d) )?(\d\d:\d\d:\d\d)\] ")


def replay_stamp(text: str, now: float) -> tuple[float, str] | None:
    """A line of a plain replay (a server replaying history to a client without batch or
    server-time, as chatd does): "[HH:MM:SS] text" (today) or "[YYYY-MM-DD HH:MM:SS] text",
    in UTC. Returns the original time and the text without its stamp."""
    match = _REPLAY_STAMP.match(text)
    if match is None:
        return None
    day = match.group(1) or datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
    try:
        moment = datetime.fromisoformat(f"{day}T{match.group(2)}+00:00")
    except ValueError:
        return None
    return moment.timestamp(), text[match.end() :]


def iso_time(stamp: float) -> str:
    """Epoch seconds as an IRCv3 timestamp ('2026-01-02T03:04:05.678Z')."""
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


_WORD_EDGE = r"\w\[\]\\`^{|}-"


def mentions(text: str, nick: str, words: Iterable[str] = ()) -> bool:
    """Whether text names nick, or one of the highlight words, as a word (case-insensitively,
    IRC casemapping)."""
    folded = fold(text)
    for word in (nick, *words):
        if not word:
            continue
        pattern = rf"(?<![{_WORD_EDGE}])" + re.escape(fold(word)) + rf"(?![{_WORD_EDGE}])"
        if re.search(pattern, folded) is not None:
            return True
    return False


def split_text(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` UTF-8 bytes, at spaces where possible."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = _byte_cut(text, limit)
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space
        pieces.append(text[:cut])
        text = text[cut:].lstrip(" ") if text[cut : cut + 1] == " " else text[cut:]
    pieces.append(text)
    return pieces


def split_exact(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` UTF-8 bytes whose concatenation is the text
    (a space at a cut stays at the end of its piece): for lines joined again by the receiver."""
    pieces: list[str] = []
    while len(text.encode()) > limit:
        cut = _byte_cut(text, limit)
        space = text.rfind(" ", 0, cut)
        if space > cut // 2:
            cut = space + 1
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


_CONTINUATION = re.compile(r"(.+)/\d+")


def continuation_of(msgid: str) -> str:
    """chatd keeps line n of a multiline message `m` in its history as `m/n`: for such an id,
    the id of its message ("" for any other)."""
    match = _CONTINUATION.fullmatch(msgid)
    return match.group(1) if match is not None else ""


def _byte_cut(text: str, limit: int) -> int:
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode())
        if size > limit:
            return max(i, 1)
    return len(text)
