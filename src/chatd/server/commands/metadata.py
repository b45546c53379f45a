"""draft/metadata-3: METADATA GET, LIST, SET, CLEAR, SUB, UNSUB, SUBS and SYNC, for users and
channels, with 761/766 notifications to subscribers (the metadata spec of ircv3 PR 613, which
servers offer as `draft/metadata-3`).

Keys (`a-z 0-9 _ . / -`) and values live on the User and the Channel, for as long as those do;
nothing is stored. A user sets its own keys, a channel operator the channel's, an IRC operator
anyone's. A change reaches the clients with the capability that subscribed to the key and can
see the target: members of the channel, or users sharing a channel with the user or monitoring
it (never the one who made a change on itself).

Cost, all in the capability's value and the configuration: `metadata_max_keys` keys of
`metadata_max_key_bytes` and `metadata_max_value_bytes` per user and per channel,
`metadata_max_subs` subscriptions per client; a batch sent on JOIN, MONITOR, SUB or SYNC holds at
most `metadata_sync_max` values, or the client is told to SYNC later (774) instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Union

from ...limits import METADATA_RETRY
from ...proto import numerics as N
from ...proto.caps import METADATA
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message, as_word, encode
from ..channel import Channel
from ..user import User

if TYPE_CHECKING:
    from ..state import ServerState

Target = Union[User, Channel]  # noqa: UP007  (a runtime alias)

COMMAND = "METADATA"
KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_./-")
ALL = "*ALL"
KEYS_PER_LINE = 10  # keys in one 770/771/772


def aware(user: User) -> bool:
    """A metadata-aware client: the capability and `batch` (the spec's definition)."""
    return METADATA in user.caps and "batch" in user.caps


def _word(text: str) -> str:
    return as_word(text)


def _standard(state: ServerState, user: User, kind: str, code: str, *context: str) -> None:
    *words, text = context
    state.send(user, Message(kind, [COMMAND, code, *words, text], state.name))


def _fail(state: ServerState, user: User, code: str, *context: str) -> None:
    _standard(state, user, "FAIL", code, *context)


def _warn(state: ServerState, user: User, code: str, *context: str) -> None:
    _standard(state, user, "WARN", code, *context)


def valid_key(state: ServerState, key: str) -> bool:
    return 0 < len(key) <= state.config.metadata_max_key_bytes and all(
        ch in KEY_CHARS for ch in key
    )


def _name(target: Target) -> str:
    return target.name if isinstance(target, Channel) else target.nick


def _keys(target: Target) -> dict[str, str]:
    return target.metadata or {}


# -- the command ------------------------------------------------------------------------------


def handle_metadata(state: ServerState, user: User, msg: Message) -> None:
    params = msg.params
    if len(params) < 2:
        _fail(state, user, "INVALID_PARAMS", "*", "Not enough parameters")
        return
    sub = params[1].upper()
    handler = _SUBCOMMANDS.get(sub)
    if handler is None:
        _fail(state, user, "INVALID_PARAMS", _word(params[1]), "Unknown subcommand")
        return
    handler(state, user, params[0], params[2:])


def _resolve(state: ServerState, user: User, name: str) -> Target | None:
    """The user or channel a METADATA target names, if the client may see it; otherwise
    FAIL INVALID_TARGET and None."""
    found: Target | None
    if name == "*" or fold(name) == user.key:
        found = user
    elif is_channel_name(name):
        channel = state.find_channel(name)
        hidden = channel is not None and "s" in channel.modes and user not in channel.members
        found = None if channel is None or (hidden and not user.oper) else channel
    else:
        found = state.find_user(name)
    if found is None:
        _fail(state, user, "INVALID_TARGET", _word(name), "Invalid metadata target")
    return found


def _may_set(user: User, target: Target) -> bool:
    if target is user or user.oper:
        return True
    return isinstance(target, Channel) and target.is_op(user)


def _get(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if not args:
        _fail(state, user, "INVALID_PARAMS", "GET", "Not enough parameters")
        return
    target = _resolve(state, user, name)
    if target is None:
        return
    keys = _keys(target)
    lines: list[Message] = []
    for key in args:
        if not valid_key(state, key):
            lines.append(_standard_line(state, "WARN", "INVALID_KEY", _word(key), "Invalid key"))
        elif key in keys:
            lines.append(_value(state, user, target, key, keys[key]))
        else:
            lines.append(_not_set(state, user, target, key))
    _send_batch(state, user, "metadata", [_name(target)], lines)


def _list(state: ServerState, user: User, name: str, args: list[str]) -> None:
    target = _resolve(state, user, name)
    if target is None:
        return
    lines = [_value(state, user, target, k, v) for k, v in _keys(target).items()]
    _send_batch(state, user, "metadata", [_name(target)], lines)


def _set(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if not args:
        _fail(state, user, "INVALID_PARAMS", "SET", "Not enough parameters")
        return
    target = _resolve(state, user, name)
    if target is None:
        return
    key, value = args[0], args[1] if len(args) > 1 else ""
    cfg = state.config
    if not valid_key(state, key):
        _fail(state, user, "INVALID_KEY", _word(key), "Invalid key")
        return
    if not _may_set(user, target):
        _fail(state, user, "KEY_NO_PERMISSION", _name(target), key, "Permission denied")
        return
    if len(value.encode()) > cfg.metadata_max_value_bytes:
        _fail(state, user, "INVALID_VALUE", key, f"At most {cfg.metadata_max_value_bytes} bytes")
        return
    keys = target.metadata
    if value and key not in (keys or {}) and len(keys or {}) >= cfg.metadata_max_keys:
        limit = str(cfg.metadata_max_keys)
        _fail(state, user, "LIMIT_REACHED", _name(target), limit, "Metadata limit reached")
        return
    if value:
        if keys is None:
            keys = target.metadata = {}
        keys[key] = value
        state.send(user, _value(state, user, target, key, value))
    else:
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                target.metadata = None
        state.send(user, _not_set(state, user, target, key))
    notify(state, user, target, key, value)


def _clear(state: ServerState, user: User, name: str, args: list[str]) -> None:
    target = _resolve(state, user, name)
    if target is None:
        return
    if not _may_set(user, target):
        _fail(state, user, "KEY_NO_PERMISSION", _name(target), "*", "Permission denied")
        return
    cleared = list(_keys(target))
    target.metadata = None
    _send_batch(
        state,
        user,
        "metadata",
        [_name(target)],
        [_not_set(state, user, target, k) for k in cleared],
    )
    for key in cleared:
        notify(state, user, target, key, "")


def _own_target(state: ServerState, user: User, name: str) -> bool:
    if name == "*" or fold(name) == user.key:
        return True
    _fail(state, user, "INVALID_TARGET", _word(name), "Subscriptions are your own: use *")
    return False


def _sub(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if not args:
        _fail(state, user, "INVALID_PARAMS", "SUB", "Not enough parameters")
        return
    if not _own_target(state, user, name):
        return
    subs = user.meta_subs if user.meta_subs is not None else set()
    limit = state.config.metadata_max_subs
    done: list[str] = []
    added: set[str] = set()
    for key in args:
        if not valid_key(state, key):
            _warn(state, user, "INVALID_KEY", _word(key), "Invalid key")
            continue
        if key not in subs and len(subs) >= limit:
            _fail(state, user, "LIMIT_REACHED", key, str(limit), "Too many subscriptions")
            break
        if key not in subs:
            subs.add(key)
            added.add(key)
        if key not in done:
            done.append(key)
    user.meta_subs = subs or None
    for i in range(0, len(done), KEYS_PER_LINE):
        state.reply(user, N.RPL_METADATASUBOK, *done[i : i + KEYS_PER_LINE])
    if added and user.registered:
        _sync(state, user, ALL, _visible(state, user), added)


def _unsub(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if not args:
        _fail(state, user, "INVALID_PARAMS", "UNSUB", "Not enough parameters")
        return
    if not _own_target(state, user, name):
        return
    done: list[str] = []
    for key in args:
        if not valid_key(state, key):
            _warn(state, user, "INVALID_KEY", _word(key), "Invalid key")
            continue
        if user.meta_subs is not None:
            user.meta_subs.discard(key)
        if key not in done:
            done.append(key)
    if not user.meta_subs:
        user.meta_subs = None
    for i in range(0, len(done), KEYS_PER_LINE):
        state.reply(user, N.RPL_METADATAUNSUBOK, *done[i : i + KEYS_PER_LINE])


def _subs(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if not _own_target(state, user, name):
        return
    keys = sorted(user.meta_subs or ())
    lines = [
        _numeric(state, user, N.RPL_METADATASUBS, *keys[i : i + KEYS_PER_LINE])
        for i in range(0, len(keys), KEYS_PER_LINE)
    ]
    _send_batch(state, user, "metadata-subs", [], lines)


def _sync_command(state: ServerState, user: User, name: str, args: list[str]) -> None:
    if name == ALL:
        _sync(state, user, ALL, _visible(state, user), user.meta_subs or set())
        return
    target = _resolve(state, user, name)
    if target is None:
        return
    _sync(state, user, _name(target), _with_members(target), user.meta_subs or set())


_SUBCOMMANDS = {
    "GET": _get,
    "LIST": _list,
    "SET": _set,
    "CLEAR": _clear,
    "SUB": _sub,
    "UNSUB": _unsub,
    "SUBS": _subs,
    "SYNC": _sync_command,
}


# -- synchronisation ---------------------------------------------------------------------------


def _with_members(target: Target) -> list[Target]:
    """A channel and its members, or a user alone: what a SYNC of it covers."""
    if isinstance(target, Channel):
        return [target, *target.members]
    return [target]


def _visible(state: ServerState, user: User) -> list[Target]:
    """Everything whose metadata changes reach this client: itself, its channels and their
    members, and the users it monitors (each once, in a deterministic order)."""
    seen: dict[int, Target] = {id(user): user}
    for channel in sorted(user.channels, key=lambda c: c.key):
        seen.setdefault(id(channel), channel)
        for member in channel.members:
            seen.setdefault(id(member), member)
    for key in sorted(user.monitoring or ()):
        other = state.users.get(key)
        if other is not None and other.registered:
            seen.setdefault(id(other), other)
    return list(seen.values())


def _sync(
    state: ServerState, user: User, batch_target: str, targets: Iterable[Target], keys: set[str]
) -> None:
    """The values of `keys` on `targets` in one `metadata` batch; 774 if there are more than
    metadata_sync_max of them."""
    lines: list[Message] = []
    limit = state.config.metadata_sync_max
    if keys:
        for target in targets:
            values = target.metadata
            if not values:
                continue
            for key in sorted(keys & values.keys()):
                if len(lines) >= limit:
                    state.reply(
                        user,
                        N.RPL_METADATASYNCLATER,
                        batch_target,
                        str(METADATA_RETRY),
                        "Too much metadata at once: SYNC a channel or a user",
                    )
                    return
                lines.append(_value(state, user, target, key, values[key]))
    _send_batch(state, user, "metadata", [batch_target], lines)


def sync_on_join(state: ServerState, user: User, channel: Channel) -> None:
    """A metadata-aware client joined: the channel's and its members' subscribed keys."""
    if aware(user):
        _sync(state, user, channel.name, _with_members(channel), user.meta_subs or set())


def sync_on_monitor(state: ServerState, user: User, target: User) -> None:
    """A metadata-aware client learnt through MONITOR that `target` is online."""
    if aware(user):
        _sync(state, user, target.nick, [target], user.meta_subs or set())


def send_own(state: ServerState, user: User) -> None:
    """At registration, a client with the capability gets its own metadata (none yet: chatd
    keeps no metadata across connections) in a batch before the end of the MOTD."""
    if METADATA in user.caps:
        lines = [_value(state, user, user, k, v) for k, v in _keys(user).items()]
        _send_batch(state, user, "metadata", [user.nick], lines)


# -- notifications -----------------------------------------------------------------------------


def notify(state: ServerState, setter: User, target: Target, key: str, value: str) -> None:
    """A key changed on `target`: 761 (or 766 when removed) to each client that has the
    capability, subscribed to the key and sees the target; not to the setter itself."""
    audience: Iterable[User]
    if isinstance(target, Channel):
        audience = target.members
    else:
        audience = target.neighbours() | {target} | state.watchers.get(target.key, set())
    for other in audience:
        if other is setter or METADATA not in other.caps or key not in (other.meta_subs or ()):
            continue
        if value:
            state.send(other, _value(state, other, target, key, value))
        else:
            state.send(other, _not_set(state, other, target, key))


# -- lines -------------------------------------------------------------------------------------


def _numeric(state: ServerState, user: User, numeric: str, *params: str) -> Message:
    return Message(numeric, [user.nick, *params], state.name)


def _value(state: ServerState, user: User, target: Target, key: str, value: str) -> Message:
    return _numeric(state, user, N.RPL_KEYVALUE, _name(target), key, "*", value)


def _not_set(state: ServerState, user: User, target: Target, key: str) -> Message:
    return _numeric(state, user, N.RPL_KEYNOTSET, _name(target), key, "Key not set")


def _standard_line(state: ServerState, kind: str, code: str, *context: str) -> Message:
    return Message(kind, [COMMAND, code, *context], state.name)


def _send_batch(
    state: ServerState, user: User, kind: str, params: list[str], lines: list[Message]
) -> None:
    """Lines in a batch of `kind` (plain lines for a client without `batch`)."""
    if "batch" in user.caps:
        ref = state.batch_id()
        for line in lines:
            line.tags = {"batch": ref}
        lines = [
            Message("BATCH", ["+" + ref, kind, *params], state.name),
            *lines,
            Message("BATCH", ["-" + ref], state.name),
        ]
    if lines:
        state.delivery.settle_for(user)
        user.write(b"".join(encode(m) for m in lines))
