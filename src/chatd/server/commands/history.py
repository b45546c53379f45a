"""Channel history read back to one client: CHATHISTORY (IRCv3 draft/chathistory) and the
replay a client without that capability gets when it joins.

Reads go through the state's store (bounded, indexed queries); this module only decides which
messages a client may see and how they are framed: in a `chathistory` batch with their original
`time` (and `msgid`) tags, or, for a client without `batch` and `server-time`, as a clearly
marked plain replay.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ...proto.casemap import fold, is_channel_name, valid_nick
from ...proto.message import Message, encode, parse_tags
from ...proto.numbers import parse_uint
from ...store import HistoryRow, Ref, StoreError, ms_to_iso, parse_timestamp
from ...store.accounts import UNIDENTIFIED, private_key
from ...store.sqlite import MAX_ID

if TYPE_CHECKING:
    from ..channel import Channel
    from ..state import ServerState
    from ..user import User

CAP = "draft/chathistory"
# subcommand -> number of parameters after the subcommand (target/references/limit)
_ARITY = {"LATEST": 3, "BEFORE": 3, "AFTER": 3, "AROUND": 3, "BETWEEN": 4, "TARGETS": 3}


class _Invalid(Exception):
    """A parameter that cannot be used: answered with FAIL CHATHISTORY INVALID_PARAMS."""


# -- CHATHISTORY -------------------------------------------------------------------------------


def handle_chathistory(state: ServerState, user: User, msg: Message) -> None:
    params = msg.params
    if not params:
        state.fail(user, "CHATHISTORY", "NEED_MORE_PARAMS", "*", "Missing parameters")
        return
    sub = params[0].upper()
    arity = _ARITY.get(sub)
    if arity is None:
        word = params[0][:32].replace(" ", "_").lstrip(":") or "*"  # echoed: one IRC word
        state.fail(user, "CHATHISTORY", "UNKNOWN_COMMAND", word, "Unknown command")
        return
    args = params[1:]
    if len(args) < arity:
        state.fail(user, "CHATHISTORY", "NEED_MORE_PARAMS", sub, "Missing parameters")
        return
    try:
        limit = _limit(state, args[-1])
        if sub == "TARGETS":
            _targets(state, user, args[0], args[1], limit)
        else:
            _messages(state, user, sub, args[0], args[1:-1], limit)
    except _Invalid as exc:
        state.fail(user, "CHATHISTORY", "INVALID_PARAMS", sub, str(exc))
    except StoreError:
        state.fail(
            user,
            "CHATHISTORY",
            "MESSAGE_ERROR",
            sub,
            args[0] if sub != "TARGETS" else "*",
            "Messages could not be retrieved",
        )


def _limit(state: ServerState, text: str) -> int:
    """The limit asked for, cut to CHATHISTORY=<max>."""
    limit = parse_uint(text, state.config.chathistory_max, clamp=True)
    if not limit:
        raise _Invalid("The limit must be a positive number")
    return limit


def _ref(text: str, star: bool = False) -> Ref | None:
    if text == "*" and star:
        return None
    kind, sep, value = text.partition("=")
    if sep and kind == "msgid" and value:
        return Ref("msgid", msgid=value)
    if sep and kind == "timestamp":
        ms = parse_timestamp(value)
        if ms is not None:
            return Ref("timestamp", time=ms)
    raise _Invalid(f"Invalid message reference {text[:40]}")


def _messages(
    state: ServerState, user: User, sub: str, target: str, refs: list[str], limit: int
) -> None:
    parsed = [_ref(r, star=sub == "LATEST") for r in refs]
    if not is_channel_name(target):
        if not valid_nick(target, state.config.nicklen):
            raise _Invalid(f"Invalid target {target[:40]}")
        private = _private_key(state, user, target)
        if private is None:
            # kept only for users logged in to an account: an honest, empty answer
            send_history(state, user, target, [])
            return
        key, name, private_rows = private, target, True
    else:
        channel = state.find_channel(target)
        if channel is None or user not in channel.members:
            state.fail(
                user,
                "CHATHISTORY",
                "INVALID_TARGET",
                sub,
                target,
                "Messages could not be retrieved",
            )
            return
        key, name, private_rows = channel.key, channel.name, False
    store = state.store
    store.flush(state.now)
    rows: list[HistoryRow] = []
    ref = parsed[0]
    if sub == "LATEST":
        if ref is None:
            rows = store.latest(key, None, limit)
        else:
            low = _point(state, key, ref, low=True)
            rows = store.latest(key, low, limit) if low is not None else []
    elif sub in ("BEFORE", "AFTER", "AROUND"):
        assert ref is not None
        low = _point(state, key, ref, low=sub != "BEFORE")
        if low is None:
            rows = []
        elif sub == "BEFORE":
            rows = store.before(key, low, limit)
        elif sub == "AFTER":
            rows = store.after(key, low, limit)
        else:
            rows = _around(state, key, ref, limit)
    else:  # BETWEEN
        first, second = parsed
        assert first is not None and second is not None
        rows = _between(state, key, first, second, limit)
    send_history(state, user, name, rows, private_rows)


def _private_key(state: ServerState, user: User, nick: str) -> str | None:
    """The history key of `user`'s conversation with `nick`: with the account `nick` is
    logged in to or belongs to, else with that nick as it was used unidentified. None if the
    user has no private history (not logged in, or the server keeps none)."""
    if user.account is None or not state.config.private_history:
        return None
    online = state.find_user(nick)
    if online is not None and online.account is not None:
        peer = fold(online.account)
    else:
        owner = state.accounts.owner_of_nick(nick)
        peer = owner.key if owner is not None else UNIDENTIFIED + fold(nick)
    return private_key(fold(user.account), peer)


def _peer_name(state: ServerState, key: str) -> str:
    """The nick to show (and ask CHATHISTORY for) for a private history key."""
    peer = key.split("/", 1)[1]
    if peer.startswith(UNIDENTIFIED):
        return peer[len(UNIDENTIFIED) :]
    account = state.accounts.by_key.get(peer)
    return account.name if account is not None else peer


def _point(state: ServerState, key: str, ref: Ref, low: bool) -> tuple[int, int] | None:
    """The (time, id) bound for a reference, exclusive: a lower bound keeps what comes after
    it, an upper bound what comes before. None for a msgid that is not in this history."""
    if ref.kind == "msgid":
        return state.store.locate(key, ref.msgid)
    return (ref.time, MAX_ID) if low else (ref.time, 0)


def _around(state: ServerState, key: str, ref: Ref, limit: int) -> list[HistoryRow]:
    """`limit` messages centred on the reference (a referenced message itself included)."""
    pivot = _point(state, key, ref, low=False)
    if pivot is None:
        return []
    older = state.store.before(key, pivot, limit // 2)
    start = (pivot[0], pivot[1] - 1)  # include the pivot message itself when there is one
    newer = state.store.after(key, start, limit - len(older))
    return older + newer


def _between(state: ServerState, key: str, first: Ref, second: Ref, limit: int) -> list[HistoryRow]:
    """Messages strictly between two references: the `limit` after the first one when it is
    the earlier, the `limit` before it when it is the later (always oldest first)."""
    a, b = _point(state, key, first, low=False), _point(state, key, second, low=False)
    if a is None or b is None:
        return []
    if a <= b:
        low, high = _point(state, key, first, low=True), b
    else:
        low, high = _point(state, key, second, low=True), a
    assert low is not None
    return state.store.between(key, low, high, limit, from_high=a > b)


def _targets(state: ServerState, user: User, first: str, second: str, limit: int) -> None:
    a, b = _ref(first), _ref(second)
    assert a is not None and b is not None
    if a.kind != "timestamp" or b.kind != "timestamp":
        raise _Invalid("TARGETS takes two timestamps")
    low, high = min(a.time, b.time), max(a.time, b.time)
    state.store.flush(state.now)
    keys = [c.key for c in user.channels]
    found = state.store.targets(keys, low, high, len(keys))
    if user.account is not None and state.config.private_history:
        private = state.store.private_targets(fold(user.account), low, high, limit)
        found = sorted(
            found + [(_peer_name(state, key), ms) for key, ms in private], key=lambda f: f[1]
        )
    found = found[:limit] if a.time <= b.time else found[-limit:]
    out: list[Message] = []
    batch = "batch" in user.caps
    ref = state.batch_id() if batch else ""
    for name, ms in found:
        out.append(
            Message(
                "CHATHISTORY",
                ["TARGETS", name, "timestamp=" + ms_to_iso(ms)],
                state.name,
                {"batch": ref} if batch else None,
            )
        )
    _write_batch(state, user, ref, "draft/chathistory-targets", [], out)


# -- sending history ---------------------------------------------------------------------------


def _history_message(
    user: User, row: HistoryRow, name: str, batch: str, text: str | None = None
) -> Message:
    tags: dict[str, str] = {}
    if batch:
        tags["batch"] = batch
    if "server-time" in user.caps:
        tags["time"] = ms_to_iso(row.time)
    if "message-tags" in user.caps:
        tags["msgid"] = row.msgid
        if row.tags:
            tags.update(parse_tags(row.tags))
    return Message(row.command, [name, row.text if text is None else text], row.source, tags)


def _write_batch(
    state: ServerState, user: User, ref: str, kind: str, params: list[str], body: list[Message]
) -> None:
    def lines() -> Iterator[bytes]:
        if ref:
            yield encode(Message("BATCH", ["+" + ref, kind, *params], state.name))
        for message in body:
            yield encode(message)
        if ref:
            yield encode(Message("BATCH", ["-" + ref], state.name))

    state.delivery.settle()  # in order with what was produced before
    state.write_lines(user, lines())  # bounded by the room left in the client's sendq


def send_history(
    state: ServerState, user: User, name: str, rows: list[HistoryRow], private: bool = False
) -> None:
    """Rows of one target in a `chathistory` batch (plain lines without the batch cap). A
    private conversation's lines keep the target each was sent to (one nick or the other)."""
    ref = state.batch_id() if "batch" in user.caps else ""
    body = [_history_message(user, row, row.name if private else name, ref) for row in rows]
    _write_batch(state, user, ref, "chathistory", [name], body)


# -- replay on JOIN ----------------------------------------------------------------------------


def replay_on_join(state: ServerState, user: User, channel: Channel) -> None:
    """The last `history_replay` messages for a client that cannot ask for them itself."""
    count = state.config.history_replay
    if count <= 0 or CAP in user.caps:
        return
    try:
        state.store.flush(state.now)
        rows = state.store.latest(channel.key, None, count)
    except StoreError:
        return  # the join itself matters more than its replay
    if not rows:
        return
    if "batch" in user.caps and "server-time" in user.caps:
        send_history(state, user, channel.name, rows)
        return
    today = datetime.datetime.fromtimestamp(state.wall, datetime.UTC).date()
    notice = f"Replaying the last {len(rows)} messages (times in UTC)"
    body = [Message("NOTICE", [channel.name, notice], state.name)]
    for row in rows:
        body.append(
            _history_message(user, row, channel.name, "", _stamped(row.text, row.time, today))
        )
    body.append(Message("NOTICE", [channel.name, "End of replay"], state.name))
    _write_batch(state, user, "", "", [], body)


def _stamped(text: str, ms: int, today: datetime.date) -> str:
    """The text with its time in front: [HH:MM:SS], or [YYYY-MM-DD HH:MM:SS] before today.
    A CTCP ACTION keeps its framing: the stamp goes after "ACTION "."""
    when = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    stamp = f"[{when:%H:%M:%S}]" if when.date() == today else f"[{when:%Y-%m-%d %H:%M:%S}]"
    if text.startswith("\x01ACTION "):
        return f"\x01ACTION {stamp} {text[8:]}"
    return f"{stamp} {text}"
