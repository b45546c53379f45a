"""Unit tests of the bench's pure parts and of its counting hot path (over a socketpair)."""

from __future__ import annotations

import argparse
import socket

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
