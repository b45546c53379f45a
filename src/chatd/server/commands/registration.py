"""Connection registration and upkeep: CAP, PASS, NICK, USER, PING, PONG, QUIT, and the
welcome burst (001-005, LUSERS, MOTD) sent once a client is registered."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from ...limits import CAP_VERSION_MAX
from ...proto import numerics as N
from ...proto.caps import METADATA
from ...proto.casemap import fold, valid_nick
from ...proto.message import Message
from ...proto.numbers import parse_uint
from .. import isupport
from ..accounts import is_reserved
from ..channel import (
    FLAG_MODES,
    LIST_MODES,
    PARAM_MODES,
    PREFIX_MODES,
    SET_PARAM_MODES,
    USER_MODES,
    Channel,
)
from ..hidden import password_matches
from . import accounts as account_commands
from . import channels, metadata, monitor, queries

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


# -- CAP ----------------------------------------------------------------------------------------


def handle_cap(state: ServerState, user: User, msg: Message) -> None:
    sub = msg.params[0].upper()
    handler = _CAP_SUBCOMMANDS.get(sub)
    if handler is None:
        state.reply(user, N.ERR_INVALIDCAPCMD, msg.params[0], "Invalid CAP command")
        return
    handler(state, user, msg.params[1:])


def _cap(state: ServerState, user: User, *params: str) -> None:
    state.send(user, Message("CAP", [user.nick, *params], state.name))


def _cap_ls(state: ServerState, user: User, args: list[str]) -> None:
    version = (parse_uint(args[0], CAP_VERSION_MAX, clamp=True) if args else None) or 0
    if not user.registered:
        user.negotiating = True
    if version >= 302:
        user.cap_version = max(user.cap_version, version)
        user.set_caps(user.caps | {"cap-notify"})
    with_values = user.cap_version >= 302
    offered = account_commands.offered_caps(state.config)
    caps = [f"{k}={v}" if v and with_values else k for k, v in offered.items()]
    _cap(state, user, "LS", " ".join(caps))


def _cap_list(state: ServerState, user: User, args: list[str]) -> None:
    _cap(state, user, "LIST", " ".join(sorted(user.caps)))


def _cap_req(state: ServerState, user: User, args: list[str]) -> None:
    if not user.registered:
        user.negotiating = True
    wanted = args[0] if args else ""
    enable: set[str] = set()
    disable: set[str] = set()
    offered = account_commands.offered_caps(state.config)
    for item in wanted.split():
        name = item[1:] if item.startswith("-") else item
        if name not in offered or (
            item.startswith("-") and name == "cap-notify" and user.cap_version >= 302
        ):
            _cap(state, user, "NAK", wanted)
            return
        (disable if item.startswith("-") else enable).add(name)
    user.set_caps(frozenset((user.caps | enable) - disable))
    if METADATA in disable:
        user.meta_subs = None  # dropping the cap drops the subscriptions (metadata spec)
    _cap(state, user, "ACK", wanted)


def _cap_end(state: ServerState, user: User, args: list[str]) -> None:
    if user.registered:
        return
    user.negotiating = False
    account_commands.registration_ending(state, user)
    try_register(state, user)


_CAP_SUBCOMMANDS = {"LS": _cap_ls, "LIST": _cap_list, "REQ": _cap_req, "END": _cap_end}


# -- PASS, NICK, USER -------------------------------------------------------------------------


def handle_pass(state: ServerState, user: User, msg: Message) -> None:
    if user.registered:
        state.reply(user, N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    hidden = state.hidden  # a cluster's copy of the line: its origin compared the password
    if hidden is not None:
        user.pass_ok = hidden.password_ok
    else:
        user.pass_ok = password_matches(state.config, msg.params[0])


def pass_ok(state: ServerState, user: User) -> bool:
    """Whether the user gave the server's password (with PASS; no PASS counts as an empty
    one)."""
    if user.pass_ok is None:
        return password_matches(state.config, "")
    return user.pass_ok


def handle_nick(state: ServerState, user: User, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        state.reply(user, N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    nick = msg.params[0]
    if not valid_nick(nick, state.config.nicklen):
        state.reply(user, N.ERR_ERRONEUSNICKNAME, nick, "Erroneous nickname")
        return
    if is_reserved(nick):
        state.reply(user, N.ERR_ERRONEUSNICKNAME, nick, "Reserved for services")
        return
    key = fold(nick)
    holder = state.users.get(key)
    if holder is not None and holder is not user:
        state.reply(user, N.ERR_NICKNAMEINUSE, nick, "Nickname is already in use")
        return
    if nick == user.nick:
        return
    if not user.registered:
        _take_nick(state, user, nick)
        try_register(state, user)
        return
    if key != user.key:
        banned = _banned_on(user)
        if banned is not None:
            state.reply(
                user,
                N.ERR_BANNICKCHANGE,
                nick,
                banned.name,
                "Cannot change nickname while banned on channel",
            )
            return
    change_nick(state, user, nick)


def change_nick(state: ServerState, user: User, nick: str) -> None:
    """A registered user's nick changes (NICK, or services renaming it): seen once by the user
    and by everyone sharing a channel; a registered nick starts its grace period."""
    change = state.delivery.event(Message("NICK", [nick], user.prefix))
    old, renamed = user.nick, fold(nick) != user.key
    state.remember_nick(user)
    _take_nick(state, user, nick)
    state.delivery.to_user(user, change)
    state.delivery.to_users(user.neighbours(), change)
    account_commands.protect_nick(state, user)
    if renamed:
        monitor.notify_offline(state, old)
        monitor.notify_online(state, user)


def _banned_on(user: User) -> Channel | None:
    """A channel the user is on, neither voiced nor opped, where a ban matches it: a new nick
    would escape that ban, so it keeps its nick (435) until the ban goes or it parts. A ban
    matching the nick it changes *to* applies as soon as it has changed."""
    banned = [c for c in user.channels if not c.members[user] and c.is_banned(user)]
    return min(banned, key=lambda c: c.key) if banned else None  # the same on every node


def _take_nick(state: ServerState, user: User, nick: str) -> None:
    if user.key and state.users.get(user.key) is user:
        del state.users[user.key]
    user.set_nick(nick)
    state.users[user.key] = user


def handle_user(state: ServerState, user: User, msg: Message) -> None:
    if user.registered:
        state.reply(user, N.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    username = msg.params[0]
    if not username:
        state.need_more_params(user, "USER")
        return
    cleaned = "".join(ch for ch in username if ch.isalnum() or ch in "-_.")
    user.set_username("~" + (cleaned or "user")[: state.config.userlen - 1])
    if not msg.params[3]:
        state.need_more_params(user, "USER")  # an empty realname (Modern IRC docs)
        return
    user.realname = msg.params[3][: state.config.realnamelen]
    try_register(state, user)


def try_register(state: ServerState, user: User) -> None:
    if user.registered or user.negotiating or not user.key or not user.username:
        return
    if state.config.password is not None and not pass_ok(state, user):
        state.reply(user, N.ERR_PASSWDMISMATCH, "Password incorrect")
        state.disconnect(user, "Bad password")
        return
    user.registered = True
    user.signon = state.wall
    state.unregistered -= 1
    state.registered_one()
    welcome(state, user)
    monitor.notify_online(state, user)


def welcome(state: ServerState, user: User) -> None:
    """001-005, LUSERS and the MOTD. Every registration sends them, so they go as one write:
    002-005 and the MOTD are rendered once per server with a slot for the nick
    (`ServerState.rendered`), 001 and LUSERS are one f-string each."""
    cfg = state.config
    created = datetime.datetime.fromtimestamp(state.started_wall, datetime.UTC)

    def server_lines() -> list[tuple[str, ...]]:
        chan_modes = "".join(
            sorted(FLAG_MODES + LIST_MODES + PARAM_MODES + SET_PARAM_MODES + PREFIX_MODES)
        )
        param_modes = "".join(sorted(LIST_MODES + PARAM_MODES + SET_PARAM_MODES + PREFIX_MODES))
        return [
            (N.RPL_YOURHOST, f"Your host is {state.name}, running version {state.version}"),
            (N.RPL_CREATED, f"This server was created {created:%Y-%m-%d %H:%M:%S} UTC"),
            (N.RPL_MYINFO, state.name, state.version, USER_MODES, chan_modes, param_modes),
            *(
                (N.RPL_ISUPPORT, *tokens, "are supported by this server")
                for tokens in isupport.lines(cfg)
            ),
        ]

    nick = user.nick
    first = (
        f":{state.name} {N.RPL_WELCOME} {nick} :Welcome to the {cfg.network} IRC Network "
        f"{user.prefix}\r\n"
    )
    if user.output.overflowed:
        return
    burst = [
        first.encode(),
        state.rendered("welcome", server_lines, nick),
        queries.lusers_text(state, nick).encode(),
    ]
    if METADATA in user.caps or state.motd is None:  # a batch before the end of the MOTD
        state.delivery.settle_for(user)
        user.write(b"".join(burst))
        metadata.send_own(state, user)  # before the end of the MOTD (metadata spec)
        queries.send_motd(state, user)
    else:
        burst.append(state.rendered("motd", lambda: queries.motd_lines(state), nick))
        state.delivery.settle_for(user)
        user.write(b"".join(burst))
    state.log_connect(user)
    for name in cfg.default_channels:
        channels.join(state, user, name, None)
    account_commands.protect_nick(state, user)


# -- SETNAME (IRCv3 setname) -------------------------------------------------------------------


def handle_setname(state: ServerState, user: User, msg: Message) -> None:
    realname = msg.params[0]
    if not realname or len(realname) > state.config.realnamelen:
        state.send(
            user,
            Message("FAIL", ["SETNAME", "INVALID_REALNAME", "Realname is not valid"], state.name),
        )
        return
    user.realname = realname
    change = state.delivery.event(Message("SETNAME", [realname], user.prefix))
    watchers = [u for u in user.neighbours() if "setname" in u.caps]
    if "setname" in user.caps:
        watchers.append(user)
    state.delivery.to_users(watchers, change)
    monitor.notify_change(state, user, change, "setname")


# -- PING, PONG, QUIT ---------------------------------------------------------------------------


def handle_ping(state: ServerState, user: User, msg: Message) -> None:
    if not msg.params:
        state.reply(user, N.ERR_NOORIGIN, "No origin specified")
        return
    state.send(user, Message("PONG", [state.name, msg.params[0]], state.name))


def handle_pong(state: ServerState, user: User, msg: Message) -> None:
    pass  # any line counts as a sign of life; handle_line already noted it


def handle_quit(state: ServerState, user: User, msg: Message) -> None:
    reason = msg.params[0][: state.config.kicklen] if msg.params else ""
    state.disconnect(user, f"Quit: {reason}")  # "Quit: " even when empty (Modern IRC docs)
