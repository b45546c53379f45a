"""The history store's two memory and disk bounds, on real databases: the retry queue (rows
kept while the database cannot be written) holds at most `history_pending_bytes` of memory,
measured with tracemalloc on a full and on a read-only database; and the database uses at
most `history_max_bytes` server-wide, the oldest messages network-wide pruned in bounded
steps."""

from __future__ import annotations

import gc
import logging
import tracemalloc

import pytest
from ircclient import Scripted, make_state

from chatd.server.config import MIN_HISTORY_BYTES, MIN_PENDING_BYTES, ConfigError, build
from chatd.server.state import ServerState
from chatd.store import Store
from chatd.store import sqlite as store_sqlite

T0 = 1_700_000_000_000  # ms


def make_full(store: Store) -> None:
    """A full database: SQLite may not give it one more page (as on a full disk)."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")


def unmake_full(store: Store) -> None:
    store.db.execute("PRAGMA max_page_count = 1073741823")


def make_read_only(store: Store) -> None:
    store.db.execute("PRAGMA query_only = ON")


def unmake_read_only(store: Store) -> None:
    store.db.execute("PRAGMA query_only = OFF")


class LastRecords(logging.Handler):
    """Keeps the kinds of message seen and the last few messages only, so that logging holds no memory
    that grows with the test (pytest's own capture keeps every record)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.formats: set[str] = set()  # the constant format strings seen
        self.last: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.formats.add(str(record.msg))
        self.last = [*self.last[-2:], record.getMessage()]


@pytest.fixture
def chatd_log(monkeypatch):
    logger = logging.getLogger("chatd")
    handler = LastRecords()
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("breaking", "mending"),
    [(make_full, unmake_full), (make_read_only, unmake_read_only)],
    ids=["full", "read-only"],
)
def test_retry_queue_memory_stays_within_its_byte_bound(tmp_path, chatd_log, breaking, mending):
    limit = MIN_PENDING_BYTES * 4  # 256 KiB: ~60 rows of the 4 KB-tag kind
    store = Store(str(tmp_path / "h.sqlite3"), pending_bytes=limit)
    store.append("#a", T0, "first", "PRIVMSG", "n!u@h", "#a", "written", "")
    store.settle(0.0, 0.0)
    breaking(store)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]  # nothing is traced yet: about 0
        for i in range(600):
            tags = f"+t={i:06d}" + "v" * 4090  # 4 KB of client tags on every row
            text = f"héllo ✓ {i}" if i % 3 else f"hello {i}"  # some not ASCII
            source = f"nick{i}!~u@127.0.0.1"  # every row its own strings
            store.append("#a", T0 + i, f"id-{i:x}", "PRIVMSG", source, "#a", text, tags)
            if i % 50 == 49:
                store.settle(float(i), 0.0)  # every retry is due, and fails again
        gc.collect()
        # what the log records and the test framework keep is not the queue's
        not_ours = [
            tracemalloc.Filter(False, logging.__file__),
            tracemalloc.Filter(False, "*/_pytest/*"),
            tracemalloc.Filter(False, "*/pluggy/*"),
        ]
        held = (
            sum(
                stat.size
                for stat in tracemalloc.take_snapshot()
                .filter_traces(not_ours)
                .statistics("filename")
            )
            - base
        )
    finally:
        tracemalloc.stop()
    kept = store.pending
    assert store.written == 1 and kept + store.dropped == 600 and store.dropped > 500
    assert limit - 5000 < store.pending_bytes <= limit  # full, and within the bound
    # the memory really held: the rows as counted, plus a few KB that do not grow with them
    # (sqlite3's statement cache, the error kinds seen)
    assert held <= store.pending_bytes + 8192, (held, store.pending_bytes)
    assert any("cannot write" in f for f in chatd_log.formats)  # once per kind of error
    assert f"{store.dropped} messages dropped so far" in chatd_log.last[-1]
    mending(store)
    store.settle(10_000.0, 0.0)
    assert store.written == 1 + kept and store.pending_bytes == 0
    assert f"{kept} queued rows written, {store.dropped} dropped" in chatd_log.last[-1]
    latest = store.latest("#a", None, kept)
    assert [r.msgid for r in latest] == [f"id-{i:x}" for i in range(600 - kept, 600)]


def test_forgetting_a_channel_while_failing_gives_its_bytes_back(tmp_path):
    store = Store(str(tmp_path / "h.sqlite3"))
    make_read_only(store)
    for i in range(20):
        target = "#gone" if i % 2 else "#kept"
        store.append(target, T0 + i, f"m{i}", "PRIVMSG", "n!u@h", target, "x" * 100, "")
    store.settle(0.0, 0.0)
    half = store.pending_bytes
    store.forget("#gone", 1.0)
    assert store.pending == 10 and 0 < store.pending_bytes < half


def _settle_until_quiet(store: Store, now: float, steps: int = 200) -> list[int]:
    """Run loop iterations until the cap has nothing more to do; rows pruned per iteration."""
    removed = []
    for k in range(steps):
        before = store.pruned
        store.settle(now + k * 0.001, 0.0)
        removed.append(store.pruned - before)
        if not store._cap_due:
            break
    return removed


def test_server_wide_cap_prunes_the_oldest_network_wide_in_bounded_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(store_sqlite, "PRUNE_BATCH", 200)
    cap = MIN_HISTORY_BYTES  # 1 MiB; the text makes a row ~500 bytes on disk
    store = Store(str(tmp_path / "h.sqlite3"), max_bytes=cap)
    high_water = 0
    removed: list[int] = []
    for i in range(8000):  # ~4 MB of history into a 1 MiB cap, in five channels
        target = f"#c{i % 5}"
        store.append(target, T0 + i, f"id{i}", "PRIVMSG", "n!u@h", target, f"{'z' * 400} {i}", "")
        if i % 40 == 39:  # one loop iteration: commit 40 rows, then at most one cap step
            before = store.pruned
            store.settle(float(i), 0.0)
            removed.append(store.pruned - before)
            pages = store.db.execute("PRAGMA page_count").fetchone()[0]
            high_water = max(high_water, pages * store.page_size)
    removed += _settle_until_quiet(store, 10_000.0)
    assert store.capped > 5000 and max(removed) <= 200  # never more than a batch at once
    assert store.used_bytes() <= cap
    # the file stops growing near the cap: freed pages are reused (slack: what is written
    # between two looks, cap / 128, plus one batch still to prune)
    assert high_water <= cap + cap // 128 + 200 * 600, high_water
    low, high, n = store.db.execute("SELECT min(id), max(id), count(*) FROM messages").fetchone()
    assert high - low + 1 == n  # what is left is the newest run network-wide, no gaps
    newest = store.latest("#c4", None, 1)[0]
    assert newest.msgid == "id7999"
    for c in range(5):  # every channel keeps its newest messages
        assert store.count(f"#c{c}") >= n // 5 - 1


def test_cap_is_not_looked_at_on_every_iteration(tmp_path):
    """Two PRAGMAs per look: once per cap / 128 bytes of rows written, not per commit."""
    cap = 64 << 20
    store = Store(str(tmp_path / "h.sqlite3"), max_bytes=cap)
    looks = 0
    real = store.used_bytes

    def counting() -> int:
        nonlocal looks
        looks += 1
        return real()

    store.used_bytes = counting  # type: ignore[method-assign]
    store.settle(0.0, 0.0)  # the first look, at start
    for i in range(2000):  # ~0.8 MB of rows, one commit each
        store.append("#a", T0 + i, f"id{i}", "PRIVMSG", "n!u@h", "#a", "y" * 200, "")
        store.settle(float(i), 0.0)
    row = store_sqlite._row_size("id1000", "n!u@h", "y" * 200, "")
    assert looks == 1 + (2000 * row) // (cap // 128)
    assert 1 < looks < 10


def test_the_config_reaches_the_store_and_is_validated(tmp_path):
    state = make_state(history_pending_bytes=1 << 20, history_max_bytes=5 << 20)
    assert state.store.pending_limit == 1 << 20 and state.store.max_bytes == 5 << 20
    default = make_state()
    assert default.store.pending_limit == 16 << 20 and default.store.max_bytes == 1 << 30
    assert make_state(history_max_bytes=0).store.max_bytes == 0
    with pytest.raises(ConfigError, match="history-pending-bytes must be at least 65536"):
        build({"history_pending_bytes": 1000})
    with pytest.raises(ConfigError, match=r"history-max-bytes must be 0 \(no cap\) or at least"):
        build({"history_max_bytes": 4096})
    with pytest.raises(ConfigError, match="history-max-bytes must be int"):
        build({"history_max_bytes": "1G"})


def test_a_capped_server_keeps_chatting_and_keeps_the_newest(tmp_path, monkeypatch):
    """Through the chat state, with the store opened apart as the command line does: the
    config's limits reach it, and a room's messages past the cap push the oldest out."""
    monkeypatch.setattr(store_sqlite, "PRUNE_BATCH", 100)
    store = Store(str(tmp_path / "h.sqlite3"))
    config = build(
        {"flood_limit": False, "history_max_bytes": MIN_HISTORY_BYTES, "history_max_per_channel": 0}
    )
    state = ServerState(config, 1_700_000_000.0, msgid_prefix="t-", store=store)
    state.set_clock(100.0, 1_700_000_000.0)
    assert store.max_bytes == MIN_HISTORY_BYTES and store.pending_limit == 16 << 20
    alice, bob = Scripted(state), Scripted(state)
    alice.register("alice")
    bob.register("bob")
    alice.send("JOIN #big")
    bob.send("JOIN #big")
    bob.take()
    for i in range(3000):
        state.handle_line(alice.user, f"PRIVMSG #big :{'w' * 380} {i}".encode())
        if i % 20 == 19:
            state.settle()
            assert len(bob.take()) == 20  # chatting goes on while the cap prunes
    _settle_until_quiet(store, 5_000.0)
    assert store.used_bytes() <= MIN_HISTORY_BYTES and store.capped > 0
    assert store.latest("#big", None, 1)[0].text.endswith(" 2999")
    assert store.count("#big") < 3000


def test_a_reload_applies_the_new_bounds_to_the_open_store(tmp_path):
    store = Store(str(tmp_path / "h.sqlite3"))
    state = ServerState(build({}), 1_700_000_000.0, msgid_prefix="t-", store=store)
    make_read_only(store)
    for i in range(400):
        store.append("#a", T0 + i, f"m{i}", "PRIVMSG", "n!u@h", "#a", "q" * 300, "")
    store.settle(0.0, 0.0)
    assert store.dropped == 0 and store.pending == 400
    config = state.config
    config.history_pending_bytes = MIN_PENDING_BYTES
    config.history_max_bytes = 3 << 20
    config.history_max_per_channel = 500
    config.history_days = 7.0
    state.reconfigured()  # what SIGHUP / REHASH does after changing the config in place
    assert store.pending_bytes <= MIN_PENDING_BYTES and store.dropped > 0
    assert store.max_bytes == 3 << 20 and store.max_per_channel == 500 and store.slack == 50
    assert store.history_days == 7.0
