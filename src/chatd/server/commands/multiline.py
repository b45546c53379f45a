"""draft/multiline: a client's `BATCH +ref draft/multiline <target>`, the PRIVMSG lines tagged
`@batch=ref` that follow, and `BATCH -ref`, delivered as one message.

Clients with the capability (and `batch`) get the batch back as sent, with the message's tags
(`time`, `msgid`, client tags, `bot`) on its `BATCH +`; the others get the non-blank lines as
separate PRIVMSGs, the first with the msgid. History keeps the lines as separate rows: the first
under the message's msgid, line i under `<msgid>/<i>`, so a REDACT of the message removes them
all.

Cost: a client has at most one batch open, of at most `multiline_max_bytes` of text and
`multiline_max_lines` lines (both in the capability's value); past either the batch fails with
the FAIL the spec names and the rest of it is dropped. Delivery is one channel message's cost
per line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...proto import numerics as N
from ...proto.caps import MULTILINE, MULTILINE_CONCAT
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message, encode
from ..accounts import is_reserved
from ..delivery import Event, format_time
from ..user import VIEW_TAGS, VIEW_TIME
from . import messaging

if TYPE_CHECKING:
    from ..channel import Channel
    from ..state import ServerState
    from ..user import User

BATCH_TYPE = MULTILINE


class OpenBatch:
    """A multiline batch a client is sending."""

    __slots__ = ("ref", "target", "tags", "label", "lines", "size", "failed")

    def __init__(self, ref: str, target: str, tags: dict[str, str], label: str | None) -> None:
        self.ref = ref
        self.target = target
        self.tags = tags  # from the BATCH + line: client-only tags go there (spec)
        self.label = label
        self.lines: list[tuple[str, bool]] = []  # (text, joined to the previous without \n)
        self.size = 0  # bytes of the combined message
        self.failed = False


def _open_problem(user: User, msg: Message) -> str:
    """Why `BATCH +ref ...` cannot open a multiline batch ("" if it can)."""
    params = msg.params
    if MULTILINE not in user.caps or "batch" not in user.caps:
        return "draft/multiline and batch must be enabled"
    if len(params) < 3 or len(params[0]) < 2:
        return "BATCH +ref draft/multiline <target>"
    if params[1] != BATCH_TYPE:
        return "Only draft/multiline batches can be sent"
    if is_reserved(params[2]):
        # services take one line at a time; and a line to NickServ may hold a password, which
        # a cluster's log leaves out (server/hidden.py), so none is ever kept in a batch
        return "Services take single lines, not multiline batches"
    if user.batch is not None:
        return "A multiline batch is already open"
    return ""


def labeled(user: User, msg: Message, label: str | None) -> str | None:
    """The label a BATCH line is answered under: an opening line keeps its label for the
    batch's end (answered then, once); the closing line is answered with that one."""
    word = msg.params[0] if msg.params else ""
    if word[:1] == "+":
        return None if label and not _open_problem(user, msg) else label
    batch = user.batch
    if batch is not None and word == "-" + batch.ref and batch.label:
        return batch.label
    return label


def handle_batch(state: ServerState, user: User, msg: Message) -> None:
    word = msg.params[0]
    if word[:1] == "+":
        problem = _open_problem(user, msg)
        if problem:
            state.fail(user, "BATCH", "MULTILINE_INVALID", problem)
            return
        tags = messaging.message_tags(user, msg)
        user.batch = OpenBatch(word[1:], msg.params[2], tags, msg.tags.get("label"))
        return
    batch = user.batch
    if word[:1] != "-" or batch is None or word[1:] != batch.ref:
        state.fail(user, "BATCH", "MULTILINE_INVALID", "No such multiline batch is open")
        return
    user.batch = None
    if batch.failed:
        return  # its FAIL was sent when it failed
    texts = [text for text, _ in batch.lines]
    if not texts or not any(texts) or batch.lines[0][1]:
        state.fail(user, "BATCH", "MULTILINE_INVALID", "Invalid multiline batch")
        return
    _deliver(state, user, batch)


def absorb(state: ServerState, user: User, msg: Message) -> bool:
    """A line tagged `@batch=ref`: kept if it belongs to the client's open batch (True)."""
    batch = user.batch
    if batch is None or msg.tags.get("batch") != batch.ref:
        return False
    if batch.failed:
        return True
    cfg = state.config
    if msg.command != "PRIVMSG" or not msg.params:
        return _failed(state, user, batch, "MULTILINE_INVALID", "Only PRIVMSG lines")
    if fold(msg.params[0]) != fold(batch.target):
        return _failed(
            state,
            user,
            batch,
            "MULTILINE_INVALID_TARGET",
            batch.target,
            msg.params[0],
            "Invalid multiline target",
        )
    text = msg.params[1] if len(msg.params) > 1 else ""
    concat = MULTILINE_CONCAT in msg.tags
    if concat and not text:
        return _failed(state, user, batch, "MULTILINE_INVALID", "A blank line cannot be joined")
    size = batch.size + len(text.encode()) + (1 if batch.lines and not concat else 0)
    if size > cfg.multiline_max_bytes:
        limit = str(cfg.multiline_max_bytes)
        return _failed(
            state, user, batch, "MULTILINE_MAX_BYTES", limit, "Multiline batch max-bytes exceeded"
        )
    if len(batch.lines) >= cfg.multiline_max_lines:
        limit = str(cfg.multiline_max_lines)
        return _failed(
            state, user, batch, "MULTILINE_MAX_LINES", limit, "Multiline batch max-lines exceeded"
        )
    batch.size = size
    batch.lines.append((text, concat))
    return True


def _failed(state: ServerState, user: User, batch: OpenBatch, code: str, *context: str) -> bool:
    batch.failed = True
    batch.lines = []
    state.fail(user, "BATCH", code, *context)
    return True


# -- delivery ---------------------------------------------------------------------------------


class _Rendered:
    """One multiline message, encoded once per (has the capability, tag view)."""

    def __init__(
        self, state: ServerState, source: str, target: str, batch: OpenBatch, msgid: str
    ) -> None:
        self.source = source
        self.target = target
        self.lines = batch.lines
        self.tags = batch.tags
        self.msgid = msgid
        self.ref = state.batch_id()
        self.time = format_time(state.wall)
        self._cache: dict[tuple[bool, int], bytes] = {}

    def __call__(self, user: User) -> bytes:
        key = (MULTILINE in user.caps and "batch" in user.caps, user.tag_view)
        data = self._cache.get(key)
        if data is None:
            data = self._cache[key] = self._render(*key)
        return data

    def _message_tags(self, view: int) -> dict[str, str]:
        tags: dict[str, str] = {}
        if view & VIEW_TIME:
            tags["time"] = self.time
        if view & VIEW_TAGS:
            tags["msgid"] = self.msgid
            tags.update(self.tags)
        return tags

    def _render(self, capable: bool, view: int) -> bytes:
        src, target = self.source, self.target
        if capable:
            out = [
                Message(
                    "BATCH", ["+" + self.ref, BATCH_TYPE, target], src, self._message_tags(view)
                )
            ]
            for text, concat in self.lines:
                tags = {"batch": self.ref}
                if concat:
                    tags[MULTILINE_CONCAT] = ""
                out.append(Message("PRIVMSG", [target, text], src, tags))
            out.append(Message("BATCH", ["-" + self.ref], src))
        else:
            first = True
            out = []
            for text, _ in self.lines:
                if not text:
                    continue  # no blank lines for clients without the capability
                tags = self._message_tags(view) if first else self._message_tags(view & VIEW_TIME)
                out.append(Message("PRIVMSG", [target, text], src, tags))
                first = False
        return b"".join(encode(m) for m in out)


def _deliver(state: ServerState, user: User, batch: OpenBatch) -> None:
    target = batch.target
    texts = [text for text, _ in batch.lines]
    user.last_spoke = state.now
    echo = "echo-message" in user.caps
    msgid = state.delivery.new_msgid()
    if is_channel_name(target):
        channel = state.find_channel(target)
        if channel is None:
            state.reply(user, N.ERR_NOSUCHNICK, target, "No such nick/channel")
            return
        if not messaging.may_send(state, user, channel, texts, errors=True):
            return
        render = _Rendered(state, user.prefix, channel.name, batch, msgid)
        exclude = None if echo and user in channel.members else user
        state.delivery.to_users_rendered(channel.members, render, exclude)
        _record(state, channel, user, batch, msgid)
        return
    other = state.find_user(target)
    if other is None:
        state.reply(user, N.ERR_NOSUCHNICK, target, "No such nick/channel")
        return
    render = _Rendered(state, user.prefix, other.nick, batch, msgid)
    recipients = [other] if other is user or not echo else [other, user]
    state.delivery.to_users_rendered(recipients, render)
    for event in _events(state, other.nick, user, batch, msgid):
        state.record_private(user, other, event)
    if other.away is not None and other is not user:
        state.reply(user, N.RPL_AWAY, other.nick, other.away)


def _record(state: ServerState, channel: Channel, user: User, batch: OpenBatch, msgid: str) -> None:
    """History keeps the non-blank lines, as a client without the capability saw them."""
    for event in _events(state, channel.name, user, batch, msgid):
        state.record_message(channel, event)


def _events(
    state: ServerState, target: str, user: User, batch: OpenBatch, msgid: str
) -> list[Event]:
    """The batch's non-blank lines as the PRIVMSG events history keeps: `msgid`, then
    `msgid/1`, `msgid/2`...; the client tags on the first."""
    out: list[Event] = []
    tags = batch.tags
    for text, _ in batch.lines:
        if not text:
            continue
        line = Message("PRIVMSG", [target, text], user.prefix)
        number = len(out)
        out.append(Event(line, state.wall, msgid if number == 0 else f"{msgid}/{number}", tags))
        tags = {}
    return out
