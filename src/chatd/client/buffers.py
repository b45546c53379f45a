"""The buffers of one connection and the navigation between them, sans-IO.

BufferList owns the ordered buffers (the server buffer first, then rooms and private
conversations in the order they opened), which one is current, adding a line to a buffer
with its unread count and mention mark, and the listeners told of every line (the line-mode
printer, the disk log, the workspace's notices). It knows nothing of the protocol: the
session decides what goes where.
"""

from __future__ import annotations

from collections.abc import Callable

from chatd.proto.casemap import fold

from .model import MAX_LOG_LINES, SERVER_KEY, TALK_KINDS, Buffer, Kind, LogLine

Listener = Callable[[Buffer, LogLine], None]


class BufferList:
    def __init__(self, server_label: str, max_lines: int = MAX_LOG_LINES) -> None:
        self.max_lines = max_lines
        self.by_key: dict[str, Buffer] = {}
        self.current = SERVER_KEY
        # Whether this connection's current buffer is the one on screen: with several
        # servers, only one of them is; the others count every new line as unread.
        self.focused = True
        self.listeners: list[Listener] = []
        self.rename_listeners: list[Callable[[Buffer, str, str], None]] = []  # buf, old key, name
        self.add(Buffer(server_label, "server", max_lines))

    # ---- lookup

    def add(self, buf: Buffer) -> Buffer:
        self.by_key.setdefault(buf.key, buf)
        return self.by_key[buf.key]

    @property
    def server(self) -> Buffer:
        return self.by_key[SERVER_KEY]

    @property
    def current_buffer(self) -> Buffer:
        return self.by_key.get(self.current) or self.server

    def all(self) -> list[Buffer]:
        return list(self.by_key.values())

    def get(self, name: str) -> Buffer | None:
        return self.by_key.get(fold(name))

    def channel(self, name: str) -> Buffer:
        return self.add(Buffer(name, "channel", self.max_lines))

    def query(self, nick: str) -> Buffer:
        buf = self.get(nick)
        if buf is None:
            buf = self.add(Buffer(nick, "query", self.max_lines))
        return buf

    # ---- navigation

    def seen(self, buf: Buffer) -> bool:
        """Whether a line added to buf is in front of the user's eyes right now."""
        return self.focused and buf.key == self.current

    def switch(self, key: str) -> None:
        if key in self.by_key:
            self.current = key
            buf = self.by_key[key]
            buf.unread = 0
            buf.mentioned = False

    def switch_relative(self, step: int) -> None:
        keys = list(self.by_key)
        index = keys.index(self.current) if self.current in keys else 0
        self.switch(keys[(index + step) % len(keys)])

    def switch_index(self, index: int) -> None:
        keys = list(self.by_key)
        if 0 <= index < len(keys):
            self.switch(keys[index])

    def remove(self, key: str) -> None:
        """Forget a buffer (not the server buffer); the one before it becomes current."""
        if key not in self.by_key or key == SERVER_KEY:
            return
        keys = list(self.by_key)
        index = keys.index(key)
        del self.by_key[key]
        if self.current == key:
            remaining = list(self.by_key)
            self.switch(remaining[min(index, len(remaining)) - 1])

    def rename(self, buf: Buffer, new: str) -> None:
        """A private buffer follows its peer's nick change, a room its RENAME, keeping its
        place in the list. A buffer the new name had already (a room left earlier, a private
        buffer with someone of that nick) gives way: the renamed one is the live one."""
        old_key, old_name = buf.key, buf.name
        buf.name = new
        stale = self.by_key.get(buf.key)
        if stale is not None and stale is not buf:
            if self.current == stale.key:
                self.current = old_key
            del self.by_key[stale.key]
        items = list(self.by_key.items())
        self.by_key = {(buf.key if k == old_key else k): b for k, b in items}
        if self.current == old_key:
            self.current = buf.key
        for listener in self.rename_listeners:
            listener(buf, old_key, old_name)

    # ---- lines

    def add_line(self, buf: Buffer, now: float, kind: Kind, text: str, **kw: object) -> LogLine:
        line = buf.add(now, kind, text, **kw)
        if not self.seen(buf) and kind in TALK_KINDS and not line.own and not line.history:
            buf.unread += 1
            if line.highlight or buf.kind == "query":
                buf.mentioned = True
        for listener in self.listeners:
            listener(buf, line)
        return line
