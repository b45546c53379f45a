"""The store's part for accounts: accounts with their credentials, grouped nicks and certificate
fingerprints, channel registrations (founder and auto-modes), and the listing of private
conversations. Mixed into `sqlite.Store`, on the same database and connection.

Private messages themselves are rows of the `messages` table like channel messages, under a
target key that no channel can have (`private_key`): `@<owner account>/<peer>`, one row per
identified participant. They share the channel history's write path (queued, committed by the
next `settle`, so stored before a client can see them), its retention and its reads.

Writes are queued like the rest (`save_account`, `delete_account`, `save_registration`,
`delete_registration`) and committed by `settle`/`flush`, in their own transaction. What this
module must not do: know users, sockets or clocks; the times come in from the caller.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .transaction import transaction

log = logging.getLogger("chatd")

PRIVATE_PREFIX = "@"  # channel keys start with a channel type ("#"), never with this
UNIDENTIFIED = "~"  # a peer that was not logged in is kept by nick: "~" + its folded nick
CONVERSATIONS_MAX = 1000  # private conversations one TARGETS request looks at, at most


def private_key(owner: str, peer: str) -> str:
    """The history target of `owner`'s conversation with `peer` (both casefolded: an account
    key, or UNIDENTIFIED + a nick)."""
    return f"{PRIVATE_PREFIX}{owner}/{peer}"


def private_prefix(owner: str) -> tuple[str, str]:
    """The range [low, high) of every private history key of `owner`."""
    return f"{PRIVATE_PREFIX}{owner}/", f"{PRIVATE_PREFIX}{owner}0"  # "0" follows "/"


@dataclass
class AccountRecord:
    key: str  # casefolded name
    name: str
    created: int  # wall-clock seconds
    email: str | None
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes
    nicks: list[tuple[str, str]] = field(default_factory=list)  # (folded, as grouped)
    certs: list[str] = field(default_factory=list)  # SHA-256 fingerprints, hex


@dataclass
class RegistrationRecord:
    key: str  # the channel, casefolded
    name: str
    founder: str  # account key
    registered: int  # wall-clock seconds
    amodes: dict[str, str] = field(default_factory=dict)  # account key -> "o" or "v"


def migrate_accounts(db: sqlite3.Connection) -> None:
    """Schema version 4: accounts, their nicks and certificates, and channel registrations."""
    db.execute("""CREATE TABLE accounts (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created INTEGER NOT NULL,
        email TEXT,
        salt BLOB NOT NULL,
        iterations INTEGER NOT NULL,
        stored_key BLOB NOT NULL,
        server_key BLOB NOT NULL)""")
    db.execute("""CREATE TABLE account_nicks (
        nick TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        name TEXT NOT NULL)""")
    db.execute("CREATE INDEX account_nicks_account ON account_nicks (account)")
    db.execute("""CREATE TABLE account_certs (
        fingerprint TEXT PRIMARY KEY,
        account TEXT NOT NULL)""")
    db.execute("CREATE INDEX account_certs_account ON account_certs (account)")
    db.execute("""CREATE TABLE channel_registrations (
        key TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        founder TEXT NOT NULL,
        registered INTEGER NOT NULL,
        amodes TEXT NOT NULL)""")


_Op = tuple[str, object]


class AccountStore:
    """The account half of `Store` (a mixin: it uses the store's connection and its
    failure handling)."""

    if TYPE_CHECKING:
        db: sqlite3.Connection
        path: str
        _failing: bool
        _retry_at: float
        _hidden: dict[str, int]

        def _failed(self, exc: sqlite3.Error, now: float) -> None: ...

        def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]: ...

    _account_ops: list[_Op]

    def _init_accounts(self) -> None:
        self._account_ops = []

    # -- writes (queued) ----------------------------------------------------------------------

    def save_account(self, record: AccountRecord) -> None:
        self._account_ops.append(("account", record))

    def delete_account(self, key: str) -> None:
        self._account_ops.append(("delete-account", key))

    def save_registration(self, record: RegistrationRecord) -> None:
        self._account_ops.append(("registration", record))

    def delete_registration(self, key: str) -> None:
        self._account_ops.append(("delete-registration", key))

    @property
    def account_writes(self) -> int:
        return len(self._account_ops)

    def _commit_accounts(self, now: float) -> None:
        """Write the queued account changes in one transaction (kept to retry on failure)."""
        ops = self._account_ops

        def write(db: sqlite3.Connection) -> None:
            for kind, value in ops:
                _APPLY[kind](db, value)

        error = transaction(self.db, write)
        if error is not None:
            self._failed(error, now)
            return
        ops.clear()

    def settle_accounts(self, now: float) -> None:
        """Called by `Store.settle` and `Store.flush`: commit queued account changes."""
        if self._account_ops and (not self._failing or now >= self._retry_at):
            self._commit_accounts(now)

    # -- reads --------------------------------------------------------------------------------

    def load_accounts(self) -> list[AccountRecord]:
        nicks: dict[str, list[tuple[str, str]]] = {}
        for nick, account, name in self.db.execute(
            "SELECT nick, account, name FROM account_nicks ORDER BY nick"
        ):
            nicks.setdefault(account, []).append((nick, name))
        certs: dict[str, list[str]] = {}
        for fingerprint, account in self.db.execute(
            "SELECT fingerprint, account FROM account_certs ORDER BY fingerprint"
        ):
            certs.setdefault(account, []).append(fingerprint)
        return [
            AccountRecord(
                key,
                name,
                created,
                email,
                bytes(salt),
                iterations,
                bytes(stored),
                bytes(server),
                nicks.get(key, []),
                certs.get(key, []),
            )
            for key, name, created, email, salt, iterations, stored, server in self.db.execute(
                "SELECT key, name, created, email, salt, iterations, stored_key, server_key "
                "FROM accounts ORDER BY key"
            )
        ]

    def load_registrations(self) -> list[RegistrationRecord]:
        return [
            RegistrationRecord(key, name, founder, registered, json.loads(amodes))
            for key, name, founder, registered, amodes in self.db.execute(
                "SELECT key, name, founder, registered, amodes FROM channel_registrations "
                "ORDER BY key"
            )
        ]

    def private_targets(
        self, owner: str, low_ms: int, high_ms: int, limit: int
    ) -> list[tuple[str, int]]:
        """(history key, time of the latest message) of `owner`'s private conversations with
        a message between the two times (exclusive), oldest first, at most `limit`."""
        low, high = private_prefix(owner)
        keys = self._query(
            "WITH RECURSIVE t(target) AS (SELECT min(target) FROM messages WHERE target >= ? "
            "AND target < ? UNION ALL SELECT (SELECT min(target) FROM messages WHERE "
            "target > t.target AND target < ?) FROM t WHERE t.target IS NOT NULL) "
            "SELECT target FROM t WHERE target IS NOT NULL LIMIT ?",
            (low, high, high, CONVERSATIONS_MAX),
        )
        found = []
        for (key,) in keys:
            rows = self._query(
                "SELECT time FROM messages WHERE target = ? AND time > ? AND time < ? "
                "AND id > ? ORDER BY time DESC, id DESC LIMIT 1",
                (key, low_ms, high_ms, self._hidden.get(str(key), 0)),
            )
            if rows:
                found.append((str(key), int(rows[0][0])))  # type: ignore[call-overload]
        found.sort(key=lambda item: item[1])
        return found[:limit]

    def delete_private_history(self, owner: str) -> int:
        """Delete every private message kept for `owner` (the command line's `account remove`;
        not for the loop: one DELETE however many rows)."""
        low, high = private_prefix(owner)
        with self.db:
            return self.db.execute(
                "DELETE FROM messages WHERE target >= ? AND target < ?", (low, high)
            ).rowcount


def _save_account(db: sqlite3.Connection, value: object) -> None:
    assert isinstance(value, AccountRecord)
    r = value
    db.execute(
        "INSERT OR REPLACE INTO accounts (key, name, created, email, salt, iterations, "
        "stored_key, server_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (r.key, r.name, r.created, r.email, r.salt, r.iterations, r.stored_key, r.server_key),
    )
    db.execute("DELETE FROM account_nicks WHERE account = ?", (r.key,))
    db.executemany(
        "INSERT OR REPLACE INTO account_nicks (nick, account, name) VALUES (?, ?, ?)",
        [(nick, r.key, name) for nick, name in r.nicks],
    )
    db.execute("DELETE FROM account_certs WHERE account = ?", (r.key,))
    db.executemany(
        "INSERT OR REPLACE INTO account_certs (fingerprint, account) VALUES (?, ?)",
        [(cert, r.key) for cert in r.certs],
    )


def _delete_account(db: sqlite3.Connection, value: object) -> None:
    key = str(value)
    db.execute("DELETE FROM accounts WHERE key = ?", (key,))
    db.execute("DELETE FROM account_nicks WHERE account = ?", (key,))
    db.execute("DELETE FROM account_certs WHERE account = ?", (key,))
    db.execute("DELETE FROM channel_registrations WHERE founder = ?", (key,))
    # and its auto-modes: a new account of the same name must not inherit them
    for channel, amodes in db.execute("SELECT key, amodes FROM channel_registrations").fetchall():
        modes = json.loads(amodes)
        if key in modes:
            del modes[key]
            db.execute(
                "UPDATE channel_registrations SET amodes = ? WHERE key = ?",
                (json.dumps(modes, sort_keys=True), channel),
            )


def _save_registration(db: sqlite3.Connection, value: object) -> None:
    assert isinstance(value, RegistrationRecord)
    r = value
    db.execute(
        "INSERT OR REPLACE INTO channel_registrations (key, name, founder, registered, amodes) "
        "VALUES (?, ?, ?, ?, ?)",
        (r.key, r.name, r.founder, r.registered, json.dumps(r.amodes, sort_keys=True)),
    )


def _delete_registration(db: sqlite3.Connection, value: object) -> None:
    db.execute("DELETE FROM channel_registrations WHERE key = ?", (str(value),))


_APPLY: dict[str, Callable[[sqlite3.Connection, object], None]] = {
    "account": _save_account,
    "delete-account": _delete_account,
    "registration": _save_registration,
    "delete-registration": _delete_registration,
}
