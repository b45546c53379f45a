"""Faults: a chatd killed with SIGKILL and restarted on its port at once, peers that vanish
without a FIN (a silent client, and a true half-open one behind a network namespace), and a
thousand clients that never read while others chat."""

from __future__ import annotations

import os
import resource
import select
import shutil
import socket
import subprocess
import sys
import time

import pytest
from ircclient import Client, wait_for

SLOW_READERS = int(os.environ.get("CHATD_SLOW_READERS", "1000"))


def test_kill_9_then_restart_on_the_same_port_at_once(chatd_proc):
    first = chatd_proc("--no-flood-limit")
    alice = Client(first.port)
    alice.register("alice")
    alice.join("#room")
    bob = Client(first.port)
    bob.register("bob")
    bob.join("#room")
    first.kill9()
    alice.wait_closed()
    bob.wait_closed()
    # the killed server's side of both links sits in TIME_WAIT on this port: binding again
    # works only with SO_REUSEADDR, and must work at once
    second = chatd_proc("--no-flood-limit", port=first.port)
    assert second.port == first.port
    alice = Client(second.port)
    alice.register("alice")  # the nick is free again: state died with the process
    alice.join("#room")
    bob = Client(second.port)
    bob.register("bob")
    bob.join("#room")
    alice.send("PRIVMSG #room :back")
    bob.expect("PRIVMSG #room :back")


def _watch_for_quit(watcher: Client, nick: str, timeout: float) -> str:
    """Wait for `nick`'s QUIT, answering the server's PINGs meanwhile."""
    end = time.monotonic() + timeout
    while True:
        msg = watcher.expect(rf"^PING |:{nick}!\S+ QUIT ", max(0.01, end - time.monotonic()))
        if msg.command == "PING":
            watcher.send(f"PONG :{msg.params[-1]}")
            continue
        return msg.params[-1]


def test_a_peer_that_stops_reading_and_answering_is_reaped(server_factory):
    srv = server_factory(flood_limit=False, ping_interval=0.3, ping_timeout=0.5)
    watcher = srv.client("watcher")
    watcher.join("#r")
    silent = srv.client("silent")
    silent.join("#r")
    start = time.monotonic()
    # from now on `silent` neither reads nor answers: as a peer that vanished without a FIN
    reason = _watch_for_quit(watcher, "silent", 10)
    assert reason.startswith("Ping timeout")
    assert time.monotonic() - start >= 0.3  # not before a PING went unanswered
    wait_for(lambda: srv.state.find_user("silent") is None, what="silent forgotten")
    silent.close()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns():
    """A network namespace joined to this one by a veth pair: (namespace, host address,
    peer address, the peer's interface). Needs root and iproute2."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("a network namespace needs root and iproute2")
    tag = f"{os.getpid() % 100000}"
    ns, host_if, peer_if = f"chatd{tag}", f"cha{tag}", f"chb{tag}"
    subnet = 100 + os.getpid() % 100
    host_ip, peer_ip = f"10.213.{subnet}.1", f"10.213.{subnet}.2"
    try:
        _ip("netns", "add", ns)
    except (subprocess.CalledProcessError, OSError):
        pytest.skip("cannot create a network namespace here")
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _ip("link", "set", peer_if, "netns", ns)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{peer_ip}/30", "dev", peer_if)
        _ip("netns", "exec", ns, "ip", "link", "set", peer_if, "up")
        _ip("netns", "exec", ns, "ip", "link", "set", "lo", "up")
        yield ns, host_ip, peer_ip, peer_if
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10, check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=10, check=False)


GHOST = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
s.sendall(b"NICK ghost\\r\\nUSER g 0 * :ghost\\r\\nJOIN #r\\r\\n")
buf = b""
while b" 366 " not in buf:
    buf += s.recv(65536)
print("ready", flush=True)
sys.stdin.read()  # hold the socket open until the test is done
"""


def test_a_half_open_peer_is_reaped_by_the_ping_timeout(server_factory, netns):
    """A true half-open link: the client sits in another network namespace, then its link
    goes down. No FIN, no RST ever reaches the server; only the ping timeout can tell."""
    ns, host_ip, _peer_ip, peer_if = netns
    srv = server_factory(host=host_ip, flood_limit=False, ping_interval=0.5, ping_timeout=1.0)
    watcher = Client(srv.port, host=host_ip)
    watcher.register("watcher")
    watcher.join("#r")
    ghost = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", GHOST, host_ip, str(srv.port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([ghost.stdout], [], [], 15)
        assert ready and ghost.stdout.readline().strip() == "ready"
        watcher.expect(r":ghost!\S+ JOIN ")
        _ip("netns", "exec", ns, "ip", "link", "set", peer_if, "down")
        reason = _watch_for_quit(watcher, "ghost", 15)
        assert reason.startswith("Ping timeout")
        assert ghost.poll() is None  # the client never noticed: the link is half-open
    finally:
        ghost.kill()
        ghost.wait(5)


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _drain(client: Client) -> None:
    """Read whatever is waiting without blocking, and forget it."""
    while client._read(0.0):
        pass
    client.lines.clear()
    client.seen = 0


@pytest.mark.soak
def test_a_thousand_slow_readers_while_others_chat(chatd_proc):
    n = SLOW_READERS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
    sendq = 64 * 1024
    proc = chatd_proc(
        "--sendq",
        str(sendq),
        "--no-flood-limit",
        "--max-per-ip",
        "5000",
        "--ip-connect-burst",
        "5000",
        "--ip-connect-rate",
        "5000",
        "--max-clients",
        "5000",
        "--log-level",
        "INFO",
    )
    baseline = _status_kib(proc.pid, "VmRSS")
    talker = Client(proc.port)
    talker.register("talker")
    talker.join("#big")
    ann, ben = Client(proc.port), Client(proc.port)
    ann.register("ann")
    ben.register("ben")
    ann.join("#calm")
    ben.join("#calm")
    readers = []
    try:
        for i in range(n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast
            s.settimeout(10)
            s.connect(("127.0.0.1", proc.port))
            s.sendall(f"NICK sr{i}\r\nUSER u 0 * :slow\r\nJOIN #big\r\n".encode())
            readers.append(s)
            if i % 100 == 0:
                _drain(talker)
        text = "x" * 400
        round_trips, worst = 0, 0.0
        peak = baseline
        deadline = time.monotonic() + 120
        sent = 0
        while True:
            talker.send(*[f"PRIVMSG #big :{sent + k} {text}" for k in range(50)])
            sent += 50
            _drain(talker)
            start = time.monotonic()
            round_trips += 1
            ann.send(f"PRIVMSG #calm :rt {round_trips}")
            ben.expect(f"PRIVMSG #calm :rt {round_trips}$", 10)
            ben.send(f"PING :rt{round_trips}")
            ben.expect(f"PONG .*rt{round_trips}", 10)
            worst = max(worst, time.monotonic() - start)
            peak = max(peak, _status_kib(proc.pid, "VmRSS"))
            dropped = proc.log().count("SendQ exceeded")
            if dropped >= n * 0.95 or time.monotonic() > deadline:
                break
        hwm = _status_kib(proc.pid, "VmHWM")
        end_rss = _status_kib(proc.pid, "VmRSS")
        bound = baseline + n * (sendq + 64 * 1024) // 1024
        print(
            f"{n} slow readers, sendq {sendq}: {sent} messages of 400 bytes, {dropped} "
            f"dropped for SendQ; server RSS {baseline} KiB at start, peak {hwm} KiB "
            f"(sampled {peak}), {end_rss} KiB at the end; bound {bound} KiB; "
            f"{round_trips} round trips for the others, worst {worst * 1000:.0f} ms"
        )
        assert dropped >= n * 0.95, "slow readers were not dropped at their sendq"
        assert hwm < bound
        assert worst < 10
        talker.sync()
        ann.send("PRIVMSG #calm :still here")
        ben.expect("still here")
        assert "Traceback" not in proc.log()
    finally:
        for s in readers:
            s.close()
