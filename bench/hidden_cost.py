"""What keeping secrets out of the cluster's log costs, and what OPER off the loop buys.

    python bench/hidden_cost.py [--lines 200000] [--opers 6]

- `server/hidden.py:hide` per line, as a cluster node calls it for each line of its clients
  before the line enters the log: a channel message and a JOIN (the cheap test turns them away),
  and the lines that do hold a secret (the copy is made);
- the longest PING round trip a client sees on a one-process server (a real reactor on
  loopback) while other connections' OPER checks run, against the scrypt check itself: before
  the check moved to a worker thread, the loop stalled for the whole check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chatd.server.config import build  # noqa: E402
from chatd.server.hidden import hide  # noqa: E402
from chatd.server.passwords import check_password, hash_password  # noqa: E402

LINES = [
    b"PRIVMSG #room :a line of chat, about this long",
    b"JOIN #room",
    b"@label=1 PRIVMSG NickServ :IDENTIFY alice pw",
    b"PASS secret",
    b"AUTHENTICATE AGFsaWNlAGNvcnJlY3QtaG9yc2UtYmF0dGVyeQ==",
]


def per_line(lines: int) -> None:
    config = build({"password": "secret"})
    print(f"hide() per line ({lines:,} calls each, best of 5):")
    for raw in LINES:
        best = min(_time(raw, config, lines) for _ in range(5))
        print(f"  {raw.decode():56s} {best * 1e9 / lines:8.0f} ns")


def _time(raw: bytes, config, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        hide(raw, config)
    return time.perf_counter() - start


def oper_stall(opers: int) -> None:
    from ircclient import Client, start_server

    stored = hash_password("pw")
    check = statistics.median(_check_ms(stored) for _ in range(5))
    server = start_server(flood_limit=False, opers={"boss": stored})
    try:
        probe = Client(server.port)
        probe.register("probe")
        clients = [Client(server.port) for _ in range(opers)]
        for i, c in enumerate(clients):
            c.register(f"op{i}")
        worst = 0.0
        rtts = []
        for c in clients:  # one check per 0.5 s server-wide: space them so each one runs
            c.send("OPER boss pw")
            end = time.monotonic() + 0.55
            while time.monotonic() < end:
                start = time.perf_counter()
                probe.sync()
                rtt = (time.perf_counter() - start) * 1000
                rtts.append(rtt)
                worst = max(worst, rtt)
            c.expect_numeric("381")
        print(f"OPER: one scrypt check {check:.1f} ms (median of 5, one core)")
        print(
            f"  PING round trips during {opers} OPER checks on a one-process server: "
            f"median {statistics.median(rtts):.2f} ms, longest {worst:.2f} ms "
            f"({len(rtts)} round trips); with the check on the loop each one stalled it "
            f"for the whole check"
        )
    finally:
        server.stop()


def _check_ms(stored: str) -> float:
    start = time.perf_counter()
    check_password("pw", stored)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--opers", type=int, default=6)
    args = parser.parse_args()
    per_line(args.lines)
    oper_stall(args.opers)


if __name__ == "__main__":
    main()
