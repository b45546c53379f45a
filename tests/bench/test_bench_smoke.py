"""Smoke test of chatd-bench: a tiny fanout and connect run against a chatd subprocess.

Starts `chatd` on a free loopback port, drives it with `python -m chatd.bench --json` for about
a second per scenario, and checks the figures are plausible (deliveries counted, none lost).
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chatd.bench.servers import chatd_command

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _wait_accepting(port: int, proc: subprocess.Popen[bytes], deadline_s: float = 15.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        assert proc.poll() is None, f"chatd exited with {proc.returncode}"
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise AssertionError(f"chatd did not accept on port {port} within {deadline_s} s")


@pytest.fixture
def chatd() -> Iterator[tuple[int, int]]:
    port = _free_port()
    # chatd --no-flood-limit --max-clients 20000, per-address limits off, history in memory
    cmd = chatd_command(HOST, port)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_accepting(port, proc)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _bench(port: int, pid: int, *args: str) -> dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "chatd.bench",
        "--host",
        HOST,
        "--port",
        str(port),
        "--pid",
        str(pid),
        "--duration",
        "1",
        "--warmup",
        "0.2",
        "--repeat",
        "1",
        "--no-pin",
        "--json",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_fanout_counts_deliveries_and_loses_none(chatd: tuple[int, int]) -> None:
    port, pid = chatd
    out = _bench(port, pid, "--scenario", "fanout", "-N", "10", "-S", "2", "--clients", "eager")
    (result,) = out["results"]
    fig = result["figures"]
    assert "error" not in fig, fig
    assert fig["deliveries_per_s"] > 0
    assert fig["messages_per_s"] > 0
    assert fig["lost"] == 0
    assert fig["disconnects"] == 0
    assert fig["latency_p50_ms"] is not None and fig["latency_p50_ms"] >= 0
    assert fig["server_cpu_pct"] is not None and fig["server_cpu_pct"] >= 0


def test_connect_registers_clients(chatd: tuple[int, int]) -> None:
    port, pid = chatd
    out = _bench(port, pid, "--scenario", "connect", "--concurrency", "4")
    (result,) = out["results"]
    fig = result["figures"]
    assert "error" not in fig, fig
    assert fig["registrations_per_s"] > 0
    assert fig["connect_errors"] == 0


def _bench_alone(*args: str) -> dict[str, Any]:
    """chatd-bench starting its own servers (a cluster: redis-server and chatd nodes)."""
    cmd = [sys.executable, "-m", "chatd.bench", "--duration", "1", "--warmup", "0.2"]
    cmd += ["--repeat", "1", "--no-pin", "--json", *args]
    done = subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    return json.loads(done.stdout)


def _need_redis() -> None:
    from cluster_harness import need_redis

    need_redis()


def test_cluster_fanout_crosses_nodes_and_loses_none():
    _need_redis()
    out = _bench_alone(
        "--cluster", "2", "--scenario", "fanout", "-N", "10", "-S", "2", "--clients", "eager"
    )
    by = {r["server"]: r["figures"] for r in out["results"] if r["params"]["eager"]}
    assert set(by) == {"chatd", "cluster2"}
    for fig in by.values():
        assert "error" not in fig, fig
        assert fig["deliveries_per_s"] > 0 and fig["lost"] == 0 and fig["disconnects"] == 0
    cluster = by["cluster2"]
    assert cluster["server_cpu_pct"] is not None  # the nodes' CPU, summed
    assert cluster["redis_cpu_pct"] is not None  # Redis's own
    assert by["chatd"]["redis_cpu_pct"] is None
    assert any("cluster2: 2 chatd nodes" in note for note in out["notes"])


def test_log_scenario_measures_one_redis():
    _need_redis()
    out = _bench_alone("--scenario", "log", "-N", "2", "--lines", "4")
    (result,) = out["results"]
    fig = result["figures"]
    assert "error" not in fig, fig
    assert fig["entries_per_s"] > 0
    assert fig["messages_per_s"] == fig["entries_per_s"] * 4
    assert fig["reads_per_s"] > 0 and fig["redis_cpu_us_per_entry"] > 0
