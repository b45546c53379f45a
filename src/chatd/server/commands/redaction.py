"""draft/message-redaction: REDACT <#channel> <msgid> [:reason].

The sender of a message (the same nick!user@host), a channel operator or an IRC operator may
remove a channel message; it goes from the history (all the lines of a multiline message), and
members with the capability get the REDACT. Private messages are not kept, so there is nothing
the server could check a redaction against: they are refused with INVALID_TARGET. Cost: one
indexed lookup and one queued DELETE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...proto.caps import REDACTION
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message, as_word
from ...store import StoreError

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

COMMAND = "REDACT"


def handle_redact(state: ServerState, user: User, msg: Message) -> None:
    target, msgid = msg.params[0], msg.params[1]
    reason = msg.params[2][: state.config.kicklen] if len(msg.params) > 2 else ""
    word = as_word(msgid)
    channel = state.find_channel(target) if is_channel_name(target) else None
    if channel is None or user not in channel.members:
        shown = as_word(target)
        state.fail(
            user, COMMAND, "INVALID_TARGET", shown, f"You cannot delete messages from {shown}"
        )
        return
    try:
        state.store.flush(state.now)
        row = state.store.find(channel.key, msgid)
    except StoreError:
        row = None
    if row is None or "/" in msgid:  # a line of a multiline message goes with its message
        state.fail(
            user,
            COMMAND,
            "UNKNOWN_MSGID",
            channel.name,
            word,
            "This message does not exist or is too old",
        )
        return
    own = fold(row.source) == fold(user.prefix)
    moderator = channel.is_op(user) or user.oper
    if not own and not moderator:
        state.fail(
            user,
            COMMAND,
            "REDACT_FORBIDDEN",
            channel.name,
            word,
            "You are not authorised to delete this message",
        )
        return
    window = state.config.redact_window
    if not moderator and window > 0 and state.wall * 1000 - row.time > window * 1000:
        state.fail(
            user,
            COMMAND,
            "REDACT_WINDOW_EXPIRED",
            channel.name,
            word,
            str(int(window)),
            "You can no longer delete this message",
        )
        return
    state.store.redact(channel.key, msgid)
    params = [channel.name, msgid, reason] if reason else [channel.name, msgid]
    event = state.delivery.event(Message(COMMAND, params, user.prefix))
    watchers = [m for m in channel.members if REDACTION in m.caps]
    state.delivery.to_users(watchers, event)
