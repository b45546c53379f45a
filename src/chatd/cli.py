"""The `chatd` command line and the one composition root of the server.

`main` reads the options over the TOML config, then wires the parts in one place:
config → store → chat state → core → reactor (a cluster node adds its link to the network's log
here). Nothing else in chatd constructs these; everything else receives what it needs. SIGHUP
and the operators' REHASH reload the configuration file through `Reloader`.

`chatd account add|list|passwd|remove NAME` manages accounts in the same database without a
server (`account_main`); a running server picks the changes up on SIGHUP or REHASH.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import getpass
import logging
import os
import resource
import socket
import ssl
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from . import __version__
from .cluster import bootstrap
from .cluster.bootstrap import network_settings
from .cluster.core import ClusterCore, ClusterSettings, Keys
from .cluster.stats import ClusterStats
from .logs import configure_logging
from .net.listener import open_listener
from .net.metrics import MetricsServer
from .net.metrics import render as render_metrics
from .net.monitor import Sampler, start_monitor
from .net.reactor import NetSettings, Reactor
from .net.tls import server_context
from .proto.casemap import fold
from .server.accounts import Account, account_name_problem, email_problem, password_problem
from .server.config import Config, ConfigError, build, load_toml
from .server.core import LocalCore
from .server.passwords import hash_password
from .server.sasl import make_credentials
from .server.state import ServerState
from .store import Store, StoreError, default_path

log = logging.getLogger("chatd")


def parser() -> argparse.ArgumentParser:
    d = Config()
    p = argparse.ArgumentParser(
        prog="chatd",
        description="A chat room server speaking the IRC client protocol (RFC 1459/2812, IRCv3).",
        epilog="Every option can also be set in the TOML config file, with the same name "
        "(dashes or underscores). Options on the command line win. "
        "Subcommands: `chatd cluster status --cluster URL` (see `chatd cluster --help`).",
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
        "--flush-delay",
        type=float,
        metavar="S",
        help="hold a client's output up to S seconds after its last send, so that messages "
        f"close together share one send (default {d.flush_delay:g}: send every iteration)",
    )
    a(
        "--sendq",
        type=int,
        metavar="BYTES",
        help=f"output queued for one client before it is dropped (default {d.sendq})",
    )
    a(
        "--sendq-soft",
        type=int,
        metavar="BYTES",
        help=f"a client whose queue stays over this for --sendq-soft-seconds is dropped; "
        f"0: no soft limit (default {d.sendq_soft})",
    )
    a(
        "--sendq-soft-seconds",
        type=float,
        metavar="SECONDS",
        help=f"how long a queue may stay over --sendq-soft (default {d.sendq_soft_seconds:g})",
    )
    a(
        "--output-budget",
        type=int,
        metavar="BYTES",
        help="output queued for all clients together; past it the largest queues are dropped "
        "(default: a quarter of the memory)",
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
        "--websocket-port",
        type=int,
        metavar="PORT",
        help="also serve IRC over WebSocket (IRCv3: text.ircv3.net, binary.ircv3.net) for web "
        "clients on this port; off by default",
    )
    a(
        "--websocket-tls-port",
        type=int,
        metavar="PORT",
        help="the same over TLS (wss://), with --tls-cert and --tls-key; off by default",
    )
    a(
        "--websocket-origin",
        dest="websocket_origins",
        action="append",
        metavar="ORIGIN",
        help="a web page origin allowed to connect, e.g. https://chat.example.org ('*' in the "
        "host or port matches any; '*' alone: every page); repeat for more. Without one, "
        "browser pages are refused (403); clients that send no Origin are let in",
    )
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
    a(
        "--reuse-port",
        action="store_true",
        default=None,
        help="listen with SO_REUSEPORT, so several chatd processes can share one port",
    )
    a(
        "--cluster",
        dest="cluster_url",
        metavar="URL",
        help="join a cluster through Redis, e.g. redis://127.0.0.1:6379/0 (docs/cluster.md)",
    )
    a(
        "--node-name",
        dest="cluster_node_name",
        metavar="NAME",
        help="this node's name in the cluster, unique per node (default: host name and pid)",
    )
    a(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics (-1: off, the default; "
        "0 picks a free port)",
    )
    a("--metrics-host", help=f"address of the metrics endpoint (default {d.metrics_host})")
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


def raise_fd_limit() -> None:
    """Use the hard RLIMIT_NOFILE: thousands of clients need thousands of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


OUTPUT_BUDGET_SHARE = 4  # the default output budget is this fraction (1/4) of the memory


@functools.cache
def memory_bytes() -> int:
    """The memory this process may use, read once at start-up: the machine's RAM, or the
    control group's limit (a container) when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isascii() and text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def output_budget(config: Config) -> int:
    """The server-wide bound on queued output: the configured one, or a quarter of memory."""
    return config.output_budget or memory_bytes() // OUTPUT_BUDGET_SHARE


def net_settings(config: Config) -> NetSettings:
    return NetSettings(
        sendq=config.sendq,
        max_line=config.line_length + config.tags_length,
        tls_handshake_timeout=config.tls_handshake_timeout,
        sendq_soft=config.sendq_soft,
        sendq_soft_seconds=config.sendq_soft_seconds,
        sndbuf=config.sndbuf,
        flush_delay=config.flush_delay,
        output_budget=output_budget(config),
        # a read with more lines than flood control would ever hold back is a flood whatever
        # they say: the reader stops splitting there (proto/framing.py)
        max_lines_per_read=config.flood_burst + config.flood_max_queue + 1
        if config.flood_limit
        else 0,
        websocket_origins=tuple(config.websocket_origins),
        websocket_handshake_timeout=config.websocket_handshake_timeout,
    )


# Settings that only a restart can change: the sockets and files opened at start-up.
RESTART_ONLY = (
    "host",
    "port",
    "tls_port",
    "websocket_port",
    "websocket_tls_port",
    "db",
    "reuse_port",
    "metrics_host",
    "metrics_port",
    # cloaks and per-network admission counts of connected users were made with these
    "cloak_hosts",
    "cloak_key",
    "ipv4_prefix",
    "ipv6_prefix",
)
SECRET = ("opers", "password", "cloak_key")  # a change is reported, never the value


class Reloader:
    """Re-reads the configuration (the file, with the same command-line options on top) and
    applies what changed to the running server: limits, MOTD, operators, passwords, TLS
    certificates. Nobody is disconnected; settings in RESTART_ONLY are reported, not applied."""

    def __init__(
        self,
        args: argparse.Namespace,
        config: Config,
        core: LocalCore | ClusterCore,
        reactor: Reactor,
    ) -> None:
        self.args = args
        self.config = config
        self.core = core
        self.reactor = reactor
        self.frozen: frozenset[str] = frozenset()  # a cluster's network-wide settings

    def reload(self) -> list[str]:
        """Apply the configuration file again; returns a line per change (or the error)."""
        if not self.args.config:
            accounts = self.core.state.reload_accounts()
            for line in accounts:
                log.info("reload: %s", line)
            return [
                "no configuration file to reload (chatd was started without --config)",
                *accounts,
            ]
        try:
            new = config_from(self.args)
        except ConfigError as exc:
            log.error("reload failed, configuration kept: %s", exc)
            return [f"reload failed, configuration kept: {exc}"]
        if new.motd and new.motd_lines() is None:
            return [f"reload failed, configuration kept: cannot read MOTD file {new.motd}"]
        new.db = self.config.db if new.db is None else new.db
        report: list[str] = []
        context = None
        tls_changed = (new.tls_cert, new.tls_key) != (self.config.tls_cert, self.config.tls_key)
        if new.tls_cert and new.tls_key and (tls_changed or self.config.tls_cert):
            try:  # certificates are re-read even if the paths stay (renewed in place)
                context = server_context(new.tls_cert, new.tls_key)
            except (OSError, ValueError) as exc:
                return [f"reload failed, configuration kept: cannot load TLS certificate: {exc}"]
        for field in dataclasses.fields(Config):
            name = field.name
            old_value, new_value = getattr(self.config, name), getattr(new, name)
            if old_value == new_value:
                continue
            if name in RESTART_ONLY:
                kept = "" if name in SECRET else f" (kept {old_value!r})"
                report.append(f"{name}: needs a restart{kept}")
                continue
            if name in self.frozen:
                report.append(f"{name}: network-wide: restart every node with the new value")
                continue
            setattr(self.config, name, new_value)
            shown = "(changed)" if name in SECRET else f"{old_value!r} -> {new_value!r}"
            report.append(f"{name}: {shown}")
        if context is not None:
            tls_listeners = [lst for lst in self.reactor.listeners if lst.tls is not None]
            for listener in tls_listeners:
                listener.tls = context
            if tls_listeners:
                report.append("TLS certificate reloaded")
            else:
                report.append("tls-cert: needs a restart (no TLS listener is open)")
        self.reactor.configure(net_settings(self.config))
        logging.getLogger().setLevel(self.config.log_level.upper())
        self.core.reconfigured()
        report += self.core.state.reload_accounts()
        for line in report or ["configuration reloaded: nothing changed"]:
            log.info("reload: %s", line)
        return report or ["nothing changed"]


def metrics_text(sampler: Sampler) -> str:
    me, *others = sampler.nodes()
    return render_metrics(me, others, sampler.log())


def listening(reactor: Reactor) -> str:
    """The open ports, by kind: "port 8520, TLS port 6697, WebSocket port 8080"."""
    names = []
    for listener in reactor.listeners:
        kind = ("TLS " if listener.tls else "") + ("WebSocket " if listener.websocket else "")
        names.append(f"{kind}port {listener.port}")
    return ", ".join(names)


def log_status(state: ServerState, reactor: Reactor) -> None:
    """SIGUSR1: one line about what the server holds."""
    queued = sum(conn.out_len for conn in reactor.connections)
    log.info(
        "status: %d connections (%d unregistered), %d channels, %d bytes queued, "
        "%d timer entries, %d history rows waiting",
        state.connections,
        state.unregistered,
        len(state.channels),
        queued,
        len(reactor.timers),
        state.store.pending,
    )


def _cluster_command(argv: Sequence[str]) -> int:
    from .cluster_cli import main as cluster_main

    return cluster_main(argv)


# `chatd WORD ...`: commands other than running the server; each gets the words after WORD.
SUBCOMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "account": lambda argv: account_main(argv),  # defined further down
    "cluster": _cluster_command,
}


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in SUBCOMMANDS:
        return SUBCOMMANDS[words[0]](words[1:])
    args = parser().parse_args(words)
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
        plain = [open_listener(config.host, config.port, reuse_port=config.reuse_port)]
        tls = []
        if context:
            sock = open_listener(config.host, config.tls_port, reuse_port=config.reuse_port)
            tls.append((sock, context))
        websocket: list[tuple[socket.socket, ssl.SSLContext | None]] = []
        if config.websocket_port is not None:
            sock = open_listener(config.host, config.websocket_port, reuse_port=config.reuse_port)
            websocket.append((sock, None))
        if config.websocket_tls_port is not None and context:
            sock = open_listener(
                config.host, config.websocket_tls_port, reuse_port=config.reuse_port
            )
            websocket.append((sock, context))
    except OSError as exc:
        print(
            f"chatd: cannot listen on {config.host or '*'}: {exc.strerror or exc}", file=sys.stderr
        )
        return 1
    metrics_sock = None
    if config.metrics_port >= 0:
        try:
            metrics_sock = open_listener(config.metrics_host, config.metrics_port)
        except OSError as exc:
            print(
                f"chatd: cannot listen for metrics on {config.metrics_host} port "
                f"{config.metrics_port}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 1
    raise_fd_limit()
    asked_db = config.db
    if config.cluster_url:
        config.db = ":memory:"  # the network's store comes from the cluster (see below)
    elif config.db is None:
        config.db = default_path(os.environ)
    try:
        store = Store(config.db, config.history_days, config.history_max_per_channel)
    except StoreError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return 1
    state = ServerState(config, time.time(), msgid_prefix=os.urandom(4).hex() + "-", store=store)
    node: ClusterNode | None = None
    core: LocalCore | ClusterCore
    if config.cluster_url:
        joined = ClusterNode.join(config, state)
        if isinstance(joined, str):
            print(f"chatd: {joined}", file=sys.stderr)
            return 1
        node = joined
        core = node.core
        log.info(
            "cluster: --db %s is not used: a node keeps the network's history and "
            "channels in memory, from the cluster's log and snapshots",
            asked_db or "(default)",
        )
    else:
        core = LocalCore(state)
    reactor = Reactor(core, plain, tls, net_settings(config), websocket)
    reactor.before_sleep.append(log_handler.flush)
    sampler = node.start(reactor) if node is not None else start_monitor(reactor, state, core)
    endpoint = None
    if metrics_sock is not None:
        endpoint = MetricsServer(reactor, metrics_sock, partial(metrics_text, sampler))
        host = config.metrics_host
        log.info(
            "metrics at http://%s:%d/metrics",
            f"[{host}]" if ":" in host else host,
            endpoint.port,
        )
    reloader = Reloader(args, config, core, reactor)
    if node is not None:
        reloader.frozen = frozenset(network_settings(config))
    reactor.on_reload = reloader.reload
    state.reload_hook = reloader.reload
    state.config_file = args.config or "-"
    reactor.on_status = lambda: log_status(state, reactor)
    log.info("chatd %s listening on %s %s", __version__, config.host or "*", listening(reactor))
    if websocket and not config.websocket_origins:
        log.warning(
            "websocket-origins is empty: web pages (requests with an Origin header) are refused"
        )
    log.info(
        "output budget %d MiB%s, sendq %d KiB (soft %d KiB for %g s)",
        reactor.settings.output_budget >> 20,
        "" if config.output_budget else f" (a quarter of {memory_bytes() >> 20} MiB)",
        config.sendq >> 10,
        config.sendq_soft >> 10,
        config.sendq_soft_seconds,
    )
    log.info(
        "database %s (schema version %d, %d persistent channels)",
        config.db,
        store.version,
        len(state.channels),
    )
    reactor.run()
    if endpoint is not None:
        endpoint.close()
    if node is not None:
        node.stop()
    store.close()
    log.info("stopped")
    if node is not None and node.restart:
        log_handler.flush()
        os.execv(sys.executable, [sys.executable, "-m", "chatd", *sys.argv[1:]])
    return 0


class ClusterNode:
    """The parts of a cluster node that do I/O: a blocking Redis client for joining and
    leaving, two non-blocking links for the reactor (the log's reader, and a writer)."""

    def __init__(self, core: ClusterCore, client: Any, url: Any) -> None:
        self.core = core
        self.client = client
        self.url = url
        self.links: list[Any] = []
        self.restart = False
        self.reactor: Reactor | None = None
        self.sampler: Sampler | None = None

    @classmethod
    def join(cls, config: Config, state: ServerState) -> ClusterNode | str:
        try:
            import redis

            from .net.redis import RedisURL
        except ImportError:
            return "--cluster needs the redis and hiredis packages: pip install 'chatd[cluster]'"
        assert config.cluster_url is not None
        try:
            url = RedisURL(config.cluster_url)
        except ValueError as exc:
            return str(exc)
        name = config.cluster_node_name or f"{socket.gethostname()}-{os.getpid()}"
        config.name = name if "." in name else f"{name}.{config.name}"
        state.reconfigured()
        node_id = f"{config.name}~{os.urandom(3).hex()}"
        keys = Keys(f"chatd:{config.network}:")
        settings = ClusterSettings(config.cluster_lease, config.cluster_snapshot_interval)
        core = ClusterCore(state, node_id, keys, settings)
        client = url.blocking_client(timeout=10, connect_timeout=5)
        try:
            bootstrap.join(client, core, os.urandom(8).hex())
        except (redis.RedisError, OSError) as exc:
            return f"cannot join the cluster at {url}: {exc}"
        except bootstrap.JoinError as exc:
            return str(exc)
        return cls(core, client, url)

    def start(self, reactor: Reactor) -> Sampler:
        """Start following the network's log; returns the node's figures for operators."""
        from .net.redis import RedisLink

        core = self.core
        self.reactor = reactor
        reader = RedisLink(
            reactor, self.url, f"chatd-{core.node}-log", core.reader_up, core.link_down
        )
        writer = RedisLink(reactor, self.url, f"chatd-{core.node}", core.writer_up, core.link_down)
        self.links = [reader, writer]
        core.use_links(reader, writer)
        core.on_data_lost = self._data_lost
        reader.start()
        writer.start()
        reactor.call_at(reactor.now + core.settings.lease / 3, core.tick)
        self.sampler = start_monitor(reactor, core.state, core, ClusterStats(core))
        return self.sampler

    def _data_lost(self) -> None:
        self.restart = True
        if self.reactor is not None:
            self.reactor.stop()

    def stop(self) -> None:
        """The node's last entries (its clients leaving) reach the log before it exits."""
        core = self.core
        for link in self.links:
            link.close()
        try:
            for seq, payload in list(core.unacked):
                self.client.xadd(core.keys.log, {"n": core.node, "s": seq, "d": payload})
            self.client.delete(core.keys.node(core.node))
        except Exception as exc:
            log.warning(
                "cluster: could not tell the network this node stopped (%s); the "
                "others will notice when its lease runs out",
                exc,
            )


# -- chatd account ---------------------------------------------------------------------------


def account_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatd account",
        description="Manage chatd's accounts in its database. Passwords are read from the "
        "terminal (asked twice) or from the first line of stdin; only SCRAM-SHA-256 "
        "credentials are stored. A running chatd picks changes up on SIGHUP or REHASH.",
    )
    p.add_argument("--config", metavar="FILE", help="TOML configuration file (for db and limits)")
    p.add_argument("--db", metavar="PATH", help="the database (default: as chatd would use)")
    sub = p.add_subparsers(dest="action", required=True, metavar="add|list|passwd|remove")
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--email", help="stored with the account, never verified")
    sub.add_parser("list", help="list the accounts")
    passwd = sub.add_parser("passwd", help="set an account's password")
    passwd.add_argument("name")
    remove = sub.add_parser(
        "remove", help="delete an account, its rooms' registrations and its private history"
    )
    remove.add_argument("name")
    return p


class AccountCommandError(Exception):
    """One line for stderr, exit status 1."""


def read_password(confirm: bool) -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if confirm and getpass.getpass("Again: ") != password:
            raise AccountCommandError("the passwords differ")
        return password
    return sys.stdin.readline().rstrip("\r\n")


def account_main(argv: Sequence[str]) -> int:
    args = account_parser().parse_args(argv)
    try:
        values: dict[str, Any] = load_toml(args.config) if args.config else {}
        if args.db:
            values["db"] = args.db
        config = build(values)
    except ConfigError as exc:
        print(f"chatd account: {exc}", file=sys.stderr)
        return 2
    db = config.db or default_path(os.environ)
    try:
        store = Store(db)
    except StoreError as exc:
        print(f"chatd account: {exc}", file=sys.stderr)
        return 1
    try:
        for line in _account_action(args, config, store):
            print(line)
        store.flush(0.0)
        if store.account_writes:
            raise AccountCommandError(f"cannot write {db} (see the log line above)")
    except AccountCommandError as exc:
        print(f"chatd account: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


def _account_action(args: argparse.Namespace, config: Config, store: Store) -> list[str]:
    records = {r.key: r for r in store.load_accounts()}
    owners = {nick: r for r in records.values() for nick, _ in r.nicks} | {
        key: r for key, r in records.items()
    }
    if args.action == "list":
        lines = []
        for r in records.values():
            created = time.strftime("%Y-%m-%d", time.gmtime(r.created))
            nicks = ",".join(name for _, name in r.nicks) or r.name
            lines.append(
                f"{r.name}\tcreated {created}\tnicks {nicks}\tcertificates {len(r.certs)}"
                f"\temail {r.email or '-'}"
            )
        return lines or ["no accounts"]
    name = args.name
    key = fold(name)
    if args.action == "add":
        problem = account_name_problem(name, config.nicklen)
        if problem is not None:
            raise AccountCommandError(f"{name}: {problem}")
        if key in owners:
            raise AccountCommandError(f"{name} is already registered")
        if args.email is not None and email_problem(args.email):
            raise AccountCommandError(f"{args.email}: {email_problem(args.email)}")
        credentials = _new_credentials(config)
        account = Account(name, key, int(time.time()), credentials, args.email, {key: name})
        store.save_account(account.record())
        return [f"account {name} added"]
    record = records.get(key)
    if record is None:
        raise AccountCommandError(f"no account {name}")
    if args.action == "passwd":
        account = Account.from_record(record)
        account.credentials = _new_credentials(config)
        store.save_account(account.record())
        return [f"password of {record.name} changed"]
    store.delete_account(key)
    store.flush(0.0)
    removed = store.delete_private_history(key)
    return [f"account {record.name} removed ({removed} private messages deleted)"]


def _new_credentials(config: Config) -> Any:
    password = read_password(confirm=True)
    problem = password_problem(password, config.account_password_min)
    if problem is not None:
        raise AccountCommandError(problem)
    return make_credentials(password, config.scram_iterations)


if __name__ == "__main__":
    sys.exit(main())
