"""The command table: every command once, with its rules, and the one dispatcher that enforces
them (451 before registration, 461 for missing parameters, 481 for operator commands, 421 for
unknown ones). Handlers only do their own work.

`metered` commands pay flood control for the replies they make the server build for their
sender (`ServerState.handle_line` measures them; `LocalCore` charges them), as ngIRCd and
InspIRCd charge penalties by the work a command causes. The hot path of a chat (PRIVMSG,
NOTICE, TAGMSG, PING, PONG) is not measured: its replies are one line or none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from ..proto import numerics as N
from ..proto.message import Message
from .commands import (
    accounts,
    channels,
    history,
    info,
    messaging,
    metadata,
    modes,
    monitor,
    multiline,
    operator,
    queries,
    readmarker,
    redaction,
    registration,
    rename,
)

if TYPE_CHECKING:
    from .state import ServerState
    from .user import User

Handler = Callable[["ServerState", "User", Message], None]


class Command(NamedTuple):
    handler: Handler
    min_params: int = 0
    before_registration: bool = False
    oper_only: bool = False
    metered: bool = True


COMMANDS: dict[str, Command] = {
    # registration and connection
    "CAP": Command(registration.handle_cap, 1, before_registration=True),
    "PASS": Command(registration.handle_pass, 1, before_registration=True),
    "NICK": Command(registration.handle_nick, 0, before_registration=True),
    "USER": Command(registration.handle_user, 4, before_registration=True),
    "PING": Command(registration.handle_ping, 0, before_registration=True, metered=False),
    "PONG": Command(registration.handle_pong, 0, before_registration=True, metered=False),
    "QUIT": Command(registration.handle_quit, 0, before_registration=True, metered=False),
    # channels
    "JOIN": Command(channels.handle_join, 1),
    "PART": Command(channels.handle_part, 1),
    "TOPIC": Command(channels.handle_topic, 1),
    "NAMES": Command(channels.handle_names),
    "LIST": Command(channels.handle_list),
    "KICK": Command(channels.handle_kick, 2),
    "INVITE": Command(channels.handle_invite),  # no parameters: the pending invitations
    "MODE": Command(modes.handle_mode, 1),
    # messages
    "PRIVMSG": Command(messaging.handle_privmsg, metered=False),
    "NOTICE": Command(messaging.handle_notice, metered=False),
    "TAGMSG": Command(messaging.handle_tagmsg, 1, metered=False),
    # history
    "CHATHISTORY": Command(history.handle_chathistory),
    # queries
    "WHO": Command(queries.handle_who),
    "WHOIS": Command(queries.handle_whois, 1),
    "WHOWAS": Command(queries.handle_whowas, 1),
    "ISON": Command(queries.handle_ison, 1),
    "USERHOST": Command(queries.handle_userhost, 1),
    "AWAY": Command(queries.handle_away),
    "SETNAME": Command(registration.handle_setname, 1),
    "MOTD": Command(queries.handle_motd),
    "LUSERS": Command(queries.handle_lusers),
    "VERSION": Command(queries.handle_version),
    "TIME": Command(queries.handle_time),
    # operators
    "OPER": Command(operator.handle_oper, 2),
    "KILL": Command(operator.handle_kill, 2, oper_only=True),
    "REHASH": Command(operator.handle_rehash, 0, oper_only=True),
    # accounts (commands/accounts.py, services/)
    "AUTHENTICATE": Command(accounts.handle_authenticate, 1, before_registration=True),
    "REGISTER": Command(accounts.handle_register, 0, before_registration=True),
    "NICKSERV": Command(messaging.handle_nickserv),
    "NS": Command(messaging.handle_nickserv),
    "CHANSERV": Command(messaging.handle_chanserv),
    "CS": Command(messaging.handle_chanserv),
    # the rest of the client protocol (issue 12)
    "RENAME": Command(rename.handle_rename, 2),
    "BATCH": Command(multiline.handle_batch, 1),
    "REDACT": Command(redaction.handle_redact, 2),
    "MARKREAD": Command(readmarker.handle_markread),
    "METADATA": Command(metadata.handle_metadata),
    "MONITOR": Command(monitor.handle_monitor, 1),
    "INFO": Command(info.handle_info),
    "ADMIN": Command(info.handle_admin),
    "LINKS": Command(info.handle_links),
    "STATS": Command(info.handle_stats, 1),
    "HELP": Command(info.handle_help),
    "HELPOP": Command(info.handle_help),
    "WALLOPS": Command(operator.handle_wallops, 1, oper_only=True),
}


# Results coming back into the state (see ServerState.defer/later/resume): kind -> handler of
# (state, user, value). The value is plain data (JSON-able), so a cluster can carry it in its
# log and every node applies the same result.
Resumer = Callable[["ServerState", "User", Any], None]
RESUMERS: dict[str, Resumer] = {**accounts.RESUMES, **operator.RESUMES}


def dispatch(state: ServerState, user: User, msg: Message) -> None:
    command = COMMANDS.get(msg.command)
    if command is not None and user.registered:
        counts = state.command_counts
        counts[msg.command] = counts.get(msg.command, 0) + 1  # STATS m
    if command is None:
        if user.registered:
            state.reply(user, N.ERR_UNKNOWNCOMMAND, msg.command, "Unknown command")
        else:
            state.reply(user, N.ERR_NOTREGISTERED, "You have not registered")
        return
    if not user.registered and not command.before_registration:
        state.reply(user, N.ERR_NOTREGISTERED, "You have not registered")
        return
    if len(msg.params) < command.min_params:
        state.need_more_params(user, msg.command)
        return
    if command.oper_only and not user.oper:
        state.reply(user, N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
        return
    command.handler(state, user, msg)
