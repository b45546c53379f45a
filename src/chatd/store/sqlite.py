"""The SQLite store: channel history and persistent channels, in one WAL-mode database.

Owns the schema (versioned with `PRAGMA user_version`, migrated on open), the write path and
the bounded read queries. It must not block the reactor for long:

- Writes are only *queued* by `append` and `save_channel`/`delete_channel` (a list append). The
  state calls `settle(now, wall)` once per loop iteration, right before the reactor flushes
  output to sockets; that writes everything queued in ONE transaction (`executemany`, commit).
  With `journal_mode=WAL` and `synchronous=NORMAL` a commit is a `write()` to the WAL, no fsync,
  so any line a client could have received is already in the database when it leaves: it
  survives `kill -9` of the server (a power cut may lose what was committed since the last
  checkpoint, see docs/storage.md).
- A failing disk (full, read-only, I/O error) never stalls or crashes the loop: the error is
  logged once per kind, the queued rows stay in a buffer bounded by the bytes they hold
  (`pending_bytes`) and are retried with a back-off; past the bound the oldest rows are dropped
  and the count is logged.
- Retention is enforced by `settle` too, a bounded DELETE at a time (never one giant DELETE):
  by age, per channel, and server-wide by the bytes the database uses (`max_bytes`).
- Reads are indexed queries on (target, time) with a LIMIT.

No clock is read here: `now` (monotonic seconds) and `wall` (epoch seconds) come from the caller.
"""

from __future__ import annotations

import collections
import datetime
import json
import logging
import os
import pickle
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .accounts import PRIVATE_PREFIX, AccountStore, migrate_accounts
from .transaction import transaction

log = logging.getLogger("chatd")

MAX_ID = (1 << 63) - 1
PRUNE_INTERVAL = 1.0  # seconds between retention passes while there is nothing left to prune
PRUNE_BATCH = 1000  # rows one retention DELETE may remove
RETRY_FIRST, RETRY_MAX = 0.5, 30.0  # seconds between attempts to write after a failure
PENDING_BYTES = 16 << 20  # memory for rows queued while the database cannot be written
MAX_CHANGES = 100_000  # redactions, renames, read markers queued while it cannot be written
# The server-wide cap is looked at again once rows worth max_bytes / CAP_CHECK_FRACTION have
# been written since the last look (as `_row_size` counts them), and every iteration while over.
CAP_CHECK_FRACTION = 128
CHECKPOINT_INTERVAL = 1.0  # seconds between WAL checkpoints (and fsyncs), off the loop thread


class StoreError(Exception):
    """The database could not be opened or read (the cause is chained)."""


class HistoryRow(NamedTuple):
    id: int
    time: int  # milliseconds since the epoch
    msgid: str
    command: str  # PRIVMSG or NOTICE
    source: str  # nick!user@host
    name: str  # the channel name as written when the message was sent
    text: str
    tags: str  # the client-only (+) tags, serialised as in an IRC line ("" for none)


class Ref(NamedTuple):
    """A message reference from CHATHISTORY: msgid=... or timestamp=... (in milliseconds)."""

    kind: str  # "msgid" or "timestamp"
    msgid: str = ""
    time: int = 0


@dataclass
class ChannelRecord:
    key: str  # casefolded name
    name: str
    created: int
    topic: str = ""
    topic_by: str = ""
    topic_at: int = 0
    modes: str = ""  # flag modes, e.g. "Pnt"
    password: str | None = None
    limit: int | None = None
    bans: list[tuple[str, str, int]] = field(default_factory=list)  # mask, setter, set at
    excepts: list[tuple[str, str, int]] = field(default_factory=list)  # +e, the same way
    invexes: list[tuple[str, str, int]] = field(default_factory=list)  # +I


# -- schema ------------------------------------------------------------------------------------


def _to_v1(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        target TEXT NOT NULL,
        time INTEGER NOT NULL,
        msgid TEXT NOT NULL,
        command TEXT NOT NULL,
        source TEXT NOT NULL,
        text TEXT NOT NULL)""")
    db.execute("CREATE INDEX messages_target_time ON messages (target, time)")


def _to_v2(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE messages ADD COLUMN name TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE messages ADD COLUMN tags TEXT NOT NULL DEFAULT ''")
    db.execute("UPDATE messages SET name = target")
    db.execute("CREATE INDEX messages_msgid ON messages (msgid)")
    db.execute("""CREATE TABLE channels (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        topic TEXT NOT NULL,
        topic_by TEXT NOT NULL,
        topic_at INTEGER NOT NULL,
        modes TEXT NOT NULL,
        password TEXT,
        user_limit INTEGER,
        bans TEXT NOT NULL)""")


def _to_v3(db: sqlite3.Connection) -> None:
    # small named values the server keeps across restarts (the generated cloak key)
    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _to_v5(db: sqlite3.Connection) -> None:
    # draft/read-marker: the last message each user (owner) has read in each target
    db.execute("""CREATE TABLE read_markers (
        owner TEXT NOT NULL,
        target TEXT NOT NULL,
        time INTEGER NOT NULL,
        PRIMARY KEY (owner, target)) WITHOUT ROWID""")


def _to_v6(db: sqlite3.Connection) -> None:
    # a read marker's owner is the account, or "~" and the nick of a user not logged in; the
    # owners of version 5 were all nicks
    db.execute("UPDATE read_markers SET owner = '~' || owner")


# MIGRATIONS[i] takes a database from schema version i to i + 1; version 0 is an empty file.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _to_v1,
    _to_v2,
    _to_v3,
    migrate_accounts,  # v4: store/accounts.py
    _to_v5,  # read markers
    _to_v6,  # read markers by account
]
SCHEMA_VERSION = len(MIGRATIONS)

_INSERT = (
    "INSERT INTO messages (target, time, msgid, command, source, name, text, tags) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = "id, time, msgid, command, source, name, text, tags"
_UPSERT_MARKER = (
    "INSERT INTO read_markers (owner, target, time) VALUES (?, ?, ?) "
    "ON CONFLICT (owner, target) DO UPDATE SET time = excluded.time"
)
_TRIM_MARKERS = (
    "DELETE FROM read_markers WHERE owner = ? AND target NOT IN (SELECT target FROM "
    "read_markers WHERE owner = ? ORDER BY time DESC LIMIT ?)"
)
_UPSERT_CHANNEL = (
    "INSERT OR REPLACE INTO channels (key, name, created, topic, topic_by, topic_at, modes, "
    "password, user_limit, bans) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# -- helpers -----------------------------------------------------------------------------------


def _damaged(path: str, problem: str) -> str:
    """The one line chatd prints for a damaged database: what, and how to get going again."""
    problem = " ".join(problem.split())[:200]
    return (
        f"database {path} is damaged ({problem}); chatd will not serve from it. Recover what "
        f"is readable with `sqlite3 {path} .recover | sqlite3 {path}.recovered` and start "
        f"with --db {path}.recovered, or move {path} away to start with an empty one"
    )


def default_path(environ: dict[str, str] | os._Environ[str]) -> str:
    """$XDG_STATE_HOME/chatd/chatd.sqlite3, by default ~/.local/state/chatd/chatd.sqlite3."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "chatd", "chatd.sqlite3")


def ms_to_iso(ms: int) -> str:
    """An IRCv3 server-time value (UTC, millisecond precision) for a time in milliseconds."""
    stamp = datetime.datetime.fromtimestamp(ms // 1000, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_timestamp(text: str) -> int | None:
    """Milliseconds since the epoch for an ISO 8601 timestamp (UTC if no zone); None if bad."""
    try:
        stamp = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return int(stamp.timestamp() * 1000 + 0.5) if stamp.year >= 1970 else None


# -- the store ---------------------------------------------------------------------------------


class Store(AccountStore):
    """History and persistent channels in SQLite; ":memory:" keeps them for this process only.
    Accounts and channel registrations: `store/accounts.py`."""

    def __init__(
        self,
        path: str,
        history_days: float = 0.0,
        max_per_channel: int = 0,
        pending_bytes: int = PENDING_BYTES,
        max_bytes: int = 0,
    ) -> None:
        self.path = path
        self.history_days = history_days
        self.max_per_channel = max_per_channel
        self.pending_limit = pending_bytes  # bytes the queued rows may hold (see _row_size)
        self.max_bytes = max_bytes  # database pages in use, server-wide; 0: no cap
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN ... COMMIT), DDL included.
            # A short busy timeout: another process holding the lock must not stall the loop.
            self.db = sqlite3.connect(
                path, timeout=0.05, isolation_level=None, check_same_thread=False
            )
            if path != ":memory:":
                self.check_integrity()
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA temp_store=MEMORY")
            self.migrate()
            self.page_size = int(self.db.execute("PRAGMA page_size").fetchone()[0])
            self._checkpointer: _Checkpointer | None = None
            if path != ":memory:":
                # The checkpoint (copying the WAL into the database, with the only fsyncs) is
                # what can take tens of milliseconds: a thread does it, never the loop.
                self.db.execute("PRAGMA wal_autocheckpoint=0")
                # after a checkpoint a WAL that grew during a burst is cut back to 64 MiB
                self.db.execute("PRAGMA journal_size_limit=67108864")
                self._checkpointer = _Checkpointer(path)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
                raise StoreError(_damaged(path, str(exc))) from exc
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open database {path}: {exc}") from exc
        self._rows: collections.deque[tuple[object, ...]] = collections.deque()
        self._sizes: collections.deque[int] = collections.deque()  # _row_size of each row
        self._rows_bytes = 0
        self._channels: dict[str, ChannelRecord | None] = {}
        # other changes (redactions, renames, read markers), applied after the rows, in order
        self._changes: collections.deque[tuple[str, tuple[object, ...]]] = collections.deque(
            maxlen=MAX_CHANGES
        )
        # Count pruning: rows written per target since its last check, and the targets that
        # have gained enough since then to be worth an OFFSET query (one per `slack` rows, not
        # one per loop iteration). A target never holds more than max_per_channel + slack.
        self._unpruned: dict[str, int] = {}
        self._due: set[str] = set()
        self.slack = max(10, max_per_channel // 10)
        # Forgotten targets (a channel that ceased to exist): rows up to this id are hidden
        # from reads at once and deleted a bounded batch at a time.
        self._hidden: dict[str, int] = {}
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST
        self._errors_seen: set[tuple[str, str]] = set()
        self._failing = False
        self._prune_at = 0.0
        self.written = 0  # rows committed since start
        self.dropped = 0  # rows lost because the pending buffer was full
        self._dropped_logged = 0
        self.pruned = 0  # rows removed by retention
        # The server-wide cap: one look (two PRAGMAs, ~5-10 us) per max_bytes /
        # CAP_CHECK_FRACTION of rows written, then every iteration while over it
        # (bench/store_bounds.py).
        self._cap_due = max_bytes > 0
        self._cap_written = 0  # row bytes committed since the last look
        self.capped = 0  # rows removed to keep the database under max_bytes
        self._init_accounts()

    # -- schema --------------------------------------------------------------------------------

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def check_integrity(self) -> None:
        """`PRAGMA quick_check` before anything else touches the file: a damaged page would
        otherwise fail every read and write that reaches it for the whole run. Raises
        StoreError with one line saying how to recover (docs/storage.md)."""
        found = [str(row[0]) for row in self.db.execute("PRAGMA quick_check(1)")]
        if found != ["ok"]:
            self.db.close()
            raise StoreError(_damaged(self.path, found[0] if found else "no answer"))

    def migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION, one transaction per step."""
        version = start = self.version
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(
                f"{self.path}: schema version {version} is newer than this chatd ({SCHEMA_VERSION})"
            )
        while version < SCHEMA_VERSION:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[version](self.db)
                self.db.execute(f"PRAGMA user_version = {version + 1}")
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            version += 1
        if start and start < SCHEMA_VERSION:
            log.info(
                "store %s: schema migrated from version %d to %d", self.path, start, SCHEMA_VERSION
            )

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.db.close()  # the last connection to close checkpoints what is left

    # -- metadata ------------------------------------------------------------------------------

    def get_meta(self, name: str) -> str | None:
        """A value kept across restarts (e.g. the generated cloak key), or None."""
        row = self._query("SELECT value FROM meta WHERE name = ?", (name,))
        return str(row[0][0]) if row else None

    def set_meta(self, name: str, value: str) -> None:
        """Store a value at once, in its own transaction (not queued: it is rare, and it must
        be there at the next start even if nothing else is ever written)."""
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value)
            )
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    # -- writes (queued) -----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._rows) + len(self._channels) + len(self._changes)

    def set_limits(
        self, history_days: float, max_per_channel: int, pending_bytes: int, max_bytes: int
    ) -> None:
        """Set every bound after opening (at start and when the configuration is reloaded):
        retention by age and per channel, the retry queue's bytes, the server-wide cap."""
        self.history_days = history_days
        self.max_per_channel = max_per_channel
        self.slack = max(10, max_per_channel // 10)
        self.pending_limit = pending_bytes
        self._trim()
        self.max_bytes = max_bytes
        self._cap_due = max_bytes > 0
        self._cap_written = 0

    @property
    def pending_bytes(self) -> int:
        """The memory the queued rows hold, as `_row_size` counts it; at most pending_limit."""
        return self._rows_bytes

    def append(
        self,
        target: str,
        time_ms: int,
        msgid: str,
        command: str,
        source: str,
        name: str,
        text: str,
        tags: str,
    ) -> None:
        """Queue one channel message; written by the next `settle`. Past `pending_limit`
        bytes (only reached while writes fail) the oldest queued rows are dropped."""
        rows = self._rows
        size = _row_size(msgid, source, text, tags)
        rows.append((target, time_ms, msgid, command, source, name, text, tags))
        self._sizes.append(size)
        self._rows_bytes += size
        if self._rows_bytes > self.pending_limit:
            self._trim()
        written = self._unpruned.get(target, 0) + 1
        self._unpruned[target] = written
        if written == self.slack:
            self._due.add(target)

    def redact(self, target: str, msgid: str) -> None:
        """Queue the removal of one message (draft/message-redaction), with the other lines
        of a multiline message (msgids `<msgid>/<n>`: the range just after `<msgid>/`)."""
        self._change(
            "DELETE FROM messages WHERE target = ? AND (msgid = ? OR (msgid > ? AND msgid < ?))",
            (target, msgid, msgid + "/", msgid + "0"),
        )

    def rename(self, old: str, new: str, name: str) -> None:
        """A channel was renamed (draft/channel-rename): its history and read markers follow
        it. One UPDATE of at most history_max_per_channel rows, by the (target, time) index."""
        self._change("UPDATE messages SET target = ?, name = ? WHERE target = ?", (new, name, old))
        self._change("UPDATE OR REPLACE read_markers SET target = ? WHERE target = ?", (new, old))
        for table in (self._unpruned, self._hidden):
            if old in table:
                table[new] = table.pop(old)
        if old in self._due:
            self._due.discard(old)
            self._due.add(new)

    def set_marker(self, owner: str, target: str, time_ms: int, keep: int) -> None:
        """Queue a read marker (draft/read-marker); an owner keeps its `keep` newest."""
        self._change(_UPSERT_MARKER, (owner, target, time_ms))
        self._change(_TRIM_MARKERS, (owner, owner, keep))

    def _change(self, sql: str, params: tuple[object, ...]) -> None:
        changes = self._changes
        if len(changes) == changes.maxlen:
            self.dropped += 1
        changes.append((sql, params))

    def _trim(self) -> None:
        """Drop the oldest queued rows until they hold at most pending_limit bytes."""
        rows, sizes = self._rows, self._sizes
        while self._rows_bytes > self.pending_limit:
            rows.popleft()
            self._rows_bytes -= sizes.popleft()
            self.dropped += 1

    def save_channel(self, record: ChannelRecord) -> None:
        self._channels[record.key] = record

    def delete_channel(self, key: str) -> None:
        self._channels[key] = None

    def settle(self, now: float, wall: float) -> None:
        """Once per loop iteration: commit what is queued, and prune a little when due."""
        if (self._rows or self._channels or self._changes) and now >= self._retry_at:
            self._commit(now)
        self.settle_accounts(now)
        if self._hidden and not self._failing:
            self._forget_step(now)
        if (self.history_days > 0 or self.max_per_channel > 0) and now >= self._prune_at:
            self._prune(now, wall)
        if self._cap_due and (not self._failing or now >= self._retry_at):
            self._cap_step(now)

    def forget(self, target: str, now: float) -> None:
        """Drop a target's history: hidden from reads at once, deleted over the next
        iterations (a bounded DELETE each). A channel that ceased to exist must not hand its
        messages to whoever creates one of the same name later."""
        self.flush(now)
        if self._failing:  # its queued rows will never be readable: do not write them
            kept = [(r, n) for r, n in zip(self._rows, self._sizes, strict=True) if r[0] != target]
            self._rows = collections.deque(r for r, _ in kept)
            self._sizes = collections.deque(n for _, n in kept)
            self._rows_bytes = sum(self._sizes)
        try:
            found = self.db.execute(
                "SELECT max(id) FROM messages WHERE target = ?", (target,)
            ).fetchone()[0]
        except sqlite3.Error as exc:
            self._failed(exc, now)
            return
        if found is not None:
            self._hidden[target] = max(int(found), self._hidden.get(target, 0))
        self._unpruned.pop(target, None)
        self._due.discard(target)

    def forget_others(self, keep: Iterable[str], now: float) -> int:
        """Forget the history of every target but `keep` (at start-up: the channels that did
        not persist are gone, and so is what was said in them). Returns how many targets."""
        keep = set(keep)
        try:  # each distinct target by index skip-scan, not by reading every row
            targets = [
                row[0]
                for row in self.db.execute(
                    "WITH RECURSIVE t(target) AS (SELECT min(target) FROM messages UNION ALL "
                    "SELECT (SELECT min(target) FROM messages WHERE target > t.target) FROM t "
                    "WHERE t.target IS NOT NULL) SELECT target FROM t WHERE target IS NOT NULL"
                )
            ]
        except sqlite3.Error as exc:
            self._failed(exc, now)
            return 0
        # private conversations (store/accounts.py) belong to accounts, not channels
        gone = [t for t in targets if t not in keep and not t.startswith(PRIVATE_PREFIX)]
        for target in gone:
            self.forget(target, now)
        return len(gone)

    def _forget_step(self, now: float) -> None:
        target, upto = next(iter(self._hidden.items()))
        try:
            n = self.db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE target = ? "
                "AND id <= ? LIMIT ?)",
                (target, upto, PRUNE_BATCH),
            ).rowcount
        except sqlite3.Error as exc:
            self._failed(exc, now)
            return
        self.pruned += n
        if n < PRUNE_BATCH and self._hidden.get(target) == upto:
            del self._hidden[target]

    def flush(self, now: float) -> None:
        """Commit what is queued now (before a read, so it sees every message sent)."""
        if (self._rows or self._channels or self._changes) and not self._failing:
            self._commit(now)
        self.settle_accounts(now)

    def _commit(self, now: float) -> None:
        rows = self._rows
        channels = self._channels

        def write(db: sqlite3.Connection) -> None:
            if rows:
                db.executemany(_INSERT, rows)
            for sql, params in self._changes:
                db.execute(sql, params)
            for key, record in channels.items():
                if record is None:
                    db.execute("DELETE FROM channels WHERE key = ?", (key,))
                else:
                    db.execute(_UPSERT_CHANNEL, _channel_row(record))

        error = transaction(self.db, write)
        if error is not None:
            self._failed(error, now)
            return
        self.written += len(rows)
        if rows and self.max_bytes > 0:
            self._cap_written += self._rows_bytes
            if self._cap_written >= self.max_bytes // CAP_CHECK_FRACTION:
                self._cap_due = True
        if self._checkpointer is not None:
            self._checkpointer.dirty = True
        if self._failing:
            log.warning(
                "store %s: writing again; %d queued rows written, %d dropped",
                self.path,
                len(rows),
                self.dropped,
            )
            self._failing = False
            self._retry_delay = RETRY_FIRST
        rows.clear()
        self._sizes.clear()
        self._rows_bytes = 0
        channels.clear()
        self._changes.clear()

    def _failed(self, exc: sqlite3.Error, now: float) -> None:
        kind = (type(exc).__name__, str(exc))
        if kind not in self._errors_seen:
            self._errors_seen.add(kind)
            log.error(
                "store %s: cannot write (%s: %s); %d rows kept to retry",
                self.path,
                kind[0],
                kind[1],
                len(self._rows),
            )
        if self.dropped > self._dropped_logged:
            log.error(
                "store %s: pending buffer full (%d bytes): %d messages dropped so far",
                self.path,
                self.pending_limit,
                self.dropped,
            )
            self._dropped_logged = self.dropped
        self._failing = True
        self._retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)

    # -- retention -----------------------------------------------------------------------------

    def _prune(self, now: float, wall: float) -> None:
        """One bounded retention step; runs again next iteration while there is more to do."""
        removed = 0
        more = False
        try:
            if self.history_days > 0:
                cutoff = int((wall - self.history_days * 86400) * 1000)
                n = self.db.execute(
                    "DELETE FROM messages WHERE id IN (SELECT id FROM (SELECT id, time FROM "
                    "messages ORDER BY id LIMIT ?) WHERE time < ?)",
                    (PRUNE_BATCH, cutoff),
                ).rowcount
                removed += n
                more = n >= PRUNE_BATCH
            if self.max_per_channel > 0 and self._due and not more:
                target = self._due.pop()
                self._unpruned.pop(target, None)
                edge = self.db.execute(
                    "SELECT time, id FROM messages WHERE target = ? ORDER BY time DESC, id DESC "
                    "LIMIT 1 OFFSET ?",
                    (target, self.max_per_channel),
                ).fetchone()
                if edge is not None:
                    n = self.db.execute(
                        "DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE "
                        "target = ? AND (time, id) <= (?, ?) ORDER BY time, id LIMIT ?)",
                        (target, edge[0], edge[1], PRUNE_BATCH),
                    ).rowcount
                    removed += n
                    if n >= PRUNE_BATCH:
                        self._due.add(target)
                more = more or bool(self._due)
        except sqlite3.Error as exc:
            self._failed(exc, now)
            self._prune_at = now + PRUNE_INTERVAL
            return
        self.pruned += removed
        self._prune_at = now if more else now + PRUNE_INTERVAL

    def used_bytes(self) -> int:
        """Bytes of database pages in use (the file minus its free pages; the WAL aside)."""
        pages = self.db.execute(
            "SELECT page_count - freelist_count FROM pragma_page_count(), pragma_freelist_count()"
        ).fetchone()[0]
        return int(pages) * self.page_size

    def _cap_step(self, now: float) -> None:
        """Keep the database under `max_bytes`: while over it, delete the PRUNE_BATCH oldest
        messages network-wide, one batch per loop iteration. Deleted pages go to the free list
        and are reused, so the file stops growing near the cap."""
        self._cap_written = 0
        try:
            if self.used_bytes() <= self.max_bytes:
                self._cap_due = False
                return
            n = self.db.execute(
                "DELETE FROM messages WHERE id IN (SELECT id FROM messages ORDER BY id LIMIT ?)",
                (PRUNE_BATCH,),
            ).rowcount
        except sqlite3.Error as exc:
            self._failed(exc, now)
            return
        if not self.capped:
            log.info(
                "store %s: history reached its cap of %d bytes; the oldest messages are pruned",
                self.path,
                self.max_bytes,
            )
        self.capped += n
        self.pruned += n
        if self._checkpointer is not None:
            self._checkpointer.dirty = True
        self._cap_due = n > 0  # look again next iteration; an empty table cannot shrink more

    # -- reads ---------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    def locate(self, target: str, msgid: str) -> tuple[int, int] | None:
        """The (time, id) position of a message in a target's history, or None."""
        found = self._query(
            "SELECT time, id FROM messages WHERE msgid = ? AND target = ? AND id > ? "
            "ORDER BY id DESC LIMIT 1",
            (msgid, target, self._hidden.get(target, 0)),
        )
        return (int(found[0][0]), int(found[0][1])) if found else None  # type: ignore[call-overload]

    def _rows_where(
        self, target: str, where: str, params: tuple[object, ...], limit: int, newest_first: bool
    ) -> list[HistoryRow]:
        order = "DESC" if newest_first else "ASC"
        hidden = self._hidden.get(target)
        if hidden is not None:
            where += " AND id > ?"
            params = (*params, hidden)
        cur = self._query(
            f"SELECT {_COLUMNS} FROM messages WHERE target = ? {where} "
            f"ORDER BY time {order}, id {order} LIMIT ?",
            (target, *params, limit),
        )
        rows = [HistoryRow(*r) for r in cur]  # type: ignore[arg-type]
        if newest_first:
            rows.reverse()
        return rows

    def before(self, target: str, point: tuple[int, int], limit: int) -> list[HistoryRow]:
        """Up to `limit` messages just before `point`, oldest first."""
        return self._rows_where(target, "AND (time, id) < (?, ?)", point, limit, True)

    def after(self, target: str, point: tuple[int, int], limit: int) -> list[HistoryRow]:
        """Up to `limit` messages just after `point`, oldest first."""
        return self._rows_where(target, "AND (time, id) > (?, ?)", point, limit, False)

    def latest(self, target: str, point: tuple[int, int] | None, limit: int) -> list[HistoryRow]:
        """The newest `limit` messages (after `point` if given), oldest first."""
        if point is None:
            return self._rows_where(target, "", (), limit, True)
        return self._rows_where(target, "AND (time, id) > (?, ?)", point, limit, True)

    def between(
        self, target: str, low: tuple[int, int], high: tuple[int, int], limit: int, from_high: bool
    ) -> list[HistoryRow]:
        """Messages strictly between two points, `limit` of them counted from one end."""
        return self._rows_where(
            target,
            "AND (time, id) > (?, ?) AND (time, id) < (?, ?)",
            (*low, *high),
            limit,
            from_high,
        )

    def targets(
        self, keys: Iterable[str], low_ms: int, high_ms: int, limit: int
    ) -> list[tuple[str, int]]:
        """(name, time of the latest message) for those of `keys` with a message between the
        two times (exclusive), oldest first."""
        found = []
        for key in keys:
            rows = self._query(
                "SELECT name, time FROM messages WHERE target = ? AND time > ? AND time < ? "
                "AND id > ? ORDER BY time DESC, id DESC LIMIT 1",
                (key, low_ms, high_ms, self._hidden.get(key, 0)),
            )
            if rows:
                found.append((str(rows[0][0]), int(rows[0][1])))  # type: ignore[call-overload]
        found.sort(key=lambda item: item[1])
        return found[:limit]

    def find(self, target: str, msgid: str) -> HistoryRow | None:
        """The message with this msgid in a target's history, or None (indexed by msgid)."""
        found = self._query(
            f"SELECT {_COLUMNS} FROM messages WHERE msgid = ? AND target = ? AND id > ? "
            "ORDER BY id DESC LIMIT 1",
            (msgid, target, self._hidden.get(target, 0)),
        )
        return HistoryRow(*found[0]) if found else None  # type: ignore[arg-type]

    def marker(self, owner: str, target: str) -> int | None:
        """An owner's read marker for a target, in milliseconds, or None."""
        found = self._query(
            "SELECT time FROM read_markers WHERE owner = ? AND target = ?", (owner, target)
        )
        return int(found[0][0]) if found else None  # type: ignore[call-overload]

    def count(self, target: str | None = None) -> int:
        if target is None:
            return int(self.db.execute("SELECT count(*) FROM messages").fetchone()[0])
        return int(
            self.db.execute("SELECT count(*) FROM messages WHERE target = ?", (target,)).fetchone()[
                0
            ]
        )

    def load_channels(self) -> list[ChannelRecord]:
        cur = self.db.execute(
            "SELECT key, name, created, topic, topic_by, topic_at, modes, "
            "password, user_limit, bans FROM channels ORDER BY name"
        )
        records = []
        for key, name, created, topic, topic_by, topic_at, modes, password, limit, bans in cur:
            lists = json.loads(bans)
            if isinstance(lists, list):  # written before +e and +I: the bans alone
                lists = {"b": lists}
            entries = {
                mode: [(str(m), str(s), int(t)) for m, s, t in lists.get(mode, [])]
                for mode in "beI"
            }
            records.append(
                ChannelRecord(
                    key,
                    name,
                    created,
                    topic,
                    topic_by,
                    topic_at,
                    modes,
                    password,
                    limit,
                    entries["b"],
                    entries["e"],
                    entries["I"],
                )
            )
        return records

    # -- the whole store as bytes (a cluster's snapshot) ------------------------------------------

    # What besides the database pages a copy needs to behave the same: hidden (forgotten) rows
    # and the pruning counters.
    _EXPORTED = ("_unpruned", "_due", "_hidden")

    def export(self, now: float) -> bytes:
        """The database and the store's bookkeeping, as bytes (everything queued is committed
        first). A cluster node's snapshot carries this to nodes that start later."""
        self.flush(now)
        extra = {name: getattr(self, name) for name in self._EXPORTED}
        return pickle.dumps((self.db.serialize(), extra), protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, blob: bytes) -> None:
        """Replace this store's content with an `export` (of a node of the same network)."""
        pages, extra = pickle.loads(blob)
        self._rows.clear()
        self._sizes.clear()
        self._rows_bytes = 0
        self._channels.clear()
        self._account_ops.clear()
        self.db.deserialize(pages)
        self.db.execute("PRAGMA journal_mode=MEMORY")  # a deserialized database has no WAL
        for name in self._EXPORTED:
            setattr(self, name, extra[name])


# What a queued row holds besides its strings: the 8-tuple, the time int, the deque slots of
# the row and of its size (and the size int itself).
_ROW_BASE = sys.getsizeof((0,) * 8) + sys.getsizeof(MAX_ID) * 2 + 2 * 8


_ASCII_STR = sys.getsizeof("")  # an ASCII str's header; each character adds one byte


def _row_size(msgid: str, source: str, text: str, tags: str) -> int:
    """The memory one queued row holds. The target and the channel name are the channel's own
    strings and the command one of two constants, so they are not counted; the others are
    this row's. A string that is not ASCII gets its UTF-8 form too, which sqlite3 caches in it
    when it binds the row. Every channel message pays this, so the ASCII case (the usual one)
    is counted with len() alone: the same figure, without four sys.getsizeof calls."""
    if text.isascii() and source.isascii() and tags.isascii() and msgid.isascii():
        strings = (msgid != "") + (source != "") + (text != "") + (tags != "")
        return _ROW_BASE + _ASCII_STR * strings + len(msgid) + len(source) + len(text) + len(tags)
    size = _ROW_BASE
    for value in (msgid, source, text, tags):
        if value:
            size += sys.getsizeof(value)
            if not value.isascii():
                size += len(value.encode("utf-8", "surrogatepass")) + 1
    return size


def _channel_row(r: ChannelRecord) -> tuple[object, ...]:
    return (
        r.key,
        r.name,
        r.created,
        r.topic,
        r.topic_by,
        r.topic_at,
        r.modes,
        r.password,
        r.limit,
        # the bans column holds all three lists; just the bans, as before, when the others
        # are empty (so an older chatd still reads it)
        json.dumps(
            {
                "b": [list(b) for b in r.bans],
                "e": [list(b) for b in r.excepts],
                "I": [list(b) for b in r.invexes],
            }
            if r.excepts or r.invexes
            else [list(b) for b in r.bans]
        ),
    )


class _Checkpointer(threading.Thread):
    """Checkpoints the WAL at most once per CHECKPOINT_INTERVAL when something was written,
    on its own connection: a PASSIVE checkpoint never blocks the loop's writes."""

    def __init__(self, path: str) -> None:
        super().__init__(name="chatd-checkpoint", daemon=True)
        self.path = path
        self.dirty = False
        self._quit = threading.Event()
        self._errors: set[str] = set()
        self.checkpoints = 0
        self.start()

    def run(self) -> None:
        db = sqlite3.connect(self.path, timeout=1.0, isolation_level=None, check_same_thread=False)
        try:
            while not self._quit.wait(CHECKPOINT_INTERVAL):
                if self.dirty:
                    self.dirty = False
                    try:
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                        self.checkpoints += 1
                    except sqlite3.Error as exc:
                        if str(exc) not in self._errors:
                            self._errors.add(str(exc))
                            log.error("store %s: checkpoint failed: %s", self.path, exc)
        finally:
            db.close()

    def stop(self) -> None:
        self._quit.set()
        self.join(5.0)
