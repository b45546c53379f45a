"""Several connections in one client, sans-IO: what the room bar and the keys work on.

Workspace owns the list of sessions (one per server), which of them is in front (its current
buffer is the one on screen), the one numbering of all their buffers (Alt-1…, /buffer N),
and what concerns the user across servers: the one-line notice in the buffer being read when
a private message arrives elsewhere, the terminal bell on mentions and private messages, and
the merged list of mentions. Each Session stays unaware of the others.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatd.proto.casemap import fold

from .model import TALK_KINDS, Buffer, Kind, LogLine
from .session import Mention, Session


def key_hint(number: int) -> str:
    """How to get to buffer `number`: Alt-1..Alt-9, Alt-0 for 10, else /buffer N."""
    if 1 <= number <= 9:
        return f"Alt-{number}"
    if number == 10:
        return "Alt-0"
    return f"/buffer {number}"


class Workspace:
    def __init__(self, sessions: Iterable[Session] = (), *, bell: bool = True) -> None:
        self.sessions: list[Session] = []
        self.active: Session | None = None
        self.bell = bell  # ring on mentions and private messages
        self._ring = False
        for session in sessions:
            self.add(session)

    def add(self, session: Session) -> None:
        self.sessions.append(session)
        session.listeners.append(lambda buf, line: self._on_line(session, buf, line))
        if self.active is None:
            self.focus(session)
        else:
            session.bufs.focused = False

    @property
    def session(self) -> Session:
        """The session whose current buffer is on screen."""
        assert self.active is not None, "a workspace needs a session"
        return self.active

    def focus(self, session: Session, key: str | None = None) -> None:
        for other in self.sessions:
            other.bufs.focused = other is session
        self.active = session
        session.switch(session.current if key is None else key)

    # ---- the one numbering

    def entries(self) -> list[tuple[Session, Buffer]]:
        return [(s, buf) for s in self.sessions for buf in s.buffer_list()]

    def number(self, session: Session, buf: Buffer) -> int:
        """The buffer's number in the room bar (1-based), or 0 when it is gone."""
        for i, (s, b) in enumerate(self.entries(), start=1):
            if s is session and b is buf:
                return i
        return 0

    def current_index(self) -> int:
        return self.number(self.session, self.session.current_buffer) - 1

    def switch_index(self, index: int) -> None:
        entries = self.entries()
        if 0 <= index < len(entries):
            session, buf = entries[index]
            self.focus(session, buf.key)

    def switch_relative(self, step: int) -> None:
        entries = self.entries()
        self.switch_index((self.current_index() + step) % len(entries))

    def find(self, name: str) -> tuple[Session, Buffer] | None:
        """A buffer by number, by name (the current server's first), or server/name."""
        if name.isdigit():
            entries = self.entries()
            index = int(name) - 1
            return entries[index] if 0 <= index < len(entries) else None
        server, slash, rest = name.partition("/")
        for s in self.sessions:
            if slash and fold(s.name) == fold(server):
                buf = s.get_buffer(rest) if rest else s.server_buffer
                if buf is not None:
                    return s, buf
        ordered = [self.session] + [s for s in self.sessions if s is not self.session]
        for s in ordered:
            buf = s.get_buffer(name)
            if buf is not None and buf.kind != "server":
                return s, buf
        for s in ordered:
            if fold(s.name) == fold(name):
                return s, s.server_buffer
        return None

    # ---- across servers

    def _on_line(self, session: Session, buf: Buffer, line: LogLine) -> None:
        if line.kind not in TALK_KINDS or line.own or line.history:
            return
        private = buf.kind == "query"
        if self.bell and (private or line.highlight):
            self._ring = True
        seen = session is self.active and session.bufs.seen(buf)
        if private and not seen and buf.unread == 1:
            number = self.number(session, buf)
            where = self.session.current_buffer
            server = f" on {session.name}" if len(self.sessions) > 1 else ""
            self.session.log(
                where,
                line.time,
                Kind.INFO,
                f"private message from {line.nick}{server} ({key_hint(number)})",
            )

    def take_bell(self) -> bool:
        """Whether the bell should ring now (once per batch of news)."""
        ring, self._ring = self._ring, False
        return ring

    def mentions(self) -> list[tuple[Session, Mention]]:
        out = [(s, m) for s in self.sessions for m in s.mention_log]
        return sorted(out, key=lambda item: item[1].time)
