"""The SQLite store on its own: schema and migrations, the one-transaction write path, bounded
retention, a failing disk, forgetting a target, and the ordering the history queries rely on."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from chatd.store import ChannelRecord, Store, StoreError
from chatd.store import sqlite as store_sqlite
from chatd.store.sqlite import MAX_ID, SCHEMA_VERSION

T0 = 1_700_000_000_000  # ms


def fill(
    store: Store, n: int, target: str = "#a", start: int = T0, step: int = 1, prefix: str = "m"
) -> None:
    for i in range(n):
        store.append(
            target, start + i * step, f"{prefix}{i}", "PRIVMSG", "n!u@h", target, f"text {i}", ""
        )


def texts(rows) -> list[str]:
    return [r.text for r in rows]


# -- schema -------------------------------------------------------------------------------------


def test_new_database_is_wal_and_current(tmp_path):
    store = Store(str(tmp_path / "x" / "chatd.sqlite3"))  # the directory is created
    assert store.version == SCHEMA_VERSION == 6
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()


def test_migration_from_version_1(tmp_path, caplog):
    path = str(tmp_path / "old.sqlite3")
    db = sqlite3.connect(path)  # a version 1 database, written by hand as chatd 0.1 did
    db.executescript("""
        CREATE TABLE messages (id INTEGER PRIMARY KEY, target TEXT NOT NULL,
            time INTEGER NOT NULL, msgid TEXT NOT NULL, command TEXT NOT NULL,
            source TEXT NOT NULL, text TEXT NOT NULL);
        CREATE INDEX messages_target_time ON messages (target, time);
        INSERT INTO messages (target, time, msgid, command, source, text)
            VALUES ('#old', 1000, 'x1', 'PRIVMSG', 'a!u@h', 'from version one');
        PRAGMA user_version = 1;
    """)
    db.commit()
    db.close()
    with caplog.at_level(logging.INFO, "chatd"):
        store = Store(path)
    assert store.version == 6
    assert "migrated from version 1 to 6" in caplog.text
    (row,) = store.latest("#old", None, 10)
    assert (row.text, row.name, row.tags, row.msgid) == ("from version one", "#old", "", "x1")
    assert store.locate("#old", "x1") == (1000, row.id)
    assert store.load_channels() == []  # the channels table exists now
    store.append("#old", 2000, "x2", "NOTICE", "b!u@h", "#Old", "new row", "+a=b")
    store.settle(0.0, 0.0)
    assert texts(store.latest("#old", None, 10)) == ["from version one", "new row"]
    assert store.get_meta("cloak_key") is None  # the meta table exists now (version 3)
    store.close()
    assert Store(path).version == 6  # opening again migrates nothing


def test_read_markers_of_version_5_become_markers_of_nicks(tmp_path):
    """Version 5 kept a marker under the owner's nick; now the owner is an account or `~nick`."""
    path = str(tmp_path / "v5.sqlite3")
    store = Store(path)
    store.set_marker("alice", "#a", 1000, 10)
    store.settle(0.0, 0.0)
    store.db.execute("PRAGMA user_version = 5")
    store.db.execute("UPDATE read_markers SET owner = 'alice'")  # as version 5 wrote it
    store.db.commit()
    store.close()
    again = Store(path)
    assert again.version == 6
    assert again.marker("~alice", "#a") == 1000
    assert again.marker("alice", "#a") is None  # not the account alice's
    again.close()


def test_newer_schema_is_refused(tmp_path):
    path = str(tmp_path / "new.sqlite3")
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


# -- writes ---------------------------------------------------------------------------------------


def test_rows_are_written_by_settle_in_one_transaction(tmp_path):
    store = Store(str(tmp_path / "db"))
    fill(store, 500)
    other = sqlite3.connect(str(tmp_path / "db"))
    assert other.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    statements: list[str] = []
    store.db.set_trace_callback(statements.append)
    store.settle(1.0, 0.0)
    assert [s for s in statements if s in ("BEGIN", "COMMIT")] == ["BEGIN", "COMMIT"]
    assert other.execute("SELECT count(*) FROM messages").fetchone()[0] == 500
    assert store.pending == 0 and store.written == 500


def test_channel_records_round_trip():
    store = Store(":memory:")
    record = ChannelRecord(
        "#a", "#A", 123, "topic", "n!u@h", 456, "Pnt", "key", 9, [("x!*@*", "n!u@h", 7)]
    )
    store.save_channel(record)
    store.save_channel(ChannelRecord("#b", "#b", 1))
    store.settle(0.0, 0.0)
    assert store.load_channels() == [record, ChannelRecord("#b", "#b", 1)]
    store.delete_channel("#b")
    store.settle(0.0, 0.0)
    assert [r.key for r in store.load_channels()] == ["#a"]


class FailingDB:
    """Stands in for the sqlite3 connection: every statement fails while `failing` is set."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real
        self.failing = True

    @property
    def in_transaction(self) -> bool:
        return self.real.in_transaction

    def execute(self, *args):
        if self.failing and args[0] != "ROLLBACK":
            raise sqlite3.OperationalError("disk I/O error")
        return self.real.execute(*args)

    def executemany(self, *args):
        if self.failing:
            raise sqlite3.OperationalError("disk I/O error")
        return self.real.executemany(*args)


def test_failing_disk_keeps_rows_retries_and_logs_once(caplog):
    store = Store(":memory:")
    broken = FailingDB(store.db)
    store.db = broken  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, "chatd"):
        fill(store, 10)
        store.settle(10.0, 0.0)  # fails: kept, retry in 0.5 s
        fill(store, 10, prefix="n")
        for now in (10.1, 10.2, 10.6, 11.7):  # retries after 0.5, 1, 2 s...: at 10.6 and 11.7
            store.settle(now, 0.0)
        assert store.pending == 20 and store.written == 0
        errors = [r for r in caplog.records if "cannot write" in r.getMessage()]
        assert len(errors) == 1  # once per kind of error, not per attempt or message
        broken.failing = False
        store.settle(13.0, 0.0)  # the next attempt is not due before 13.7
        assert store.written == 0
        store.settle(13.7, 0.0)
    assert store.written == 20 and store.pending == 0
    assert "writing again; 20 queued rows written, 0 dropped" in caplog.text
    store.db = broken.real  # type: ignore[assignment]
    assert store.count("#a") == 20


def test_failing_disk_drops_the_oldest_past_the_bound_and_says_how_many(caplog):
    sizes = [store_sqlite._row_size(f"m{i}", "n!u@h", f"text {i}", "") for i in range(25)]
    store = Store(":memory:", pending_bytes=sum(sizes[15:]))  # room for the newest 10 rows
    broken = FailingDB(store.db)
    store.db = broken  # type: ignore[assignment]
    with caplog.at_level(logging.WARNING, "chatd"):
        fill(store, 25)
        store.settle(1.0, 0.0)
    assert store.dropped == 15 and store.pending == 10
    assert store.pending_bytes == sum(sizes[15:])
    assert "15 messages dropped so far" in caplog.text
    broken.failing = False
    store.settle(5.0, 0.0)
    store.db = broken.real  # type: ignore[assignment]
    assert texts(store.latest("#a", None, 100)) == [f"text {i}" for i in range(15, 25)]


# -- retention ------------------------------------------------------------------------------------


def test_age_retention_deletes_in_bounded_batches(monkeypatch):
    monkeypatch.setattr(store_sqlite, "PRUNE_BATCH", 100)
    store = Store(":memory:", history_days=1)
    day = 86_400_000
    fill(store, 250, start=T0 - 3 * day)  # too old
    fill(store, 5, start=T0, prefix="new")  # recent
    store.settle(0.0, T0 / 1000)  # writes, then prunes one batch
    assert store.count() == 155
    store.settle(0.0, T0 / 1000)  # more to do: again in the next iteration, not later
    assert store.count() == 55
    store.settle(0.0, T0 / 1000)
    assert store.count() == 5 and store.pruned == 250
    store.settle(0.0, T0 / 1000)  # nothing left, and not due again before a second passes
    assert texts(store.latest("#a", None, 10)) == [f"text {i}" for i in range(5)]


def test_per_channel_cap_keeps_the_newest():
    store = Store(":memory:", max_per_channel=30)
    fill(store, 100, "#a")
    fill(store, 10, "#b")
    for now in range(5):
        store.settle(float(now), 0.0)
    assert store.count("#a") == 30 and store.count("#b") == 10
    assert texts(store.latest("#a", None, 100)) == [f"text {i}" for i in range(70, 100)]


def test_count_pruning_waits_for_slack_rows_not_every_iteration():
    store = Store(":memory:", max_per_channel=30)  # slack: 10 rows
    fill(store, 100, "#a")
    store.settle(0.0, 0.0)
    assert store.count("#a") == 30
    fill(store, 9, "#a", prefix="more")
    for now in range(2, 6):
        store.settle(float(now), 0.0)
    assert store.count("#a") == 39  # under the slack: no OFFSET query at all
    fill(store, 1, "#a", prefix="last")
    store.settle(10.0, 0.0)
    assert store.count("#a") == 30


def test_forget_hides_at_once_and_deletes_over_iterations(monkeypatch):
    monkeypatch.setattr(store_sqlite, "PRUNE_BATCH", 40)
    store = Store(":memory:")
    fill(store, 100, "#a")
    store.settle(0.0, 0.0)
    point = store.locate("#a", "m50")
    store.forget("#a", 1.0)
    assert store.latest("#a", None, 100) == [] and store.locate("#a", "m50") is None
    assert store.targets(["#a"], 0, T0 * 2, 10) == []
    assert point is not None and store.after("#a", point, 10) == []
    fill(store, 3, "#a", start=T0 + 1000, prefix="again")  # a new channel of the same name
    store.settle(1.0, 0.0)
    assert texts(store.latest("#a", None, 100)) == ["text 0", "text 1", "text 2"]
    store.settle(2.0, 0.0)
    store.settle(3.0, 0.0)
    assert store.count("#a") == 3


# -- reads ----------------------------------------------------------------------------------------


def test_same_millisecond_messages_page_without_gaps_or_repeats():
    store = Store(":memory:")
    fill(store, 57, step=0)  # all in one millisecond: the row id orders them
    fill(store, 20, start=T0 + 5, prefix="later")
    store.settle(0.0, 0.0)
    seen: list[str] = []
    page = store.latest("#a", None, 10)
    while page:
        seen = [r.msgid for r in page] + seen
        page = store.before("#a", (page[0].time, page[0].id), 10)
    assert len(seen) == 77 == len(set(seen))
    forward: list[str] = []
    page = store.after("#a", (0, 0), 9)
    while page:
        forward += [r.msgid for r in page]
        page = store.after("#a", (page[-1].time, page[-1].id), 9)
    assert forward == seen


def test_timestamp_bounds_are_exclusive():
    store = Store(":memory:")
    fill(store, 5, step=1000)
    store.settle(0.0, 0.0)
    assert texts(store.before("#a", (T0 + 2000, 0), 10)) == ["text 0", "text 1"]
    assert texts(store.after("#a", (T0 + 2000, MAX_ID), 10)) == ["text 3", "text 4"]
    assert texts(store.between("#a", (T0, MAX_ID), (T0 + 4000, 0), 10, False)) == [
        "text 1",
        "text 2",
        "text 3",
    ]
    assert texts(store.between("#a", (T0, MAX_ID), (T0 + 4000, 0), 2, True)) == ["text 2", "text 3"]


def test_reads_use_the_target_time_index():
    store = Store(":memory:")
    plan = " ".join(
        str(r)
        for r in store.db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM messages WHERE target = ? AND (time, id) < (?, ?) "
            "ORDER BY time DESC, id DESC LIMIT 10",
            ("#a", 1, 1),
        )
    )
    assert "messages_target_time" in plan and "TEMP B-TREE" not in plan


def test_read_errors_become_store_errors():
    store = Store(":memory:")
    store.db.execute("DROP TABLE messages")
    with pytest.raises(StoreError):
        store.latest("#a", None, 10)


def test_forget_others_keeps_only_the_given_targets():
    store = Store(":memory:")
    for target in ("#a", "#b", "#c", "#d"):
        fill(store, 3, target)
    store.settle(0.0, 0.0)
    assert store.forget_others({"#b", "#d", "#never-spoke"}, 1.0) == 2
    assert [t for t in ("#a", "#b", "#c", "#d") if store.latest(t, None, 10)] == ["#b", "#d"]
    store.settle(2.0, 0.0)
    store.settle(3.0, 0.0)
    assert store.count() == 6


def test_damaged_database_is_refused_at_open(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = Store(str(path))
    for i in range(2000):
        store.append("#a", i, f"m{i}", "PRIVMSG", "a!~u@h", "#a", "x" * 200, "")
    store.settle(0.0, 0.0)
    store.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 4096 // 2 * 4096
    data[middle : middle + 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"is damaged \(.*\); .*\.recover"):
        Store(str(path))


def test_file_that_is_not_a_database_gets_the_recovery_advice_too(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not an SQLite file at all" * 200)
    with pytest.raises(StoreError, match="is damaged .*move"):
        Store(str(path))


def test_meta_values_are_written_at_once_and_survive_a_reopen(tmp_path):
    path = str(tmp_path / "m.sqlite3")
    store = Store(path)
    assert store.get_meta("cloak_key") is None
    store.set_meta("cloak_key", "abc")  # no settle needed
    store.set_meta("cloak_key", "def")
    again = Store(path)
    assert again.get_meta("cloak_key") == "def"
    again.close()
    store.close()


@pytest.mark.parametrize(
    "row",
    [
        ("m1", "n!u@h", "plain text", ""),
        ("m2", "n!u@h", "", "+draft/reply=m1"),
        ("m3", "n!u@h", "café €5 😀", ""),
        ("m4", "", "x", "+a=é"),
        ("m5", "n!u@h", "\udcff lone surrogate", ""),
    ],
)
def test_a_rows_size_is_what_its_strings_hold(row):
    """The ASCII fast path counts what sys.getsizeof counts, and non-ASCII strings add their
    cached UTF-8 form."""
    import sys

    expected = store_sqlite._ROW_BASE
    for value in row:
        if value:
            expected += sys.getsizeof(value)
            if not value.isascii():
                expected += len(value.encode("utf-8", "surrogatepass")) + 1
    assert store_sqlite._row_size(*row) == expected
