"""Messages between users: PRIVMSG, NOTICE and TAGMSG, to channels (`@#room` and `+#room`:
to its operators or voiced members only, STATUSMSG) and to nicks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...proto import numerics as N
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message
from ..channel import BOT_MODE, STATUSMSG, Channel
from ..services import CHANSERV, NICKSERV, chanserv, nickserv

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


def handle_privmsg(state: ServerState, user: User, msg: Message) -> None:
    _relay(state, user, msg, errors=True)


def handle_notice(state: ServerState, user: User, msg: Message) -> None:
    # NOTICE never provokes an automatic reply, errors included (RFC 2812 3.3.2).
    _relay(state, user, msg, errors=False)


def handle_tagmsg(state: ServerState, user: User, msg: Message) -> None:
    _relay(state, user, msg, errors=True, tags_only=True)


def handle_nickserv(state: ServerState, user: User, msg: Message) -> None:
    """NICKSERV / NS <command...>: as PRIVMSG NickServ."""
    nickserv.handle(state, user, " ".join(msg.params))


def handle_chanserv(state: ServerState, user: User, msg: Message) -> None:
    chanserv.handle(state, user, " ".join(msg.params))


_SERVICES = {fold(NICKSERV): nickserv.handle, fold(CHANSERV): chanserv.handle}


def _client_tags(msg: Message) -> dict[str, str]:
    return {k: v for k, v in msg.tags.items() if k[:1] == "+"} if msg.tags else {}


def message_tags(user: User, msg: Message) -> dict[str, str]:
    """The tags a relayed message carries for message-tags clients: the sender's client-only
    tags, and `bot` when it has the bot mode."""
    tags = _client_tags(msg)
    if BOT_MODE in user.modes:
        tags["bot"] = ""
    return tags


def is_ctcp(text: str) -> bool:
    """A CTCP other than ACTION (which +C lets through)."""
    return text[:1] == "\x01" and not text.startswith("\x01ACTION")


def status_target(target: str) -> tuple[str, str]:
    """`@#room` -> ("@", "#room"); `#room` -> ("", "#room"): the STATUSMSG prefix, if any."""
    if target[:1] in STATUSMSG and is_channel_name(target[1:]):
        return target[0], target[1:]
    return "", target


def _unique_targets(text: str) -> list[str]:
    """The comma-separated targets, each once (compared casefolded), in the order given."""
    if "," not in text:
        return [text]  # one target, as nearly every message has
    seen: dict[str, str] = {}
    for target in text.split(","):
        seen.setdefault(fold(target), target)
    return list(seen.values())


def _relay(
    state: ServerState, user: User, msg: Message, errors: bool, tags_only: bool = False
) -> None:
    command = msg.command
    params = msg.params
    if not params or not params[0]:
        if errors:
            state.reply(user, N.ERR_NORECIPIENT, f"No recipient given ({command})")
        return
    if not tags_only and (len(params) < 2 or not params[1]):
        if errors:
            state.reply(user, N.ERR_NOTEXTTOSEND, "No text to send")
        return
    targets = _unique_targets(params[0])
    if len(targets) > state.config.max_targets:
        if errors:
            state.reply(
                user,
                N.ERR_TOOMANYTARGETS,
                params[0][:64],
                f"Too many targets. Maximum is {state.config.max_targets}",
            )
        return
    user.last_spoke = state.now
    text = [] if tags_only else [params[1]]
    tags = message_tags(user, msg)
    for target in targets:
        status, name = status_target(target)
        if status:
            _to_status(state, user, command, status, name, text, tags, errors, tags_only)
        elif is_channel_name(target):
            _to_channel(state, user, command, target, text, tags, errors, tags_only)
        else:
            _to_nick(state, user, command, target, text, tags, errors, tags_only)


def _to_channel(
    state: ServerState,
    user: User,
    command: str,
    name: str,
    text: list[str],
    tags: dict[str, str],
    errors: bool,
    tags_only: bool,
) -> None:
    channel = state.find_channel(name)
    if channel is None:
        if errors:
            state.reply(user, N.ERR_NOSUCHNICK, name, "No such nick/channel")
        return
    if not may_send(state, user, channel, text, errors):
        return
    delivery = state.delivery
    event = delivery.event(Message(command, [channel.name, *text], user.prefix), tags)
    # with echo-message the sender is one more recipient, in order with everyone else
    exclude = None if "echo-message" in user.caps and user in channel.members else user
    if tags_only:
        delivery.to_users((m for m in channel.members if "message-tags" in m.caps), event, exclude)
    else:
        delivery.message_to_channel(channel, event, exclude)
        state.record_message(channel, event)


def may_send(
    state: ServerState, user: User, channel: Channel, text: list[str], errors: bool
) -> bool:
    """Whether `user` may send `text` to `channel` (+n, +m, bans, +C); 404 if not."""
    reason = ""
    if not channel.can_speak(user):
        reason = "Cannot send to channel"
    elif "C" in channel.modes and any(is_ctcp(t) for t in text):
        reason = "Cannot send CTCP to channel (+C)"
    if reason and errors:
        state.reply(user, N.ERR_CANNOTSENDTOCHAN, channel.name, reason)
    return not reason


def _to_status(
    state: ServerState,
    user: User,
    command: str,
    status: str,
    name: str,
    text: list[str],
    tags: dict[str, str],
    errors: bool,
    tags_only: bool,
) -> None:
    """STATUSMSG: to the members with at least the status `@` or `+` names; not stored in
    the channel's history, which is for every member."""
    channel = state.find_channel(name)
    if channel is None:
        if errors:
            state.reply(user, N.ERR_NOSUCHNICK, status + name, "No such nick/channel")
        return
    if not may_send(state, user, channel, text, errors):
        return
    wanted = "o" if status == "@" else "ov"
    recipients = [
        m
        for m, modes in channel.members.items()
        if any(p in modes for p in wanted) and (not tags_only or "message-tags" in m.caps)
    ]
    event = state.delivery.event(
        Message(command, [status + channel.name, *text], user.prefix), tags
    )
    echo = "echo-message" in user.caps
    state.delivery.to_users(recipients, event, exclude=None if echo else user)
    if echo and user not in recipients and (not tags_only or "message-tags" in user.caps):
        state.delivery.to_user(user, event)


def _to_nick(
    state: ServerState,
    user: User,
    command: str,
    nick: str,
    text: list[str],
    tags: dict[str, str],
    errors: bool,
    tags_only: bool,
) -> None:
    service = _SERVICES.get(fold(nick))
    if service is not None:
        if command == "PRIVMSG" and text:
            service(state, user, text[0])  # never relayed, never stored: it may hold a password
        return
    target = state.find_user(nick)
    if target is None:
        if errors:
            state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    delivery = state.delivery
    event = delivery.event(Message(command, [target.nick, *text], user.prefix), tags)
    if not tags_only or "message-tags" in target.caps:
        delivery.to_user(target, event)
    if "echo-message" in user.caps and target is not user:
        delivery.to_user(user, event)
    if not tags_only:
        state.record_private(user, target, event)
    if command == "PRIVMSG" and target.away is not None and target is not user:
        state.reply(user, N.RPL_AWAY, target.nick, target.away)
