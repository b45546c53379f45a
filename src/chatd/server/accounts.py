"""Accounts as the chat state holds them: who is registered, with which credentials, nicks and
certificate fingerprints, and how many logins to each name failed lately.

Sans-IO and deterministic: the registry changes only while the state handles an input (a
client line, or a resume carrying a plain-data result such as new credentials). It is loaded
from the store at start-up and each change is queued to the store, which commits it before the
client can see the answer (`ServerState.settle`). Names are compared casefolded (rfc1459), as
nicks and channels are; an account name is a nick, and service names are reserved.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..limits import AUTH_THROTTLE_MAX
from ..proto.casemap import fold, valid_nick
from ..store.accounts import AccountRecord
from .sasl import PASSWORD_MAX, Credentials, SaslError, saslprep

if TYPE_CHECKING:
    from .user import User

log = logging.getLogger("chatd")

# Nicks nobody may take or register: the services and the names clients expect them under.
SERVICES = ("NickServ", "ChanServ")
RESERVED = frozenset(
    fold(name)
    for name in (*SERVICES, "NS", "CS", "Services", "OperServ", "MemoServ", "HostServ", "BotServ")
)

EMAIL_MAX = 254
REGISTRATION_POLICIES = ("open", "opers", "closed")


def is_reserved(nick: str) -> bool:
    return fold(nick) in RESERVED


def account_name_problem(name: str, nicklen: int) -> str | None:
    """Why `name` cannot be an account name, or None: the nick syntax, not a service."""
    if not valid_nick(name, nicklen):
        return "Account names follow the nick rules (letters, digits, -[]\\`_^{|})"
    if is_reserved(name):
        return "That name is reserved for services"
    return None


def email_problem(email: str) -> str | None:
    """A light check: stored as given, never verified by mail (docs/protocol.md)."""
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > EMAIL_MAX:
        return "That does not look like an email address"
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        return "That does not look like an email address"
    return None


def password_problem(password: str, minimum: int) -> str | None:
    if len(password) < minimum:
        return f"Passwords need at least {minimum} characters"
    if len(password.encode()) > PASSWORD_MAX:
        return f"Passwords may have at most {PASSWORD_MAX} bytes"
    try:
        saslprep(password)
    except SaslError as exc:
        return f"That password cannot be used with SASL ({exc})"
    return None


@dataclass(slots=True, eq=False)
class Account:
    name: str  # as registered
    key: str  # casefolded
    created: int  # wall-clock seconds
    credentials: Credentials
    email: str | None = None
    nicks: dict[str, str] = field(default_factory=dict)  # folded nick -> as grouped (name too)
    certs: set[str] = field(default_factory=set)  # lower-case hex SHA-256 fingerprints

    def record(self) -> AccountRecord:
        c = self.credentials
        return AccountRecord(
            self.key,
            self.name,
            self.created,
            self.email,
            c.salt,
            c.iterations,
            c.stored_key,
            c.server_key,
            sorted(self.nicks.items()),
            sorted(self.certs),
        )

    @classmethod
    def from_record(cls, r: AccountRecord) -> Account:
        creds = Credentials(r.salt, r.iterations, r.stored_key, r.server_key)
        account = cls(r.name, r.key, r.created, creds, r.email, dict(r.nicks), set(r.certs))
        account.nicks.setdefault(r.key, r.name)
        return account


class Throttle:
    """Failed logins per account name (existing or not, so that throttling tells nothing about
    which names exist): `burst` failures are free, then each attempt must wait 1, 2, 4... s
    after the last failure, up to `ceiling`. A success forgets the name. Bounded: past
    AUTH_THROTTLE_MAX names, the oldest entries go first."""

    def __init__(self, burst: int, ceiling: float) -> None:
        self.burst = burst
        self.ceiling = ceiling
        self._failed: dict[str, tuple[int, float]] = {}  # key -> (failures, last failure)

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may be tried again (0: now)."""
        entry = self._failed.get(key)
        if entry is None or entry[0] < self.burst:
            return 0.0
        ready = entry[1] + self._delay(entry[0])
        return max(0.0, ready - now)

    def _delay(self, failures: int) -> float:
        return float(min(self.ceiling, 2.0 ** max(0, failures - self.burst)))

    def failed(self, key: str, now: float) -> int:
        """Count a failure; returns the failures counted for `key`."""
        entries = self._failed
        entry = entries.pop(key, None)
        count = 1 if entry is None or now - entry[1] > self.ceiling * 2 else entry[0] + 1
        if len(entries) >= AUTH_THROTTLE_MAX:
            self.prune(now)
            while len(entries) >= AUTH_THROTTLE_MAX:
                del entries[next(iter(entries))]
        entries[key] = (count, now)  # re-inserted last: the dict stays oldest-first
        return count

    def succeeded(self, key: str) -> None:
        self._failed.pop(key, None)

    def prune(self, now: float) -> None:
        """Forget names whose last failure is long past (their back-off has run out)."""
        horizon = self.ceiling * 2
        for key in [k for k, (_, last) in self._failed.items() if now - last > horizon]:
            del self._failed[key]

    def __len__(self) -> int:
        return len(self._failed)


class Accounts:
    """The registry: accounts by name, and who owns each registered nick and certificate."""

    def __init__(self, burst: int = 5, ceiling: float = 300.0) -> None:
        self.by_key: dict[str, Account] = {}
        self.nick_owner: dict[str, Account] = {}  # folded nick -> account
        self.cert_owner: dict[str, Account] = {}  # fingerprint -> account
        self.throttle = Throttle(burst, ceiling)
        self.logged_in = 0  # users logged in (the account tag is looked up only if any are)
        # account key -> the connections logged in to it, in the order they logged in
        self.sessions: dict[str, dict[User, None]] = {}

    def load(self, records: list[AccountRecord]) -> None:
        self.by_key.clear()
        self.nick_owner.clear()
        self.cert_owner.clear()
        for record in records:
            self.add(Account.from_record(record))

    def signed_in(self, user: User, key: str) -> None:
        self.logged_in += 1
        self.sessions.setdefault(key, {})[user] = None

    def signed_out(self, user: User, key: str) -> None:
        self.logged_in -= 1
        sessions = self.sessions.get(key)
        if sessions is not None:
            sessions.pop(user, None)
            if not sessions:
                del self.sessions[key]

    def sessions_of(self, key: str) -> list[User]:
        """The connections logged in to the account `key` (casefolded)."""
        return list(self.sessions.get(key, ()))

    def get(self, name: str) -> Account | None:
        return self.by_key.get(fold(name))

    def owner_of_nick(self, nick: str) -> Account | None:
        return self.nick_owner.get(fold(nick))

    def add(self, account: Account) -> None:
        self.by_key[account.key] = account
        for nick in account.nicks:
            self.nick_owner[nick] = account
        for cert in account.certs:
            self.cert_owner[cert] = account

    def remove(self, account: Account) -> None:
        self.by_key.pop(account.key, None)
        for nick in account.nicks:
            if self.nick_owner.get(nick) is account:
                del self.nick_owner[nick]
        for cert in account.certs:
            if self.cert_owner.get(cert) is account:
                del self.cert_owner[cert]

    def group(self, account: Account, nick: str) -> None:
        account.nicks[fold(nick)] = nick
        self.nick_owner[fold(nick)] = account

    def ungroup(self, account: Account, nick: str) -> None:
        key = fold(nick)
        account.nicks.pop(key, None)
        if self.nick_owner.get(key) is account:
            del self.nick_owner[key]

    def add_cert(self, account: Account, fingerprint: str) -> None:
        account.certs.add(fingerprint)
        self.cert_owner[fingerprint] = account

    def remove_cert(self, account: Account, fingerprint: str) -> None:
        account.certs.discard(fingerprint)
        if self.cert_owner.get(fingerprint) is account:
            del self.cert_owner[fingerprint]


def normalise_fingerprint(text: str) -> str | None:
    """A SHA-256 fingerprint as 64 lower-case hex digits (colons allowed on input), or None."""
    hexed = text.replace(":", "").lower()
    if len(hexed) != 64 or any(ch not in "0123456789abcdef" for ch in hexed):
        return None
    return hexed


class Pending:
    """Password checks and hashes out on worker threads from this node (local bookkeeping,
    not replicated state): a job takes a slot when asked for and gives it back when it ends,
    on its thread, so that a client hanging up cannot leave work queued beyond the bound."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0

    def take(self, limit: int) -> bool:
        with self._lock:
            if self.count >= limit:
                return False
            self.count += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.count -= 1
