"""Command line of chatd-bench: parse options, plan runs, start servers, print the table.

    chatd-bench --server ngircd --scenario fanout -N 100 -S 10 --duration 5
    chatd-bench --host 127.0.0.1 --port 6667 --pid 1234 --scenario connect
    chatd-bench --server chatd --compare            # every scenario, chatd and ngIRCd, ratios
    chatd-bench --cluster 2 --scenario fanout       # one process and a 2-node cluster, ratios

Runs are interleaved across servers (run 1 on chatd, run 1 on ngIRCd, run 2 ...) and each
figure is the median over --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from typing import Any

from chatd.bench import cload, procfs, report, servers
from chatd.bench.load import SetupError, base36
from chatd.bench.scenarios import Params, run
from chatd.bench.servers import Server
from chatd.bench.stats import median_figures

FD_MARGIN = 64


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="chatd-bench", description=__doc__.split("\n\n")[0])
    target = ap.add_argument_group("server under test")
    target.add_argument("--host", default="127.0.0.1")
    target.add_argument("--port", type=int, help="drive an already-running server on this port")
    target.add_argument("--pid", type=int, help="its pid, for CPU%% and RSS figures")
    target.add_argument(
        "--server",
        choices=("chatd", "ngircd"),
        default="chatd",
        help="start this server (ignored with --port); default chatd",
    )
    target.add_argument(
        "--compare",
        action="store_true",
        help="also start ngIRCd and run the same scenarios; print ratios",
    )
    target.add_argument(
        "--cluster",
        type=int,
        default=0,
        metavar="N",
        help="also start redis-server and N chatd nodes joined through it, and run the same "
        "scenarios on them, clients spread across the nodes (fanout: senders on the first "
        "node, receivers on the others); ratios against one process",
    )
    target.add_argument(
        "--redis-link",
        choices=("tcp", "unix", "both"),
        default="tcp",
        help="how --cluster nodes reach Redis (both: one cluster of each)",
    )
    target.add_argument("--no-pin", action="store_true", help="do not pin server/load to cores")
    target.add_argument(
        "--server-cpus",
        default=str(servers.SERVER_CORE),
        metavar="LIST",
        help="cores the servers may run on (taskset -c LIST; default 0: one core, the load on "
        "core 1). 0,1 lets a server's threads use the load's core too",
    )
    target.add_argument(
        "--history",
        choices=("memory", "file"),
        default=None,
        help="chatd's history: in memory (as in issue 14's table; the default) or in a database "
        "file in the run's temporary directory (the default of --scenario realistic)",
    )
    target.add_argument(
        "--chatd-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for chatd's command line (repeatable), e.g. "
        "--chatd-arg=--flush-delay=0.005",
    )
    sc = ap.add_argument_group("scenario")
    sc.add_argument(
        "--scenario",
        choices=(
            *("fanout", "rooms", "realistic", "tls", "idle", "connect", "log", "all"),
            *("rates", "sizes"),
        ),
        default="all",
        help="log: no chatd, the ceiling of one Redis as a cluster's log (-N nodes, --lines)",
    )
    sc.add_argument(
        "--lines",
        default="1,8,32",
        metavar="K,K,...",
        help="log: client lines per log entry, one run each (default 1,8,32)",
    )
    sc.add_argument("-N", type=int, help="clients (fanout 100, rooms 1000, idle 1000)")
    sc.add_argument("-S", type=int, default=10, help="senders in fanout (default 10)")
    sc.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="aggregate messages/s; 0 = as fast as the in-flight window allows",
    )
    sc.add_argument(
        "--clients",
        choices=("eager", "ordinary", "both"),
        default=None,
        help="client flavour: eager = TCP_NODELAY+QUICKACK; ordinary = defaults",
    )
    sc.add_argument(
        "--labels",
        choices=("plain", "labeled", "both"),
        default="plain",
        help="fanout: senders label every message with labeled-response (as chat-client does)",
    )
    sc.add_argument("--room-size", type=int, default=5, help="members per room in rooms")
    sc.add_argument(
        "--concurrency",
        default="32",
        metavar="C[,C...]",
        help="registrations in progress at a time (connect: one run each; setup: the first)",
    )
    sc.add_argument("--window", type=int, default=24, help="unacknowledged messages per sender")
    sc.add_argument("--batch", type=int, default=8, help="messages per write; one PING per batch")
    sc.add_argument(
        "--load",
        choices=("c", "python"),
        default="c",
        help="load generator for fanout and connect: c (cload.c, compiled on first use; the "
        "default) or python (load.py; rooms, idle and the others always use it)",
    )
    run_ = ap.add_argument_group("measuring")
    run_.add_argument("--duration", type=float, default=10.0, help="window length in s (10)")
    run_.add_argument("--warmup", type=float, default=1.0, help="sending before the window (1 s)")
    run_.add_argument("--repeat", type=int, default=3, help="runs per figure; medians (3)")
    run_.add_argument("--json", action="store_true", help="print JSON instead of the table")
    run_.add_argument("--render", metavar="FILE", help="print the table of a saved --json output")
    run_.add_argument(
        "--plot",
        metavar="FILE",
        help="write SVG pictures of a saved --json output next to it (needs the bench extra)",
    )
    sc.add_argument(
        "--rates",
        default="50,100,200,400,800",
        metavar="R,R,...",
        help="--scenario rates: fanout (-N, default 1000) at each of these messages/s",
    )
    sc.add_argument(
        "--sizes",
        default="10,30,100,300,1000",
        metavar="N,N,...",
        help="--scenario sizes: fanout at full speed with each of these room sizes",
    )
    run_.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="S",
        help="on a shared machine: before each run wait up to S s until it is idle (<10%% CPU)",
    )
    run_.add_argument(
        "--big",
        action="store_true",
        help="with --scenario all: add fanout N=10000 at 200/s (setup is O(N^2): minutes)",
    )
    return ap.parse_args(argv)


def plan(args: argparse.Namespace, fd_limit: int) -> tuple[list[Params], list[str]]:
    """The runs to make, and notes about runs left out."""
    levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    base = Params(
        kind="fanout",
        duration=args.duration,
        warmup=args.warmup,
        window=args.window,
        batch=args.batch,
        room_size=args.room_size,
        concurrency=levels[0],
        generator=args.load,
    )
    flavours = {"eager": [True], "ordinary": [False], "both": [True, False], None: None}[
        args.clients
    ]
    runs: list[Params] = []
    if args.scenario == "all":
        runs += [
            replace(base, kind="idle", n=args.N or 1000),
            # the table: registrations 8 and 32 at a time
            *(replace(base, kind="connect", concurrency=c) for c in sorted({8, *levels})),
            replace(base, kind="fanout", n=100, s=10, eager=True),
            replace(base, kind="fanout", n=100, s=10, eager=False),
            replace(base, kind="fanout", n=100, s=10, eager=True, labeled=True),
            replace(base, kind="fanout", n=1000, s=10, rate=200),
            replace(base, kind="rooms", n=1000, rate=0),
        ]
        if args.big:
            runs.append(replace(base, kind="fanout", n=10000, s=10, rate=200))
    elif args.scenario == "fanout":
        labels = {"plain": [False], "labeled": [True], "both": [False, True]}[args.labels]
        for eager in flavours or [True, False]:
            for labeled in labels:
                runs.append(
                    replace(
                        base,
                        kind="fanout",
                        n=args.N or 100,
                        s=args.S,
                        rate=args.rate,
                        eager=eager,
                        labeled=labeled,
                    )
                )
    elif args.scenario == "rooms":
        for eager in flavours or [True]:
            runs.append(replace(base, kind="rooms", n=args.N or 1000, rate=args.rate, eager=eager))
    elif args.scenario == "log":
        for lines in args.lines.split(","):
            runs.append(replace(base, kind="log", n=args.N or 2, s=int(lines)))
    elif args.scenario == "rates":
        for r in args.rates.split(","):
            runs.append(replace(base, kind="fanout", n=args.N or 1000, s=args.S, rate=float(r)))
    elif args.scenario == "sizes":
        for size in args.sizes.split(","):
            runs.append(replace(base, kind="fanout", n=int(size), s=min(args.S, int(size))))
    elif args.scenario == "tls":
        for eager in flavours or [True]:
            runs.append(
                replace(base, kind="fanout", n=args.N or 100, s=args.S, rate=args.rate, eager=eager)
            )
            runs.append(replace(runs[-1], tls=True))
    elif args.scenario == "realistic":
        runs.append(replace(base, kind="realistic", n=args.N or 5000, rate=args.rate or 20.0))
    elif args.scenario == "connect":
        runs += [replace(base, kind="connect", concurrency=c) for c in levels]
    else:
        runs.append(replace(base, kind=args.scenario, n=args.N or 1000))
    notes = []
    kept = []
    for p in runs:
        need = p.n + FD_MARGIN if p.kind != "connect" else p.concurrency * 4 + FD_MARGIN
        need = FD_MARGIN if p.kind == "log" else need
        if need > fd_limit:
            notes.append(f"skipped {p.label}: needs {need} fds, RLIMIT_NOFILE is {fd_limit}")
        else:
            kept.append(p)
    return kept, notes


def start_servers(args: argparse.Namespace) -> list[Server]:
    pin = not args.no_pin
    if args.scenario == "log":
        return [servers.start_cluster(0, args.host, pin)]
    if args.port:
        first = servers.attach(
            args.host, args.port, args.pid, name=args.server if args.compare else "server"
        )
        if args.compare:
            first.name = "chatd"
    else:
        first = servers.start_server(args.server, args.host, pin=pin)
    out = [first]
    if args.compare:
        out.append(servers.start_ngircd(args.host, pin=pin))
    if args.cluster:
        for link in ("tcp", "unix") if args.redis_link == "both" else (args.redis_link,):
            out.append(servers.start_cluster(args.cluster, args.host, pin, link == "unix"))
    return out


def compare_pairs(targets: list[Server]) -> list[tuple[str, str]]:
    """Ratio rows: chatd against ngIRCd, a cluster against one process."""
    names = [t.name for t in targets]
    pairs = []
    if len(names) > 1 and names[1] == "ngircd":
        pairs.append((names[0], "ngircd"))
    pairs += [(t.name, names[0]) for t in targets[1:] if t.nodes]
    return pairs


def wait_quiet(server: Server | int | None, limit_s: float = 60.0) -> None:
    """Let the server finish with the last run's clients: until it uses <10% CPU for 0.2 s
    (a cluster: its nodes and its Redis together)."""
    if isinstance(server, Server):
        pids = server.server_pids + ([server.redis_pid] if server.redis_pid else [])
    else:
        pids = [server] if server else []
    if not pids:
        time.sleep(0.5)
        return
    end = time.monotonic() + limit_s

    def cpu() -> float:
        return sum(procfs.cpu_seconds(pid) for pid in pids if procfs.alive(pid))

    last = cpu()
    while time.monotonic() < end and all(procfs.alive(pid) for pid in pids):
        time.sleep(0.2)
        now = cpu()
        if now - last < 0.02:
            return
        last = now


def wait_idle_machine(limit_s: float) -> None:
    """Wait until the machine as a whole is idle (<10% of a core for 1 s), at most limit_s."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end and procfs.machine_busy_pct(1.0) >= 10.0:
        pass


# servers without IRCv3 labeled-response: labeled runs are made against the others only
NO_LABELED_RESPONSE = {"ngircd"}


def measure(
    runs: list[Params], targets: list[Server], repeat: int, wait_idle: float = 0.0
) -> list[dict[str, Any]]:
    results: dict[tuple[str, int], dict[str, Any]] = {}
    counter = 0
    for i, p in enumerate(runs):
        for rep in range(repeat):
            for t, srv in enumerate(targets):
                if p.labeled and srv.name in NO_LABELED_RESPONSE:
                    continue  # it would answer no label: the run measures nothing comparable
                if p.kind == "idle":  # RSS growth needs a heap no earlier run has grown
                    srv = targets[t] = servers.restart(srv)
                counter += 1
                this = replace(p, prefix=p.kind[0] + base36(counter))
                for other in targets:  # they share the server core: all must be quiet
                    wait_quiet(other)
                if wait_idle > 0:
                    wait_idle_machine(wait_idle)
                dead = [p for p in [srv.proc, *srv.procs] if p is not None and p.poll() is not None]
                if dead:
                    figures = {"error": f"{srv.name} exited with status {dead[0].returncode}"}
                    print(f"  error: {figures['error']}", file=sys.stderr)
                else:
                    print(
                        f"[{srv.name}] {p.label} run {rep + 1}/{repeat}",
                        file=sys.stderr,
                        flush=True,
                    )
                    try:
                        figures = run(srv, this)
                    except (SetupError, OSError) as exc:
                        figures = {"error": str(exc)}
                        print(f"  error: {exc}", file=sys.stderr)
                entry = results.setdefault(
                    (srv.name, i),
                    {
                        "server": srv.name,
                        "kind": p.kind,
                        "label": p.label,
                        "params": p.public(),
                        "runs": [],
                    },
                )
                entry["runs"].append(figures)
    out = list(results.values())
    for entry in out:
        entry["figures"] = median_figures(entry["runs"])
    return out


BUSY_OTHER_PCT = 30.0


def busy_machine_notes(results: list[dict[str, Any]]) -> list[str]:
    """Warn about runs during which something besides server and load used much CPU."""
    worst = max(
        (run.get("other_cpu_pct") or 0.0 for r in results for run in r["runs"]), default=0.0
    )
    if worst <= BUSY_OTHER_PCT:
        return []
    return [
        f"WARNING: other processes used up to {worst:.0f}% CPU during a run; "
        "re-run on a quiet machine"
    ]


def render(path: str) -> int:
    with open(path) as f:
        saved = json.load(f)
    results = saved["results"]
    names = list(dict.fromkeys(r["server"] for r in results))
    compare = [(names[0], "ngircd")] if "ngircd" in names[1:] else []
    compare += [(name, names[0]) for name in names[1:] if name.startswith("cluster")]
    repeat = max((len(r["runs"]) for r in results), default=1)
    duration = next((r["params"]["duration"] for r in results if "duration" in r["params"]), 0.0)
    print(report.header(saved["machine"], saved.get("notes", []), repeat, duration))
    print()
    print(report.table(results, compare))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        return render(args.render)
    if args.plot:
        from chatd.bench.plots import plot_file

        for name in plot_file(args.plot):
            print(name)
        return 0
    fd_limit = procfs.raise_fd_limit()
    early: list[str] = []
    if args.load == "c":
        if cload.binary() is None:  # compiled now, not inside a measured run
            args.load = "python"
            early.append("no C compiler: the Python load generator drives every scenario")
        else:
            early.append("load: the C generator (cload.c) for fanout and connect, Python else")
    servers.SERVER_CPUS = args.server_cpus
    if args.server_cpus != str(servers.SERVER_CORE):
        early.append(f"servers on cores {args.server_cpus} (taskset), the load on core 1")
    servers.CHATD.history = args.history or ("file" if args.scenario == "realistic" else "memory")
    servers.CHATD.extra = list(args.chatd_arg)
    servers.CHATD.tls = args.scenario == "tls"
    if servers.CHATD.history == "file":
        early.append("chatd: history in a database file")
    if args.chatd_arg:
        early.append("chatd: " + " ".join(args.chatd_arg))
    runs, notes = plan(args, fd_limit)
    notes = early + notes
    targets = start_servers(args)
    try:
        if not args.no_pin:
            servers.pin_self()
        results = measure(runs, targets, max(1, args.repeat), args.wait_idle)
    finally:
        for srv in targets:
            srv.stop()
    for srv in targets:
        notes.extend(srv.notes)
        if srv.name in NO_LABELED_RESPONSE and any(p.labeled for p in runs):
            notes.append(f"{srv.name} has no labeled-response: the labeled runs are chatd's only")
    notes.extend(busy_machine_notes(results))
    machine = procfs.machine_summary()
    if args.json:
        print(report.to_json(machine, results, notes))
    else:
        compare = compare_pairs(targets)
        print(report.header(machine, notes, max(1, args.repeat), args.duration))
        print()
        print(report.table(results, compare))
    return 0


if __name__ == "__main__":
    sys.exit(main())
