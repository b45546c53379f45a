"""draft/multiline for chat-client, sans-IO: several lines sent and shown as one message.

Owns the limits a server gives in the capability's value (`max-bytes`, `max-lines`), cutting
the lines of a paste into batches that respect them (a line too long for one PRIVMSG goes as
pieces joined again by the receiver, `draft/multiline-concat`), and assembling a received
batch back into one text with its line feeds. The session sends the batches and routing.py
collects the lines of a received one; nothing here sends or logs anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from chatd.proto.caps import MULTILINE, MULTILINE_CONCAT

from .model import split_exact

CAP = MULTILINE
BATCH_TYPE = MULTILINE
CONCAT = MULTILINE_CONCAT
# What one received batch may hold; past it, further lines are dropped (a server that never
# ends a batch cannot grow the client without bound).
MAX_RECEIVED_LINES = 1000
MAX_RECEIVED_BYTES = 64 * 1024

Piece = tuple[str, bool]  # one PRIVMSG of a batch: its text, joined to the previous without \n


@dataclass(frozen=True)
class Limits:
    max_bytes: int  # the message's text, line feeds included
    max_lines: int | None  # PRIVMSG lines in one batch (None: no limit given)


def limits(value: str) -> Limits | None:
    """The capability's value ("max-bytes=4096,max-lines=32"); None without a usable max-bytes
    (the spec requires it: a client cannot know what fits)."""
    fields: dict[str, str] = {}
    for item in value.split(","):
        key, _, number = item.partition("=")
        fields[key.strip()] = number.strip()
    max_bytes = fields.get("max-bytes", "")
    if not max_bytes.isdigit() or int(max_bytes) <= 0:
        return None
    max_lines = fields.get("max-lines", "")
    return Limits(int(max_bytes), int(max_lines) if max_lines.isdigit() else None)


def _pieces(line: str, budget: int) -> list[Piece]:
    if not line:
        return [("", False)]
    return [(part, i > 0) for i, part in enumerate(split_exact(line, budget))]


def batches(lines: list[str], budget: int, lim: Limits) -> list[list[Piece]]:
    """The lines as batches within the limits: `budget` bytes per PRIVMSG, `max_bytes` of text
    and `max_lines` PRIVMSGs per batch. A batch never starts with a piece joined to the
    previous one (that line is then split between two messages), and starts and ends with
    text: blank lines at its edges are dropped, a batch of blank lines is not sent."""
    budget = max(1, min(budget, lim.max_bytes))
    out: list[list[Piece]] = []
    current: list[Piece] = []
    size = 0
    for line in lines:
        for text, concat in _pieces(line, budget):
            add = len(text.encode()) + (1 if current and not concat else 0)
            full = lim.max_lines is not None and len(current) >= lim.max_lines
            if current and (full or size + add > lim.max_bytes):
                out.append(current)
                current, size = [], 0
                concat, add = False, len(text.encode())
            current.append((text, concat))
            size += add
    if current:
        out.append(current)
    return [trimmed for batch in out if (trimmed := _trim(batch))]


def _trim(batch: list[Piece]) -> list[Piece]:
    start, end = 0, len(batch)
    while start < end and not batch[start][0].strip():
        start += 1
    while end > start and not batch[end - 1][0].strip():
        end -= 1
    return batch[start:end]


def joined(pieces: list[Piece] | list[tuple[str, bool]]) -> str:
    """The text a batch carries: its lines with line feeds, joined pieces without."""
    text = ""
    for i, (piece, concat) in enumerate(pieces):
        text += piece if i == 0 or concat else "\n" + piece
    return text
