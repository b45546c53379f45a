"""`chatd cluster ...`: looking at a running cluster from the command line, through Redis.

    chatd cluster status --cluster redis://127.0.0.1:6379/0 [--network chatd]

prints the log (length, newest entry), the leader and the snapshot, then one line per node: its
lease (time left), the log position it applied, its lag and its users. It reads with the same
script the nodes use for STATS R (cluster/stats.py:STATUS), through redis-py: blocking is fine in
a command. Redis unreachable or refusing: one line on stderr, exit 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .cluster.stats import STATUS, parse_status
from .server.config import Config
from .server.opstats import LogFigures, NodeLease, seconds, size

EXIT_UNREACHABLE = 1
EXIT_USAGE = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chatd cluster", description="Look at a chatd cluster through its Redis."
    )
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    status = sub.add_parser(
        "status", help="the nodes, their leases, log positions and lag; the leader; the snapshot"
    )
    status.add_argument(
        "--cluster", required=True, metavar="URL", help="the cluster's Redis, redis://host:port/db"
    )
    status.add_argument(
        "--network",
        default=Config().network,
        help=f"the network's name (its keys are chatd:NAME:...; default {Config().network})",
    )
    status.add_argument(
        "--timeout", type=float, default=5.0, metavar="SECONDS", help="Redis timeout (default 5)"
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = parser().parse_args(list(argv))
    if args.action == "status":
        return status(args.cluster, args.network, args.timeout)
    return EXIT_USAGE  # pragma: no cover - argparse refuses other actions


def status(url_text: str, network: str, timeout: float) -> int:
    try:
        import redis
    except ImportError:
        print("chatd: cluster status needs redis-py: pip install 'chatd[cluster]'", file=sys.stderr)
        return EXIT_UNREACHABLE
    from .net.redis import RedisURL

    try:
        url = RedisURL(url_text)
    except ValueError as exc:
        print(f"chatd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    client = url.blocking_client(timeout, timeout)
    prefix = f"chatd:{network}:"
    try:
        if not client.exists(prefix + "epoch"):
            print(f"chatd: no network {network!r} in {url}", file=sys.stderr)
            return EXIT_UNREACHABLE
        reply = client.eval(STATUS, 0, prefix)
    except (redis.RedisError, OSError) as exc:
        print(f"chatd: cannot read the cluster at {url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        client.close()
    for line in render(parse_status(reply, time.time()), network):
        print(line)
    return 0


def render(logf: LogFigures, network: str) -> list[str]:
    live = [lease for lease in logf.nodes if lease.live]
    names = {lease.node: lease.figures.server for lease in logf.nodes if lease.figures}
    leader = "no leader"
    if logf.leader:
        leader = f"leader {names.get(logf.leader, logf.leader)}"
        leader += f" ({seconds(logf.leader_ms / 1000)} left)"
    out = [
        f"network {network}: {len(live)} live node{'s' if len(live) != 1 else ''}, "
        f"log {logf.length} entries (newest {logf.last_id or '-'}), {leader}"
    ]
    if logf.snapshot_position:
        age = f", {seconds(logf.read_at - logf.snapshot_wall)} old" if logf.snapshot_wall else ""
        out.append(f"snapshot at {logf.snapshot_position}, {size(logf.snapshot_bytes)}{age}")
    else:
        out.append(f"snapshot {size(logf.snapshot_bytes)} (position not recorded yet)")
    for lease in logf.nodes:
        out.append(node_line(lease, logf))
    return out


def node_line(lease: NodeLease, logf: LogFigures) -> str:
    fig = lease.figures
    name = fig.server if fig is not None else lease.node
    lease_text = f"lease {seconds(lease.lease_ms / 1000)} left" if lease.live else "lease expired"
    parts = [f"{name:<24}", lease_text, f"at {lease.position or '-'}"]
    if fig is not None:
        lag = f"lag {fig.lag_ms:.1f} ms" if fig.lag_ms >= 0 else "lag -"
        parts += [
            lag,
            f"{fig.users} users",
            f"{fig.lines_per_s:.0f} lines/s",
            f"RSS {size(fig.rss_bytes)}",
            f"pid {fig.pid}",
        ]
        if logf.read_at - fig.updated >= 3:
            parts.append(f"figures {seconds(logf.read_at - fig.updated)} old")
    if lease.node == logf.leader:
        parts.append("leader")
    parts.append(f"id {lease.node}")
    return "  ".join(parts)
