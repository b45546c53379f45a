"""Finding text in a buffer's scrollback (pure): what /search and Ctrl-R move between.

Matching is case-insensitive on the text as shown (formatting codes stripped), and covers
every line the buffer holds, history fetched from the server included. The same pattern
gives the spans the view highlights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from . import formatting
from .model import Kind, LogLine


@lru_cache(maxsize=64)
def pattern(term: str) -> re.Pattern[str] | None:
    return re.compile(re.escape(term), re.IGNORECASE) if term else None


def matches(line: LogLine, term: str) -> bool:
    rx = pattern(term)
    if rx is None or line.kind is Kind.DIVIDER:
        return False
    return rx.search(formatting.strip(line.text)) is not None


def older(lines: Sequence[LogLine], term: str, before: int | None) -> LogLine | None:
    """The newest matching line older than seq `before` (None: from the bottom)."""
    for line in reversed(lines):
        if (before is None or line.seq < before) and matches(line, term):
            return line
    return None


def newer(lines: Sequence[LogLine], term: str, after: int) -> LogLine | None:
    """The oldest matching line newer than seq `after`."""
    for line in lines:
        if line.seq > after and matches(line, term):
            return line
    return None


def position(lines: Sequence[LogLine], term: str, seq: int | None) -> tuple[int, int]:
    """(n, total): the match at seq is the n-th from the bottom, of total matches."""
    found = [line.seq for line in lines if matches(line, term)]
    if seq is None or seq not in found:
        return 0, len(found)
    return len(found) - found.index(seq), len(found)
