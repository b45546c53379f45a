"""Unit tests of the bench's pure parts and of its counting hot path (over a socketpair)."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from chatd.bench import report
from chatd.bench.__main__ import parse_args, plan
from chatd.bench.load import READY, SAMPLE_MARK, Conn, Load, now_stamp
from chatd.bench.stats import median_figures, percentile, ratio


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([], 0.5, None),
        ([5], 0.99, 5.0),
        ([1, 2, 3, 4], 0.5, 2.0),
        (list(range(1, 101)), 0.99, 99.0),
    ],
)
def test_percentile_nearest_rank(values: list[int], q: float, expected: float | None) -> None:
    assert percentile(values, q) == expected


def test_median_figures_ignores_missing_numbers() -> None:
    runs: list[dict[str, float | None]] = [{"a": 1.0, "b": None}, {"a": 3.0, "b": 2.0}, {"a": 2.0}]
    assert median_figures(runs) == {"a": 2.0, "b": 2.0}


def test_ratio_guards_zero_and_none() -> None:
    assert ratio(4.0, 2.0) == 2.0
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0) is None


def test_table_prints_ratio_row() -> None:
    def result(server: str, value: float) -> dict[str, object]:
        figures = {"registrations_per_s": value, "connect_errors": 0}
        return {"server": server, "kind": "connect", "label": "connect c=32", "figures": figures}

    text = report.table([result("chatd", 3000.0), result("ngircd", 6000.0)], [("chatd", "ngircd")])
    assert "chatd/ngircd" in text
    assert "x0.50" in text


def _args(*argv: str) -> argparse.Namespace:
    return parse_args(list(argv))


def test_plan_fanout_runs_both_client_flavours() -> None:
    runs, notes = plan(_args("--scenario", "fanout", "-N", "50", "-S", "5"), fd_limit=1024)
    assert [(p.n, p.s, p.eager) for p in runs] == [(50, 5, True), (50, 5, False)]
    assert notes == []


def test_plan_skips_what_the_fd_limit_does_not_allow() -> None:
    runs, notes = plan(_args("--scenario", "idle", "-N", "5000"), fd_limit=1024)
    assert runs == []
    assert "RLIMIT_NOFILE" in notes[0]


class _Pair:
    """A Load with one READY client whose socket is one end of a socketpair."""

    def __init__(self, *, sender: bool = False, sample: bool = False) -> None:
        self.load = Load("127.0.0.1", 0, eager=False, batch=8)
        ours, self.peer = socket.socketpair()
        ours.setblocking(False)
        self.conn = Conn(0, "n0", "#r")
        self.conn.sock, self.conn.state = ours, READY
        self.conn.sender, self.conn.sample = sender, sample

    def feed(self, data: bytes) -> None:
        self.peer.sendall(data)
        self.load._on_readable(self.conn)

    def close(self) -> None:
        self.peer.close()
        assert self.conn.sock is not None
        self.conn.sock.close()


def test_count_lines_and_acks_split_across_reads() -> None:
    pair = _Pair(sender=True)
    try:
        pair.feed(b":a!u@h PRIVMSG #r :-t1 x\r\n:srv PO")
        pair.feed(b"NG srv :w\r\n:b!u@h PRIVMSG #r :-t2 x\r\n")
        assert pair.load.lines == 3
        assert pair.load.acks == 1
        assert pair.conn.acked == 8
        assert pair.load.delivered == 2
    finally:
        pair.close()


def test_server_ping_is_answered_and_not_counted_as_delivery() -> None:
    pair = _Pair()
    try:
        pair.feed(b":a!u@h PRIVMSG #r :-t1 x\r\nPI")
        pair.feed(b"NG :srv\r\n")
        assert pair.load.pings == 1
        assert pair.load.delivered == 1
        assert pair.peer.recv(100) == b"PONG :srv\r\n"
    finally:
        pair.close()


def test_sampling_client_reads_latency_stamps() -> None:
    pair = _Pair(sample=True)
    pair.load.measuring = True
    try:
        stamp = b"%016d" % now_stamp()
        pair.feed(b":a!u@h PRIVMSG #r :" + SAMPLE_MARK + stamp + b" xx\r\n")
        assert len(pair.load.samples) == 1
        assert 0 <= pair.load.samples[0] < 10**9
    finally:
        pair.close()


def test_plan_all_has_the_issue_table_rows() -> None:
    runs, _ = plan(_args("--scenario", "all"), fd_limit=100000)
    labels = [p.label for p in runs]
    assert "connect c=8" in labels and "connect c=32" in labels
    assert "fanout N=100 S=10 rate=max eager labeled" in labels
    assert "fanout N=1000 S=10 rate=200/s eager" in labels
    assert all(p.generator == "c" for p in runs)


def test_plan_rates_and_sizes_sweep() -> None:
    runs, _ = plan(_args("--scenario", "rates", "--rates", "50,100"), fd_limit=100000)
    assert [(p.n, p.rate) for p in runs] == [(1000, 50.0), (1000, 100.0)]
    runs, _ = plan(_args("--scenario", "sizes", "--sizes", "5,30"), fd_limit=100000)
    assert [(p.n, p.s, p.rate) for p in runs] == [(5, 5, 0.0), (30, 10, 0.0)]


def test_realistic_rooms_follow_a_power_law_and_cover_every_client() -> None:
    from chatd.bench.scenarios import realistic_plan, realistic_schedule, room_sizes

    sizes = room_sizes(5000, 500)
    assert sizes[0] == 1000 and sizes[1] == 500 and min(sizes) == 3
    assert sum(3 <= s <= 10 for s in sizes) > 300  # most rooms are small
    rooms_of, counts = realistic_plan(5000, 500)
    assert all(rooms_of[i] for i in range(5000))  # everyone is somewhere
    assert counts == {f"#p{k}": s for k, s in enumerate(sizes)}
    assert all(len(set(r)) == len(r) for r in rooms_of)
    talkers = [rooms_of[i] for i in range(100)]
    schedule = realistic_schedule(100, talkers, 20.0, 60.0, 14)
    assert 0.6 * 20 * 60 < len(schedule) < 1.4 * 20 * 60  # about the rate asked for
    assert [t for t, _, _ in schedule] == sorted(t for t, _, _ in schedule)
    assert all(room in talkers[who] for _, who, room in schedule)


def test_plots_are_written_from_a_saved_run(tmp_path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib is in the bench extra")
    import json

    from chatd.bench.plots import plot_file

    def result(server: str, n: int, rate: float, value: float) -> dict[str, object]:
        figures = {
            "deliveries_per_s": value * 1e6,
            "latency_p50_ms": value,
            "latency_p99_ms": 2 * value,
            "server_cpu_s_per_M": value / 10,
        }
        label = f"fanout N={n} rate={rate}"
        params = {"n": n, "rate": rate, "eager": True}
        return {
            "server": server,
            "kind": "fanout",
            "label": label,
            "params": params,
            "figures": figures,
        }

    results = [result(s, 1000, r, v) for s in ("chatd", "ngircd") for r, v in ((50, 1), (200, 2))]
    results += [result(s, n, 0.0, 3.0) for s in ("chatd", "ngircd") for n in (10, 100)]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps({"machine": {}, "notes": [], "results": results}))
    written = plot_file(str(saved))
    assert sorted(p.split("run-")[-1] for p in written) == [
        "cpu-per-delivery.svg",
        "deliveries-vs-size.svg",
        "p99-vs-rate.svg",
    ]
    for path in written:
        text = Path(path).read_text()
        assert text.startswith("<?xml") and "chatd" in text and "ngircd" in text, path


def test_labeled_runs_are_not_made_against_a_server_without_labeled_response() -> None:
    """ngIRCd answers no label, so a labeled run against it would count garbage: it is left
    out (nothing is connected to), and the plain run still measures it."""
    from dataclasses import replace

    from chatd.bench import servers
    from chatd.bench.__main__ import measure

    args = parse_args(["--scenario", "fanout", "--labels", "labeled", "--clients", "eager"])
    (labeled,) = plan(args, 100000)[0]
    assert labeled.labeled
    ngircd = servers.attach("127.0.0.1", 1, None, name="ngircd")  # port 1: nothing listens
    assert measure([labeled], [ngircd], 1) == []
    plain = measure([replace(labeled, labeled=False, duration=0.1)], [ngircd], 1)
    assert plain and "error" in plain[0]["figures"]  # it was tried: nothing listens there
