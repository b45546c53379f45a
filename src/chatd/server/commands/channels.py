"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...limits import NAMES_CHUNK
from ...proto import numerics as N
from ...proto.casemap import valid_channel
from ...proto.message import Message
from ..channel import Channel
from ..delivery import Event
from . import history

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


# -- JOIN ---------------------------------------------------------------------------------------


def handle_join(state: ServerState, user: User, msg: Message) -> None:
    if msg.params[0] == "0":
        for channel in list(user.channels):
            part(state, user, channel, "Left all channels")
        return
    names = msg.params[0].split(",")
    keys = msg.params[1].split(",") if len(msg.params) > 1 else []
    for i, name in enumerate(names):
        if name:
            join(state, user, name, keys[i] if i < len(keys) else None)


def join(state: ServerState, user: User, name: str, key: str | None) -> None:
    cfg = state.config
    if not valid_channel(name, cfg.channellen):
        state.reply(user, N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    channel = state.find_channel(name)
    if channel is not None and user in channel.members:
        return
    if len(user.channels) >= cfg.max_channels:
        state.reply(user, N.ERR_TOOMANYCHANNELS, name, "You have joined too many channels")
        return
    if channel is None:
        channel = Channel(name, int(state.wall))
        state.channels[channel.key] = channel
        prefixes = "o"
        if cfg.persist_all_channels:
            channel.modes.add("P")
            state.channel_changed(channel)
    else:
        if not _may_join(state, user, channel, key):
            return
        # the first to join an empty persistent channel runs it, as for a new one
        prefixes = "" if channel.members else "o"
    if user.invited:
        user.invited.pop(channel, None)
    state.delivery.settle()  # what was said before this JOIN is not the joiner's to read
    channel.members[user] = prefixes
    user.channels.add(channel)
    _announce_join(state, user, channel)
    if user.away is not None:
        _announce_away(state, user, channel)
    if channel.topic:
        send_topic(state, user, channel)
    send_names(state, user, channel)
    history.replay_on_join(state, user, channel)


def _announce_join(state: ServerState, user: User, channel: Channel) -> None:
    """JOIN to every member; extended-join members also get the account ("*": chatd has no
    accounts) and the realname."""
    delivery = state.delivery
    event = delivery.event(Message("JOIN", [channel.name], user.prefix))
    extended = [m for m in channel.members if "extended-join" in m.caps]
    if not extended:
        delivery.to_channel(channel, event)
        return
    long = Event(
        Message("JOIN", [channel.name, "*", user.realname], user.prefix),
        event.wall,
        event.msgid,
        {},
    )
    delivery.to_users((m for m in channel.members if "extended-join" not in m.caps), event)
    delivery.to_users(extended, long)


def _announce_away(state: ServerState, user: User, channel: Channel) -> None:
    """away-notify: members with the cap learn that a joining user is away."""
    watchers = (m for m in channel.members if m is not user and "away-notify" in m.caps)
    away = Message("AWAY", [user.away or ""], user.prefix)
    state.delivery.to_users(watchers, state.delivery.event(away))


def _may_join(state: ServerState, user: User, channel: Channel, key: str | None) -> bool:
    # only a channel operator's invitation is kept (handle_invite): it passes +i and +b
    invited = user.invited is not None and channel in user.invited
    refusal = None
    if channel.password is not None and key != channel.password:
        refusal = (N.ERR_BADCHANNELKEY, "Cannot join channel (+k)")
    elif channel.limit is not None and len(channel.members) >= channel.limit:
        refusal = (N.ERR_CHANNELISFULL, "Cannot join channel (+l)")
    elif "i" in channel.modes and not invited:
        refusal = (N.ERR_INVITEONLYCHAN, "Cannot join channel (+i)")
    elif not invited and channel.is_banned(user):
        refusal = (N.ERR_BANNEDFROMCHAN, "Cannot join channel (+b)")
    if refusal is not None:
        state.reply(user, refusal[0], channel.name, refusal[1])
        return False
    return True


# -- PART ---------------------------------------------------------------------------------------


def handle_part(state: ServerState, user: User, msg: Message) -> None:
    reason = msg.params[1] if len(msg.params) > 1 else None
    for name in msg.params[0].split(","):
        channel = _member_channel(state, user, name)
        if channel is not None:
            part(state, user, channel, reason)


def part(state: ServerState, user: User, channel: Channel, reason: str | None) -> None:
    params = [channel.name] if not reason else [channel.name, reason[: state.config.kicklen]]
    state.delivery.to_channel(channel, state.delivery.event(Message("PART", params, user.prefix)))
    state.remove_member(channel, user)


def _member_channel(state: ServerState, user: User, name: str) -> Channel | None:
    """The channel if the user is on it; otherwise answer 403 or 442 and return None."""
    channel = state.find_channel(name)
    if channel is None:
        state.reply(user, N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return None
    if user not in channel.members:
        state.reply(user, N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return None
    return channel


# -- TOPIC --------------------------------------------------------------------------------------


def handle_topic(state: ServerState, user: User, msg: Message) -> None:
    name = msg.params[0]
    if len(msg.params) == 1:
        channel = state.find_channel(name)
        if channel is None:
            state.reply(user, N.ERR_NOSUCHCHANNEL, name, "No such channel")
        elif "s" in channel.modes and user not in channel.members:
            state.reply(user, N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        elif channel.topic:
            send_topic(state, user, channel)
        else:
            state.reply(user, N.RPL_NOTOPIC, channel.name, "No topic is set")
        return
    channel = _member_channel(state, user, name)
    if channel is None:
        return
    if "t" in channel.modes and not channel.is_op(user):
        state.reply(user, N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    channel.topic = msg.params[1][: state.config.topiclen]
    channel.topic_by = user.prefix
    channel.topic_at = int(state.wall)
    event = state.delivery.event(Message("TOPIC", [channel.name, channel.topic], user.prefix))
    state.delivery.to_channel(channel, event)
    if "P" in channel.modes:
        state.channel_changed(channel)


def send_topic(state: ServerState, user: User, channel: Channel) -> None:
    state.reply(user, N.RPL_TOPIC, channel.name, channel.topic)
    state.reply(user, N.RPL_TOPICWHOTIME, channel.name, channel.topic_by, str(channel.topic_at))


# -- NAMES, LIST --------------------------------------------------------------------------------


def handle_names(state: ServerState, user: User, msg: Message) -> None:
    if not msg.params:
        state.reply(user, N.RPL_ENDOFNAMES, "*", "End of /NAMES list")
        return
    for name in msg.params[0].split(",")[: state.config.max_targets]:
        channel = state.find_channel(name)
        if channel is not None and (user in channel.members or "s" not in channel.modes):
            send_names(state, user, channel)
        else:
            state.reply(user, N.RPL_ENDOFNAMES, name, "End of /NAMES list")


def send_names(state: ServerState, user: User, channel: Channel) -> None:
    multi = "multi-prefix" in user.caps
    full = "userhost-in-names" in user.caps
    show_invisible = user in channel.members
    symbol = "@" if "s" in channel.modes else "="
    chunk: list[str] = []
    size = 0
    for member in channel.members:
        if not show_invisible and "i" in member.modes:
            continue
        entry = channel.prefix_of(member, multi) + (member.prefix if full else member.nick)
        if size + len(entry) > NAMES_CHUNK and chunk:
            state.reply(user, N.RPL_NAMREPLY, symbol, channel.name, " ".join(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        state.reply(user, N.RPL_NAMREPLY, symbol, channel.name, " ".join(chunk))
    state.reply(user, N.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


def handle_list(state: ServerState, user: User, msg: Message) -> None:
    if msg.params and msg.params[0]:
        found = (state.find_channel(n) for n in msg.params[0].split(","))
        channels = [c for c in found if c is not None]
    else:
        channels = list(state.channels.values())
    state.reply(user, N.RPL_LISTSTART, "Channel", "Users  Name")
    for channel in channels:
        if "s" in channel.modes and user not in channel.members:
            continue
        modes, _ = channel.mode_string(show_key=False)
        state.reply(
            user, N.RPL_LIST, channel.name, str(len(channel.members)), f"[{modes}] {channel.topic}"
        )
    state.reply(user, N.RPL_LISTEND, "End of /LIST")


# -- KICK, INVITE -------------------------------------------------------------------------------


def handle_kick(state: ServerState, user: User, msg: Message) -> None:
    channel = _member_channel(state, user, msg.params[0])
    if channel is None:
        return
    if not channel.is_op(user):
        state.reply(user, N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    reason = msg.params[2][: state.config.kicklen] if len(msg.params) > 2 else user.nick
    for nick in msg.params[1].split(",")[: state.config.max_targets]:
        target = state.find_user(nick)
        if target is None:
            state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        elif target not in channel.members:
            state.reply(
                user,
                N.ERR_USERNOTINCHANNEL,
                target.nick,
                channel.name,
                "They aren't on that channel",
            )
        else:
            kick = Message("KICK", [channel.name, target.nick, reason], user.prefix)
            state.delivery.to_channel(channel, state.delivery.event(kick))
            state.remove_member(channel, target)
            if channel.key not in state.channels:
                return  # the kicker kicked itself out of a channel it was alone in


def handle_invite(state: ServerState, user: User, msg: Message) -> None:
    nick, name = msg.params[0], msg.params[1]
    target = state.find_user(nick)
    if target is None:
        state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    channel = state.find_channel(name)
    if channel is None:
        state.reply(user, N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if user not in channel.members:
        state.reply(user, N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
        return
    if "i" in channel.modes and not channel.is_op(user):
        state.reply(user, N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator")
        return
    if target in channel.members:
        state.reply(user, N.ERR_USERONCHANNEL, target.nick, channel.name, "is already on channel")
        return
    if channel.is_op(user):
        _remember_invitation(state, target, channel)
    state.reply(user, N.RPL_INVITING, target.nick, channel.name)
    if target.away is not None:
        state.reply(user, N.RPL_AWAY, target.nick, target.away)
    invite = state.delivery.event(Message("INVITE", [target.nick, channel.name], user.prefix))
    state.delivery.to_user(target, invite)
    # invite-notify: members who could have invited too (everyone, or the operators of a +i
    # channel) see it
    restricted = "i" in channel.modes
    watchers = (
        m
        for m in channel.members
        if m is not user and "invite-notify" in m.caps and (not restricted or channel.is_op(m))
    )
    state.delivery.to_users(watchers, invite)


def _remember_invitation(state: ServerState, target: User, channel: Channel) -> None:
    """A channel operator's invitation, which lets the target past +i and +b once. A plain
    member's invitation (possible in a -i channel) is only a notice: it admits nobody a ban
    keeps out. The set is bounded by max_channels; a new invitation evicts the oldest, and
    inviting again makes an invitation the newest."""
    invited = target.invited
    if invited is None:
        invited = target.invited = {}
    invited.pop(channel, None)
    if len(invited) >= state.config.max_channels:
        del invited[next(iter(invited))]
    invited[channel] = None
