"""MONITOR (IRCv3 monitor) and extended-monitor: a client's list of nicks, and the notices it
gets when they come online (730), go offline (731), or, with extended-monitor, change what
away-notify, account-notify and setname report.

Every notification to watchers goes through `notify_online`, `notify_offline` or
`notify_change` here, so a feature that reports more about a user adds one call to
`notify_change` with its capability (AWAY, SETNAME and ACCOUNT do). A 730 to an
extended-monitor client is followed by what it would otherwise have to ask for: `ACCOUNT` when
the user is logged in (with account-notify) and `AWAY` when it is away (with away-notify), as
extended-join and a JOIN's AWAY tell a channel's members.

Cost: a list holds at most `monitor_max` nicks (ISUPPORT MONITOR=); `state.watchers` maps a
casefolded nick to the clients watching it, so a sign-on, nick change or quit costs one dict
lookup plus one line per watcher.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...limits import NAMES_CHUNK
from ...proto import numerics as N
from ...proto.caps import ACCOUNT_NOTIFY, AWAY_NOTIFY, EXTENDED_MONITOR
from ...proto.casemap import fold, valid_nick
from ...proto.message import Message
from . import metadata

if TYPE_CHECKING:
    from ..delivery import Event
    from ..state import ServerState
    from ..user import User


def handle_monitor(state: ServerState, user: User, msg: Message) -> None:
    op = msg.params[0]
    targets = msg.params[1] if len(msg.params) > 1 else ""
    if op == "+":
        _add(state, user, targets)
    elif op == "-":
        _remove(state, user, targets)
    elif op in ("C", "c"):
        clear(state, user)
    elif op in ("L", "l"):
        listed = list((user.monitoring or {}).values())
        for chunk in _chunks(listed):
            state.reply(user, N.RPL_MONLIST, ",".join(chunk))
        state.reply(user, N.RPL_ENDOFMONLIST, "End of MONITOR list")
    elif op in ("S", "s"):
        _status(state, user, list((user.monitoring or {}).values()))
    else:
        state.reply(user, N.ERR_UNKNOWNERROR, "MONITOR", op[:16], "Unknown MONITOR modifier")


def _add(state: ServerState, user: User, targets: str) -> None:
    if not targets:
        state.need_more_params(user, "MONITOR")
        return
    limit = state.config.monitor_max
    watching = user.monitoring if user.monitoring is not None else {}
    added: list[str] = []
    nicks = [n for n in targets.split(",") if n]
    for i, nick in enumerate(nicks):
        if not valid_nick(nick, state.config.nicklen):
            continue  # a target must be a nick; anything else is left out
        key = fold(nick)
        if key in watching:
            continue
        if len(watching) >= limit:
            rest = ",".join(nicks[i:])
            state.reply(user, N.ERR_MONLISTFULL, str(limit), rest, "Monitor list is full.")
            break
        watching[key] = nick
        state.watchers.setdefault(key, set()).add(user)
        added.append(nick)
    user.monitoring = watching or None
    _status(state, user, added)


def _remove(state: ServerState, user: User, targets: str) -> None:
    watching = user.monitoring
    if not watching:
        return
    for nick in targets.split(","):
        key = fold(nick)
        if watching.pop(key, None) is not None:
            _unwatch(state, user, key)
    if not watching:
        user.monitoring = None


def clear(state: ServerState, user: User) -> None:
    """Empty the user's list (MONITOR C, and when it disconnects)."""
    for key in user.monitoring or ():
        _unwatch(state, user, key)
    user.monitoring = None


def _unwatch(state: ServerState, user: User, key: str) -> None:
    watchers = state.watchers.get(key)
    if watchers is not None:
        watchers.discard(user)
        if not watchers:
            del state.watchers[key]


def _status(state: ServerState, user: User, nicks: list[str]) -> None:
    online: list[str] = []
    offline: list[str] = []
    for nick in nicks:
        target = state.find_user(nick)
        if target is None:
            offline.append(nick)
        else:
            online.append(target.prefix)
    for chunk in _chunks(online):
        state.reply(user, N.RPL_MONONLINE, ",".join(chunk))
    for chunk in _chunks(offline):
        state.reply(user, N.RPL_MONOFFLINE, ",".join(chunk))
    if online:
        for nick in online:
            target = state.find_user(nick.split("!", 1)[0])
            if target is not None:
                _sync(state, user, target)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    """Comma lists that fit a line."""
    chunk: list[str] = []
    size = 0
    for item in items:
        if chunk and size + len(item) + 1 > NAMES_CHUNK:
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += len(item) + 1
    if chunk:
        yield chunk


# -- notifications ------------------------------------------------------------------------------


def watchers_of(state: ServerState, nick: str) -> set[User]:
    return state.watchers.get(fold(nick), set())


def notify_online(state: ServerState, user: User) -> None:
    """`user` has just registered or taken a new nick: 730 to everyone watching it."""
    for watcher in list(watchers_of(state, user.nick)):
        if watcher is not user:
            state.reply(watcher, N.RPL_MONONLINE, user.prefix)
            _sync(state, watcher, user)


def _sync(state: ServerState, watcher: User, user: User) -> None:
    """After a 730 about `user`: what extended-monitor would report as it changes, as it is
    now (the account, the away message), then its metadata."""
    if _extended(watcher, user):
        caps, delivery = watcher.caps, state.delivery
        if user.account is not None and ACCOUNT_NOTIFY in caps:
            account = Message("ACCOUNT", [user.account], user.prefix)
            delivery.to_user(watcher, delivery.event(account))
        if user.away is not None and AWAY_NOTIFY in caps:
            away = Message("AWAY", [user.away], user.prefix)
            delivery.to_user(watcher, delivery.event(away))
    metadata.sync_on_monitor(state, watcher, user)


def _extended(watcher: User, user: User) -> bool:
    """Whether `watcher` learns about `user` through extended-monitor: it has the capability
    and shares no channel with it (a shared channel tells it already)."""
    return EXTENDED_MONITOR in watcher.caps and not (
        watcher.channels and not watcher.channels.isdisjoint(user.channels)
    )


def notify_offline(state: ServerState, nick: str) -> None:
    """`nick` is no longer in use (its user left or changed nick): 731 to its watchers."""
    for watcher in list(watchers_of(state, nick)):
        state.reply(watcher, N.RPL_MONOFFLINE, nick)


def notify_change(state: ServerState, user: User, event: Event, cap: str) -> None:
    """extended-monitor: a change to `user` that clients sharing a channel with it learn
    through `cap` (away-notify, setname, account-notify) also reaches those who monitor it and
    have both extended-monitor and `cap`, unless they saw it through a shared channel already.
    The one place such notices go out."""
    watchers = watchers_of(state, user.nick)
    if not watchers:
        return
    recipients = [w for w in watchers if w is not user and cap in w.caps and _extended(w, user)]
    if recipients:
        state.delivery.to_users(recipients, event)
