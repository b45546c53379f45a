"""draft/read-marker: MARKREAD, the last message a user has read in each channel or private
conversation, shared between that user's connections and kept in the store.

The marker belongs to an *owner*: `owner_of(user)`. A user logged in to an account owns its
markers by the account (its casefolded name): every connection logged in to it shares them
(`clients_of`), and they survive nick changes. A user not logged in owns them by its nick
(`~` and the casefolded nick, as private history names such a peer: it cannot be an account's
key), held by one connection at a time. Nothing else here knows what an owner is. A marker only
moves forward, never past the server's clock; an owner keeps its `read_markers_max` newest
markers (the oldest read time is dropped first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...proto.caps import READ_MARKER
from ...proto.casemap import fold, is_channel_name, valid_channel, valid_nick
from ...proto.message import Message, as_word
from ...store import StoreError, ms_to_iso, parse_timestamp
from ...store.accounts import UNIDENTIFIED

if TYPE_CHECKING:
    from ..channel import Channel
    from ..state import ServerState
    from ..user import User

COMMAND = "MARKREAD"


def owner_of(user: User) -> str:
    """Whose markers these are: the account, or `~nick` for a user not logged in."""
    return fold(user.account) if user.account is not None else UNIDENTIFIED + user.key


def clients_of(state: ServerState, owner: str) -> list[User]:
    """Every connection of an owner: those logged in to the account, or the one holding the
    nick (if it is not logged in: then the markers are its account's)."""
    if not owner.startswith(UNIDENTIFIED):
        return [u for u in state.accounts.sessions_of(owner) if u.registered]
    user = state.users.get(owner[len(UNIDENTIFIED) :])
    return [user] if user is not None and user.registered and user.account is None else []


def _markread(state: ServerState, target: str, ms: int | None) -> Message:
    value = "timestamp=" + ms_to_iso(ms) if ms is not None else "*"
    return Message(COMMAND, [target, value], state.name)


def handle_markread(state: ServerState, user: User, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        state.fail(user, COMMAND, "NEED_MORE_PARAMS", "Missing parameters")
        return
    target = msg.params[0]
    cfg = state.config
    if not (valid_channel(target, cfg.channellen) or valid_nick(target, cfg.nicklen)):
        state.fail(user, COMMAND, "INVALID_PARAMS", as_word(target), "Invalid target")
        return
    channel = state.find_channel(target) if is_channel_name(target) else None
    shown = channel.name if channel is not None else target
    key, owner = fold(target), owner_of(user)
    store = state.store
    try:
        store.flush(state.now)
        stored = store.marker(owner, key)
        if len(msg.params) < 2:
            state.send(user, _markread(state, shown, stored))
            return
        given = msg.params[1]
        kind, _, text = given.partition("=")
        ms = parse_timestamp(text) if kind == "timestamp" else None
        if ms is None:
            state.fail(user, COMMAND, "INVALID_PARAMS", as_word(given), "Invalid timestamp")
            return
        ms = min(ms, int(state.wall * 1000))  # never past the server's clock
        if stored is not None and ms <= stored:
            state.send(user, _markread(state, shown, stored))  # markers only move forward
            return
        store.set_marker(owner, key, ms, cfg.read_markers_max)
    except StoreError:
        state.fail(user, COMMAND, "INTERNAL_ERROR", shown, "The read timestamp could not be set")
        return
    update = _markread(state, shown, ms)
    state.send(user, update)
    for other in clients_of(state, owner):
        if other is not user and READ_MARKER in other.caps:
            state.send(other, update)


def owner_changed(state: ServerState, user: User) -> None:
    """The user logged in or out: its markers are now another owner's, so a client with the
    capability learns the marker of each channel it is on (in the order of their names)."""
    if READ_MARKER in user.caps and user.registered:
        for channel in sorted(user.channels, key=lambda c: c.key):
            send_on_join(state, user, channel)


def send_on_join(state: ServerState, user: User, channel: Channel) -> None:
    """A client with the capability learns its marker for a channel it joins (before 366)."""
    if READ_MARKER not in user.caps:
        return
    try:
        state.store.flush(state.now)
        stored = state.store.marker(owner_of(user), channel.key)
    except StoreError:
        stored = None
    state.send(user, _markread(state, channel.name, stored))
