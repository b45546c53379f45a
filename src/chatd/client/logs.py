"""Logging buffers to disk: one plain-text file per buffer and day.

LogWriter owns the files under the log directory (by default
$XDG_DATA_HOME/chat-client/logs): `<server>/<buffer>/<YYYY-MM-DD>.log`, appended to, a new
file when the line's local date changes, each line `YYYY-MM-DD HH:MM:SS <nick> text` with
formatting codes stripped. History fetched from the server is not written again (it was
live once, and the server keeps it), nor the "new messages" divider. A message of several
lines (draft/multiline) is one line of the file per line, each with the time and nick. When a
room is renamed, its directory is renamed too, so its log goes on under the new name. A few
files are kept open (the least recently used are closed), and a disk error turns logging off
with one message instead of failing every line.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from chatd.proto.casemap import fold

from . import formatting
from .model import Buffer, Kind, LogLine

MAX_OPEN = 32
SERVER_FILE = "server"


def safe_name(name: str) -> str:
    """A buffer or server name as one path component (no separators, no dot files)."""
    cleaned = "".join("_" if ch in "/\\\0" or ord(ch) < 32 else ch for ch in name)
    if not cleaned or cleaned.startswith("."):
        cleaned = "_" + cleaned
    return cleaned[:100]


def format_line(line: LogLine) -> str:
    """The line as it is written to the file: one row per line of its text."""
    return "".join(_format_row(line, row) for row in line.text.split("\n"))


def _format_row(line: LogLine, row: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(line.time))
    text = formatting.strip(row)
    nick = line.nick or ""
    body = {
        Kind.MESSAGE: f"<{nick}> {text}",
        Kind.ACTION: f"* {nick} {text}",
        Kind.NOTICE: f"-{nick}- {text}" if nick else f"-- {text}",
        Kind.JOIN: f"--> {text}",
        Kind.PART: f"<-- {text}",
        Kind.QUIT: f"<-- {text}",
        Kind.ERROR: f"!! {text}",
    }.get(line.kind, f"-- {text}")
    return f"{stamp} {body}\n"


class LogWriter:
    def __init__(self, base: Path, on_error: Callable[[str], None] = lambda text: None) -> None:
        self.base = base
        self.enabled = True
        self.on_error = on_error
        self._open: OrderedDict[Path, TextIO] = OrderedDict()

    def path(self, server: str, buf: Buffer, stamp: float) -> Path:
        day = time.strftime("%Y-%m-%d", time.localtime(stamp))
        name = SERVER_FILE if buf.kind == "server" else fold(buf.name)
        return self.base / safe_name(server) / safe_name(name) / f"{day}.log"

    def write(self, server: str, buf: Buffer, line: LogLine) -> None:
        if not self.enabled or line.history or line.kind is Kind.DIVIDER or line.seq < 0:
            return
        path = self.path(server, buf, line.time)
        try:
            handle = self._open.get(path)
            if handle is None:
                path.parent.mkdir(parents=True, exist_ok=True)
                handle = path.open("a", encoding="utf-8")
                self._open[path] = handle
                while len(self._open) > MAX_OPEN:
                    self._open.popitem(last=False)[1].close()
            else:
                self._open.move_to_end(path)
            handle.write(format_line(line))
            handle.flush()
        except OSError as exc:
            self.enabled = False
            self.close()
            self.on_error(f"Logging turned off: cannot write {path}: {exc.strerror or exc}")

    def rename(self, server: str, old_name: str, buf: Buffer) -> None:
        """A room was renamed: its directory follows (unless the new name has one already,
        where the new lines then go)."""
        old = self.base / safe_name(server) / safe_name(fold(old_name))
        new = self.path(server, buf, 0.0).parent
        if old == new or not old.is_dir() or new.exists():
            return
        for path in [p for p in self._open if p.parent == old]:
            self._open.pop(path).close()
        try:
            old.rename(new)
        except OSError as exc:
            self.on_error(f"Log of {old_name} not moved to {new}: {exc.strerror or exc}")

    def listener(self, server: Callable[[], str]) -> Callable[[Buffer, LogLine], None]:
        """A session listener writing its lines (the server's name read at each line)."""
        return lambda buf, line: self.write(server(), buf, line)

    def close(self) -> None:
        for handle in self._open.values():
            handle.close()
        self._open.clear()
