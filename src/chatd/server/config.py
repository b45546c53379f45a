"""Server configuration: defaults, the TOML file, and validation. No I/O besides reading the file.

Every limit chatd enforces has one field here with its default; docs/architecture.md lists them.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    # Admission: what one address may open, and what a connection may do before registering
    max_per_ip: int = 50  # simultaneous connections from one address
    ip_connect_burst: int = 20  # connections one address may open at once...
    ip_connect_rate: float = 2.0  # ...then this many per second
    unregistered_max_lines: int = 40  # lines before registration completes
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
            "ip_connect_rate",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("tls-cert and tls-key go together")
        if not 0 <= self.tls_port <= 65535:
            raise ConfigError(f"tls-port {self.tls_port} is out of range 0-65535")
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
        if self.chathistory_max <= 0:
            raise ConfigError("chathistory-max must be positive")
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
        expected = type(current) if current is not None else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{name.replace('_', '-')} must be {expected.__name__}, not {value!r}"
            )
        setattr(config, name, value)
    config.validate()
    return config
