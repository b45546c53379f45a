"""draft/channel-rename: RENAME <#old> <#new> [:reason], by a channel operator.

The channel keeps everything (members, modes, lists, topic, invitations, metadata); its history
and read markers move to the new name in the store, and a persistent channel is stored under
it. Members with the capability see `RENAME`; the others see themselves PART the old name and
JOIN the new one with its topic and names (not for a change of case only).

Cost: the fallback sends NAMES to every member without the capability, O(members²) bytes for a
big channel (the names are made once per view and copied), so one channel may be renamed once
per `rename_cooldown` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...proto import numerics as N
from ...proto.caps import RENAME
from ...proto.casemap import fold, valid_channel
from ...proto.message import Message, as_word
from . import channels

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

COMMAND = "RENAME"


def handle_rename(state: ServerState, user: User, msg: Message) -> None:
    old_name, new_name = msg.params[0], msg.params[1]
    reason = msg.params[2][: state.config.kicklen] if len(msg.params) > 2 else ""
    channel = state.find_channel(old_name)
    if channel is None:
        state.reply(user, N.ERR_NOSUCHCHANNEL, old_name, "No such channel")
        return
    if user not in channel.members:
        state.reply(user, N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if not channel.is_op(user):
        state.reply(user, N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    word = as_word(new_name)
    if not valid_channel(new_name, state.config.channellen):
        state.fail(
            user, COMMAND, "CANNOT_RENAME", channel.name, word, "That is not a valid channel name"
        )
        return
    new_key = fold(new_name)
    if new_key != channel.key and new_key in state.channels:
        state.fail(
            user, COMMAND, "CHANNEL_NAME_IN_USE", channel.name, word, "Channel already exists"
        )
        return
    if new_name == channel.name:
        state.fail(user, COMMAND, "CANNOT_RENAME", channel.name, word, "That is its name already")
        return
    cooldown = state.config.rename_cooldown
    if (
        channel.renamed_at is not None
        and state.now - channel.renamed_at < cooldown
        and not user.oper
    ):
        state.fail(
            user,
            COMMAND,
            "CANNOT_RENAME",
            channel.name,
            word,
            "This channel has been renamed recently",
        )
        return
    rename(state, user, channel.key, new_name, reason)


def rename(state: ServerState, user: User, old_key: str, new_name: str, reason: str) -> None:
    """Rename the channel under `old_key` (checks done) and tell its members."""
    state.delivery.settle()  # what was said under the old name is delivered under it
    channel = state.channels.pop(old_key)
    old_name = channel.name
    channel.name, channel.key = new_name, fold(new_name)
    channel.renamed_at = state.now
    state.channels[channel.key] = channel
    state.store.rename(old_key, channel.key, new_name)
    if "P" in channel.modes:
        state.store.delete_channel(old_key)
        state.channel_changed(channel)
    event = state.delivery.event(Message(COMMAND, [old_name, new_name, reason], user.prefix))
    case_only = old_key == channel.key
    names: dict[tuple[bool, bool], list[str]] = {}  # NAMES made once per view, not per member
    for member in list(channel.members):
        if RENAME in member.caps or case_only:
            if RENAME in member.caps:
                state.delivery.to_user(member, event)
            continue
        part = Message("PART", [old_name, reason] if reason else [old_name], member.prefix)
        state.delivery.to_user(member, state.delivery.event(part))
        join = Message("JOIN", [new_name], member.prefix)
        if "extended-join" in member.caps:
            join = Message(
                "JOIN", [new_name, member.account or "*", member.realname], member.prefix
            )
        state.delivery.to_user(member, state.delivery.event(join))
        if channel.topic:
            channels.send_topic(state, member, channel)
        view = ("multi-prefix" in member.caps, "userhost-in-names" in member.caps)
        chunks = names.get(view)
        if chunks is None:
            chunks = names[view] = channels.names_chunks(channel, *view, True)
        channels.send_names(state, member, channel, chunks)
