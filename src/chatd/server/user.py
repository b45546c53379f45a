"""A client as the chat state sees it: identity, modes, channels, caps, liveness.

The User never touches its socket. It holds `write` and `close`, supplied by whoever owns the
connection (the reactor's Connection, or a test's recorder): write queues bytes, close flushes
what is queued and then hangs up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Protocol

from ..proto.caps import TAG_CAPS
from ..proto.casemap import fold

if TYPE_CHECKING:
    from ..proto.framing import Line
    from .channel import Channel
    from .commands.multiline import OpenBatch
    from .flood import FloodGate

Write = Callable[[bytes], None]
Close = Callable[[], None]


class Output(Protocol):
    """A client's output queue as the state sees it: the reactor's Connection, or a stand-in.

    The state reads `overflowed` before building a reply (a client already over its limit in
    this iteration gets nothing more built), asks `room()` before it builds a response it
    holds in memory first (a labeled response, a batch), and calls `overflow()` when that
    response would not fit: the client is then dropped as for any sendq overflow. `written`
    counts the bytes queued so far: the difference across a command is what it cost.
    """

    overflowed: bool

    @property
    def written(self) -> int: ...

    def room(self) -> int: ...

    def overflow(self) -> None: ...

    def close(self) -> None: ...


class Unbounded:
    """The output of a client without a queue of its own (a test's recorder, a gone user)."""

    __slots__ = ()
    overflowed = False
    written = 0

    def room(self) -> int:
        return 1 << 62

    def overflow(self) -> None:
        pass

    def close(self) -> None:
        pass


UNBOUNDED: Output = Unbounded()

NO_CAPS: frozenset[str] = frozenset()  # shared: most clients never change it
# shared by every user in no channel: an empty set() is 216 bytes, an idle connection's
# biggest object after the User itself (docs/performance.md, idle memory)
NO_CHANNELS: frozenset[Channel] = frozenset()

# Bits of User.tag_view: which optional tags this client sees on relayed messages.
VIEW_TIME = 1
VIEW_TAGS = 2
VIEW_ACCOUNT = 4  # account-tag
VIEWS = 8  # distinct tag views (encodings of one event)


class User:
    __slots__ = (
        "write",
        "close",
        "output",
        "host",
        "ip",
        "nick",
        "key",
        "username",
        "realname",
        "modes",
        "channels",
        "caps",
        "tag_view",
        "cap_version",
        "negotiating",
        "registered",
        "gone",
        "away",
        "pass_ok",
        "oper_name",
        "connected_at",
        "signon",
        "last_seen",
        "last_spoke",
        "ping_sent",
        "flood",
        "inbox",
        "invited",
        "prefix",
        "early_lines",
        "oper_next",
        "local",
        # accounts (server/accounts.py, commands/accounts.py)
        "account",
        "certfp",
        "auth_failures",
        "nick_serial",
        "sasl",
        "auth_busy",
        "batch",
        "monitoring",
        "metadata",
        "meta_subs",
        "lines_in",
        "bytes_in",
        "origin",
        "server",
        "__weakref__",
    )

    def __init__(
        self,
        write: Write,
        close: Close | None,
        host: str,
        now: float,
        wall: float,
        flood: FloodGate | None,
        ip: str | None = None,
        output: Output = UNBOUNDED,
    ) -> None:
        self.write = write
        # None: the output queue closes the link itself (`closer`), and the user keeps no
        # bound method for it (64 bytes per connection)
        self.close: Close | None = close
        self.output = output  # the queue behind write: its limits and counters
        self.host = host  # what others see: the cloak, or the address without cloaking
        self.ip = ip if ip is not None else host  # the real address (the user and opers see it)
        self.nick = "*"
        self.key = ""  # casefolded nick; "" until NICK
        self.username = ""
        self.realname = ""
        self.modes = ""  # user mode letters, e.g. "io"; a str is 200 bytes lighter than a set
        self.channels: AbstractSet[Channel] = NO_CHANNELS  # see joined() and parted()
        self.caps: frozenset[str] = NO_CAPS
        self.tag_view = 0
        self.cap_version = 0
        self.negotiating = False
        self.registered = False
        self.gone = False
        self.away: str | None = None
        self.pass_ok: bool | None = None  # PASS: whether it was the server's password
        self.oper_name: str | None = None
        self.connected_at = now
        self.signon = wall
        self.last_seen = now
        self.last_spoke = now
        self.ping_sent: float | None = None
        self.flood = flood
        self.inbox: deque[Line] | None = None  # lines held back by flood control
        # channels a channel operator invited this user to, oldest first (the values are
        # unused): the objects, not names, so an invitation dies with its channel and never
        # opens a new channel of the same name; at most max_channels, the oldest evicted
        self.invited: dict[Channel, None] | None = None
        self.early_lines = 0  # lines received before registration completed
        self.oper_next = 0.0  # when this connection may try OPER again (commands/operator.py)
        self.prefix = "*"  # nick!user@host, kept current by set_nick and set_username
        # connected to this process (always, but on a cluster node for the replicas of users
        # on other nodes): only a local user's work that is not deterministic (a password
        # check, a random nonce, a timer) is done here, and its result comes back as an input
        self.local = True
        self.account: str | None = None  # the account logged in to, as registered
        self.certfp: str | None = None  # SHA-256 of the TLS client certificate, hex
        self.auth_failures = 0  # failed logins on this connection
        self.nick_serial = 0  # counts nick changes: a nick-protection timer names its nick
        # Local to this node, never replicated: the SASL conversation in progress (nonces,
        # partial responses) and whether a password check is out for this connection.
        self.sasl: object | None = None
        self.auth_busy = False
        self.batch: OpenBatch | None = None  # an open draft/multiline batch (commands/multiline.py)
        self.monitoring: dict[str, str] | None = None  # MONITOR: casefolded nick -> as given
        self.metadata: dict[str, str] | None = None  # draft/metadata-3 keys set on this user
        self.meta_subs: set[str] | None = None  # metadata keys this client subscribed to
        self.lines_in = 0  # lines received, for STATS l
        self.bytes_in = 0
        self.origin = ""  # on a cluster: the client id, "<node id>:<n>"
        self.server = ""  # on a cluster: the server name of the node it is connected to

    def __repr__(self) -> str:
        return f"<User {self.nick} {self.host}>"

    def closer(self) -> Close:
        """What closes this user's link: its own callback, or its output queue's close."""
        return self.close if self.close is not None else self.output.close

    @property
    def oper(self) -> bool:
        return "o" in self.modes

    def set_nick(self, nick: str) -> None:
        self.nick = nick
        self.key = fold(nick)
        self.prefix = f"{nick}!{self.username}@{self.host}"

    def set_username(self, username: str) -> None:
        self.username = username
        self.prefix = f"{self.nick}!{username}@{self.host}"

    @property
    def cloaked(self) -> bool:
        return self.ip != self.host

    @property
    def real_prefix(self) -> str:
        """nick!user@address, for bans on the real address and for the user's own eyes."""
        return f"{self.nick}!{self.username}@{self.ip}"

    def host_for(self, viewer: User) -> str:
        """The host `viewer` is shown in replies about this user: the real address for the
        user itself and for IRC operators, the cloak for everyone else."""
        return self.ip if viewer is self or viewer.oper else self.host

    def joined(self, channel: Channel) -> None:
        channels = self.channels
        if isinstance(channels, set):
            channels.add(channel)
        else:
            self.channels = {channel}

    def parted(self, channel: Channel) -> None:
        channels = self.channels
        if isinstance(channels, set):
            channels.discard(channel)
            if not channels:
                self.channels = NO_CHANNELS

    def set_caps(self, caps: frozenset[str]) -> None:
        self.caps = caps
        self.tag_view = (
            (VIEW_TIME if TAG_CAPS[0] in caps else 0)
            | (VIEW_TAGS if TAG_CAPS[1] in caps else 0)
            | (VIEW_ACCOUNT if TAG_CAPS[2] in caps else 0)
        )

    def neighbours(self) -> set[User]:
        """Every user sharing a channel with this one, itself excluded."""
        seen: set[User] = set()
        for channel in self.channels:
            seen.update(channel.members)
        seen.discard(self)
        return seen
