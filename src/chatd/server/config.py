"""Server configuration: defaults, the TOML file, and validation. No I/O besides reading the file.

Every limit chatd enforces has one field here with its default; docs/architecture.md lists them.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..limits import CLOAK_KEY_MIN
from ..proto import scram
from ..store.sqlite import PENDING_BYTES

# The smallest history bounds that make sense: room for a few rows of the longest kind (4.6 KB
# with tags) in the retry queue, and a database cap above what an empty database takes.
MIN_PENDING_BYTES = 64 << 10
MIN_HISTORY_BYTES = 1 << 20


# What websocket-origins accepts: '*', 'null', or scheme://host[:port] where '*' may stand for
# any run of host or port characters (https://*.example.org, http://localhost:*).
_ORIGIN = re.compile(r"\*|null|https?://([a-z0-9.*-]+|\[[0-9a-f:.]+\])(:[0-9*]+)?", re.I)


class ConfigError(ValueError):
    """A configuration value that chatd cannot run with."""


@dataclass
class Config:
    host: str = ""  # "" listens on every IPv4 and IPv6 address
    port: int = 8520
    reuse_port: bool = False  # SO_REUSEPORT: several processes on one port
    name: str = "chatd.local"
    network: str = "chatd"
    motd: str | None = None  # path to the message of the day
    password: str | None = None  # connection password (PASS)
    max_clients: int = 10000
    sendq: int = 1 << 20  # bytes queued for one client before it is dropped
    line_length: int = 512  # without tags, including CRLF (RFC 1459)
    tags_length: int = 4096  # the extra room for IRCv3 tags
    ping_interval: float = 120.0  # idle seconds before the server PINGs
    ping_timeout: float = 60.0  # seconds to answer that PING
    registration_timeout: float = 30.0
    flood_limit: bool = True
    flood_burst: int = 20  # lines a client may send at once
    flood_rate: float = 5.0  # lines per second after the burst
    flood_max_queue: int = 200  # lines held back before "Excess Flood"
    flood_reply_bytes: int = 1024  # a command costs one more line per this many reply bytes
    sendq_soft: int = 1 << 18  # a queue over this (bytes)...
    sendq_soft_seconds: float = 10.0  # ...for this long is dropped too; 0 bytes: no soft limit
    output_budget: int = 0  # bytes queued for all clients together; 0: a quarter of the RAM
    sndbuf: int = 1 << 18  # kernel send buffer per client socket (SO_SNDBUF); 0: autotuned
    flush_delay: float = 0.0  # hold a client's output up to this many s after its last send
    nicklen: int = 30
    channellen: int = 50
    topiclen: int = 390
    kicklen: int = 255
    awaylen: int = 200
    userlen: int = 16
    realnamelen: int = 200  # USER and SETNAME; advertised as NAMELEN
    max_targets: int = 4
    modes_per_line: int = 4  # mode changes with a parameter per MODE line; advertised as MODES
    who_max: int = 500  # WHO replies at most (a WHO * on a busy server must not fill a sendq)
    max_channels: int = 50  # channels one user may be on
    max_list_modes: int = 100  # bans per channel
    # Storage (docs/storage.md). db None: $XDG_STATE_HOME/chatd/chatd.sqlite3, resolved by the
    # command line; ":memory:" keeps nothing after the process ends.
    db: str | None = None
    history_days: float = 30.0  # messages older than this are pruned; 0 keeps them all
    history_max_per_channel: int = 10000  # newest messages kept per channel; 0: no cap
    history_replay: int = 50  # messages replayed on JOIN to clients without chathistory
    # memory for messages queued while the database cannot be written; the oldest go first
    history_pending_bytes: int = PENDING_BYTES  # 16 MiB
    history_max_bytes: int = 1 << 30  # database bytes history may use server-wide; 0: no cap
    chathistory_max: int = 100  # messages one CHATHISTORY request may return (CHATHISTORY=)
    max_persistent_channels: int = 100  # +P by channel operators; IRC operators are not bound
    persist_all_channels: bool = False  # every channel as if it had mode +P
    default_channels: list[str] = field(default_factory=list)
    opers: dict[str, str] = field(default_factory=dict)  # name -> password hash
    log_level: str = "INFO"
    # TLS: a second listener in the same reactor when a certificate and key are given
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_port: int = 6697
    tls_handshake_timeout: float = 10.0
    # WebSocket (IRCv3 WebSocket, docs/protocol.md): off unless a port is given; the TLS one
    # uses tls_cert/tls_key. Browser pages are let in only from the origins listed ("*": any).
    websocket_port: int | None = None
    websocket_tls_port: int | None = None
    websocket_origins: list[str] = field(default_factory=list)
    websocket_handshake_timeout: float = 10.0
    # Admission: what one address may open, and what a connection may do before registering
    max_per_ip: int = 50  # simultaneous connections from one address
    ip_connect_burst: int = 20  # connections one address may open at once...
    ip_connect_rate: float = 2.0  # ...then this many per second
    unregistered_max_lines: int = 40  # lines before registration completes
    # Accounts (docs/protocol.md "Accounts", docs/security.md "Accounts and passwords")
    account_registration: str = "open"  # "open", "opers" (IRC operators only), "closed" (CLI)
    account_password_min: int = 8  # characters
    scram_iterations: int = 600_000  # PBKDF2-SHA-256 rounds of new credentials, 4096..1e6
    nick_grace: float = 30.0  # seconds to identify before a registered nick is taken back
    account_max_nicks: int = 5  # nicks one account may hold, its own name included
    auth_max_failures: int = 3  # failed logins per connection, then no more attempts
    auth_account_burst: int = 5  # failed logins per account name before the back-off starts
    auth_account_backoff_max: float = 300.0  # seconds; the back-off doubles up to this
    auth_max_pending: int = 4  # password checks and hashes running at once on this server
    chanserv_max_channels: int = 10  # channels one account may register
    private_history: bool = True  # keep identified users' private messages (CHATHISTORY)
    # The rest of the client protocol (docs/protocol.md): what each command may cost at most
    admin_location: str = ""  # ADMIN 257 (where the server is)
    admin_info: str = ""  # ADMIN 258 (who runs it)
    admin_email: str = ""  # ADMIN 259
    whowas_entries: int = 1000  # nick records kept for WHOWAS, server-wide; 0 keeps none
    whowas_per_nick: int = 5  # records kept for one nick (the newest)
    whowas_age: float = 7 * 86400.0  # seconds a record is kept
    list_max: int = 1000  # channels one LIST may return
    monitor_max: int = 100  # nicks on one client's MONITOR list (MONITOR=)
    multiline_max_bytes: int = 4096  # text of one draft/multiline batch (max-bytes)
    multiline_max_lines: int = 32  # lines of one draft/multiline batch (max-lines)
    read_markers_max: int = 1000  # MARKREAD targets kept per user; the oldest goes first
    redact_window: float = 0.0  # seconds a sender may REDACT its own message; 0: always
    rename_cooldown: float = 60.0  # seconds between two RENAMEs of one channel
    metadata_max_keys: int = 20  # METADATA keys on one user or one channel (max-keys)
    metadata_max_key_bytes: int = 64  # (max-key-bytes)
    metadata_max_value_bytes: int = 300  # (max-value-bytes)
    metadata_max_subs: int = 50  # keys one client may subscribe to (max-subs)
    metadata_sync_max: int = 1000  # values in one metadata batch; past it: 774, sync later
    # Host cloaking (docs/security.md): others see a keyed hash of a user's address
    cloak_hosts: bool = True
    cloak_key: str | None = None  # None: generated once and kept in the database
    ipv6_prefix: int = 64  # IPv6 addresses count per /64 for the limits above
    ipv4_prefix: int = 32  # IPv4 per address (a smaller prefix counts a whole network)
    # Cluster (docs/cluster.md): one network of many chatd processes through Redis. In the
    # TOML file these are the [cluster] table: url, node-name, lease, snapshot-interval.
    cluster_url: str | None = None  # redis://host:port/db; None: one process on its own
    cluster_node_name: str | None = None  # unique per node; default host name and pid
    cluster_lease: float = 15.0  # seconds before a silent node's users are shown leaving
    cluster_snapshot_interval: float = 30.0  # seconds between snapshots written by the leader
    # The metrics endpoint (Prometheus text format over HTTP, served by the same reactor).
    metrics_port: int = -1  # -1: off; 0 picks a free port (the log says which)
    metrics_host: str = "127.0.0.1"  # loopback by default: the figures are for the operator

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range 0-65535")
        positive = (
            "max_clients",
            "sendq",
            "max_per_ip",
            "ip_connect_burst",
            "unregistered_max_lines",
            "flood_burst",
            "flood_max_queue",
            "flood_reply_bytes",
            "nicklen",
            "channellen",
            "topiclen",
            "kicklen",
            "awaylen",
            "max_targets",
            "max_channels",
            "realnamelen",
            "modes_per_line",
            "who_max",
            "account_password_min",
            "account_max_nicks",
            "auth_max_failures",
            "auth_account_burst",
            "auth_max_pending",
            "chanserv_max_channels",
            "list_max",
            "monitor_max",
            "multiline_max_bytes",
            "multiline_max_lines",
            "read_markers_max",
            "whowas_per_nick",
            "metadata_max_keys",
            "metadata_max_key_bytes",
            "metadata_max_value_bytes",
            "metadata_max_subs",
            "metadata_sync_max",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive")
        for name in (
            "ping_interval",
            "ping_timeout",
            "registration_timeout",
            "flood_rate",
            "tls_handshake_timeout",
            "websocket_handshake_timeout",
            "ip_connect_rate",
            "sendq_soft_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive")
        if self.account_registration not in ("open", "opers", "closed"):
            raise ConfigError("account-registration must be open, opers or closed")
        if not scram.MIN_ITERATIONS <= self.scram_iterations <= scram.MAX_ITERATIONS:
            raise ConfigError(
                f"scram-iterations must be between {scram.MIN_ITERATIONS} and "
                f"{scram.MAX_ITERATIONS} (what SCRAM clients accept)"
            )
        if self.nick_grace < 0 or self.auth_account_backoff_max <= 0:
            raise ConfigError("nick-grace must not be negative, auth-account-backoff-max positive")
        if not 0 <= self.ipv6_prefix <= 128:
            raise ConfigError(f"ipv6-prefix {self.ipv6_prefix} is out of range 0-128")
        if not 0 <= self.ipv4_prefix <= 32:
            raise ConfigError(f"ipv4-prefix {self.ipv4_prefix} is out of range 0-32")
        if self.cluster_url and self.cloak_hosts and self.cloak_key is None:
            raise ConfigError(
                "a cluster with cloak-hosts needs cloak-key, the same on every node "
                "(each node would otherwise make its own key and show other cloaks)"
            )
        if self.cloak_key is not None and len(self.cloak_key) < CLOAK_KEY_MIN:
            raise ConfigError(
                f"cloak-key must be at least {CLOAK_KEY_MIN} characters "
                "(a short one can be guessed from a known address and its cloak)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls-cert and tls-key go together")
        if not -1 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics-port {self.metrics_port} is out of range (-1: off)")
        if not 0 <= self.tls_port <= 65535:
            raise ConfigError(f"tls-port {self.tls_port} is out of range 0-65535")
        for name in ("websocket_port", "websocket_tls_port"):
            port = getattr(self, name)
            if port is not None and not 0 <= port <= 65535:
                raise ConfigError(f"{name.replace('_', '-')} {port} is out of range 0-65535")
        if self.websocket_tls_port is not None and self.tls_cert is None:
            raise ConfigError("websocket-tls-port needs tls-cert and tls-key")
        for origin in self.websocket_origins:
            if not _ORIGIN.fullmatch(origin if isinstance(origin, str) else ""):
                raise ConfigError(
                    f"websocket-origins: {origin!r} is not an origin such as "
                    "'https://chat.example.org' (scheme://host[:port], no path; '*' in the host "
                    "or port matches any), '*' (any page) or 'null'"
                )
        for name in (
            "history_days",
            "history_max_per_channel",
            "history_replay",
            "whowas_entries",
            "whowas_age",
            "redact_window",
            "rename_cooldown",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative")
        for name in ("sendq_soft", "output_budget", "sndbuf", "flush_delay"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative")
        if self.history_pending_bytes < MIN_PENDING_BYTES:
            raise ConfigError(f"history-pending-bytes must be at least {MIN_PENDING_BYTES}")
        if self.history_max_bytes and self.history_max_bytes < MIN_HISTORY_BYTES:
            raise ConfigError(
                f"history-max-bytes must be 0 (no cap) or at least {MIN_HISTORY_BYTES}"
            )
        if self.chathistory_max <= 0:
            raise ConfigError("chathistory-max must be positive")
        if self.cluster_lease < 1.0 or self.cluster_snapshot_interval < 1.0:
            raise ConfigError("cluster lease and snapshot-interval must be at least 1 second")
        node = self.cluster_node_name
        if node is not None and (not node or any(c in node for c in " :~,*?!@\x00")):
            raise ConfigError(f"node name {node!r}: letters, digits, '.', '-' and '_' only")
        if self.cluster_url is not None and not self.cluster_url.startswith(
            ("redis://", "unix://")
        ):
            raise ConfigError(
                f"cluster url {self.cluster_url!r} must start with redis:// or unix://"
            )
        if self.metadata_max_key_bytes + self.metadata_max_value_bytes > 400:
            raise ConfigError(
                "metadata-max-key-bytes + metadata-max-value-bytes must fit in a line (400)"
            )
        if self.line_length < 64:
            raise ConfigError("line-length must be at least 64")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"unknown log level {self.log_level!r}")
        for oper, hashed in self.opers.items():
            if not isinstance(hashed, str) or not hashed.startswith("scrypt$"):
                raise ConfigError(
                    f"oper {oper!r}: password must be a hash from `chatd --hash-password`"
                )

    def motd_lines(self) -> list[str] | None:
        if self.motd is None:
            return None
        try:
            text = Path(self.motd).read_text(encoding="utf-8")
        except OSError:
            return None
        return text.splitlines()


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# The type of each setting whose default is None ("int | None" is int): what build() checks.
_OPTIONAL = {
    name: next(t for t in typing.get_args(hint) if t is not type(None))
    for name, hint in typing.get_type_hints(Config).items()
    if typing.get_args(hint) and getattr(Config(), name) is None
}


def load_toml(path: str) -> dict[str, Any]:
    """Read a TOML config file into Config field values (keys may use dashes)."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    values: dict[str, Any] = {}
    table = raw.pop("cluster", None)
    if isinstance(table, dict):
        raw.update({"cluster-" + key: value for key, value in table.items()})
    elif table is not None:
        raise ConfigError(f"config {path}: [cluster] must be a table")
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"config {path}: unknown setting {key!r}")
        values[name] = value
    return values


def build(values: dict[str, Any]) -> Config:
    """A validated Config from field values, checking each value's type against the default's."""
    config = Config()
    for name, value in values.items():
        current = getattr(config, name)
        expected = type(current) if current is not None else _OPTIONAL.get(name, str)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{name.replace('_', '-')} must be {expected.__name__}, not {value!r}"
            )
        setattr(config, name, value)
    config.validate()
    return config
