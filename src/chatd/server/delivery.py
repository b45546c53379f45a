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
from .user import VIEW_ACCOUNT, VIEW_TAGS, VIEW_TIME, VIEWS

if TYPE_CHECKING:
    from .channel import Channel
    from .user import User


def format_time(wall: float) -> str:
    """An IRCv3 server-time value: ISO 8601 UTC with milliseconds."""
    stamp = datetime.datetime.fromtimestamp(wall, datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class Event:
    """One message on its way to several users, encoded lazily once per tag view."""

    __slots__ = ("msg", "client_tags", "wall", "msgid", "account", "_encoded")

    def __init__(
        self,
        msg: Message,
        wall: float,
        msgid: str,
        client_tags: dict[str, str],
        account: str | None = None,
    ) -> None:
        self.msg = msg
        self.client_tags = client_tags
        self.wall = wall
        self.msgid = msgid
        self.account = account  # the sender's account, for account-tag
        self._encoded: list[bytes | None] = [None] * VIEWS

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
        if view & VIEW_ACCOUNT and self.account is not None:
            tags["account"] = self.account
        if not tags:
            return encode(self.msg)
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
        # members who were given the batch's first n events early (settle_for): a reply to
        # one member of a busy room no longer delivers the whole room's batch
        self._upto: dict[User, int] = {}
        self.relayed = 0  # events made (messages, joins, quits...), for STATS and metrics
        # The account a message's source is logged in to (account-tag); set by the state.
        self.account_of: Callable[[str], str | None] | None = None

    def restart_ids(self, prefix: str) -> None:
        """Number the next events from 1 under `prefix` (a cluster numbers them per log entry,
        so every node gives a message the same msgid)."""
        self._prefix = prefix
        self._ids = itertools.count(1)

    def event(self, msg: Message, client_tags: dict[str, str] | None = None) -> Event:
        msgid = f"{self._prefix}{next(self._ids):x}"
        self.relayed += 1
        account_of = self.account_of
        account = account_of(msg.source) if account_of is not None and msg.source else None
        return Event(msg, self.wall, msgid, client_tags or {}, account)

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
        """Before a direct write to `user`: if the pending batch concerns it, give it its
        share of the batch now (what it has not had yet, without its own lines) and note how
        far it got; the rest of the room gets the batch when it is settled. Order only matters
        per recipient, so a PONG to someone outside the room leaves the batch alone, and a
        reply to a member (a labeled response's ACK, a PONG) costs a join of that member's
        share, not the room's delivery."""
        channel = self._channel
        if channel is None or user not in channel.members.local:
            return
        batch = self._batch
        start = self._upto.get(user, 0)
        if start == len(batch):
            return
        view = user.tag_view
        share = [event.for_view(view) for event, exclude in batch[start:] if exclude is not user]
        self._upto[user] = len(batch)
        if share:
            user.write(share[0] if len(share) == 1 else b"".join(share))

    def settle(self) -> None:
        """Deliver the pending channel batch. The reactor calls this before it flushes.

        The work is one pass over the room plus, per tag view, one join of the batch (and
        log2(batch) joins when a member of that view spoke or got a share early), however
        many members spoke: every member who did not speak gets the view's one bytes object,
        and one who did gets the runs between its own lines as shared pieces of a `_Joined`
        (at most 2·log2(batch) per run), never a private copy of the batch
        (bench/batch_cost.py).
        """
        channel = self._channel
        if channel is None:
            return
        batch = self._batch
        upto = self._upto
        self._channel = None
        self._batch = []
        if upto:
            self._upto = {}
        members = channel.members.local  # a cluster's replicas of other nodes' users write nowhere
        if len(batch) == 1 and not upto:
            _fan_out(members, batch[0][0], batch[0][1])
            return
        own: dict[User, list[int]] = {}  # a sender -> where its own lines are, in order
        for i, (_, exclude) in enumerate(batch):
            if exclude is not None:
                found = own.get(exclude)
                if found is None:
                    own[exclude] = [i]
                else:
                    found.append(i)
        events = [event for event, _ in batch]
        count = len(events)
        whole: list[bytes | None] = [None] * VIEWS  # per tag view
        joined: list[_Joined | None] = [None] * VIEWS
        for user in members:
            view = user.tag_view
            mine = own.get(user)
            start = upto.get(user, 0) if upto else 0
            if mine is None and not start:
                data = whole[view]
                if data is None:
                    tree = joined[view]
                    data = whole[view] = (
                        tree.whole
                        if tree is not None
                        else b"".join([e.for_view(view) for e in events])
                    )
                user.write(data)
                continue
            if start == count or (mine is not None and len(mine) == count):
                continue  # it had it all already, or the whole batch is its own
            tree = joined[view]
            if tree is None:
                tree = joined[view] = _Joined([e.for_view(view) for e in events])
            pieces: list[bytes] = []
            for i in mine or ():
                if i >= start:
                    tree.run(start, i, pieces)
                    start = i + 1
            tree.run(start, count, pieces)
            for piece in pieces:
                user.write(piece)


class _Joined:
    """One tag view of a room batch, joined once and in aligned runs: `levels[j][m]` is the
    bytes of events m·2^j up to (m+1)·2^j (fewer for the last one of a level), so level 0 is
    the events themselves and the top level the whole batch. Any run of events is then at most
    2·log2(n) of these shared objects: building costs log2(n) copies of the batch's bytes
    once, and a sender's share costs a few list appends instead of a copy of the batch."""

    __slots__ = ("levels", "size")

    def __init__(self, pieces: list[bytes]) -> None:
        levels = [pieces]
        while len(pieces) > 1:
            pieces = [b"".join(pieces[m : m + 2]) for m in range(0, len(pieces), 2)]
            levels.append(pieces)
        self.levels = levels
        self.size = len(levels[0])

    @property
    def whole(self) -> bytes:
        return self.levels[-1][0]

    def run(self, start: int, stop: int, out: list[bytes]) -> None:
        """Append to `out` the pieces that make up events start..stop-1, in order."""
        size, levels = self.size, self.levels
        top = len(levels) - 1
        while start < stop:
            # the largest aligned node starting here that does not reach past `stop`
            j = (start & -start).bit_length() - 1 if start else top
            while min(start + (1 << j), size) > stop:
                j -= 1
            out.append(levels[j][start >> j])
            start = min(start + (1 << j), size)


def _fan_out(users: Iterable[User], event: Event, exclude: User | None) -> None:
    plain = event.for_view(0)
    for user in users:
        if user is exclude:
            continue
        view = user.tag_view
        user.write(event.for_view(view) if view else plain)
