"""What the reactor needs from the chat server: the one interface between `net/` and the rest.

The reactor owns sockets, the timer heap and the loop; everything a line *means* is behind a
`Core`. One process uses `server.core.LocalCore` (the chat state applied at once); a cluster node
uses `cluster.core.ClusterCore` (lines go through the network's log first). `net/` imports
neither: the composition root (`chatd/cli.py`) hands the reactor its core.

A client handle is whatever the core returned from `connect`; the reactor only passes it back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ..proto.framing import Line

Write = Callable[[bytes], None]
Close = Callable[[], None]


class Core(Protocol):
    def attach(self, loop: Any) -> None:
        """The reactor that drives this core: `call_at(when, callback)` and
        `call_soon_threadsafe(callback)` for work the core schedules itself."""

    def set_clock(self, now: float, wall: float) -> None:
        """The loop's monotonic and wall-clock time for the work that follows."""

    def settle(self) -> None:
        """Right before the reactor flushes: finish whatever output is still being gathered."""

    def admit(self, host: str) -> str | None:
        """A connection from `host` was accepted: None to serve it (and count it), or the
        reason it is refused."""

    def release(self, host: str) -> None:
        """A connection that `admit` let in is gone (before or after `connect`)."""

    def connect(
        self, write: Write, close: Close, host: str, tls: bool, certfp: str | None = None
    ) -> Any:
        """A new client; returns its handle. `write` queues bytes, `close` flushes and hangs
        up. `certfp`: the SHA-256 fingerprint of its TLS client certificate, if it sent one."""

    def receive(self, client: Any, lines: list[Line]) -> float | None:
        """Complete lines from a client. Returns an earlier time at which `on_timer` must run
        (lines held back by flood control), or None."""

    def on_timer(self, client: Any) -> float | None:
        """The client's deadline came: returns the next one, or None for none."""

    def lost(self, client: Any, reason: str) -> None:
        """The socket is gone (EOF, reset, internal error). Safe to call more than once."""

    def overflowed(self, client: Any) -> None:
        """The client's output queue passed its limit; its queue is already dropped."""

    def housekeeping(self) -> None:
        """Called about once a minute: forget what is no longer needed."""

    def shutdown(self, reason: str) -> None:
        """The server is stopping: tell every client, without QUIT storms between them."""
