"""Admission control for new connections, per address (sans-IO: the caller passes `now`).

Each address may hold `max_per_ip` connections at once and open `ip_connect_burst` at once,
then `ip_connect_rate` per second. Entries for addresses with no connections and a full bucket
are dropped, so the table stays as small as the set of active addresses.

"An address" is a network: an IPv6 host is routinely given a whole /64 (`ipv6_prefix`), so
counting single IPv6 addresses would hand one attacker 2**64 fresh budgets. IPv4 counts per
address by default (`ipv4_prefix` 32).
"""

from __future__ import annotations

import ipaddress

from .config import Config


def address_key(host: str, ipv4_prefix: int, ipv6_prefix: int) -> str:
    """The network a host is counted under: `2001:db8::1` -> `2001:db8::/64`. A host that is
    not an IP address (a test's name, a UNIX socket) counts as itself."""
    try:
        if ":" not in host:
            if ipv4_prefix >= 32:
                return host  # the common case costs no parsing
            v4 = int(ipaddress.IPv4Address(host))
            drop = 32 - ipv4_prefix
            return f"{ipaddress.IPv4Address(v4 >> drop << drop)}/{ipv4_prefix}"
        v6 = ipaddress.IPv6Address(host.partition("%")[0])  # without a zone index
    except ValueError:
        return host
    if v6.ipv4_mapped is not None:
        return address_key(str(v6.ipv4_mapped), ipv4_prefix, ipv6_prefix)
    drop = 128 - ipv6_prefix
    return f"{ipaddress.IPv6Address(int(v6) >> drop << drop)}/{ipv6_prefix}"


class Admission:
    def __init__(self, config: Config) -> None:
        self.max_per_ip = config.max_per_ip
        self.burst = float(config.ip_connect_burst)
        self.rate = config.ip_connect_rate
        self.ipv4_prefix = config.ipv4_prefix
        self.ipv6_prefix = config.ipv6_prefix
        self._open: dict[str, int] = {}  # network -> connections open
        self._bucket: dict[str, tuple[float, float]] = {}  # network -> (tokens, stamp)

    def reconfigure(self, config: Config) -> None:
        """A reload changed the limits (the prefixes need a restart: counts are keyed by
        them)."""
        self.max_per_ip = config.max_per_ip
        self.burst = float(config.ip_connect_burst)
        self.rate = config.ip_connect_rate

    def key(self, host: str) -> str:
        return address_key(host, self.ipv4_prefix, self.ipv6_prefix)

    def admit(self, host: str, now: float) -> str | None:
        """None if `host` may connect now (and count it); otherwise the refusal reason."""
        host = self.key(host)
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
        host = self.key(host)
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
