"""The reactor's timers: one heap of (deadline, seq, entry).

An entry is anything with `live(when)` and `fire()`. A `Timer` is the general kind (a callback
that can be cancelled). A connection keeps one deadline and one small entry pointing back at it
(no bound method, no callback object); a heap entry whose time no longer matches the deadline is
stale and skipped. Ten thousand idle connections cost one small tuple and entry each.

Cancelling is O(1): the entry is only marked, and it lets go of what it pointed at (the
callback, the connection), so a closed connection's memory comes back at once even though its old
entry waits in the heap. Owners report each entry they leave behind (`went_stale`), and when
stale entries are more than half of a big heap it is rebuilt without them, as asyncio does.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

from ..limits import TIMER_COMPACT_MIN


class Entry(Protocol):
    def live(self, when: float) -> bool: ...

    def fire(self) -> None: ...


def _nothing() -> None:
    pass


class Timer:
    __slots__ = ("when", "callback", "cancelled", "heap")

    def __init__(self, when: float, callback: Callable[[], None], heap: TimerHeap) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self.heap: TimerHeap | None = heap

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self.callback = _nothing  # let go of the bound method and what it holds
            if self.heap is not None:
                self.heap.went_stale()
                self.heap = None

    def live(self, when: float) -> bool:
        return not self.cancelled

    def fire(self) -> None:
        self.cancelled = True  # a fired timer counts as spent
        self.heap = None
        self.callback()


class TimerHeap:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Entry]] = []
        self._seq = itertools.count()
        self._stale = 0  # entries known to be dead but still in the heap

    def __len__(self) -> int:
        return len(self._heap)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(when, callback, self)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    def schedule(self, when: float, entry: Entry) -> None:
        """Push an entry that decides for itself, through `live`, whether it still counts."""
        heapq.heappush(self._heap, (when, next(self._seq), entry))

    def went_stale(self) -> None:
        """One entry in the heap no longer counts (cancelled, rescheduled, closed)."""
        self._stale += 1
        heap = self._heap
        if self._stale * 2 > len(heap) and len(heap) >= TIMER_COMPACT_MIN:
            self._heap = [item for item in heap if item[2].live(item[0])]
            heapq.heapify(self._heap)
            self._stale = 0

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and not heap[0][2].live(heap[0][0]):
            heapq.heappop(heap)
            self._stale = max(0, self._stale - 1)
        return heap[0][0] if heap else None

    def run_due(self, now: float, on_error: Callable[[Entry], None]) -> None:
        """Fire every live entry that is due; an entry that raises goes to `on_error` and the
        others still run."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, entry = heapq.heappop(heap)
            if entry.live(when):
                try:
                    entry.fire()
                except Exception:
                    on_error(entry)
                heap = self._heap  # a compaction inside fire() replaces the list
            else:
                self._stale = max(0, self._stale - 1)
