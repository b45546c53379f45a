"""The reactor's timers: one heap of (deadline, seq, entry).

An entry is anything with `live(when)` and `fire()`. A `Timer` is the general kind (a callback
that can be cancelled). A connection is its own keepalive entry: it keeps one deadline, and a heap
entry whose time no longer matches that deadline is stale and skipped. That keeps ten thousand
idle connections to one small tuple each, with no timer object or bound method per connection.
Cancelling is O(1) either way: stale entries are dropped when they surface.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Entry(Protocol):
    def live(self, when: float) -> bool: ...

    def fire(self) -> None: ...


class Timer:
    __slots__ = ("when", "callback", "cancelled")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def live(self, when: float) -> bool:
        return not self.cancelled

    def fire(self) -> None:
        self.cancelled = True  # a fired timer counts as spent
        self.callback()


class TimerHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    def schedule(self, when: float, entry: Entry) -> None:
        """Push an entry that decides for itself, through `live`, whether it still counts."""
        heapq.heappush(self._heap, (when, next(self._seq), entry))

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].live(heap[0][0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def run_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, entry = heapq.heappop(heap)
            if entry.live(when):
                entry.fire()
