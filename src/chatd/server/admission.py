"""Admission control for new connections, per address (sans-IO: the caller passes `now`).

Each address may hold `max_per_ip` connections at once and open `ip_connect_burst` at once,
then `ip_connect_rate` per second. Entries for addresses with no connections and a full bucket
are dropped, so the table stays as small as the set of active addresses.
"""

from __future__ import annotations

from .config import Config


class Admission:
    def __init__(self, config: Config) -> None:
        self.max_per_ip = config.max_per_ip
        self.burst = float(config.ip_connect_burst)
        self.rate = config.ip_connect_rate
        self._open: dict[str, int] = {}
        self._bucket: dict[str, tuple[float, float]] = {}  # host -> (tokens, stamp)

    def admit(self, host: str, now: float) -> str | None:
        """None if `host` may connect now (and count it); otherwise the refusal reason."""
        if self._open.get(host, 0) >= self.max_per_ip:
            return "Too many connections from your address"
        tokens, stamp = self._bucket.get(host, (self.burst, now))
        tokens = min(self.burst, tokens + (now - stamp) * self.rate)
        if tokens < 1.0:
            self._bucket[host] = (tokens, now)
            return "Connecting too fast; try again in a few seconds"
        self._bucket[host] = (tokens - 1.0, now)
        self._open[host] = self._open.get(host, 0) + 1
        return None

    def release(self, host: str, now: float) -> None:
        left = self._open.get(host, 0) - 1
        if left > 0:
            self._open[host] = left
            return
        self._open.pop(host, None)
        tokens, stamp = self._bucket.get(host, (self.burst, now))
        if tokens + (now - stamp) * self.rate >= self.burst:
            self._bucket.pop(host, None)

    def prune(self, now: float) -> None:
        """Forget refill state of addresses that have no connections and a full bucket."""
        for host, (tokens, stamp) in list(self._bucket.items()):
            if host not in self._open and tokens + (now - stamp) * self.rate >= self.burst:
                del self._bucket[host]

    def __len__(self) -> int:
        return len(self._bucket)
