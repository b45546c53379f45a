"""Newline framing of a byte stream, with a bounded buffer.

LineReader owns the bytes that arrived but hold no complete line yet. It splits on LF, strips an
optional CR, and never holds more than `max_line` bytes: an overlong line is reported once as
TOO_LONG and its bytes are discarded up to the next LF. Empty lines are skipped, or, for a server
that counts them against its limits (a flood of bare LFs is work too), returned as b"". No
decoding, no I/O.
"""

from __future__ import annotations

from typing import Final


class _TooLong:
    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG: Final = _TooLong()
Line = bytes | _TooLong


class LineReader:
    __slots__ = ("max_line", "keep_empty", "_buf", "_discarding")

    def __init__(self, max_line: int, keep_empty: bool = False) -> None:
        self.max_line = max_line
        self.keep_empty = keep_empty
        self._buf = b""
        self._discarding = False

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Line]:
        """Add bytes; return the complete lines (without CR/LF) and TOO_LONG markers."""
        if self._discarding:
            end = data.find(b"\n")
            if end < 0:
                return []
            self._discarding = False
            data = data[end + 1 :]
        buf = self._buf + data if self._buf else data
        pieces = buf.split(b"\n")
        tail = pieces.pop()
        out: list[Line] = []
        limit = self.max_line
        keep_empty = self.keep_empty
        for piece in pieces:
            if piece[-1:] == b"\r":
                piece = piece[:-1]
            if len(piece) > limit:
                out.append(TOO_LONG)
            elif piece or keep_empty:
                out.append(piece)
        if len(tail) > limit + 1:  # +1: the CR of a line whose LF is still on its way
            out.append(TOO_LONG)
            self._discarding = True
            tail = b""
        self._buf = tail
        return out
