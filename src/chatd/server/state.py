"""The chat state machine: users, channels, and the handling of one line from one user.

This is the sans-IO heart of the server: a deterministic state machine. Its driver (the
single-process `core.LocalCore`, or a cluster node applying the network's log) calls `connect`,
`handle_line` and `disconnect`, passing the time in; the state answers by writing bytes through
each User's `write` and asking connections to `close`. It imports no socket, selector or clock,
and reads no randomness: the same inputs give the same state on every node.
"""

from __future__ import annotations

import datetime
import hmac
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .. import __version__, logs
from ..limits import ERROR_LOG_EXCERPT, LABEL_MAX, RENDERED_LISTS
from ..proto import numerics as N
from ..proto.caps import MULTILINE
from ..proto.casemap import fold
from ..proto.errors import ProtocolError
from ..proto.message import (
    BadCommand,
    Message,
    encode,
    escape_tag_value,
    parse,
    serialise_tags,
)
from ..store import ChannelRecord, Store
from ..store.accounts import UNIDENTIFIED, RegistrationRecord, private_key
from . import isupport
from .accounts import Accounts, Pending
from .channel import Ban, Channel, max_mask_length
from .cloak import Cloak, startup_key
from .commands import monitor, multiline
from .config import Config
from .delivery import Event, LocalDelivery
from .dispatch import COMMANDS, RESUMERS, dispatch
from .flood import FloodGate
from .hidden import Hidden, too_long
from .opstats import Monitor
from .user import UNBOUNDED, Output, User
from .whowas import Record, WhowasRing

log = logging.getLogger("chatd")

VERSION = f"chatd-{__version__}"


def _wall_ms(wall: float) -> int:
    """Milliseconds since the epoch, exactly as the live `time` tag shows them (datetime rounds
    to the microsecond, delivery.format_time then cuts to the millisecond). Every message of
    one loop iteration has the same wall time, so the last conversion is kept."""
    ms = _LAST_WALL.get(wall)
    if ms is None:
        stamp = datetime.datetime.fromtimestamp(wall, datetime.UTC)
        ms = int(stamp.replace(microsecond=0).timestamp()) * 1000 + stamp.microsecond // 1000
        _LAST_WALL.clear()
        _LAST_WALL[wall] = ms
    return ms


_LAST_WALL: dict[float, int] = {}  # the last conversion of _wall_ms


def _tagged(line: bytes, tag: bytes) -> bytes:
    """An encoded line (without CRLF) with one more tag in front, unless it has that tag
    already (a line of a nested batch keeps its own `batch` tag)."""
    if line[:1] != b"@":
        return b"@" + tag + b" " + line
    name = tag.split(b"=", 1)[0] + b"="
    tags = line[1 : line.find(b" ")]
    if any(item.startswith(name) for item in tags.split(b";")):
        return line
    return b"@" + tag + b";" + line[1:]


def _one_batch(lines: list[bytes]) -> bool:
    """Whether encoded lines are exactly one draft/multiline batch (an echoed multiline
    message): BATCH +ref, the lines in it, BATCH -ref. The multiline spec puts the label on
    its BATCH +; other batches nest in a labeled-response batch."""
    try:
        first, last = parse(lines[0].decode()), parse(lines[-1].decode())
    except (ProtocolError, UnicodeDecodeError):
        return False
    if first.command != "BATCH" or first.params[1:2] != [MULTILINE] or first.params[0][:1] != "+":
        return False
    ref = first.params[0][1:]
    if last.command != "BATCH" or last.params[:1] != ["-" + ref]:
        return False
    inner = b"batch=" + ref.encode()
    return all(
        line[:1] == b"@" and inner in line[1 : line.find(b" ")].split(b";") for line in lines[1:-1]
    )


NICK_SLOT = "\0"  # where the nick goes in a pre-rendered reply; no line can hold a NUL
NICK_SLOT_BYTES = NICK_SLOT.encode()


class Deferred(NamedTuple):
    """Work the state asked to have done off the loop: `job()`'s result goes to
    `resume(user, kind, result)`."""

    user: User
    kind: str
    job: Callable[[], object]


class Later(NamedTuple):
    """A timer the state asked for: `resume(user, kind, value)` at monotonic time `when`."""

    user: User
    when: float
    kind: str
    value: object


def _ignore(*_: object) -> None:
    """What a gone user's write and close become."""


class _Catch:
    """Holds a labeled response while its command runs, up to the room left in the sendq."""

    __slots__ = ("output", "caught", "room", "closing")

    def __init__(self, output: Output) -> None:
        self.output = output
        self.caught: list[bytes] = []
        self.room = -1  # asked of the queue at the first write (most commands write nothing)
        self.closing = False  # the command closed the connection: done after the response

    def close(self) -> None:
        self.closing = True

    def write(self, data: bytes) -> None:
        if self.room < 0:
            self.room = self.output.room()
        room = self.room - len(data)
        if room < 0:
            self.caught = []
            self.output.overflow()  # stop building it; dropped as for any sendq overflow
            return
        self.room = room
        self.caught.append(data)


def _as_word(param: str) -> str:
    if not param:
        return "*"
    if " " in param or param[0] == ":":
        return param.lstrip(":").replace(" ", "_") or "*"
    return param


class ServerState:
    def __init__(
        self,
        config: Config,
        started_wall: float,
        msgid_prefix: str = "",
        store: Store | None = None,
        secret: bytes | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._ack_tail = f" :{self.name} ACK\r\n".encode()  # a labeled command's usual answer
        self.started_wall = started_wall
        self.users: dict[str, User] = {}  # casefolded nick -> registered or nick-holding user
        self.channels: dict[str, Channel] = {}  # casefolded name -> channel
        self.clients: set[User] = set()  # every connected user, registered or not
        self.connections = 0
        self.unregistered = 0
        self.opers = 0
        self.invisible = 0  # registered users with +i, for LUSERS without a scan
        self.delivery = LocalDelivery(msgid_prefix)
        self.now = 0.0
        self.wall = started_wall
        self.max_line = config.line_length - 2  # without CRLF
        self.motd = config.motd_lines()
        self.version = VERSION
        self._rendered: dict[str, bytes] = {}  # see reply_rendered
        self._lists: dict[tuple[object, ...], bytes] = {}  # see reply_cached
        # REHASH: re-reads the configuration file (set by the composition root; the state
        # itself reads no files). Returns a line per change.
        self.reload_hook: Callable[[], list[str]] | None = None
        self.config_file = "-"  # the file REHASH re-reads, for 382
        # STATS N/R and the metrics endpoint read figures through this (server/opstats.py);
        # set by the composition root, this node's own: handlers read it, never change state
        self.monitor: Monitor | None = None
        self.servers = 1  # nodes of the network (a cluster's replica counts them), for LUSERS
        self.requests: list[Deferred | Later] = []  # see defer() and later()
        # while a cluster node applies another node's copy of a line that held a secret: what
        # its origin decided from the secret (server/hidden.py); None otherwise
        self.hidden: Hidden | None = None
        # history and persistent channels (docs/storage.md); ":memory:" unless told otherwise
        self.store = (
            store
            if store is not None
            else Store(config.db or ":memory:", config.history_days, config.history_max_per_channel)
        )
        self._limit_store()
        self._batch_ids = itertools.count(1)
        self.work = 0  # see charge()
        self.oper_next = 0.0  # when the next OPER password check may run (commands/operator.py)
        self.peak_users = 0  # the most registered users seen at once (265/266 "max")
        self.whowas = WhowasRing(config.whowas_entries, config.whowas_per_nick, config.whowas_age)
        self.watchers: dict[str, set[User]] = {}  # MONITOR: casefolded nick -> who watches it
        self.command_counts: dict[str, int] = {}  # STATS m
        # host cloaking: the key is read (or made and stored) once, here, never in a handler
        self.cloak = Cloak(startup_key(config, self.store)) if config.cloak_hosts else None
        # Accounts (server/accounts.py): loaded from the store, changed by inputs only.
        # `secret` keys the decoy credentials of names that are not accounts: derived from the
        # network's one key (cloak_key, or the key kept in the database), so that a name that
        # is no account shows the same salt after a restart and on every node that has it.
        if secret is None:
            secret = hmac.new(startup_key(config, self.store), b"sasl decoy", "sha256").digest()
        self.secret = secret
        self.accounts = Accounts(config.auth_account_burst, config.auth_account_backoff_max)
        self.accounts.load(self.store.load_accounts())
        self.auth_pending = Pending()  # local: password checks running on this node
        self.guest_serial = 0  # the last Guest<N> nick handed out
        self.delivery.account_of = self._account_of
        self._restore_channels()
        self._restore_registrations()

    # -- time -------------------------------------------------------------------------------

    def set_clock(self, now: float, wall: float) -> None:
        """The reactor's monotonic and wall-clock time for the work that follows."""
        self.now = now
        self.wall = wall
        self.delivery.wall = wall

    def reconfigured(self) -> None:
        """The configuration object was changed in place (a reload): forget what was derived
        from it. Clients already connected keep their flood buckets."""
        self.name = self.config.name
        self._ack_tail = f" :{self.name} ACK\r\n".encode()
        self.motd = self.config.motd_lines()
        self._rendered.clear()
        self._lists.clear()
        isupport.forget()
        cfg = self.config
        self.accounts.throttle.burst = cfg.auth_account_burst
        self.accounts.throttle.ceiling = cfg.auth_account_backoff_max
        self.whowas.entries, self.whowas.per_nick = cfg.whowas_entries, cfg.whowas_per_nick
        self.whowas.age = cfg.whowas_age
        self._limit_store()

    def _limit_store(self) -> None:
        cfg = self.config
        self.store.set_limits(
            cfg.history_days,
            cfg.history_max_per_channel,
            cfg.history_pending_bytes,
            cfg.history_max_bytes,
        )

    def settle(self) -> None:
        """Deliver any batched channel messages and commit what the store has queued; the
        reactor calls this before flushing, so whatever a client can receive is stored."""
        self.delivery.settle()
        self.store.settle(self.now, self.wall)

    # -- connections ------------------------------------------------------------------------

    def connect(
        self,
        write: Callable[[bytes], None],
        close: Callable[[], None],
        host: str,
        certfp: str | None = None,
        output: Output | None = None,
    ) -> User:
        """A new connection; `certfp` is the SHA-256 of its TLS client certificate, if any;
        `output` its queue (limits and counters), if it has one."""
        cfg = self.config
        flood = FloodGate(cfg.flood_rate, cfg.flood_burst, self.now) if cfg.flood_limit else None
        shown = self.cloak.host(host) if self.cloak is not None else host
        # a connection's own close is reached through its output queue: nothing kept for it
        own = output is not None and close == getattr(output, "close", None)
        user = User(write, None if own else close, shown, self.now, self.wall, flood, ip=host)
        user.certfp = certfp
        if output is not None:
            user.output = output
        self.clients.add(user)
        self.connections += 1
        self.unregistered += 1
        return user

    def disconnect(self, user: User, reason: str, error: str | None = None) -> None:
        """Remove a user: peers see QUIT with `reason`, the user gets ERROR, the link closes.

        Safe to call more than once; only the first call does anything.
        """
        if user.gone:
            return
        user.gone = True
        self.connections -= 1
        if user.registered:
            self.remember_nick(user)
            if user.channels:  # no event (a msgid, an encoding) for a QUIT nobody sees
                quit_msg = Message("QUIT", [reason], user.prefix)
                self.delivery.to_users(user.neighbours(), self.delivery.event(quit_msg))
            if user.oper:
                self.opers -= 1
            if "i" in user.modes:
                self.invisible -= 1
        else:
            self.unregistered -= 1
        if user.account is not None:
            self.accounts.signed_out(user, fold(user.account))
        user.sasl = None
        for channel in list(user.channels):
            self.remove_member(channel, user)
        if user.key and self.users.get(user.key) is user:
            del self.users[user.key]
            if user.registered:
                monitor.notify_offline(self, user.nick)
        monitor.clear(self, user)
        user.batch = None
        text = error if error is not None else reason
        self.send(user, Message("ERROR", [f"Closing Link: {user.ip} ({text})"]))
        logs.info(log, "disconnect %s %s: %s", user.ip, user.nick, reason)
        self._let_go(user)

    def _let_go(self, user: User) -> None:
        """Close the link and drop every reference between the user and its connection, so a
        closed connection's memory comes back at once, not at the next cycle collection."""
        self.clients.discard(user)
        close = user.closer()
        user.write = user.close = _ignore
        user.output = UNBOUNDED
        user.inbox = None
        user.invited = None
        close()

    def every_user(self) -> list[User]:
        """Every connected user, registered or not (a copy: safe to disconnect while
        iterating)."""
        return list(self.clients)

    def farewell(self, user: User, reason: str) -> None:
        """Close one link at server shutdown: ERROR to the user, no QUIT storm between peers."""
        if user.gone:
            return
        user.gone = True
        self.send(user, Message("ERROR", [f"Closing Link: {user.ip} ({reason})"]))
        self._let_go(user)

    def remember_nick(self, user: User) -> None:
        """A registered user gives up its nick (a change, or leaving): keep it for WHOWAS."""
        self.whowas.add(
            Record(user.nick, user.username, user.host, user.realname, self.wall, self.now)
        )

    def registered_one(self) -> None:
        """A user completed registration: count it for the 265/266 peak."""
        self.peak_users = max(self.peak_users, self.connections - self.unregistered)

    def log_connect(self, user: User) -> None:
        log.debug("registered %s as %s (%d users)", user.ip, user.prefix, len(self.users))

    # -- work done outside the state machine -------------------------------------------------

    def defer(self, user: User, kind: str, job: Callable[[], object]) -> None:
        """Run `job` away from the loop (a password hash, say); its result comes back later
        through `resume(user, kind, result)`. The job must not touch the state; its result
        must be plain data. Only for local users: on a cluster node, the node the user is
        connected to does the work and the result reaches every node as an input."""
        if user.local and not user.gone:
            self.requests.append(Deferred(user, kind, job))

    def later(self, user: User, when: float, kind: str, value: object = None) -> None:
        """`resume(user, kind, value)` at monotonic time `when` (a grace period, say)."""
        if user.local and not user.gone:
            self.requests.append(Later(user, when, kind, value))

    def take_requests(self) -> list[Deferred | Later]:
        """The driver collects what the state asked for (once per loop iteration)."""
        requests, self.requests = self.requests, []
        return requests

    def resume(self, user: User, kind: str, value: object) -> None:
        """A deferred result or a timer for `user` is back; applied like one more input."""
        if user.gone:
            return
        try:
            RESUMERS[kind](self, user, value)
        except Exception:
            log.exception("error resuming %s for %s", kind, user.prefix)
            self.send(user, Message("FAIL", ["*", "INTERNAL_ERROR", "Internal error"], self.name))

    # -- input ------------------------------------------------------------------------------

    def handle_line(self, user: User, raw: bytes) -> int:
        """One complete line (without CR/LF) from a user. Returns the bytes that the command
        made the server queue for this user (0 for the commands the table does not meter):
        its driver charges flood control for them."""
        if user.gone:
            return 0
        user.last_seen = self.now
        if not user.registered:
            user.early_lines += 1
            if user.early_lines > self.config.unregistered_max_lines:
                self.disconnect(user, "Excess Flood", "Too many lines before registration")
                return 0
        if not raw:
            return 0  # an empty line: counted above and by flood control, otherwise nothing
        if not self._within_limits(user, raw):
            return 0
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            word = raw.split(b" ", 1)[0]
            command = word.decode("ascii").upper() if word.isalpha() and word.isascii() else "*"
            self.send(
                user,
                Message(
                    "FAIL",
                    [
                        command[:32],
                        "INVALID_UTF8",
                        "Message rejected: this network speaks UTF-8 only",
                    ],
                    self.name,
                ),
            )
            return 0
        if "\0" in text or "\r" in text:
            self.send(
                user,
                Message("FAIL", ["*", "INVALID_MESSAGE", "Message contains NUL or CR"], self.name),
            )
            return 0
        try:
            msg = parse(text)
        except BadCommand as exc:
            # a command word with other characters than letters is an unknown command (421);
            # one IRC word of at most 32 characters is echoed back
            msg = Message(exc.command[:32].lstrip(":").upper() or "*", [], None, exc.tags)
        except ProtocolError:
            return 0  # unparseable lines are ignored, as the Modern IRC docs advise
        user.lines_in += 1
        user.bytes_in += len(raw)
        if msg.tags and "batch" in msg.tags and multiline.absorb(self, user, msg):
            return 0  # a line of an open draft/multiline batch: kept until the batch ends
        label = msg.tags.get("label") if msg.tags else None
        if msg.command == "BATCH":
            label = multiline.labeled(user, msg, label)  # the label goes with the whole batch
        entry = COMMANDS.get(msg.command)
        output = user.output
        before = -1
        if entry is None or entry.metered:
            self.delivery.settle_for(user)  # what others said is not this command's cost
            before = output.written
            self.work = 0
        try:
            if label and "labeled-response" in user.caps:
                self._dispatch_labeled(user, msg, label)
            else:
                dispatch(self, user, msg)
        except Exception:
            # A bug in one handler must cost one reply, never the server or other users.
            log.exception("error handling %r from %s", text[:ERROR_LOG_EXCERPT], user.prefix)
            self.send(
                user,
                Message(
                    "FAIL",
                    [msg.command, "INTERNAL_ERROR", "Internal error while handling your command"],
                    self.name,
                ),
            )
        return output.written - before + self.work if before >= 0 else 0

    def charge(self, cost: int) -> None:
        """Work a command does besides its replies (a scan over every user), in bytes of
        replies it is worth: its driver charges it to flood control with the replies."""
        self.work += cost

    def write_lines(self, user: User, lines: Iterable[bytes]) -> None:
        """A response held in memory before it is queued (a batch): built line by line and
        written as one bytes object. Once it would pass the room left in the client's sendq it
        stops being built and the client is dropped, as for any sendq overflow."""
        output = user.output
        if output.overflowed:
            return
        room = output.room()
        parts: list[bytes] = []
        for line in lines:
            room -= len(line)
            if room < 0:
                output.overflow()
                return
            parts.append(line)
        if parts:
            user.write(b"".join(parts))

    def _dispatch_labeled(self, user: User, msg: Message, label: str) -> None:
        """IRCv3 labeled-response, for every command in one place: whatever the command makes
        the server send to this user is caught, then sent with the label: `ACK` for nothing,
        the label tag on a single line, a `labeled-response` batch around several.

        The response is held in memory until the command is done, so it is bounded like the
        queue it goes to: once it would pass the room left in the client's sendq, nothing more
        is kept, the client's output is marked overflowed (replies stop being built) and the
        client is dropped at the end of the iteration with `SendQ exceeded`."""
        settle_for = self.delivery.settle_for
        settle_for(user)  # what it was sent earlier is not part of the response
        output = user.output
        catch = _Catch(output)
        write, own_close = user.write, user.close
        user.write = catch.write
        user.close = catch.close
        try:
            dispatch(self, user, msg)
            settle_for(user)  # an echo-message reply is part of the response
        finally:
            user.write = write
            user.close = own_close
        if output.overflowed:
            if user.gone:
                user.write = user.close = _ignore
            return
        label = label[:LABEL_MAX]
        if not catch.caught:  # the usual answer to a labeled PRIVMSG: an ACK
            write(b"@label=" + escape_tag_value(label).encode() + self._ack_tail)
            if catch.closing:
                (own_close or output.close)()
            if user.gone:
                user.write = user.close = _ignore
            return
        lines = b"".join(catch.caught).split(b"\r\n")[:-1]
        tag = b"label=" + escape_tag_value(label).encode()
        if not lines:
            data = encode(Message("ACK", [], self.name, {"label": label}))
        elif len(lines) == 1 or "batch" not in user.caps or _one_batch(lines):
            # without `batch` only the first line can say which command it answers; a reply
            # that is one batch (an echoed draft/multiline message) has the label on its start
            data = b"\r\n".join([_tagged(lines[0], tag), *lines[1:]]) + b"\r\n"
        else:
            ref = self.batch_id()
            start = Message("BATCH", ["+" + ref, "labeled-response"], self.name, {"label": label})
            inner = b"batch=" + ref.encode()
            data = (
                encode(start)
                + b"".join(_tagged(line, inner) + b"\r\n" for line in lines)
                + encode(Message("BATCH", ["-" + ref], self.name))
            )
        write(data)
        if catch.closing:
            (own_close or output.close)()
        if user.gone:
            user.write = user.close = _ignore

    def batch_id(self) -> str:
        """A fresh reference for a BATCH."""
        return f"b{next(self._batch_ids):x}"

    def _within_limits(self, user: User, raw: bytes) -> bool:
        # the tags' budget counts the leading @ and the space after them (message-tags)
        if too_long(raw, self.max_line, self.config.tags_length):
            self.input_too_long(user)
            return False
        return True

    def input_too_long(self, user: User) -> None:
        self.reply(user, N.ERR_INPUTTOOLONG, "Input line was too long")

    # -- replies ----------------------------------------------------------------------------

    def send(self, user: User, msg: Message) -> None:
        if user.output.overflowed:
            return  # it is being dropped: build nothing more for it
        self.delivery.settle_for(user)  # each client sees lines in the order they were made
        user.write(encode(msg))

    def reply(self, user: User, numeric: str, *params: str) -> None:
        """A numeric from the server, addressed to the user's nick (or * before NICK).

        Numerics often echo a client's word back (a nick, a channel, a mode); a word that
        could not stand as a middle parameter is made into one rather than breaking the line.
        """
        # Built directly rather than through serialise(): replies are the bulk of registration
        # and queries, and every part is already known to be safe (lines cannot hold CR, LF or
        # NUL once parsed; words were just made safe).
        if user.output.overflowed:
            return  # it is being dropped: build nothing more for it
        line = self._reply_line(user.nick, numeric, params)
        self.delivery.settle_for(user)
        user.write(line.encode())

    def _reply_line(self, nick: str, numeric: str, params: tuple[str, ...]) -> str:
        if len(params) > 1:
            middle = " ".join(map(_as_word, params[:-1]))
            return f":{self.name} {numeric} {nick} {middle} :{params[-1]}\r\n"
        if params:
            return f":{self.name} {numeric} {nick} :{params[0]}\r\n"
        return f":{self.name} {numeric} {nick}\r\n"

    def reply_rendered(
        self, user: User, key: str, build: Callable[[], list[tuple[str, ...]]]
    ) -> None:
        """Replies that never change but for the nick (the welcome's 002-005, the MOTD) are
        rendered once, with a NUL where the nick goes; each client then costs one replace and
        one write instead of a dozen replies. `build` gives (numeric, *params) tuples."""
        if user.output.overflowed:
            return
        data = self.rendered(key, build, user.nick)
        self.delivery.settle_for(user)
        user.write(data)

    def rendered(self, key: str, build: Callable[[], list[tuple[str, ...]]], nick: str) -> bytes:
        """The bytes `reply_rendered` writes: the template, rendered once, with `nick` in."""
        template = self._rendered.get(key)
        if template is None:
            template = self._rendered[key] = self._template(build())
        return template.replace(NICK_SLOT_BYTES, nick.encode())

    def reply_cached(
        self, user: User, key: tuple[object, ...], build: Callable[[], list[tuple[str, ...]]]
    ) -> None:
        """Replies that show a piece of state which changes now and then (a channel's ban
        list): rendered once per `key` — what they show, by identity, so any change makes a new
        key — and kept for the next asker. Repeating `MODE #c b` then costs a replace and a
        write, not a reply built per entry. At most RENDERED_LISTS are kept, the oldest first
        to go."""
        if user.output.overflowed:
            return
        cache = self._lists
        template = cache.get(key)
        if template is None:
            template = cache[key] = self._template(build())
            if len(cache) > RENDERED_LISTS:
                del cache[next(iter(cache))]
        self.delivery.settle_for(user)
        user.write(template.replace(NICK_SLOT_BYTES, user.nick.encode()))

    def _template(self, replies: list[tuple[str, ...]]) -> bytes:
        """(numeric, *params) replies as one block, with NICK_SLOT where the nick goes."""
        return "".join(
            self._reply_line(NICK_SLOT, r[0], tuple(p.replace(NICK_SLOT, "") for p in r[1:]))
            for r in replies
        ).encode()

    def fail(self, user: User, command: str, code: str, *context: str) -> None:
        """An IRCv3 standard reply: `FAIL <command> <code> [<context>...] :<description>`;
        the last of `context` is the description."""
        *words, text = context
        self.send(user, Message("FAIL", [command, code, *words, text], self.name))

    def need_more_params(self, user: User, command: str) -> None:
        self.reply(user, N.ERR_NEEDMOREPARAMS, command, "Not enough parameters")

    # -- lookups and membership ---------------------------------------------------------------

    def find_user(self, nick: str) -> User | None:
        user = self.users.get(fold(nick))
        return user if user is not None and user.registered else None

    def find_channel(self, name: str) -> Channel | None:
        return self.channels.get(fold(name))

    def remove_member(self, channel: Channel, user: User) -> None:
        self.delivery.settle()  # a member leaving still gets what was said before it left
        channel.members.pop(user, None)
        user.parted(channel)
        if not channel.members and "P" not in channel.modes:
            del self.channels[channel.key]
            self.store.forget(channel.key, self.now)  # not for its next creator to read

    # -- storage -------------------------------------------------------------------------------

    def record_message(self, channel: Channel, event: Event) -> None:
        """Queue a channel PRIVMSG/NOTICE for the history (committed by the next settle)."""
        msg = event.msg
        tags = serialise_tags(event.client_tags) if event.client_tags else ""
        self.store.append(
            channel.key,
            _wall_ms(event.wall),
            event.msgid,
            msg.command,
            msg.source or "",
            channel.name,
            msg.params[-1],
            tags,
        )

    def record_private(self, sender: User, target: User, event: Event) -> None:
        """Queue a private PRIVMSG/NOTICE for the history of each participant that is logged
        in (committed by the next settle, like channel messages). The peer of a conversation
        is its account, or its nick if it was not logged in."""
        if not self.config.private_history or (sender.account is None and target.account is None):
            return
        msg = event.msg
        tags = serialise_tags(event.client_tags) if event.client_tags else ""
        row = (_wall_ms(event.wall), event.msgid, msg.command, msg.source or "", msg.params[0])
        sender_peer = fold(sender.account) if sender.account else UNIDENTIFIED + sender.key
        target_peer = fold(target.account) if target.account else UNIDENTIFIED + target.key
        if target.account is not None:
            self.store.append(private_key(target_peer, sender_peer), *row, msg.params[-1], tags)
        if sender.account is not None and target is not sender:
            self.store.append(private_key(sender_peer, target_peer), *row, msg.params[-1], tags)

    def _account_of(self, source: str) -> str | None:
        """The account the user behind a message source is logged in to (account-tag)."""
        if not self.accounts.logged_in:
            return None
        user = self.users.get(fold(source.split("!", 1)[0]))
        return user.account if user is not None else None

    def registration_changed(self, channel: Channel) -> None:
        """A channel's ChanServ registration changed: store it (or its removal)."""
        if channel.founder is None:
            self.store.delete_registration(channel.key)
            return
        self.store.save_registration(
            RegistrationRecord(
                channel.key, channel.name, channel.founder, channel.registered_at, channel.amodes
            )
        )

    def channel_changed(self, channel: Channel) -> None:
        """A channel's topic or modes changed: store it if persistent (+P), forget it if not."""
        if "P" in channel.modes:
            bans = [(b.mask, b.setter, b.set_at) for b in channel.bans]
            excepts = [(b.mask, b.setter, b.set_at) for b in channel.excepts]
            invexes = [(b.mask, b.setter, b.set_at) for b in channel.invexes]
            self.store.save_channel(
                ChannelRecord(
                    channel.key,
                    channel.name,
                    channel.created,
                    channel.topic,
                    channel.topic_by,
                    channel.topic_at,
                    "".join(sorted(channel.modes)),
                    channel.password,
                    channel.limit,
                    bans,
                    excepts,
                    invexes,
                )
            )
            return
        self.store.delete_channel(channel.key)
        if not channel.members and self.channels.get(channel.key) is channel:
            del self.channels[channel.key]  # +P removed from an empty channel
            self.store.forget(channel.key, self.now)

    def _restore_channels(self) -> None:
        for record in self.store.load_channels():
            channel = Channel(record.name, record.created)
            channel.topic, channel.topic_by = record.topic, record.topic_by
            channel.topic_at = record.topic_at
            channel.modes = set(record.modes) | {"P"}
            channel.password, channel.limit = record.password, record.limit
            longest = max_mask_length(self.config.nicklen, self.config.userlen)
            channel.bans = [
                Ban(mask, setter, at) for mask, setter, at in record.bans if len(mask) <= longest
            ]
            if len(channel.bans) < len(record.bans):
                log.warning(
                    "%s: dropped %d stored bans longer than %d characters",
                    record.name,
                    len(record.bans) - len(channel.bans),
                    longest,
                )
            channel.excepts = [
                Ban(mask, setter, at) for mask, setter, at in record.excepts if len(mask) <= longest
            ]
            channel.invexes = [
                Ban(mask, setter, at) for mask, setter, at in record.invexes if len(mask) <= longest
            ]
            self.channels[channel.key] = channel
            channel.opless = True  # until ChanServ or an IRC operator says who runs it
        if self.channels:
            log.info("restored %d persistent channels", len(self.channels))
        # what was said in channels that did not persist went with them
        self.store.forget_others(self.channels, self.now)

    def _restore_registrations(self) -> None:
        """ChanServ registrations: each channel gets its founder and auto-modes back (a
        registered channel is persistent; one whose channel row went missing is remade)."""
        count = 0
        for record in self.store.load_registrations():
            if record.founder not in self.accounts.by_key:
                continue  # the founder's account was removed
            channel = self.channels.get(record.key)
            if channel is None:
                channel = Channel(record.name, record.registered)
                channel.modes.add("P")
                self.channels[channel.key] = channel
                self.channel_changed(channel)
            channel.founder = record.founder
            channel.registered_at = record.registered
            channel.amodes = {
                k: v for k, v in record.amodes.items() if k in self.accounts.by_key and v in "ov"
            }
            channel.opless = False
            count += 1
        if count:
            log.info("restored %d registered channels", count)

    def reload_accounts(self) -> list[str]:
        """Read accounts and registrations from the store again (after `chatd account ...`
        changed them on the command line; SIGHUP and REHASH call this). Users logged in to
        an account that is gone are logged out. Returns a line per change."""
        from .commands import accounts as account_commands

        self.store.flush(self.now)
        before = set(self.accounts.by_key)
        owned_before = set(self.accounts.nick_owner)
        self.accounts.load(self.store.load_accounts())
        after = set(self.accounts.by_key)
        for user in list(self.clients):
            if user.account is not None and fold(user.account) not in after:
                account_commands.logout(self, user)
        for channel in self.channels.values():
            channel.founder = None
            channel.amodes = {}
        self._restore_registrations()
        for user in sorted(self.users.values(), key=lambda u: u.key):
            if user.key not in owned_before:
                account_commands.protect_nick(self, user)  # a nick just made someone's
        lines = []
        if after - before:
            lines.append(f"accounts: {len(after - before)} added")
        if before - after:
            lines.append(f"accounts: {len(before - after)} removed")
        return lines
