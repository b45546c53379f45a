"""A probe, for a measurement only: chatd whose history INSERTs run on a writer thread (its
own SQLite connection to the same file), not on the loop. Output is NOT held until the commit
(the durability rule is ignored) and retention must be off (the loop's DELETEs would contend
with the writer): this is the upper bound of what a writer thread could win.

    taskset -c 0,1 python bench/writer_thread_probe.py --threaded --port 8530 --db /tmp/h.db \
        --history-max-per-channel 0 --history-days 0 --no-flood-limit --max-per-ip 1000000 \
        --ip-connect-burst 1000000 --ip-connect-rate 1000000000 &
    chatd-bench --port 8530 --pid $! --scenario fanout -N 100 -S 10 --clients eager \
        --duration 5 --repeat 3

Without --threaded it is chatd as it is (the baseline). Results: docs/performance.md, "History
on the loop's core".
"""

import queue
import sqlite3
import sys
import threading

from chatd.store import sqlite as S

Q: queue.SimpleQueue[list] = queue.SimpleQueue()
orig_commit = S.Store._commit


def writer(path: str) -> None:
    db = sqlite3.connect(path, timeout=5, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA synchronous=NORMAL")
    while True:
        rows = Q.get()
        while True:  # take what else is queued: one transaction for it all
            try:
                rows += Q.get_nowait()
            except queue.Empty:
                break
        db.execute("BEGIN")
        db.executemany(S._INSERT, rows)
        db.execute("COMMIT")


started = set()


def _commit(self, now):
    rows = self._rows
    if rows:
        if self.path not in started:
            started.add(self.path)
            threading.Thread(target=writer, args=(self.path,), daemon=True).start()
        Q.put(list(rows))
        rows.clear()
        self._sizes.clear()
        self._rows_bytes = 0
    if self._channels or self._changes:
        orig_commit(self, now)


if "--threaded" in sys.argv:
    sys.argv.remove("--threaded")
    S.Store._commit = _commit

from chatd.cli import main  # noqa: E402

sys.exit(main())
