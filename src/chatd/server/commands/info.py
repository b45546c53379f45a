"""What the server says about itself: INFO, ADMIN, LINKS, STATS and HELP/HELPOP.

Each answer is a handful of lines, except STATS m (one per command, a fixed table) and STATS l
(one per connection, cut at `who_max`), which is for IRC operators only.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from ... import __version__
from ...proto import numerics as N
from ...proto.casemap import fold
from ...proto.message import Message
from ..channel import compile_mask
from ..help import HELP, INDEX
from . import nodestats

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


def _other_server(state: ServerState, user: User, target: str) -> bool:
    """A `[server]` parameter that names neither this server nor a user on it: 402."""
    if not target or compile_mask(target).fullmatch(fold(state.name)):
        return False
    if state.find_user(target) is not None:
        return False
    state.reply(user, N.ERR_NOSUCHSERVER, target, "No such server")
    return True


# -- INFO, ADMIN, LINKS ---------------------------------------------------------------------------


def handle_info(state: ServerState, user: User, msg: Message) -> None:
    started = datetime.datetime.fromtimestamp(state.started_wall, datetime.UTC)
    for line in (
        f"chatd {__version__}: a chat server speaking the IRC client protocol and IRCv3",
        "A sans-IO chat state on a selectors reactor, in Python.",
        f"Running on {state.name} since {started:%Y-%m-%d %H:%M:%S} UTC.",
        "MIT licence. Protocol notes: docs/protocol.md in the source tree.",
    ):
        state.reply(user, N.RPL_INFO, line)
    state.reply(user, N.RPL_ENDOFINFO, "End of /INFO list")


def handle_admin(state: ServerState, user: User, msg: Message) -> None:
    if msg.params and _other_server(state, user, msg.params[0]):
        return
    cfg = state.config
    state.reply(user, N.RPL_ADMINME, state.name, "Administrative info")
    state.reply(user, N.RPL_ADMINLOC1, cfg.admin_location or f"{cfg.network} network")
    state.reply(user, N.RPL_ADMINLOC2, cfg.admin_info or f"Server {state.name}")
    state.reply(user, N.RPL_ADMINEMAIL, cfg.admin_email or "No contact address is set")


def handle_links(state: ServerState, user: User, msg: Message) -> None:
    mask = msg.params[-1] if msg.params else "*"
    if compile_mask(mask).fullmatch(fold(state.name)):
        description = f"{state.config.network} chat server"
        state.reply(user, N.RPL_LINKS, mask, state.name, f"0 {description}")
    state.reply(user, N.RPL_ENDOFLINKS, mask, "End of /LINKS list")


# -- STATS ----------------------------------------------------------------------------------------


def handle_stats(state: ServerState, user: User, msg: Message) -> None:
    query = msg.params[0][:1]
    if len(msg.params) > 1 and _other_server(state, user, msg.params[1]):
        return
    if query.upper() in nodestats.QUERIES:  # N (nodes), R (the cluster's log)
        nodestats.answer(state, user, query.upper())
        return
    if query in ("o", "O", "l", "L") and not user.oper:
        state.reply(user, N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        state.reply(user, N.RPL_ENDOFSTATS, query or "*", "End of /STATS report")
        return
    if query == "u":
        up = max(0, int(state.wall - state.started_wall))
        days, rest = divmod(up, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, seconds = divmod(rest, 60)
        state.reply(
            user, N.RPL_STATSUPTIME, f"Server Up {days} days {hours}:{minutes:02d}:{seconds:02d}"
        )
    elif query == "m":
        for command, count in sorted(state.command_counts.items()):
            state.reply(user, N.RPL_STATSCOMMANDS, command, str(count))
    elif query in ("o", "O"):
        for name in sorted(state.config.opers):
            state.reply(user, N.RPL_STATSOLINE, "O", "*", "*", name)
    elif query in ("l", "L"):
        _links(state, user)
    state.reply(user, N.RPL_ENDOFSTATS, query or "*", "End of /STATS report")


def _links(state: ServerState, user: User) -> None:
    """211 per connection: the send queue and what was sent are the connection's business,
    which the chat state does not see, so those columns are 0; received lines and bytes and
    the time open are true."""
    users = sorted(state.every_user(), key=lambda u: (u.connected_at, u.key))
    for other in users[: state.config.who_max]:
        name = f"{other.nick}[{other.username or '*'}@{other.ip}]"  # operators see addresses
        state.reply(
            user,
            N.RPL_STATSLINKINFO,
            name,
            "0",
            "0",
            "0",
            str(other.lines_in),
            str(other.bytes_in // 1024),
            str(max(0, int(state.now - other.connected_at))),
        )


# -- HELP, HELPOP ---------------------------------------------------------------------------------


def handle_help(state: ServerState, user: User, msg: Message) -> None:
    subject = msg.params[0].upper() if msg.params and msg.params[0] else ""
    if not subject:
        state.reply(user, N.RPL_HELPSTART, "*", INDEX[0])
        state.reply(user, N.RPL_HELPTXT, "*", "")
        for line in INDEX[1:]:
            state.reply(user, N.RPL_HELPTXT, "*", line)
        names = sorted(HELP)
        for i in range(0, len(names), 10):
            state.reply(user, N.RPL_HELPTXT, "*", " ".join(names[i : i + 10]))
        state.reply(user, N.RPL_ENDOFHELP, "*", "End of /HELP")
        return
    text = HELP.get(subject)
    if text is None:
        state.reply(user, N.ERR_HELPNOTFOUND, subject[:32], "No help available on this topic")
        return
    state.reply(user, N.RPL_HELPSTART, subject, text[0])
    state.reply(user, N.RPL_HELPTXT, subject, "")
    for line in text[1:]:
        state.reply(user, N.RPL_HELPTXT, subject, line)
    state.reply(user, N.RPL_ENDOFHELP, subject, "End of /HELP")
