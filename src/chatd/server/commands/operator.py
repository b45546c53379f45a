"""Operator commands: OPER and KILL."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...proto import numerics as N
from ...proto.message import Message
from ..passwords import check_password

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

log = logging.getLogger("chatd")

# One OPER attempt per connection per this many seconds. Each check is an scrypt hash that
# holds the loop for tens of milliseconds, and guessing passwords should be slow.
OPER_INTERVAL = 3.0


def handle_oper(state: ServerState, user: User, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    if state.now < user.oper_next:
        state.reply(user, N.RPL_TRYAGAIN, "OPER", "Please wait a while and try again.")
        return
    user.oper_next = state.now + OPER_INTERVAL
    stored = state.config.opers.get(name)
    if stored is None or not check_password(password, stored):
        log.warning("failed OPER attempt as %r by %s", name[:32], user.prefix)
        state.reply(user, N.ERR_PASSWDMISMATCH, "Password incorrect")
        return
    if not user.oper:
        user.modes += "o"
        user.oper_name = name
        state.opers += 1
    state.reply(user, N.RPL_YOUREOPER, "You are now an IRC operator")
    state.send(user, Message("MODE", [user.nick, "+o"], user.prefix))


def handle_kill(state: ServerState, user: User, msg: Message) -> None:
    nick, reason = msg.params[0], msg.params[1][: state.config.kicklen]
    target = state.find_user(nick)
    if target is None:
        state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        return
    text = f"Killed ({user.nick} ({reason}))"
    state.send(target, Message("KILL", [target.nick, reason], user.prefix))
    state.disconnect(target, text)
