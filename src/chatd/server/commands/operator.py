"""Operator commands: OPER, KILL, REHASH and WALLOPS.

OPER's password check is an scrypt hash (50-200 ms of a core), so it is done off the loop like
the account checks (docs/architecture.md, "Work that is not deterministic"): the handler paces
the attempts and asks for the check (`state.defer`); its outcome comes back as `oper-checked`
(plain data: the operator name and whether the password matched), which grants the mode the
same way on every node of a cluster. Only the node the client is connected to runs the check,
and only it ever sees the password.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import TYPE_CHECKING, Any

from ...proto import numerics as N
from ...proto.message import Message
from ..passwords import check_password, hash_password

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

log = logging.getLogger("chatd")

# One OPER attempt per connection per OPER_INTERVAL seconds, and one password check on the
# whole server (the whole network, on a cluster) per OPER_GLOBAL_INTERVAL. Each check is an
# scrypt hash of 50-200 ms on a worker thread: fifty connections from one address, each at its
# own pace, would otherwise keep the workers busy with nothing else. Guessing passwords should
# be slow too.
OPER_INTERVAL = 3.0
OPER_GLOBAL_INTERVAL = 0.5
OPER_NAME_MAX = 64  # characters of an operator name carried in the check's outcome


@functools.cache
def _decoy() -> str:
    """A hash no password matches: an unknown operator name costs the same check as a known
    one, so names cannot be told apart by the time a 464 takes. Made once per process, on the
    first check's worker thread."""
    return hash_password(os.urandom(16).hex())


def handle_oper(state: ServerState, user: User, msg: Message) -> None:
    name, password = msg.params[0], msg.params[1]
    if state.now < user.oper_next or state.now < state.oper_next:
        state.reply(user, N.RPL_TRYAGAIN, "OPER", "Please wait a while and try again.")
        return
    user.oper_next = state.now + OPER_INTERVAL
    state.oper_next = state.now + OPER_GLOBAL_INTERVAL
    job = functools.partial(
        _check_job, name[:OPER_NAME_MAX], password, state.config.opers.get(name)
    )
    state.defer(user, "oper-checked", job)


def _check_job(name: str, password: str, stored: str | None) -> dict[str, Any]:
    """On a worker thread: one scrypt check, compared in constant time (passwords.py); the
    decoy's for an unknown name."""
    matched = check_password(password, stored if stored is not None else _decoy())
    return {"name": name, "ok": stored is not None and matched}


def _resume_checked(state: ServerState, user: User, value: Any) -> None:
    """The outcome of an OPER check (deterministic: the same on every node)."""
    ok = isinstance(value, dict) and value.get("ok") is True
    name = str(value.get("name", "")) if isinstance(value, dict) else ""
    if not ok or name not in state.config.opers:
        if user.local:
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


# What comes back into the state for operators (dispatch.RESUMERS holds these).
RESUMES = {"oper-checked": _resume_checked}
