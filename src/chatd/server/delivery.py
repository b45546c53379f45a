"""Delivery of relayed messages to local connections: the one place where fan-out happens.

Handlers say *what* goes to *whom* (a user, a channel, a set of users); LocalDelivery encodes
the message once per tag view and appends the same bytes to every recipient's queue. A future
backplane (several processes sharing rooms) wraps this interface instead of touching handlers.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ..proto.message import Message, encode
from .user import VIEW_TAGS, VIEW_TIME

if TYPE_CHECKING:
    from .channel import Channel
    from .user import User


def format_time(wall: float) -> str:
    """An IRCv3 server-time value: ISO 8601 UTC with milliseconds."""
    stamp = datetime.datetime.fromtimestamp(wall, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class Event:
    """One message on its way to several users, encoded lazily once per tag view."""

    __slots__ = ("msg", "client_tags", "wall", "msgid", "_encoded")

    def __init__(self, msg: Message, wall: float, msgid: str, client_tags: dict[str, str]) -> None:
        self.msg = msg
        self.client_tags = client_tags
        self.wall = wall
        self.msgid = msgid
        self._encoded: list[bytes | None] = [None, None, None, None]

    def for_view(self, view: int) -> bytes:
        data = self._encoded[view]
        if data is None:
            data = self._encode(view)
            self._encoded[view] = data
        return data

    def _encode(self, view: int) -> bytes:
        if not view:
            return encode(self.msg)
        tags: dict[str, str] = {}
        if view & VIEW_TIME:
            tags["time"] = format_time(self.wall)
        if view & VIEW_TAGS:
            tags["msgid"] = self.msgid
            tags.update(self.client_tags)
        msg = self.msg
        return encode(Message(msg.command, msg.params, msg.source, tags))


class LocalDelivery:
    """Delivers events to users connected to this process.

    Channel messages (PRIVMSG, NOTICE, TAGMSG) to the same channel in a row are batched: each
    member gets the whole run as one bytes object instead of one append per message, which is
    what makes a busy room cheap. Any other write first *settles* the batch, so every client
    still sees every line in the order the server produced it.
    """

    def __init__(self, msgid_prefix: str) -> None:
        self._ids = itertools.count(1)
        self._prefix = msgid_prefix
        self.wall = 0.0  # set by the server state before each batch of work
        self._channel: Channel | None = None  # the channel whose messages are being batched
        self._batch: list[tuple[Event, User | None]] = []

    def event(self, msg: Message, client_tags: dict[str, str] | None = None) -> Event:
        msgid = f"{self._prefix}{next(self._ids):x}"
        return Event(msg, self.wall, msgid, client_tags or {})

    def to_user(self, user: User, event: Event) -> None:
        self.settle_for(user)
        user.write(event.for_view(user.tag_view))

    def to_users(self, users: Iterable[User], event: Event, exclude: User | None = None) -> None:
        if self._channel is not None:
            self.settle()
        _fan_out(users, event, exclude)

    def new_msgid(self) -> str:
        return f"{self._prefix}{next(self._ids):x}"

    def to_users_rendered(
        self, users: Iterable[User], render: Callable[[User], bytes], exclude: User | None = None
    ) -> None:
        """Output that differs by more than the tag view (a draft/multiline batch, or its
        fallback lines): `render(user)` gives each recipient's bytes, cached by the caller."""
        if self._channel is not None:
            self.settle()
        for user in users:
            if user is not exclude:
                user.write(render(user))

    def to_channel(self, channel: Channel, event: Event, exclude: User | None = None) -> None:
        """A channel event that may change membership (JOIN, PART, KICK, MODE...): at once."""
        self.to_users(channel.members, event, exclude)

    def message_to_channel(self, channel: Channel, event: Event, exclude: User | None) -> None:
        """A message to every member but `exclude`; may be delivered with the next ones."""
        if channel is not self._channel:
            if self._channel is not None:
                self.settle()
            self._channel = channel
        self._batch.append((event, exclude))

    def settle_for(self, user: User) -> None:
        """Settle before a direct write to `user`, if the pending batch concerns it: order
        only matters per recipient, so a PONG to someone outside the room leaves it alone."""
        channel = self._channel
        if channel is not None and user in channel.members:
            self.settle()

    def settle(self) -> None:
        """Deliver the pending channel batch. The reactor calls this before it flushes."""
        channel = self._channel
        if channel is None:
            return
        batch = self._batch
        self._channel = None
        self._batch = []
        if len(batch) == 1:
            _fan_out(channel.members, batch[0][0], batch[0][1])
            return
        senders = {exclude for _, exclude in batch if exclude is not None}
        joined: list[bytes | None] = [None, None, None, None]  # per tag view
        for user in channel.members:
            view = user.tag_view
            if user in senders:
                data = b"".join(e.for_view(view) for e, x in batch if x is not user)
                if data:
                    user.write(data)
                continue
            shared = joined[view]
            if shared is None:
                shared = joined[view] = b"".join(e.for_view(view) for e, _ in batch)
            user.write(shared)


def _fan_out(users: Iterable[User], event: Event, exclude: User | None) -> None:
    plain = event.for_view(0)
    for user in users:
        if user is exclude:
            continue
        view = user.tag_view
        user.write(event.for_view(view) if view else plain)
