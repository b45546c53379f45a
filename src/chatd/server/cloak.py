"""Host cloaking: the host everyone else sees is a keyed hash of the user's address.

Without it every user's IP address is in every message prefix, WHO, WHOIS and USERHOST: anyone
sharing a channel learns where everyone connects from. A cloak is an HMAC-SHA256 of the
address under a server secret, shown per part as public networks do, most specific first:

    192.0.2.1        -> H(192.0.2.1).H(192.0.2).H(192.0).ip
    2001:db8:1:2::5  -> H(/128).H(/64).H(/48).ip

so `*!*@*.<H(192.0.2)>.<H(192.0)>.ip` still bans a whole /24 (or, for IPv6, a /64) without
anyone seeing the address. Without the key a cloak cannot be turned back into an address, nor
computed for a guessed one. Bans match the cloak and the real address; the user itself and IRC
operators see the real address (WHOIS 378, USERHOST, WHOX %i).

The key is data, not a random number drawn by a handler: `cloak_key` from the configuration,
or one generated once (`os.urandom`, at start-up) and kept in the store's metadata, so cloaks
survive restarts and every node of a cluster sharing the store computes the same ones.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable
from typing import Protocol

from ..limits import CLOAK_MEMO
from .config import Config

log = logging.getLogger("chatd")

KEY_META = "cloak_key"  # the store metadata entry holding a generated key
PIECE = 8  # hex digits per part: 32 bits of HMAC output each
SUFFIX = "ip"


class MetaStore(Protocol):
    def get_meta(self, name: str) -> str | None: ...

    def set_meta(self, name: str, value: str) -> None: ...


def startup_key(
    config: Config, store: MetaStore, urandom: Callable[[int], bytes] = os.urandom
) -> bytes:
    """The cloak key: the configured one, else the stored one, else a new one stored now.
    Called once when the state is built, never by a handler."""
    if config.cloak_key is not None:
        return config.cloak_key.encode()
    stored = store.get_meta(KEY_META)
    if stored:
        return stored.encode()
    key = urandom(32).hex()
    try:
        store.set_meta(KEY_META, key)
    except Exception as exc:  # a read-only or failing disk must not stop the server
        log.warning("cannot store the cloak key (%s): cloaks will change at the next start", exc)
    return key.encode()


class Cloak:
    """Computes the shown host for an address; deterministic for a given key."""

    __slots__ = ("_base", "_recent")

    def __init__(self, key: bytes) -> None:
        self._base = hmac.new(key, digestmod=hashlib.sha256)  # keyed once, copied per piece
        # a connect storm comes from few addresses: their cloaks are kept (bounded)
        self._recent: dict[str, str] = {}

    def _piece(self, label: str, value: bytes) -> str:
        mac = self._base.copy()
        mac.update(label.encode() + b"\0" + value)
        return mac.hexdigest()[:PIECE]

    def host(self, address: str) -> str:
        shown = self._recent.get(address)
        if shown is None:
            if len(self._recent) >= CLOAK_MEMO:
                self._recent.clear()
            shown = self._recent[address] = self._compute(address)
        return shown

    def _compute(self, address: str) -> str:
        try:
            ip = ipaddress.ip_address(address.partition("%")[0])  # no zone index
        except ValueError:
            return f"{self._piece('host', address.encode())}.host"
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        prefixes = (32, 24, 16) if ip.version == 4 else (128, 64, 48)
        value = int(ip)
        bits = ip.max_prefixlen
        pieces = []
        for prefix in prefixes:
            network = value >> (bits - prefix) << (bits - prefix)
            pieces.append(self._piece(f"v{ip.version}/{prefix}", network.to_bytes(bits // 8)))
        return ".".join(pieces) + "." + SUFFIX
