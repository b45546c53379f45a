"""ChanServ: rooms that keep their owners.

`REGISTER #room` makes the caller's account the founder of a channel it runs; a registered
channel is persistent (+P) and its registration (founder, auto-modes by account) is stored, so
that after any restart the founder and the accounts given `AMODE +o`/`+v` get their status back
when they join or log in. Nobody gets ops by being first in an empty registered room.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from ...limits import CHANSERV_MAX_AMODES
from ...proto.casemap import fold
from ...proto.message import Message
from ..channel import PREFIX_MODES, Channel
from . import CHANSERV, Handler, notice, serve, source, tell_all

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

HELP = [
    "ChanServ keeps registered rooms and their owners. Commands:",
    "REGISTER #room             make your account the founder of a room you run",
    "INFO #room                 who founded it, and when",
    "AMODE #room                list the accounts with an auto-mode",
    "AMODE #room +o|-o|+v|-v account   give or take an auto-op or auto-voice",
    "OP #room [nick]            ops for you (founder, auto-op) or a member (founder)",
    "DROP #room                 end the registration (the room stays persistent)",
]


def _tell(state: ServerState, user: User, text: str) -> None:
    notice(state, user, CHANSERV, text)


def handle(state: ServerState, user: User, text: str) -> None:
    serve(state, user, CHANSERV, _COMMANDS, text)


def _help(state: ServerState, user: User, args: list[str]) -> None:
    tell_all(state, user, CHANSERV, HELP)


def _channel(state: ServerState, user: User, args: list[str], usage: str) -> Channel | None:
    if not args:
        _tell(state, user, f"Usage: {usage}")
        return None
    channel = state.find_channel(args[0])
    if channel is None:
        _tell(state, user, f"No such channel {args[0][:64]}")
    return channel


def _is_founder(user: User, channel: Channel) -> bool:
    return user.account is not None and fold(user.account) == channel.founder


def _founded(
    state: ServerState, user: User, args: list[str], usage: str, refusal: str
) -> Channel | None:
    """The registered channel `args` names, if the caller is its founder (or an IRC
    operator); otherwise None, with the reason told (`refusal` follows "Only the founder of
    #room may ...")."""
    channel = _channel(state, user, args, usage)
    if channel is None:
        return None
    if channel.founder is None:
        _tell(state, user, f"{channel.name} is not registered")
        return None
    if not (_is_founder(user, channel) or user.oper):
        _tell(state, user, f"Only the founder of {channel.name} may {refusal}")
        return None
    return channel


def _register(state: ServerState, user: User, args: list[str]) -> None:
    channel = _channel(state, user, args, "REGISTER #room")
    if channel is None:
        return
    accounts = state.accounts
    if len(args) > 1 and user.oper:
        founder = accounts.get(args[1])  # an IRC operator may register a room for an account
        if founder is None:
            _tell(state, user, f"No such account {args[1][:32]}")
            return
    elif user.account is None:
        _tell(state, user, "Identify first (/msg NickServ IDENTIFY <password>)")
        return
    else:
        founder = accounts.get(user.account)
        if founder is None:
            return
    if channel.founder is not None:
        owner = accounts.by_key.get(channel.founder)
        _tell(
            state, user, f"{channel.name} is already registered to {owner.name if owner else '?'}"
        )
        return
    if not (channel.is_op(user) or user.oper):
        why = "; nobody runs it since the restart: ask an IRC operator" if channel.opless else ""
        _tell(state, user, f"You must be a channel operator of {channel.name}{why}")
        return
    owned = sum(1 for c in state.channels.values() if c.founder == founder.key)
    if owned >= state.config.chanserv_max_channels and not user.oper:
        _tell(state, user, f"An account may register {state.config.chanserv_max_channels} rooms")
        return
    channel.founder = founder.key
    channel.registered_at = int(state.wall)
    channel.opless = False
    if "P" not in channel.modes:
        channel.modes.add("P")
        _broadcast_mode(state, channel, "+P", [])
    state.channel_changed(channel)
    state.registration_changed(channel)
    _tell(state, user, f"{channel.name} is registered to {founder.name}")
    for member in list(channel.members):
        auto_modes(state, member, channel)


def _info(state: ServerState, user: User, args: list[str]) -> None:
    channel = _channel(state, user, args, "INFO #room")
    if channel is None:
        return
    if channel.founder is None:
        _tell(state, user, f"{channel.name} is not registered")
        return
    founder = state.accounts.by_key.get(channel.founder)
    when = datetime.datetime.fromtimestamp(channel.registered_at, datetime.UTC)
    _tell(
        state,
        user,
        f"{channel.name}: founder {founder.name if founder else '?'}, registered "
        f"{when:%Y-%m-%d %H:%M} UTC, {len(channel.amodes)} auto-modes",
    )


def _amode(state: ServerState, user: User, args: list[str]) -> None:
    channel = _founded(
        state, user, args, "AMODE #room [+o|-o|+v|-v account]", "change its auto-modes"
    )
    if channel is None:
        return
    if len(args) < 3:
        for key, mode in sorted(channel.amodes.items()):
            account = state.accounts.by_key.get(key)
            _tell(state, user, f"{channel.name} +{mode} {account.name if account else key}")
        _tell(state, user, f"End of the auto-modes of {channel.name}")
        return
    change, name = args[1], args[2]
    if change not in ("+o", "-o", "+v", "-v"):
        _tell(state, user, "The change is one of +o -o +v -v")
        return
    account = state.accounts.get(name)
    if account is None:
        _tell(state, user, f"No such account {name[:32]}")
        return
    sign, mode = change[0], change[1]
    if sign == "+":
        if account.key not in channel.amodes and len(channel.amodes) >= CHANSERV_MAX_AMODES:
            _tell(state, user, f"At most {CHANSERV_MAX_AMODES} auto-modes per room")
            return
        channel.amodes[account.key] = mode
    elif channel.amodes.get(account.key) == mode:
        del channel.amodes[account.key]
    state.registration_changed(channel)
    what = "auto-op" if mode == "o" else "auto-voice"
    verb = "gets" if sign == "+" else "loses"
    _tell(state, user, f"{channel.name}: {account.name} {verb} {what}")
    if sign == "+":
        for member in list(channel.members):
            auto_modes(state, member, channel)


def _op(state: ServerState, user: User, args: list[str]) -> None:
    channel = _channel(state, user, args, "OP #room [nick]")
    if channel is None:
        return
    key = fold(user.account) if user.account else None
    allowed = user.oper or (
        key is not None and (key == channel.founder or channel.amodes.get(key) == "o")
    )
    if channel.founder is None or not allowed:
        _tell(state, user, f"You have no ops to ask for in {channel.name}")
        return
    target = user if len(args) < 2 else state.find_user(args[1])
    if target is None or target not in channel.members:
        _tell(state, user, f"They are not on {channel.name}")
        return
    if target is not user and not (user.oper or key == channel.founder):
        _tell(state, user, "Only the founder may op someone else")
        return
    give(state, channel, target, "o")


def _drop(state: ServerState, user: User, args: list[str]) -> None:
    channel = _founded(state, user, args, "DROP #room", "drop it")
    if channel is None:
        return
    channel.founder = None
    channel.amodes = {}
    state.registration_changed(channel)
    _tell(state, user, f"{channel.name} is no longer registered (it stays persistent: MODE -P)")


_COMMANDS: dict[str, Handler] = {
    "HELP": _help,
    "REGISTER": _register,
    "INFO": _info,
    "AMODE": _amode,
    "OP": _op,
    "DROP": _drop,
}


# -- modes on join and login ------------------------------------------------------------------


def auto_modes(state: ServerState, user: User, channel: Channel) -> None:
    """The founder gets +o, an account with an auto-mode its mode (on join, on login)."""
    if channel.founder is None or user.account is None:
        return
    key = fold(user.account)
    mode = "o" if key == channel.founder else channel.amodes.get(key)
    if mode:
        give(state, channel, user, mode)


def give(state: ServerState, channel: Channel, target: User, mode: str) -> None:
    current = channel.members.get(target)
    if current is None or mode in current:
        return
    channel.members[target] = "".join(m for m in PREFIX_MODES if m in current + mode)
    _broadcast_mode(state, channel, "+" + mode, [target.nick])


def _broadcast_mode(state: ServerState, channel: Channel, modes: str, params: list[str]) -> None:
    msg = Message("MODE", [channel.name, modes, *params], source(state, CHANSERV))
    state.delivery.to_channel(channel, state.delivery.event(msg))
