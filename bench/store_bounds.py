"""The history store's bounds, measured: the retry queue's memory while the database cannot be
written, and the server-wide disk cap (what looking at it costs, what one pruning step costs,
where the file stops growing).

    python bench/store_bounds.py pending [--rows 100000] [--tags 4096]
    python bench/store_bounds.py cap [--cap-mib 64] [--rows 400000]

`pending` opens a file database, makes it refuse writes (`PRAGMA query_only`, as a read-only
file does), then queues `rows` messages with `tags` bytes of client tags each, one loop
iteration per 1,000 rows (every retry fails), and prints the rows kept and dropped and the
growth of the process's RSS. It runs on any version of the store with its default bound.

`cap` writes `rows` messages of ~100 bytes (in 20 channels, 250 per iteration) into a file
database capped at `cap-mib`, and prints: the cost of one look at the cap (`used_bytes`, two
PRAGMAs), how many iterations looked, the time of each pruning step (a look and one DELETE of
the 1,000 oldest messages), the file's size at the end (database and WAL) and the rows left.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

from chatd.store import Store

T0 = 1_700_000_000_000


def rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def bench_pending(rows: int, tags: int) -> None:
    workdir = tempfile.mkdtemp(prefix="chatd-pending-")
    store = Store(os.path.join(workdir, "chatd.sqlite3"), 0, 0)
    store.db.execute("PRAGMA query_only = ON")
    start = rss_kib()
    t0 = time.perf_counter()
    for i in range(rows):
        store.append(
            "#a",
            T0 + i,
            f"abcd1234-{i:x}",
            "PRIVMSG",
            f"nick{i}!~u@127.0.0.1",
            "#a",
            f"hello {i} " + "x" * 60,
            f"+t={i:06d}" + "v" * (tags - 9),
        )
        if i % 1000 == 999:
            store.settle(float(i), 0.0)
    elapsed = time.perf_counter() - t0
    held = getattr(store, "pending_bytes", None)
    print(
        f"pending: {rows} rows with {tags} bytes of tags, database read-only: "
        f"{store.pending} kept, {store.dropped} dropped, "
        f"RSS +{(rss_kib() - start) / 1024:.1f} MiB"
        + (f", counted {held / 1048576:.1f} MiB" if held is not None else "")
        + f", {elapsed / rows * 1e6:.2f} us per row queued"
    )
    store.close()
    shutil.rmtree(workdir)


def bench_cap(cap_mib: int, rows: int) -> None:
    workdir = tempfile.mkdtemp(prefix="chatd-cap-")
    path = os.path.join(workdir, "chatd.sqlite3")
    cap = cap_mib << 20
    store = Store(path, 0, 0, max_bytes=cap)
    looks = 0
    look_times: list[float] = []
    real_used = store.used_bytes

    def timed_used() -> int:
        nonlocal looks
        looks += 1
        t = time.perf_counter()
        used = real_used()
        look_times.append(time.perf_counter() - t)
        return used

    steps: list[float] = []
    real_step = store._cap_step

    def timed_step(now: float) -> None:
        before = store.capped
        t = time.perf_counter()
        real_step(now)
        if store.capped > before:
            steps.append(time.perf_counter() - t)

    store.used_bytes = timed_used  # type: ignore[method-assign]
    store._cap_step = timed_step  # type: ignore[method-assign]
    iterations = 0
    text = "a line of an ordinary length, about a hundred bytes of chat text, as people write it"
    for i in range(rows):
        target = f"#c{i % 20}"
        store.append(target, T0 + i, f"abcd1234-{i:x}", "PRIVMSG", "nick!~u@h", target, text, "")
        if i % 250 == 249:
            store.settle(float(iterations), 0.0)
            iterations += 1
    while store._cap_due:
        store.settle(float(iterations), 0.0)
        iterations += 1
    store.used_bytes = real_used  # type: ignore[method-assign]
    used = store.used_bytes()
    left = store.count()
    store.close()
    size = os.path.getsize(path)
    wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
    look_times.sort()
    steps.sort()
    print(f"cap: {rows} rows into a {cap_mib} MiB cap, 250 rows per iteration")
    print(
        f"  one look (page_count + freelist_count): p50 {statistics.median(look_times) * 1e6:.1f}"
        f" us, max {look_times[-1] * 1e6:.1f} us; {looks} looks in {iterations} iterations"
    )
    if steps:
        print(
            f"  iterations that pruned: {len(steps)}; look + DELETE of the 1000 oldest: "
            f"p50 {statistics.median(steps) * 1000:.2f} ms, "
            f"p99 {steps[int(len(steps) * 0.99)] * 1000:.2f} ms, max {steps[-1] * 1000:.2f} ms"
        )
    print(
        f"  end: {used / 1048576:.2f} MiB of pages in use, file {size / 1048576:.2f} MiB, "
        f"WAL {wal / 1048576:.2f} MiB, {left} rows left, {store.capped} pruned by the cap"
    )
    shutil.rmtree(workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    pending = sub.add_parser("pending")
    pending.add_argument("--rows", type=int, default=100_000)
    pending.add_argument("--tags", type=int, default=4096)
    cap = sub.add_parser("cap")
    cap.add_argument("--cap-mib", type=int, default=64)
    cap.add_argument("--rows", type=int, default=400_000)
    args = parser.parse_args()
    if args.what == "pending":
        bench_pending(args.rows, args.tags)
    else:
        bench_cap(args.cap_mib, args.rows)


if __name__ == "__main__":
    main()
