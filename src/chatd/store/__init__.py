"""Persistence for chatd: channel history and persistent channels, in one SQLite database.

The chat state talks to a `Store` through a few calls: it appends rows (cheap, in memory), asks
for them to be committed once per loop iteration (`settle`), and reads history with bounded,
indexed queries. Nothing here knows about users or sockets, and nothing here reads a clock: the
state passes the time in.
"""

from .sqlite import (
    ChannelRecord,
    HistoryRow,
    Ref,
    Store,
    StoreError,
    default_path,
    ms_to_iso,
    parse_timestamp,
)

__all__ = [
    "ChannelRecord",
    "HistoryRow",
    "Ref",
    "Store",
    "StoreError",
    "default_path",
    "ms_to_iso",
    "parse_timestamp",
]
