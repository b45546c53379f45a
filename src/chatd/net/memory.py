"""Giving freed memory back to the operating system (Linux with glibc; elsewhere nothing).

CPython's small objects live in its own arenas, everything bigger (queue lists, joined batches,
large lines) in glibc's heap. When a burst of output is dropped at once — hundreds of readers
that never read, the largest queues past the output budget — glibc keeps the freed pages for
later unless they happen to sit at the top of the heap, so the process stays as big as its peak.
`malloc_trim(0)` hands every whole free page back (it walks the heap: the reactor calls it only
after a large drop, and at most once per `TRIM_INTERVAL`).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def allocator_trim() -> Callable[[], object] | None:
    """glibc's `malloc_trim(0)` as a callable, or None where the C library has none (musl,
    macOS)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)
