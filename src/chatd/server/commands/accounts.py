"""Accounts on the wire: SASL (`AUTHENTICATE`), account registration (`REGISTER`, IRCv3
draft/account-registration), logging in and out, and the protection of registered nicks.
NickServ and ChanServ (`services/`) build on what is here.

How this keeps the state deterministic (docs/architecture.md, "Work that is not
deterministic"): a SASL conversation (the mechanism, partial responses, the SCRAM nonce) lives
only on the node the client is connected to, in `User.sasl`; a replica of the user ignores
`AUTHENTICATE`. Slow or random work goes out through `state.defer` (a password check, a nonce,
new credentials) and comes back through `RESUMERS`:

- `sasl-nonce`, `auth-checked` are *local* results: the node that asked uses them to carry its
  conversation on (on a replica they do nothing);
- `login` is the *outcome* (account A logged in, or a failed attempt for name N), and
  `account-created` / `password-changed` carry new credentials as plain data: these change the
  replicated state, the same way on every node;
- `nick-protect` is the grace-period timer of a registered nick (`state.later`).

Password checks are bounded (`auth_max_pending` at once on this node, one per connection) and
paced (`auth_max_failures` per connection, a per-name back-off in `accounts.Throttle`); a name
that is not an account is checked against decoy credentials at the same cost.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from typing import TYPE_CHECKING, Any

from ...limits import GUEST_PREFIX
from ...proto import numerics as N
from ...proto.caps import ACCOUNT_NOTIFY, SASL_MECHANISMS
from ...proto.casemap import fold, valid_nick
from ...proto.message import Message
from .. import isupport, sasl, services
from ..accounts import (
    Account,
    Pending,
    account_name_problem,
    email_problem,
    password_problem,
)
from ..sasl import Credentials, SaslError, TooLong
from ..services import chanserv
from . import monitor, readmarker, registration

if TYPE_CHECKING:
    from ..config import Config
    from ..state import ServerState
    from ..user import User

log = logging.getLogger("chatd")

REGISTRATION_CAP = "draft/account-registration"


def offered_caps(config: Config) -> dict[str, str]:
    """The capabilities to advertise: account registration only when the policy allows it
    from IRC at all (and `before-connect` only when anyone may register)."""
    caps = isupport.cap_values(config)  # every capability with its value
    if config.account_registration == "open":
        return caps
    if config.account_registration == "closed":
        del caps[REGISTRATION_CAP]
    else:
        caps[REGISTRATION_CAP] = "custom-account-name"
    return caps


# -- the SASL conversation (local to the user's node) ---------------------------------------------

_session_ids = itertools.count(1)


class SaslSession:
    """One SASL exchange of one connection; never replicated, never stored."""

    __slots__ = ("id", "mechanism", "pieces", "stage", "scram", "name", "account", "creds")

    def __init__(self, mechanism: str) -> None:
        self.id = next(_session_ids)
        self.mechanism = mechanism
        self.pieces = sasl.Reassembly()
        # "response": waiting for the client's (first) response; SCRAM then goes through
        # "nonce" (a nonce is being made), "final" and "ack"; "checking": a password check
        self.stage = "response"
        self.scram = sasl.ScramExchange() if mechanism == sasl.SCRAM else None
        self.name = ""  # the account name asked for
        self.account: str | None = None  # SCRAM: the account, if the name is one
        self.creds: Credentials | None = None


def _session(user: User) -> SaslSession | None:
    session = user.sasl
    return session if isinstance(session, SaslSession) else None


def _sasl_fail(state: ServerState, user: User, why: str = "") -> None:
    text = "SASL authentication failed" + (f": {why}" if why else "")
    state.reply(user, N.ERR_SASLFAIL, text)


def handle_authenticate(state: ServerState, user: User, msg: Message) -> None:
    if not user.local:
        return  # the conversation belongs to the user's own node; its outcome comes as a resume
    arg = msg.params[0]
    session = _session(user)
    if "sasl" not in user.caps:
        _sasl_fail(state, user, "request the sasl capability first")
        return
    if arg == "*":
        user.sasl = None
        state.reply(user, N.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if session is None:
        _start(state, user, arg)
        return
    if session.stage in ("checking", "nonce"):
        user.sasl = None  # the client spoke out of turn while the server was working
        _sasl_fail(state, user, "unexpected response")
        return
    try:
        data = session.pieces.add(arg)
    except TooLong:
        user.sasl = None
        state.reply(user, N.ERR_SASLTOOLONG, "SASL message too long")
        return
    except SaslError as exc:
        user.sasl = None
        _sasl_fail(state, user, str(exc))
        return
    if data is not None:
        _step(state, user, session, data)


def _start(state: ServerState, user: User, mechanism: str) -> None:
    if user.account is not None:
        state.reply(user, N.ERR_SASLALREADY, "You have already authenticated using SASL")
        return
    mech = mechanism.upper()
    if mech not in SASL_MECHANISMS:
        state.reply(
            user, N.RPL_SASLMECHS, ",".join(SASL_MECHANISMS), "are available SASL mechanisms"
        )
        _sasl_fail(state, user, "unknown mechanism")
        return
    if user.auth_failures >= state.config.auth_max_failures:
        _sasl_fail(state, user, "too many failed attempts on this connection")
        return
    if user.auth_busy:
        _sasl_fail(state, user, "a login is already being checked")
        return
    if mech == sasl.EXTERNAL and user.certfp is None:
        _sasl_fail(state, user, "EXTERNAL needs a TLS client certificate")
        return
    user.sasl = SaslSession(mech)
    state.send(user, Message("AUTHENTICATE", ["+"]))


def _step(state: ServerState, user: User, session: SaslSession, data: bytes) -> None:
    """A complete client response."""
    try:
        if session.mechanism == sasl.PLAIN:
            authzid, authcid, password = sasl.parse_plain(data)
            if authzid and fold(authzid) != fold(authcid):
                raise SaslError("the authorization identity must be the account itself")
            session.stage = "checking"
            if not begin_password_check(state, user, authcid, password, "sasl", session.id):
                user.sasl = None
        elif session.mechanism == sasl.EXTERNAL:
            authzid = sasl.parse_external(data)
            user.sasl = None
            owner = state.accounts.cert_owner.get(user.certfp or "")
            ok = owner is not None and (not authzid or fold(authzid) == owner.key)
            name = owner.name if owner is not None and ok else (authzid or "*")
            _outcome(state, user, ok, name, "sasl", sasl.EXTERNAL, counts=False)
        else:
            _scram_step(state, user, session, data)
    except SaslError as exc:
        user.sasl = None
        _sasl_fail(state, user, str(exc))


def _scram_step(state: ServerState, user: User, session: SaslSession, data: bytes) -> None:
    scram = session.scram
    assert scram is not None
    if session.stage == "response":  # client-first-message
        name = scram.first(data)
        if not _may_try(state, user, name, "sasl"):
            user.sasl = None
            return
        account = _lookup(state, name)
        session.name = name
        session.account = account.name if account is not None else None
        session.creds = _credentials(state, name, account)
        session.stage = "nonce"
        state.defer(user, "sasl-nonce", functools.partial(_nonce_job, session.id))
    elif session.stage == "final":  # client-final-message: the proof
        verifier = scram.final(data)
        if verifier is None or session.account is None:
            user.sasl = None
            _outcome(state, user, False, session.name, "sasl", sasl.SCRAM)
            return
        session.stage = "ack"
        _challenge(state, user, verifier)
    else:  # "ack": the client's empty answer to the server signature
        user.sasl = None
        if data:
            raise SaslError("expected an empty response")
        _outcome(state, user, True, session.account or "*", "sasl", sasl.SCRAM)


def _nonce_job(session_id: int) -> dict[str, Any]:
    return {"session": session_id, "nonce": sasl.make_nonce()}


def _resume_nonce(state: ServerState, user: User, value: Any) -> None:
    session = _session(user)
    if not user.local or session is None or not isinstance(value, dict):
        return
    if session.id != value.get("session") or session.stage != "nonce":
        return  # aborted, or a new exchange began meanwhile
    assert session.scram is not None and session.creds is not None
    first = session.scram.challenge(session.creds, str(value["nonce"]))
    session.stage = "final"
    _challenge(state, user, first)


def _challenge(state: ServerState, user: User, data: bytes) -> None:
    for piece in sasl.chunks(data):
        state.send(user, Message("AUTHENTICATE", [piece]))


# -- password checks (SASL PLAIN and NickServ IDENTIFY) -------------------------------------------


def _lookup(state: ServerState, name: str) -> Account | None:
    return state.accounts.get(name) if valid_nick(name, state.config.nicklen) else None


def _credentials(state: ServerState, name: str, account: Account | None) -> Credentials:
    if account is not None:
        return account.credentials
    return sasl.decoy_credentials(state.secret, fold(name), state.config.scram_iterations)


def _refuse(state: ServerState, user: User, via: str, text: str, locked: bool = False) -> None:
    if via == "sasl":
        state.reply(user, N.ERR_NICKLOCKED if locked else N.ERR_SASLFAIL, text)
    else:
        services.notice(state, user, services.NICKSERV, text)


def _may_try(state: ServerState, user: User, name: str, via: str) -> bool:
    """Whether a login to `name` may be attempted now (the per-name back-off)."""
    wait = state.accounts.throttle.wait(fold(name), state.now)
    if wait <= 0:
        return True
    text = f"Too many failed logins to {name[:32]}; try again in {math.ceil(wait)} seconds"
    _refuse(state, user, via, text, locked=True)
    return False


def begin_password_check(
    state: ServerState, user: User, name: str, password: str, via: str, session_id: int = 0
) -> bool:
    """Check `password` for account `name` off the loop; the result comes back as
    `auth-checked`. False (with a reply) if the check cannot start now."""
    if not user.local or user.gone:
        return False
    cfg = state.config
    if user.auth_failures >= cfg.auth_max_failures:
        _refuse(state, user, via, "Too many failed attempts on this connection")
        return False
    if not _may_try(state, user, name, via):
        return False
    if user.auth_busy or not state.auth_pending.take(cfg.auth_max_pending):
        _refuse(state, user, via, "The server is busy checking passwords; try again shortly")
        return False
    account = _lookup(state, name)
    result = {
        "session": session_id,
        "via": via,
        "name": account.name if account is not None else name[:64],
        "known": account is not None,
    }
    user.auth_busy = True
    job = functools.partial(
        _check_job, state.auth_pending, _credentials(state, name, account), password, result
    )
    state.defer(user, "auth-checked", job)
    return True


def _check_job(
    pending: Pending, creds: Credentials, password: str, result: dict[str, Any]
) -> dict[str, Any]:
    """On a worker thread: one PBKDF2 (the decoy's for an unknown name: the same cost)."""
    try:
        matched = sasl.verify_password(creds, password)
    finally:
        pending.give_back()
    return {**result, "ok": matched and bool(result["known"])}


def _resume_checked(state: ServerState, user: User, value: Any) -> None:
    if not user.local:
        return
    user.auth_busy = False
    if not isinstance(value, dict):  # the job failed (logged by the core)
        if user.sasl is not None:
            user.sasl = None
            _sasl_fail(state, user)
        return
    via = value["via"]
    if via == "sasl":
        session = _session(user)
        if session is None or session.id != value["session"]:
            return  # aborted (906 was sent), or registration ended the exchange
        user.sasl = None
    mechanism = sasl.PLAIN if via == "sasl" else "IDENTIFY"
    _outcome(state, user, bool(value["ok"]), str(value["name"]), via, mechanism)


def _outcome(
    state: ServerState,
    user: User,
    ok: bool,
    name: str,
    via: str,
    mechanism: str,
    counts: bool = True,
) -> None:
    """Hand the outcome of a login to the state as an input of its own (`login`)."""
    value = {"ok": ok, "account": name, "via": via, "mechanism": mechanism, "counts": counts}
    state.later(user, state.now, "login", value)


def _resume_login(state: ServerState, user: User, value: Any) -> None:
    """The outcome of a login (deterministic: the same on every node)."""
    via, name, mechanism = value["via"], value["account"], value["mechanism"]
    account = state.accounts.get(name) if value["ok"] else None
    if account is None:
        _login_failed(state, user, name, via, mechanism, bool(value.get("counts", True)))
        return
    if user.account is not None:
        if via == "sasl":
            state.reply(user, N.ERR_SASLALREADY, "You have already authenticated using SASL")
        else:
            services.notice(
                state, user, services.NICKSERV, f"You are already logged in as {user.account}"
            )
        return
    state.accounts.throttle.succeeded(account.key)
    log.info("login %s as %s (%s)", user.prefix, account.name, mechanism)
    login(state, user, account)
    if via == "sasl":
        state.reply(user, N.RPL_SASLSUCCESS, "SASL authentication successful")
    else:
        services.notice(state, user, services.NICKSERV, f"You are now identified as {account.name}")


def _login_failed(
    state: ServerState, user: User, name: str, via: str, mechanism: str, counts: bool
) -> None:
    user.auth_failures += 1
    log.warning("failed %s login as %r by %s", mechanism, name[:32], user.prefix)
    if counts and valid_nick(name, state.config.nicklen):  # only names that could be accounts
        throttle = state.accounts.throttle
        failures = throttle.failed(fold(name), state.now)
        if failures == throttle.burst:
            log.warning(
                "login throttle: %d failed logins to %r; attempts are now paced",
                failures,
                name[:32],
            )
    if via == "sasl":
        _sasl_fail(state, user, "invalid credentials")
    else:
        services.notice(state, user, services.NICKSERV, "Invalid account or password")


# -- logged in, logged out ------------------------------------------------------------------------


def login(state: ServerState, user: User, account: Account) -> None:
    """`user` is now logged in to `account`: 900, mode +r, account-notify, auto-modes."""
    user.account = account.name
    state.accounts.signed_in(user, account.key)
    state.reply(
        user, N.RPL_LOGGEDIN, user.prefix, account.name, f"You are now logged in as {account.name}"
    )
    _mode_r(state, user, "+")
    _announce_account(state, user, account.name)
    readmarker.owner_changed(state, user)
    if user.registered:
        for channel in sorted(user.channels, key=lambda c: c.key):
            chanserv.auto_modes(state, user, channel)


def logout(state: ServerState, user: User) -> None:
    if user.account is None:
        return
    state.accounts.signed_out(user, fold(user.account))
    user.account = None
    state.reply(user, N.RPL_LOGGEDOUT, user.prefix, "You are now logged out")
    _mode_r(state, user, "-")
    _announce_account(state, user, "*")
    readmarker.owner_changed(state, user)
    protect_nick(state, user)


def _mode_r(state: ServerState, user: User, sign: str) -> None:
    if sign == "+":
        user.modes += "r"
    else:
        user.modes = user.modes.replace("r", "")
    if user.registered:
        state.send(user, Message("MODE", [user.nick, sign + "r"], state.name))


def _announce_account(state: ServerState, user: User, name: str) -> None:
    """account-notify: `ACCOUNT name` (or `*`) to those sharing a channel, to the user, and
    (extended-monitor) to those who monitor it."""
    if not user.registered:
        return  # at registration, watchers learn the account after the 730 (commands/monitor)
    watchers = [u for u in user.neighbours() if ACCOUNT_NOTIFY in u.caps]
    if ACCOUNT_NOTIFY in user.caps:
        watchers.append(user)
    if not watchers and not monitor.watchers_of(state, user.nick):
        return
    event = state.delivery.event(Message("ACCOUNT", [name], user.prefix))
    state.delivery.to_users(watchers, event)
    monitor.notify_change(state, user, event, ACCOUNT_NOTIFY)


# -- registered nicks -----------------------------------------------------------------------------


def owns_nick(state: ServerState, user: User, nick: str) -> bool:
    """Whether `user` may keep `nick`: it is nobody's, or the user's own account's."""
    owner = state.accounts.owner_of_nick(nick)
    return owner is None or (user.account is not None and fold(user.account) == owner.key)


def protect_nick(state: ServerState, user: User) -> None:
    """After registration, a nick change or a logout: someone on a registered nick who is not
    logged in to its account is told to identify, and renamed after `nick_grace` seconds."""
    if not user.registered or owns_nick(state, user, user.nick):
        return
    grace = state.config.nick_grace
    user.nick_serial += 1
    services.notice(
        state,
        user,
        services.NICKSERV,
        f"{user.nick} is a registered nick. Identify with /msg NickServ IDENTIFY <password> "
        f"(or log in with SASL) within {grace:g} seconds, or your nick will be changed.",
    )
    state.later(user, state.now + grace, "nick-protect", [user.key, user.nick_serial])


def _resume_protect(state: ServerState, user: User, value: Any) -> None:
    key, serial = value
    if not user.registered or user.key != key or user.nick_serial != serial:
        return  # the user moved on (or came back later: that visit has its own timer)
    if owns_nick(state, user, user.nick):
        return  # identified meanwhile
    old = user.nick
    guest = guest_nick(state)
    services.notice(
        state, user, services.NICKSERV, f"You did not identify for {old}: your nick is now {guest}"
    )
    log.info("nick protection: %s renamed to %s", user.prefix, guest)
    registration.change_nick(state, user, guest)


def guest_nick(state: ServerState) -> str:
    """A free Guest<N> nick (deterministic: a counter in the state)."""
    while True:
        state.guest_serial += 1
        nick = f"{GUEST_PREFIX}{state.guest_serial}"[: state.config.nicklen]
        if fold(nick) not in state.users and state.accounts.owner_of_nick(nick) is None:
            return nick


# -- account registration -------------------------------------------------------------------------


def begin_register(
    state: ServerState, user: User, name: str, email: str | None, password: str, via: str
) -> None:
    """Register account `name` for `user` (`via` "register" for the REGISTER command,
    "nickserv" for NickServ REGISTER): checks here, credentials made off the loop, the account
    created by `account-created`."""
    cfg = state.config
    shown = name[:64] if name else "*"

    def fail(code: str, text: str) -> None:
        register_reply(state, user, via, code, shown, text)

    if cfg.account_registration == "closed" or (
        cfg.account_registration == "opers" and not user.oper
    ):
        fail(
            "TEMPORARILY_UNAVAILABLE",
            "Accounts are made by the server's operators here"
            if cfg.account_registration == "opers"
            else "Accounts are made on the server's command line here",
        )
        return
    if user.account is not None:
        fail("ALREADY_AUTHENTICATED", f"You are already logged in as {user.account}")
        return
    problem = account_name_problem(name, cfg.nicklen)
    if problem is not None:
        fail("BAD_ACCOUNT_NAME", problem)
        return
    holder = state.users.get(fold(name))
    if state.accounts.owner_of_nick(name) is not None:
        fail("ACCOUNT_EXISTS", f"{name} is already registered")
        return
    if holder is not None and holder is not user:
        fail("BAD_ACCOUNT_NAME", f"{name} is someone else's nick just now")
        return
    if email is not None and email_problem(email):
        fail("INVALID_EMAIL", email_problem(email) or "")
        return
    problem = password_problem(password, cfg.account_password_min)
    if problem is not None:
        weak = len(password) < cfg.account_password_min
        fail("WEAK_PASSWORD" if weak else "UNACCEPTABLE_PASSWORD", problem)
        return
    if not user.local:
        return  # the user's own node makes the credentials
    if user.auth_busy or not state.auth_pending.take(cfg.auth_max_pending):
        fail("TEMPORARILY_UNAVAILABLE", "The server is busy; try again shortly")
        return
    user.auth_busy = True
    result = {"name": name, "email": email, "via": via}
    job = functools.partial(
        _credentials_job, state.auth_pending, password, cfg.scram_iterations, result
    )
    state.defer(user, "account-created", job)


def _credentials_job(
    pending: Pending, password: str, iterations: int, result: dict[str, Any]
) -> dict[str, Any]:
    """On a worker thread: the salt and PBKDF2 of new credentials, as plain data."""
    try:
        creds = sasl.make_credentials(password, iterations)
    finally:
        pending.give_back()
    return {**result, "credentials": sasl.credentials_data(creds)}


def register_reply(
    state: ServerState, user: User, via: str, code: str, name: str, text: str
) -> None:
    """A REGISTER answer: `REGISTER SUCCESS` / `FAIL REGISTER <code>`, or a NickServ notice."""
    if via == "nickserv":
        services.notice(state, user, services.NICKSERV, text)
    elif code == "SUCCESS":
        state.send(user, Message("REGISTER", ["SUCCESS", name, text], state.name))
    else:
        state.send(user, Message("FAIL", ["REGISTER", code, name, text], state.name))


def _resume_created(state: ServerState, user: User, value: Any) -> None:
    if user.local:
        user.auth_busy = False
    if not isinstance(value, dict) or "credentials" not in value:
        return  # the job failed (logged by the core)
    name, via = str(value["name"]), str(value["via"])
    if state.accounts.owner_of_nick(name) is not None:
        register_reply(state, user, via, "ACCOUNT_EXISTS", name, f"{name} is already registered")
        return
    if user.account is not None:
        register_reply(state, user, via, "ALREADY_AUTHENTICATED", name, "Already logged in")
        return
    creds = sasl.credentials_from(value["credentials"])
    account = Account(name, fold(name), int(state.wall), creds, value.get("email"))
    account.nicks[account.key] = name
    state.accounts.add(account)
    state.store.save_account(account.record())
    log.info("account %s registered by %s", name, user.prefix)
    register_reply(state, user, via, "SUCCESS", name, f"Account {name} registered")
    login(state, user, account)


def handle_register(state: ServerState, user: User, msg: Message) -> None:
    """REGISTER <account> <email|*> <password> (draft/account-registration)."""
    params = msg.params
    if len(params) < 3:
        register_reply(
            state,
            user,
            "register",
            "NEED_MORE_PARAMS",
            "*",
            "REGISTER <account> <email|*> <password>",
        )
        return
    name, email, password = params[0], params[1], params[2]
    if name == "*":
        if user.nick == "*":
            register_reply(state, user, "register", "NEED_NICK", "*", "Send NICK first")
            return
        name = user.nick
    needs_pass = state.config.password is not None and not user.registered
    if needs_pass and not registration.pass_ok(state, user):
        register_reply(
            state, user, "register", "TEMPORARILY_UNAVAILABLE", name, "Send the server's PASS first"
        )
        return
    begin_register(state, user, name, None if email == "*" else email, password, "register")


# -- password changes -----------------------------------------------------------------------------


def begin_password_change(state: ServerState, user: User, account: Account, password: str) -> None:
    cfg = state.config
    problem = password_problem(password, cfg.account_password_min)
    if problem is not None:
        services.notice(state, user, services.NICKSERV, problem)
        return
    if not user.local:
        return
    if user.auth_busy or not state.auth_pending.take(cfg.auth_max_pending):
        services.notice(state, user, services.NICKSERV, "The server is busy; try again shortly")
        return
    user.auth_busy = True
    job = functools.partial(
        _credentials_job,
        state.auth_pending,
        password,
        cfg.scram_iterations,
        {"account": account.key},
    )
    state.defer(user, "password-changed", job)


def _resume_password(state: ServerState, user: User, value: Any) -> None:
    if user.local:
        user.auth_busy = False
    if not isinstance(value, dict) or "credentials" not in value:
        return
    account = state.accounts.by_key.get(str(value["account"]))
    if account is None or user.account is None or fold(user.account) != account.key:
        return
    account.credentials = sasl.credentials_from(value["credentials"])
    state.store.save_account(account.record())
    log.info("account %s: password changed by %s", account.name, user.prefix)
    services.notice(state, user, services.NICKSERV, "Your password is changed")


# -- registration hooks ---------------------------------------------------------------------------


def registration_ending(state: ServerState, user: User) -> None:
    """CAP END: a SASL exchange still going is aborted (IRCv3 sasl-3.1)."""
    if user.sasl is not None:
        user.sasl = None
        state.reply(user, N.ERR_SASLABORTED, "SASL authentication aborted")


# What comes back into the state for accounts (dispatch.RESUMERS holds these).
RESUMES = {
    "sasl-nonce": _resume_nonce,
    "auth-checked": _resume_checked,
    "login": _resume_login,
    "nick-protect": _resume_protect,
    "account-created": _resume_created,
    "password-changed": _resume_password,
}
