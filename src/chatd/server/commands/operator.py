"""Operator commands: OPER, KILL, REHASH and WALLOPS."""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING

from ...proto import numerics as N
from ...proto.message import Message
from ..passwords import check_password, hash_password

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

log = logging.getLogger("chatd")

# One OPER attempt per connection per OPER_INTERVAL seconds, and one password check on the
# whole server per OPER_GLOBAL_INTERVAL. Each check is an scrypt hash that holds the loop for
# 50-200 ms: fifty connections from one address, each at its own pace, would otherwise keep
# the loop busy with nothing else. Guessing passwords should be slow too.
OPER_INTERVAL = 3.0
OPER_GLOBAL_INTERVAL = 0.5


@functools.cache
def _decoy() -> str:
    """A hash no password matches: an unknown operator name costs the same check as a known
    one, so names cannot be told apart by the time a 464 takes."""
    return hash_password(os.urandom(16).hex())


def handle_oper(state: ServerState, user: User, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    if state.now < user.oper_next or state.now < state.oper_next:
        state.reply(user, N.RPL_TRYAGAIN, "OPER", "Please wait a while and try again.")
        return
    user.oper_next = state.now + OPER_INTERVAL
    state.oper_next = state.now + OPER_GLOBAL_INTERVAL
    stored = state.config.opers.get(name)
    matched = check_password(password, stored if stored is not None else _decoy())
    if stored is None or not matched:
        log.warning("failed OPER attempt as %r by %s (%s)", name[:32], user.prefix, user.ip)
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


def handle_rehash(state: ServerState, user: User, msg: Message) -> None:
    """Re-read the configuration file (as SIGHUP does) and tell the operator what changed."""
    hook = state.reload_hook
    if hook is None:
        state.send(
            user,
            Message(
                "FAIL",
                ["REHASH", "CANNOT_REHASH", "This server cannot reload its configuration"],
                state.name,
            ),
        )
        return
    state.reply(user, N.RPL_REHASHING, state.config_file, "Rehashing")
    log.info("REHASH by %s", user.prefix)
    for line in hook():
        state.send(user, Message("NOTICE", [user.nick, f"*** REHASH: {line}"], state.name))


def handle_wallops(state: ServerState, user: User, msg: Message) -> None:
    """A message to every user with +w (the sender too, if it has +w). IRC operators only: it
    reaches everyone who asked, so it costs what a message to a channel of all of them does."""
    text = msg.params[0]
    if not text:
        state.need_more_params(user, "WALLOPS")
        return
    event = state.delivery.event(Message("WALLOPS", [text], user.prefix))
    state.delivery.to_users((u for u in state.users.values() if "w" in u.modes), event)
