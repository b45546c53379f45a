"""Flood control: a token bucket per client, fed the time by its caller (sans-IO).

A client may send `burst` lines at once, then `rate` lines per second. Lines over that are not
dropped: the connection holds them and hands them over when the bucket refills, so a flooder
only delays itself.
"""

from __future__ import annotations


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

    def ready_at(self) -> float:
        """When the next token will be there."""
        return self.stamp + max(0.0, 1.0 - self.tokens) / self.rate
