"""The reactor's readiness selector: `selectors.DefaultSelector` (epoll on Linux) behind the
small interface the reactor uses.

`select()` returns (data, events) pairs instead of (SelectorKey, events), and `forget()`
unregisters a socket that is about to be closed without raising when it is not registered.

Why not `select.epoll` directly: issue 14's registration profile showed `selectors` at about 6%
of the server's CPU per registration (a SelectorKey built per registration, a mapping lookup per
call, a tuple per ready socket). A raw-epoll poller behind this same interface was built and
measured, then left out: the server is one `selectors` event loop by design
(docs/decisions/0005-selectors-not-raw-epoll.md). It is the first thing to try if registrations
must get cheaper still.
"""

from __future__ import annotations

import selectors
from typing import Any, Protocol


class _FileLike(Protocol):
    def fileno(self) -> int: ...


FileObj = int | _FileLike


class Poller:
    __slots__ = ("_sel",)

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def register(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        self._sel.register(fileobj, events, data)

    def modify(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        self._sel.modify(fileobj, events, data)

    def unregister(self, fileobj: FileObj) -> None:
        self._sel.unregister(fileobj)

    def forget(self, fileobj: FileObj) -> None:
        """Unregister a socket that is closed right after; nothing if it is not registered."""
        try:
            self._sel.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        return [(key.data, mask) for key, mask in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()
