"""Start and stop the server under test: chatd, or ngIRCd with a generated configuration.

A `Server` is the address to drive plus the pid to measure (CPU, RSS). `start_server` launches
one in a temporary directory, pinned to one core with taskset when the machine has two or more,
and waits (with a deadline) until its port accepts connections. `attach` wraps a server somebody
else started. No load generation here.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

SERVER_CORE = 0
SERVER_CPUS = str(SERVER_CORE)  # taskset's list for the servers (--server-cpus)
LOAD_CORE = 1

# ngIRCd 26 with every limit that can be switched off switched off. See docs/performance.md:
# MaxPenaltyTime = 0 turns command penalties into zero-second ones, user mode +F (set on every
# client through DefaultUserModes) skips throttling and raises the per-loop command budget from
# 3 to 10 commands per client. Its 2048-byte read buffer and 32 KiB write buffer per client are
# compiled in; the bench's bounded in-flight window keeps below both.
NGIRCD_CONF = """\
[Global]
\tName = bench.ngircd.local
\tInfo = chatd-bench reference server
\tAdminInfo1 = chatd-bench
\tAdminInfo2 = loopback
\tAdminEMail = bench@localhost
\tListen = {host}
\tPorts = {port}
\tMotdPhrase = bench
\tPidFile = {dir}/ngircd.pid
[Limits]
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxPenaltyTime = 0
\tPingTimeout = 600
\tPongTimeout = 120
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tDefaultUserModes = F
\tIncludeDir = {dir}/conf.d
{ssl}"""

NGIRCD_SSL = """[SSL]
\tCertFile = {cert}
\tKeyFile = {key}
\tPorts = {tls_port}
"""


@dataclass
class Server:
    """The server under test: where to connect, which pid to measure, how to stop it."""

    name: str
    host: str
    port: int
    pid: int | None
    pin: bool = False
    proc: subprocess.Popen[bytes] | None = None
    workdir: str | None = None
    notes: list[str] = field(default_factory=list)
    # a cluster: every node's port and pid (the first is `port`/`pid`), and its Redis
    ports: list[int] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    redis_pid: int | None = None
    redis_port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    nodes: int = 0  # cluster nodes; 0 for one process
    tls_port: int = 0  # a TLS listener too (the tls scenario), 0: none
    unix: bool = False  # the nodes reach Redis through its UNIX socket

    @property
    def all_ports(self) -> list[int]:
        return self.ports or [self.port]

    @property
    def server_pids(self) -> list[int]:
        return self.pids or ([self.pid] if self.pid else [])

    def stop(self) -> None:
        for proc in [*self.procs, *([self.proc] if self.proc is not None else [])]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def attach(host: str, port: int, pid: int | None, name: str = "server") -> Server:
    return Server(name=name, host=host, port=port, pid=pid)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def can_pin() -> bool:
    return (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None


def pin_self() -> None:
    """Pin the load generator to its own core (the server has SERVER_CORE)."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {LOAD_CORE})


def wait_for_port(
    host: str, port: int, deadline_s: float, proc: subprocess.Popen[bytes] | None
) -> None:
    """Connect every 5 ms until the port accepts, the process exits or time runs out."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"server did not accept on {host}:{port} within {deadline_s:.0f} s")


def _launch(
    name: str,
    argv: list[str],
    host: str,
    port: int,
    workdir: str | None,
    pin: bool,
    keep_dir: bool = False,
) -> Server:
    if pin and can_pin():
        argv = ["taskset", "-c", SERVER_CPUS, *argv]
    with open(os.path.join(workdir or tempfile.gettempdir(), f"{name}.log"), "wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(name, host, port, proc.pid, pin, proc=proc)
    if not keep_dir:
        server.workdir = workdir
    try:
        wait_for_port(host, port, 20.0, proc)
    except Exception:
        server.stop()
        if keep_dir and workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    return server


# Per-address admission limits switched off like ngIRCd's MaxConnectionsIP = 0 (every bench
# client comes from 127.0.0.1), and no history on disk. Each flag is passed only if this
# chatd's --help lists it.
CHATD_BENCH_FLAGS = {
    "--max-per-ip": "1000000",
    "--ip-connect-burst": "1000000",
    "--ip-connect-rate": "1000000000",
    # history kept in memory only: the bench never writes to the user's state directory
    "--db": ":memory:",
}


@dataclass
class ChatdOptions:
    """How chatd-bench runs chatd: `history` "memory" (the issue's table: the store's work
    without the disk's) or "file" (a database in the run's temporary directory, as in
    production), and `extra` arguments for its command line (--chatd-arg)."""

    history: str = "memory"
    extra: list[str] = field(default_factory=list)
    tls: bool = False  # chatd and ngIRCd get a TLS listener with a self-signed certificate


def make_certificate(workdir: str) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (openssl req): (cert, key) paths."""
    cert, key = os.path.join(workdir, "cert.pem"), os.path.join(workdir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )
    os.chmod(key, 0o644)  # ngIRCd reads it after switching to nobody
    os.chmod(workdir, 0o755)
    return cert, key


CHATD = ChatdOptions()


def chatd_command(host: str, port: int, workdir: str | None = None) -> list[str]:
    """The chatd command line for a benchmark: flood control and per-address limits off,
    history in memory unless CHATD.history is "file" (then in `workdir`)."""
    exe = shutil.which("chatd")
    argv = [exe] if exe else [sys.executable, "-m", "chatd"]
    helptext = subprocess.run([*argv, "--help"], check=False, capture_output=True, text=True)
    argv += ["--host", host, "--port", str(port), "--no-flood-limit", "--max-clients", "20000"]
    flags = dict(CHATD_BENCH_FLAGS)
    if CHATD.history == "file":
        flags["--db"] = os.path.join(workdir or tempfile.mkdtemp(prefix="chatd-bench-"), "h.db")
    for flag, value in flags.items():
        if flag in helptext.stdout:
            argv += [flag, value]
    return argv + CHATD.extra


def start_chatd(host: str = "127.0.0.1", port: int | None = None, pin: bool = True) -> Server:
    port = port or free_port(host)
    workdir = tempfile.mkdtemp(prefix="chatd-bench-")
    argv = chatd_command(host, port, workdir)
    tls_port = 0
    if CHATD.tls:
        cert, key = make_certificate(workdir)
        tls_port = free_port(host)
        argv += ["--tls-cert", cert, "--tls-key", key, "--tls-port", str(tls_port)]
    server = _launch("chatd", argv, host, port, workdir, pin)
    server.tls_port = tls_port
    return server


BENCH_CLOAK_KEY = "chatd-bench-cloak-key-0000"  # a cluster's nodes need one key


def start_redis(
    host: str, workdir: str, pin: bool, unix: bool = False
) -> tuple[subprocess.Popen[bytes], int]:
    """Returns the process and its port."""
    # a redis-server of the bench's own: no persistence (the log's cost, not the disk's)
    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )
    if exe is None:
        raise RuntimeError("redis-server not found: apt-get install redis-server")
    port = free_port(host)
    argv = [exe, "--port", str(port), "--bind", host, "--dir", workdir, "--save", ""]
    argv += ["--appendonly", "no"]
    if unix:
        argv += ["--unixsocket", os.path.join(workdir, "redis.sock"), "--unixsocketperm", "700"]
    if pin and can_pin():
        argv = ["taskset", "-c", SERVER_CPUS, *argv]
    with open(os.path.join(workdir, "redis.log"), "wb") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    wait_for_port(host, port, 10.0, proc)
    return proc, port  # taskset execs the server: proc.pid is Redis's


def start_cluster(n: int, host: str = "127.0.0.1", pin: bool = True, unix: bool = False) -> Server:
    """A redis-server and `n` chatd nodes joined through it, all on the server core; with
    `unix`, the nodes reach Redis through its UNIX socket instead of TCP."""
    workdir = tempfile.mkdtemp(prefix="chatd-bench-cluster-")
    redis_proc, redis_port = start_redis(host, workdir, pin, unix)
    redis_pid = redis_proc.pid
    url = f"redis://{host}:{redis_port}/0"
    if unix:
        url = f"unix://{os.path.join(workdir, 'redis.sock')}"
    config = Path(workdir, "node.toml")
    config.write_text(f'cloak-key = "{BENCH_CLOAK_KEY}"\n')
    name = f"cluster{n}" + ("u" if unix else "")
    server = Server(name, host, 0, None, pin, workdir=workdir, redis_pid=redis_pid, nodes=n)
    server.unix = unix
    server.redis_port = redis_port
    server.procs.append(redis_proc)
    try:
        for k in range(n):
            port = free_port(host)
            argv = chatd_command(host, port, workdir)
            argv += ["--config", str(config), "--cluster", url]
            argv += ["--node-name", f"n{k}"]
            node = _launch(f"node{k}", argv, host, port, workdir, pin, keep_dir=True)
            server.procs.append(node.proc)  # type: ignore[arg-type]
            server.ports.append(port)
            server.pids.append(node.pid)  # type: ignore[arg-type]
    except Exception:
        server.stop()
        raise
    if not n:  # Redis alone (the log scenario)
        server.name, server.port, server.notes = "redis", redis_port, ["redis-server alone"]
        return server
    server.port, server.pid = server.ports[0], server.pids[0]
    server.notes = [
        f"{server.name}: {n} chatd nodes and redis-server (no persistence, "
        f"{'UNIX socket' if unix else 'TCP'}) on the server core; srv CPU sums the nodes, "
        "Redis's CPU is its own column"
    ]
    return server


def start_ngircd(host: str = "127.0.0.1", port: int | None = None, pin: bool = True) -> Server:
    exe = shutil.which("ngircd") or (
        "/usr/sbin/ngircd" if os.path.exists("/usr/sbin/ngircd") else None
    )
    if exe is None:
        raise RuntimeError("ngircd not found: apt-get install ngircd")
    port = port or free_port(host)
    workdir = tempfile.mkdtemp(prefix="ngircd-bench-")
    Path(workdir, "conf.d").mkdir()
    conf = Path(workdir, "ngircd.conf")
    ssl, tls_port = "", 0
    if CHATD.tls:
        cert, key = make_certificate(workdir)
        tls_port = free_port(host)
        ssl = NGIRCD_SSL.format(cert=cert, key=key, tls_port=tls_port)
    conf.write_text(NGIRCD_CONF.format(host=host, port=port, dir=workdir, ssl=ssl))
    # -n: stay in the foreground so the pid we hold is the server's; -p: no server links.
    server = _launch("ngircd", [exe, "-n", "-p", "-f", str(conf)], host, port, workdir, pin)
    server.tls_port = tls_port
    server.notes = ["ngIRCd: MaxPenaltyTime=0, DefaultUserModes=F, MaxConnectionsIP=0"]
    return server


def restart(server: Server) -> Server:
    """A fresh process of a server this tool started (e.g. for RSS figures); others as they are."""
    if server.proc is None and not server.procs:
        return server
    server.stop()
    if server.nodes:
        return start_cluster(server.nodes, server.host, pin=server.pin, unix=server.unix)
    fresh = start_server(server.name, server.host, pin=server.pin)
    fresh.notes = server.notes
    return fresh


def start_server(kind: str, host: str = "127.0.0.1", pin: bool = True) -> Server:
    if kind == "chatd":
        return start_chatd(host, pin=pin)
    if kind == "ngircd":
        return start_ngircd(host, pin=pin)
    raise ValueError(f"unknown server {kind!r}")
