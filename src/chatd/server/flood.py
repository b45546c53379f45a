"""Flood control: a token bucket per client, and the held-back lines it lets through (sans-IO).

A client may send `burst` lines at once, then `rate` lines per second. Lines over that are not
dropped: they wait in the client's inbox and are handed over as the bucket refills, so a flooder
only delays itself. More than `max_queue` lines waiting is "Excess Flood". Empty lines count like
any other (a flood of bare LFs is work too).

Work is charged as well as lines: `charge` takes tokens for what a command cost beyond one line
(the replies it made the server build), so a line that lists a hundred bans is not the price of
one PING. The caller passes the time in; nothing here reads a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from ..proto.framing import Line


class FloodGate:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        tokens = self.tokens + (now - self.stamp) * self.rate
        self.stamp = now
        if tokens > self.burst:
            tokens = self.burst
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return True
        self.tokens = tokens
        return False

    def charge(self, cost: float) -> None:
        """Spend `cost` more tokens for work already done; the bucket may go into debt, which
        holds back the client's next lines until it is paid (never more than one burst)."""
        self.tokens = max(self.tokens - cost, -self.burst)

    def ready_at(self) -> float:
        """When the next token will be there."""
        return self.stamp + max(0.0, 1.0 - self.tokens) / self.rate


class _Excess:
    __slots__ = ()


EXCESS: Final = _Excess()  # drain's answer when the inbox overflowed


def drain(
    gate: FloodGate | None,
    inbox: deque[Line],
    now: float,
    max_queue: int,
    handle: Callable[[Line], bool],
) -> float | _Excess | None:
    """Hand lines from `inbox` to `handle` while the gate allows; `handle` returns False to stop
    (the client is gone). Returns when to try again, EXCESS if too many lines wait, or None when
    the inbox is empty (or handling stopped)."""
    while inbox:
        if gate is not None and not gate.take(now):
            if len(inbox) > max_queue:
                return EXCESS
            return gate.ready_at()
        if not handle(inbox.popleft()):
            return None
    return None
