"""Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ...limits import LIST_ITEMS_MAX, NAMES_CHUNK
from ...proto import numerics as N
from ...proto.casemap import fold, valid_channel
from ...proto.message import Message
from ..channel import Channel, Mask, compile_mask
from ..delivery import Event
from ..services import chanserv
from . import history, metadata, readmarker

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
        # The first to join an empty persistent channel runs it, as for a new one; but not a
        # registered channel (ChanServ gives its founder ops), nor one restored at start-up
        # that nobody was given ops in since (docs/protocol.md, "Who runs a room").
        empty = not channel.members and channel.founder is None and not channel.opless
        prefixes = "o" if empty else ""
    if user.invited:
        user.invited.pop(channel, None)
    state.delivery.settle()  # what was said before this JOIN is not the joiner's to read
    channel.members[user] = prefixes
    user.joined(channel)
    _announce_join(state, user, channel)
    chanserv.auto_modes(state, user, channel)
    if user.away is not None:
        _announce_away(state, user, channel)
    readmarker.send_on_join(state, user, channel)  # before 366 (draft/read-marker)
    if channel.topic:
        send_topic(state, user, channel)
    send_names(state, user, channel)
    metadata.sync_on_join(state, user, channel)
    history.replay_on_join(state, user, channel)


def _announce_join(state: ServerState, user: User, channel: Channel) -> None:
    """JOIN to every member; extended-join members also get the account (or "*") and the
    realname."""
    delivery = state.delivery
    event = delivery.event(Message("JOIN", [channel.name], user.prefix))
    extended = [m for m in channel.members if "extended-join" in m.caps]
    if not extended:
        delivery.to_channel(channel, event)
        return
    long = Event(
        Message("JOIN", [channel.name, user.account or "*", user.realname], user.prefix),
        event.wall,
        event.msgid,
        {},
        event.account,
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
    elif "i" in channel.modes and not invited and not channel.is_invite_excepted(user):
        refusal = (N.ERR_INVITEONLYCHAN, "Cannot join channel (+i)")
    elif "R" in channel.modes and user.account is None:
        refusal = (N.ERR_NEEDREGGEDNICK, "Cannot join channel (+R): log in to an account first")
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


def send_names(
    state: ServerState, user: User, channel: Channel, chunks: list[str] | None = None
) -> None:
    """353 lines and 366; `chunks` (from `names_chunks`) when the caller made them already for
    this client's view (a RENAME fallback sends the same names to every member)."""
    if chunks is None:
        chunks = names_chunks(
            channel,
            "multi-prefix" in user.caps,
            "userhost-in-names" in user.caps,
            user in channel.members,
        )
    symbol = "@" if "s" in channel.modes else "="
    for chunk in chunks:
        if user.output.overflowed:
            return  # being dropped: build no more of it
        state.reply(user, N.RPL_NAMREPLY, symbol, channel.name, chunk)
    state.reply(user, N.RPL_ENDOFNAMES, channel.name, "End of /NAMES list")


def names_chunks(channel: Channel, multi: bool, full: bool, show_invisible: bool) -> list[str]:
    """The members as NAMES shows them, in pieces that fit a 353 line."""
    chunks: list[str] = []
    chunk: list[str] = []
    size = 0
    for member in channel.members:
        if not show_invisible and "i" in member.modes:
            continue
        entry = channel.prefix_of(member, multi) + (member.prefix if full else member.nick)
        if size + len(entry) > NAMES_CHUNK and chunk:
            chunks.append(" ".join(chunk))
            chunk, size = [], 0
        chunk.append(entry)
        size += len(entry) + 1
    if chunk:
        chunks.append(" ".join(chunk))
    return chunks


def handle_list(state: ServerState, user: User, msg: Message) -> None:
    try:
        query = _ListQuery(state, [p for p in msg.params if p])
    except ValueError as exc:
        state.send(user, Message("FAIL", ["LIST", "INVALID_PARAMS", str(exc)], state.name))
        state.reply(user, N.RPL_LISTEND, "End of /LIST")
        return
    state.reply(user, N.RPL_LISTSTART, "Channel", "Users  Name")
    shown = 0
    for channel in query.candidates():
        if user.output.overflowed:
            return  # being dropped: build no more of it
        if "s" in channel.modes and user not in channel.members:
            continue
        if not query.matches(channel):
            continue
        if shown >= state.config.list_max:
            break
        shown += 1
        modes, _ = channel.mode_string(show_key=False)
        state.reply(
            user, N.RPL_LIST, channel.name, str(len(channel.members)), f"[{modes}] {channel.topic}"
        )
    state.reply(user, N.RPL_LISTEND, "End of /LIST")


class _ListQuery:
    """LIST's parameters: channel names, masks (`*dev*`, ELIST M), negated masks (`!*dev*`,
    N), user counts (`>n`, `<n`, U), creation and topic times in minutes (`C<m`, `C>m`,
    `T<m`, `T>m`, C and T). Names and masks are alternatives; every condition must hold."""

    def __init__(self, state: ServerState, params: list[str]) -> None:
        self.state = state
        self.names: list[str] = []
        self.masks: list[Mask] = []
        self.excluded: list[Mask] = []
        self.tests: list[Callable[[Channel], bool]] = []
        items = [item for param in params for item in param.split(",") if item]
        if len(items) > LIST_ITEMS_MAX:
            raise ValueError(f"At most {LIST_ITEMS_MAX} names, masks and conditions")
        for item in items:
            self._add(item)

    def _add(self, item: str) -> None:
        wall = self.state.wall
        head, number = item[:1], item[1:]
        if head in "<>" or item[:2] in ("C<", "C>", "T<", "T>"):
            if head in "CT":
                head, number = item[1], item[2:]
            if not number.isdigit():
                raise ValueError(f"Invalid LIST condition {item[:32]}")
            n = int(number)
            if item[0] == "C":
                edge = wall - 60 * n  # created more (>) or less (<) than n minutes ago
                self.tests.append(
                    (lambda c: c.created < edge) if head == ">" else (lambda c: c.created > edge)
                )
            elif item[0] == "T":
                edge = wall - 60 * n  # topic older (>) or newer (<) than n minutes
                self.tests.append(
                    (lambda c: bool(c.topic) and c.topic_at < edge)
                    if head == ">"
                    else (lambda c: bool(c.topic) and c.topic_at > edge)
                )
            elif head == ">":
                self.tests.append(lambda c: len(c.members) > n)
            else:
                self.tests.append(lambda c: len(c.members) < n)
        elif head == "!":
            self.excluded.append(compile_mask(number))
        elif "*" in item or "?" in item:
            self.masks.append(compile_mask(item))
        else:
            self.names.append(item)

    def candidates(self) -> Iterable[Channel]:
        if self.names and not self.masks:
            found = (self.state.find_channel(name) for name in self.names)
            return [c for c in found if c is not None]
        return list(self.state.channels.values())

    def matches(self, channel: Channel) -> bool:
        key = channel.key
        if self.masks and not (
            any(m.fullmatch(key) for m in self.masks)
            or any(fold(name) == key for name in self.names)
        ):
            return False
        if any(m.fullmatch(key) for m in self.excluded):
            return False
        return all(test(channel) for test in self.tests)


# -- KICK, INVITE -------------------------------------------------------------------------------


def handle_kick(state: ServerState, user: User, msg: Message) -> None:
    """`KICK #a u1,u2` kicks both from #a; `KICK #a,#b u1,u2` kicks u1 from #a and u2 from
    #b (RFC 2812); any other shape is refused with 461. At most TARGMAX KICK pairs."""
    names = msg.params[0].split(",")
    nicks = msg.params[1].split(",")
    if len(names) == 1:
        pairs = [(names[0], nick) for nick in nicks]
    elif len(names) == len(nicks):
        pairs = list(zip(names, nicks, strict=True))
    else:
        state.need_more_params(user, "KICK")
        return
    reason = msg.params[2][: state.config.kicklen] if len(msg.params) > 2 else user.nick
    refused: set[str] = set()  # channels already answered with 403, 442 or 482
    for name, nick in pairs[: state.config.max_targets]:
        if fold(name) in refused:
            continue
        channel = _member_channel(state, user, name)
        if channel is None or not channel.is_op(user):
            if channel is not None:
                state.reply(
                    user, N.ERR_CHANOPRIVSNEEDED, channel.name, "You're not channel operator"
                )
            refused.add(fold(name))
            continue
        _kick(state, user, channel, nick, reason)
        if state.channels.get(channel.key) is not channel:
            refused.add(fold(name))  # the kicker kicked itself out of a channel it was alone in


def _kick(state: ServerState, user: User, channel: Channel, nick: str, reason: str) -> None:
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


def handle_invite(state: ServerState, user: User, msg: Message) -> None:
    if not msg.params:
        _list_invites(state, user)
        return
    if len(msg.params) < 2:
        state.need_more_params(user, "INVITE")
        return
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


def _list_invites(state: ServerState, user: User) -> None:
    """INVITE with no parameters: the channels this user has a pending invitation to (at most
    max_channels of them are kept)."""
    for channel in sorted(user.invited or (), key=lambda c: c.key):
        state.reply(user, N.RPL_INVITELIST, channel.name)
    state.reply(user, N.RPL_ENDOFINVITELIST, "End of /INVITE list")


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
