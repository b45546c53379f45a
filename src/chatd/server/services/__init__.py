"""Services built into the server: NickServ (accounts, nicks, certificates) and ChanServ
(channel registration). They are not users: a PRIVMSG to one of their names (or the NICKSERV /
NS / CHANSERV / CS commands) is handled here, and they answer with NOTICEs from
`Name!Name@<server name>`. Their names are reserved nicks (server/accounts.py).

Sans-IO and deterministic like every handler: what is slow or random goes through
`commands/accounts.py` (defer and resume).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ...proto.message import Message

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

NICKSERV = "NickServ"
CHANSERV = "ChanServ"

Handler = Callable[["ServerState", "User", list[str]], None]  # a service command's words


def source(state: ServerState, service: str) -> str:
    return f"{service}!{service}@{state.name}"


def notice(state: ServerState, user: User, service: str, text: str) -> None:
    target = user.nick if user.nick != "*" else "*"
    state.send(user, Message("NOTICE", [target, text], source(state, service)))


def split(text: str) -> tuple[str, list[str]]:
    """A service command line: its upper-cased verb and the words after it."""
    words = text.split()
    return (words[0].upper(), words[1:]) if words else ("HELP", [])


def serve(
    state: ServerState, user: User, service: str, commands: Mapping[str, Handler], text: str
) -> None:
    """One command line to a service: the handler its table names, or a notice that says how
    to ask for help."""
    verb, args = split(text)
    handler = commands.get(verb)
    if handler is None:
        notice(state, user, service, f"Unknown command {verb[:32]}. /msg {service} HELP")
        return
    handler(state, user, args)


def tell_all(state: ServerState, user: User, service: str, lines: Iterable[str]) -> None:
    for line in lines:
        notice(state, user, service, line)
