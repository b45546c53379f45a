"""The WHOWAS history: a bounded ring of the nicks users had, newest first per nick.

A record is made when a registered user changes its nick (for the old one) or leaves. The ring
keeps `whowas_entries` records server-wide and `whowas_per_nick` per nick, each for
`whowas_age` seconds; a lookup touches only the records of the nick asked for. Sans-IO and
deterministic: the times come from the state.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from ..proto.casemap import fold


class Record(NamedTuple):
    nick: str
    username: str
    host: str
    realname: str
    wall: float  # when the nick was given up (epoch seconds), shown in 312
    now: float  # the same moment on the monotonic clock, for expiry


class WhowasRing:
    def __init__(self, entries: int, per_nick: int, age: float) -> None:
        self.entries = entries
        self.per_nick = per_nick
        self.age = age
        self._ring: deque[Record] = deque()  # every record, oldest first, at most `entries`
        self._by_nick: dict[str, deque[Record]] = {}  # casefolded nick -> its records, oldest first

    def __len__(self) -> int:
        return len(self._ring)

    def add(self, record: Record) -> None:
        if self.entries <= 0:
            return
        key = fold(record.nick)
        kept = self._by_nick.get(key)
        if kept is None:
            kept = self._by_nick[key] = deque()
        kept.append(record)
        if len(kept) > self.per_nick:
            kept.popleft()  # still in the ring until its turn comes; skipped then
        self._ring.append(record)
        if len(self._ring) > self.entries:
            self._evict(self._ring.popleft())

    def _evict(self, record: Record) -> None:
        key = fold(record.nick)
        kept = self._by_nick.get(key)
        if kept and kept[0] is record:  # both are in time order: it can only be the first
            kept.popleft()
        if kept is not None and not kept:
            del self._by_nick[key]

    def find(self, nick: str, now: float, count: int) -> list[Record]:
        """The records of `nick`, newest first, at most `count` of them (count <= 0: all)."""
        key = fold(nick)
        kept = self._by_nick.get(key)
        if not kept:
            return []
        while kept and now - kept[0].now > self.age:
            kept.popleft()  # expired; left in the ring until its turn, skipped then
        if not kept:
            del self._by_nick[key]
            return []
        found = list(reversed(kept))
        return found[:count] if count > 0 else found
