"""One write transaction on the store's connection, the same way for every writer."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable


def transaction(
    db: sqlite3.Connection, work: Callable[[sqlite3.Connection], None]
) -> sqlite3.Error | None:
    """Run `work(db)` between BEGIN and COMMIT. On an SQLite error the transaction is rolled
    back and the error returned (the caller keeps what it queued, to retry); None when it
    was written."""
    try:
        db.execute("BEGIN")
        work(db)
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        return exc
    return None
