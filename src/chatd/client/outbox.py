"""What the client session wants written to the socket, in order, sans-IO.

Owns three queues of `Message`s: normal lines (messages, commands: paced by the transport, in
the order they were made), urgent ones (PONG answers and lag probes), which the transport
writes ahead of whatever pacing still holds back, so a long paste never delays a PONG or
inflates the measured lag, and background requests (history pages, read markers), written
when no normal line is waiting, so that what the user types never queues behind the dozens
of requests a reconnection or a TARGETS answer makes. Every message is serialised once on
the way in, so a line that cannot be sent raises ProtocolError where it is made, not in the
transport.
"""

from __future__ import annotations

from collections.abc import Callable

from chatd.proto.message import Message, serialise


class Outbox:
    def __init__(self) -> None:
        self._normal: list[Message] = []
        self._urgent: list[Message] = []
        self._background: list[Message] = []
        self.wakeup: Callable[[], None] | None = None  # the transport: "something to write"

    def send(
        self,
        command: str,
        *params: str,
        tags: dict[str, str] | None = None,
        urgent: bool = False,
        background: bool = False,
    ) -> Message:
        msg = Message(command, list(params), tags=tags)
        serialise(msg)  # raise ProtocolError now, not in the transport
        queue = self._urgent if urgent else self._background if background else self._normal
        queue.append(msg)
        if self.wakeup is not None:
            self.wakeup()
        return msg

    def pull_urgent(self) -> list[Message]:
        out, self._urgent = self._urgent, []
        return out

    def pull_normal(self) -> list[Message]:
        out, self._normal = self._normal, []
        return out

    def pull_background(self) -> list[Message]:
        out, self._background = self._background, []
        return out

    def pull(self) -> list[Message]:
        """Everything queued: the urgent lines first, the background requests last."""
        out = self._urgent + self._normal + self._background
        self._urgent, self._normal, self._background = [], [], []
        return out

    def clear(self) -> None:
        self._normal.clear()
        self._urgent.clear()
        self._background.clear()

    def __len__(self) -> int:
        return len(self._normal) + len(self._urgent) + len(self._background)
