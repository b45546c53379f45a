"""The `chatd` command line: options over the TOML config, then run the reactor."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import resource
import sys
import time
import typing
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..net.listener import open_listener
from ..net.reactor import Reactor
from ..net.tls import server_context
from ..store import Store, StoreError, default_path
from .config import Config, ConfigError, build, load_toml
from .passwords import hash_password
from .state import ServerState

log = logging.getLogger("chatd")


def parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        prog="chatd",
        description="A chat room server speaking the IRC client protocol (RFC 1459/2812, IRCv3).",
        epilog="Every option can also be set in the TOML config file, with the same name "
        "(dashes or underscores). Options on the command line win.",
    )
    a = p.add_argument
    a("--config", metavar="FILE", help="TOML configuration file")
    a("--host", help="address to listen on (default: every IPv4 and IPv6 address)")
    a("--port", type=int, help=f"TCP port to listen on; 0 picks a free one (default {d.port})")
    a("--name", help=f"server name shown to clients (default {d.name})")
    a("--network", help=f"network name in ISUPPORT (default {d.network})")
    a("--motd", metavar="FILE", help="message of the day file")
    a("--password", help="connection password clients must send with PASS")
    a("--max-clients", type=int, help=f"most simultaneous connections (default {d.max_clients})")
    a(
        "--sendq",
        type=int,
        metavar="BYTES",
        help=f"output queued for one client before it is dropped (default {d.sendq})",
    )
    a(
        "--ping-interval",
        type=float,
        metavar="SECONDS",
        help=f"idle time before the server sends PING (default {d.ping_interval:g})",
    )
    a(
        "--ping-timeout",
        type=float,
        metavar="SECONDS",
        help=f"time to answer a PING before 'Ping timeout' (default {d.ping_timeout:g})",
    )
    a(
        "--registration-timeout",
        type=float,
        metavar="SECONDS",
        help=f"time to complete registration (default {d.registration_timeout:g})",
    )
    a(
        "--flood-burst",
        type=int,
        metavar="LINES",
        help=f"lines a client may send at once (default {d.flood_burst})",
    )
    a(
        "--flood-rate",
        type=float,
        metavar="LINES_PER_S",
        help=f"lines per second after the burst (default {d.flood_rate:g})",
    )
    a(
        "--no-flood-limit",
        dest="flood_limit",
        action="store_false",
        default=None,
        help="turn off flood control (for benchmarks)",
    )
    a("--tls-cert", metavar="FILE", help="TLS certificate chain (PEM); enables the TLS listener")
    a("--tls-key", metavar="FILE", help="TLS private key (PEM)")
    a("--tls-port", type=int, help=f"TLS port (default {d.tls_port})")
    a(
        "--max-per-ip",
        type=int,
        help=f"simultaneous connections from one address (default {d.max_per_ip})",
    )
    a(
        "--ip-connect-burst",
        type=int,
        metavar="N",
        help=f"connections one address may open at once (default {d.ip_connect_burst})",
    )
    a(
        "--ip-connect-rate",
        type=float,
        metavar="PER_S",
        help=f"connections per second per address after that (default {d.ip_connect_rate:g})",
    )
    a(
        "--db",
        metavar="PATH",
        help="SQLite database for history and persistent channels (default "
        "$XDG_STATE_HOME/chatd/chatd.sqlite3, i.e. ~/.local/state/chatd/chatd.sqlite3); "
        "':memory:' keeps nothing",
    )
    a(
        "--history-days",
        type=float,
        metavar="DAYS",
        help=f"prune messages older than this; 0 keeps them (default {d.history_days:g})",
    )
    a(
        "--history-max-per-channel",
        type=int,
        metavar="N",
        help=f"keep the newest N messages per channel; 0: no cap "
        f"(default {d.history_max_per_channel})",
    )
    a(
        "--history-replay",
        type=int,
        metavar="N",
        help=f"messages replayed on JOIN to clients without chathistory; 0: off "
        f"(default {d.history_replay})",
    )
    a(
        "--persist-all-channels",
        action="store_true",
        default=None,
        help="make every channel persistent, as if it had mode +P",
    )
    a("--log-level", help=f"DEBUG, INFO, WARNING or ERROR (default {d.log_level})")
    a(
        "--hash-password",
        action="store_true",
        help="read a password from the terminal (or stdin), print its hash for the [opers] "
        "table of the config, and exit",
    )
    a("--version", action="version", version=f"chatd {__version__}")
    return p


def config_from(args: argparse.Namespace) -> Config:
    values: dict[str, Any] = load_toml(args.config) if args.config else {}
    skip = {"config", "hash_password"}
    for name, value in vars(args).items():
        if name not in skip and value is not None:
            values[name] = value
    return build(values)


def configure_logging(level: str) -> logging.Handler:
    """Log lines to stderr. A line per connect and disconnect is on the hot path of a
    connection storm, so logging skips what chatd's format never shows (caller, thread and
    process look-ups), and lines are written out once per loop iteration, not one system call
    each (the reactor flushes the returned handler before it sleeps)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = _BatchedHandler(sys.stderr)
    handler.setFormatter(_Formatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    return handler


class _BatchedHandler(logging.StreamHandler[typing.TextIO]):
    """Collects formatted lines; `flush()` writes them in one go. logging.shutdown() flushes
    at exit, so only a kill -9 can lose the lines of the iteration it interrupts."""

    def __init__(self, stream: typing.TextIO) -> None:
        super().__init__(stream)
        self.pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pending.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed: nowhere left to log


class _Formatter(logging.Formatter):
    """Formats the date once per second instead of once per line."""

    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int(record.msecs):03d}"


def raise_fd_limit() -> None:
    """Use the hard RLIMIT_NOFILE: thousands of clients need thousands of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.hash_password:
        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline()
        print(hash_password(password.rstrip("\n")))
        return 0
    try:
        config = config_from(args)
    except ConfigError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 2
    log_handler = configure_logging(config.log_level)
    if config.motd and config.motd_lines() is None:
        print(f"chatd: cannot read MOTD file {config.motd}", file=sys.stderr)
        return 2
    try:
        context = None
        if config.tls_cert and config.tls_key:
            context = server_context(config.tls_cert, config.tls_key)
    except (OSError, ValueError) as exc:
        print(f"chatd: cannot load TLS certificate/key: {exc}", file=sys.stderr)
        return 2
    try:
        plain = [open_listener(config.host, config.port)]
        tls = [(open_listener(config.host, config.tls_port), context)] if context else []
    except OSError as exc:
        print(
            f"chatd: cannot listen on {config.host or '*'}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    raise_fd_limit()
    if config.db is None:
        config.db = default_path(os.environ)
    try:
        store = Store(config.db, config.history_days, config.history_max_per_channel)
    except StoreError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 1
    state = ServerState(config, time.time(), msgid_prefix=os.urandom(4).hex() + "-", store=store)
    reactor = Reactor(state, plain, tls)
    reactor.before_sleep.append(log_handler.flush)
    ports = reactor.ports
    log.info(
        "chatd %s listening on %s port %d%s",
        __version__,
        config.host or "*",
        ports[0],
        f", TLS port {ports[1]}" if tls else "",
    )
    log.info(
        "database %s (schema version %d, %d persistent channels)",
        config.db,
        store.version,
        len(state.channels),
    )
    reactor.run()
    store.close()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
