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


def test_labeled_senders_are_counted_without_their_acks(chatd: tuple[int, int]) -> None:
    port, pid = chatd
    out = _bench(
        port,
        pid,
        "--scenario",
        "fanout",
        "-N",
        "10",
        "-S",
        "2",
        "--clients",
        "eager",
        "--labels",
        "both",
    )
    by = {r["params"]["labeled"]: r["figures"] for r in out["results"]}
    for fig in by.values():
        assert "error" not in fig, fig
        assert fig["deliveries_per_s"] > 0 and fig["lost"] == 0 and fig["extra"] == 0


def test_realistic_scenario_with_chat_clients_loses_nothing() -> None:
    out = _bench_alone("--scenario", "realistic", "-N", "200", "--rate", "40")
    (result,) = out["results"]
    fig = result["figures"]
    assert "error" not in fig, fig
    assert fig["messages_per_s"] > 0 and fig["lost"] == 0 and fig["extra"] == 0
    assert fig["echo_clients"] == fig["chat_clients"] > 0  # chatd ACKed echo-message
    assert fig["rss_mib"] > 0 and fig["latency_p99_ms"] is not None
    assert any("history in a database file" in note for note in out["notes"])


def test_tls_fanout_counts_deliveries_over_tls() -> None:
    out = _bench_alone("--scenario", "tls", "-N", "10", "-S", "2", "--clients", "eager")
    by = {r["params"]["tls"]: r["figures"] for r in out["results"]}
    assert set(by) == {False, True}
    for fig in by.values():
        assert "error" not in fig, fig
        assert fig["deliveries_per_s"] > 0 and fig["lost"] == 0 and fig["disconnects"] == 0


def test_sweeps_run_and_plot(tmp_path) -> None:
    out = _bench_alone("--scenario", "sizes", "--sizes", "5,12")
    assert [r["params"]["n"] for r in out["results"]] == [5, 12]
    assert all(r["figures"]["lost"] == 0 for r in out["results"])
    out2 = _bench_alone("--scenario", "rates", "-N", "12", "--rates", "50,100")
    assert [r["params"]["rate"] for r in out2["results"]] == [50.0, 100.0]
    pytest.importorskip("matplotlib", reason="matplotlib is in the bench extra")
    saved = tmp_path / "sweep.json"
    saved.write_text(json.dumps({**out2, "results": out["results"] + out2["results"]}))
    done = subprocess.run(
        [sys.executable, "-m", "chatd.bench", "--plot", str(saved)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    written = done.stdout.split()
    assert any(w.endswith("-p99-vs-rate.svg") for w in written)
    assert any(w.endswith("-deliveries-vs-size.svg") for w in written)
