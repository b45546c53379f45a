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


@dataclass
class Member:
    nick: str
    prefixes: str = ""  # mode prefixes held, highest first, e.g. "@+"
    away: bool = False


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
        self.history_complete = False  # the server has nothing older to give
        self._names_pending: dict[str, Member] | None = None
        self._msgids: set[str] = set()
        self._msgid_order: deque[str] = deque()
        self.pending: deque[int] = deque()  # seqs of own lines waiting for their echo

    def confirm(self, kind: Kind, text: str, time: float) -> LogLine | None:
        """The echo of one of our pending lines arrived: mark it sent, with the server's time."""
        for seq in self.pending:
            index = seq - self.lines[0].seq if self.lines else -1
            if 0 <= index < len(self.lines):
                line = self.lines[index]
                if line.kind is kind and line.text == text:
                    self.pending.remove(seq)
                    confirmed = replace(line, time=time, pending=False)
                    self.lines[index] = confirmed
                    return confirmed
        return None

    def first_sighting(self, msgid: str) -> bool:
        """False for a message id this buffer has already shown (bounded memory)."""
        if not msgid:
            return True
        if msgid in self._msgids:
            return False
        self._msgids.add(msgid)
        self._msgid_order.append(msgid)
        if len(self._msgid_order) > MAX_LOG_LINES:
            self._msgids.discard(self._msgid_order.popleft())
        return True

    @property
    def key(self) -> str:
        return SERVER_KEY if self.kind == "server" else fold(self.name)

    def add(self, time: float, kind: Kind, text: str, **kw: object) -> LogLine:
        line = LogLine(self.next_seq, time, kind, text, **kw)  # type: ignore[arg-type]
        self.next_seq += 1
        self.lines.append(line)
        return line

    def prepend(self, entries: list[tuple[float, Kind, str, dict[str, object]]]) -> int:
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


def iso_time(stamp: float) -> str:
    """Epoch seconds as an IRCv3 timestamp ('2026-01-02T03:04:05.678Z')."""
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mentions(text: str, nick: str) -> bool:
    """Whether text names nick as a word (case-insensitively, IRC casemapping)."""
    if not nick:
        return False
    pattern = r"(?<![\w\[\]\\`^{|}-])" + re.escape(fold(nick)) + r"(?![\w\[\]\\`^{|}-])"
    return re.search(pattern, fold(text)) is not None


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


def _byte_cut(text: str, limit: int) -> int:
    size = 0
    for i, ch in enumerate(text):
        size += len(ch.encode())
        if size > limit:
            return max(i, 1)
    return len(text)
