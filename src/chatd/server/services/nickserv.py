"""NickServ: accounts from IRC, as irssi, WeeChat and HexChat users know them.

REGISTER, IDENTIFY, LOGOUT, INFO, GHOST, REGAIN, GROUP, UNGROUP, CERT ADD/DEL/LIST and
SET PASSWORD. Password work (checks, new credentials) goes through `commands/accounts.py`,
off the loop; everything else is an ordinary deterministic change of the state, queued to the
store.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING

from ...limits import ACCOUNT_MAX_CERTS
from ...proto.casemap import fold
from ..accounts import Account, normalise_fingerprint
from ..commands import accounts as auth
from ..commands import registration
from . import NICKSERV, Handler, notice, serve, tell_all

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

HELP = [
    "NickServ keeps accounts. Commands:",
    "REGISTER <password> [email]   register your current nick as an account",
    "IDENTIFY [account] <password> log in (SASL PLAIN/SCRAM-SHA-256/EXTERNAL at connect too)",
    "LOGOUT                        log out",
    "INFO [account]                your account (IRC operators: any)",
    "GHOST <nick>                  disconnect someone on one of your nicks",
    "REGAIN <nick>                 take one of your nicks back",
    "GROUP                         add your current nick to your account",
    "UNGROUP [nick]                remove a nick from your account",
    "CERT ADD [fingerprint]        log in with this TLS client certificate (SASL EXTERNAL)",
    "CERT DEL <fingerprint>, CERT LIST",
    "SET PASSWORD <new password>   change your password",
]


def _tell(state: ServerState, user: User, text: str) -> None:
    notice(state, user, NICKSERV, text)


def handle(state: ServerState, user: User, text: str) -> None:
    serve(state, user, NICKSERV, _COMMANDS, text)


def _help(state: ServerState, user: User, args: list[str]) -> None:
    tell_all(state, user, NICKSERV, HELP)


def _mine(state: ServerState, user: User) -> Account | None:
    """The account the user is logged in to; or None, told to identify first."""
    account = state.accounts.get(user.account) if user.account else None
    if account is None:
        _tell(state, user, "You are not logged in (/msg NickServ IDENTIFY <password>)")
    return account


def _register(state: ServerState, user: User, args: list[str]) -> None:
    if not args:
        _tell(state, user, "Usage: REGISTER <password> [email]")
        return
    email = args[1] if len(args) > 1 else None
    auth.begin_register(state, user, user.nick, email, args[0], "nickserv")


def _identify(state: ServerState, user: User, args: list[str]) -> None:
    if not args:
        _tell(state, user, "Usage: IDENTIFY [account] <password>")
        return
    if user.account is not None:
        _tell(state, user, f"You are already logged in as {user.account}")
        return
    name, password = (args[0], " ".join(args[1:])) if len(args) > 1 else (user.nick, args[0])
    auth.begin_password_check(state, user, name, password, "identify")


def _logout(state: ServerState, user: User, args: list[str]) -> None:
    if user.account is None:
        _tell(state, user, "You are not logged in")
        return
    auth.logout(state, user)
    _tell(state, user, "You are logged out")


def _info(state: ServerState, user: User, args: list[str]) -> None:
    if args and not user.oper and not (user.account and fold(args[0]) == fold(user.account)):
        _tell(state, user, "INFO shows your own account (IRC operators: any)")
        return
    account = state.accounts.get(args[0]) if args else _mine(state, user)
    if account is None:
        if args:
            _tell(state, user, f"No such account {args[0][:32]}")
        return
    when = datetime.datetime.fromtimestamp(account.created, datetime.UTC)
    nicks = ", ".join(sorted(account.nicks.values()))
    _tell(state, user, f"Account {account.name}, registered {when:%Y-%m-%d %H:%M} UTC")
    _tell(state, user, f"Nicks: {nicks}")
    _tell(state, user, f"Email: {account.email or '(none)'} (never verified)")
    _tell(state, user, f"Client certificates: {len(account.certs)}")


def _holder(state: ServerState, nick: str) -> User | None:
    """Whoever holds `nick`, registered or not."""
    return state.users.get(fold(nick))


def _owned_target(state: ServerState, user: User, args: list[str], verb: str) -> User | None:
    account = _mine(state, user)
    if account is None:
        return None
    if not args:
        _tell(state, user, f"Usage: {verb} <nick>")
        return None
    nick = args[0]
    if state.accounts.owner_of_nick(nick) is not account:
        _tell(state, user, f"{nick[:32]} is not one of your nicks")
        return None
    target = _holder(state, nick)
    if target is None:
        _tell(state, user, f"Nobody is using {nick[:32]}")
    elif target is user:
        _tell(state, user, "That is you")
        return None
    return target


def _ghost(state: ServerState, user: User, args: list[str]) -> None:
    target = _owned_target(state, user, args, "GHOST")
    if target is None:
        return
    nick = target.nick
    state.disconnect(target, f"Killed ({NICKSERV} (GHOST command used by {user.nick}))")
    _tell(state, user, f"{nick} is disconnected")


def _regain(state: ServerState, user: User, args: list[str]) -> None:
    account = _mine(state, user)
    if account is None:
        return
    if not args:
        _tell(state, user, "Usage: REGAIN <nick>")
        return
    nick = args[0]
    if state.accounts.owner_of_nick(nick) is not account:
        _tell(state, user, f"{nick[:32]} is not one of your nicks")
        return
    target = _holder(state, nick)
    if target is user:
        _tell(state, user, "That is you")
        return
    if target is not None:
        if target.registered and not (
            target.account is not None and fold(target.account) == account.key
        ):
            notice(state, target, NICKSERV, f"{target.nick} was taken back by its owner")
            registration.change_nick(state, target, auth.guest_nick(state))
        else:  # another connection of the same account, or one that never registered
            state.disconnect(target, f"Killed ({NICKSERV} (REGAIN command used by {user.nick}))")
    registration.change_nick(state, user, nick)


def _group(state: ServerState, user: User, args: list[str]) -> None:
    account = _mine(state, user)
    if account is None:
        return
    owner = state.accounts.owner_of_nick(user.nick)
    if owner is account:
        _tell(state, user, f"{user.nick} is already yours")
        return
    if owner is not None:
        _tell(state, user, f"{user.nick} belongs to another account")
        return
    if len(account.nicks) >= state.config.account_max_nicks:
        _tell(state, user, f"An account may hold {state.config.account_max_nicks} nicks")
        return
    state.accounts.group(account, user.nick)
    state.store.save_account(account.record())
    _tell(state, user, f"{user.nick} is now a nick of {account.name}")


def _ungroup(state: ServerState, user: User, args: list[str]) -> None:
    account = _mine(state, user)
    if account is None:
        return
    nick = args[0] if args else user.nick
    if state.accounts.owner_of_nick(nick) is not account:
        _tell(state, user, f"{nick[:32]} is not one of your nicks")
        return
    if fold(nick) == account.key:
        _tell(state, user, "An account keeps its own name")
        return
    state.accounts.ungroup(account, nick)
    state.store.save_account(account.record())
    _tell(state, user, f"{nick} is no longer a nick of {account.name}")


def _cert(state: ServerState, user: User, args: list[str]) -> None:
    account = _mine(state, user)
    if account is None:
        return
    sub = args[0].upper() if args else "LIST"
    if sub == "LIST":
        for cert in sorted(account.certs):
            _tell(state, user, f"Certificate {cert}")
        _tell(state, user, f"{len(account.certs)} client certificates")
        return
    if sub not in ("ADD", "DEL"):
        _tell(state, user, "Usage: CERT ADD [fingerprint] | CERT DEL <fingerprint> | CERT LIST")
        return
    given = args[1] if len(args) > 1 else (user.certfp if sub == "ADD" else None)
    if given is None:
        _tell(state, user, "Connect with a TLS client certificate, or give its SHA-256 fingerprint")
        return
    fingerprint = normalise_fingerprint(given)
    if fingerprint is None:
        _tell(state, user, "A fingerprint is the certificate's SHA-256 in hex (64 digits)")
        return
    accounts = state.accounts
    if sub == "ADD":
        owner = accounts.cert_owner.get(fingerprint)
        if owner is account:
            _tell(state, user, "That certificate is already yours")
            return
        if owner is not None:
            _tell(state, user, "That certificate belongs to another account")
            return
        if len(account.certs) >= ACCOUNT_MAX_CERTS:
            _tell(state, user, f"An account may hold {ACCOUNT_MAX_CERTS} certificates")
            return
        accounts.add_cert(account, fingerprint)
        _tell(state, user, f"Certificate {fingerprint} added: SASL EXTERNAL logs you in with it")
    else:
        if fingerprint not in account.certs:
            _tell(state, user, "That certificate is not yours")
            return
        accounts.remove_cert(account, fingerprint)
        _tell(state, user, f"Certificate {fingerprint} removed")
    state.store.save_account(account.record())


def _set(state: ServerState, user: User, args: list[str]) -> None:
    if len(args) < 2 or args[0].upper() != "PASSWORD":
        _tell(state, user, "Usage: SET PASSWORD <new password>")
        return
    account = _mine(state, user)
    if account is not None:
        auth.begin_password_change(state, user, account, " ".join(args[1:]))


_COMMANDS: dict[str, Handler] = {
    "HELP": _help,
    "REGISTER": _register,
    "IDENTIFY": _identify,
    "ID": _identify,
    "LOGIN": _identify,
    "LOGOUT": _logout,
    "INFO": _info,
    "GHOST": _ghost,
    "REGAIN": _regain,
    "RECOVER": _regain,
    "GROUP": _group,
    "UNGROUP": _ungroup,
    "CERT": _cert,
    "SET": _set,
}


def secret_args(verb: str, args: list[str]) -> range | None:
    """Which words after the verb of a NickServ command line are a password, or None: what a
    cluster's log leaves out (server/hidden.py). The handlers do only local work with them."""
    handler = _COMMANDS.get(verb)
    if handler is _identify:
        return range(1, len(args)) if len(args) > 1 else range(len(args)) or None
    if handler is _register:
        return range(1) if args else None  # the email address after it stays
    if handler is _set:
        has_password = len(args) > 1 and args[0].upper() == "PASSWORD"
        return range(1, len(args)) if has_password else None
    if handler in (_ghost, _regain):  # some clients add the password after the nick
        return range(1, len(args)) if len(args) > 1 else None
    return None
