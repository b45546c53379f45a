"""A channel: members with their prefixes, topic, modes, bans and the checks they imply.

Sans-IO and free of delivery: handlers ask a Channel whether something is allowed and change it;
they decide what to tell whom.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..limits import HOSTLEN
from ..proto.casemap import fold

if TYPE_CHECKING:
    from .user import User

# Member prefixes, highest first, as advertised in PREFIX=(ov)@+.
PREFIX_MODES = "ov"
PREFIX_SYMBOLS = {"o": "@", "v": "+"}
LIST_MODES = "beI"  # bans, ban exceptions (EXCEPTS=e), invite exceptions (INVEX=I)
PARAM_MODES = "k"  # a parameter to set and to unset
SET_PARAM_MODES = "l"  # a parameter only to set
# C: no CTCP but ACTION; M: only identified users (and voiced) may speak; P: persistent (kept
# with no members, stored, restored on restart); R: only identified users may join
FLAG_MODES = "CMPRimnst"
EXTBAN_PREFIX = "$"
EXTBAN_ACCOUNT = "a"  # $a: any identified user; $a:name: users logged in as `name`
# User modes live here too, so every mode letter chatd knows is in one place (docs/protocol.md
# is checked against these): B bot (BOT=B), i invisible, o IRC operator, r identified (an
# account), w receives WALLOPS.
USER_MODES = "Biorw"
BOT_MODE = "B"
# STATUSMSG: `PRIVMSG @#room` reaches the channel's operators, `+#room` voiced members and up
STATUSMSG = "@+"


def max_mask_length(nicklen: int, userlen: int) -> int:
    """The longest ban mask kept: nick!user@host at their limits. Longer masks cannot match
    anyone, and with them a 367 line could pass 512 bytes."""
    return nicklen + 1 + userlen + 1 + HOSTLEN


class Members(dict["User", str]):
    """A channel's members (user -> prefix modes) that also keeps, in `local`, those whose
    output this process writes: on a cluster node the others are replicas of users on other
    nodes, and fan-out skips them (server/delivery.py). Every way of changing the dict keeps
    `local` right; reading it is a plain dict's speed."""

    __slots__ = ("local",)

    def __init__(self) -> None:
        super().__init__()
        self.local: dict[User, None] = {}

    def __setitem__(self, user: User, modes: str) -> None:
        super().__setitem__(user, modes)
        if user.local:
            self.local[user] = None

    def __delitem__(self, user: User) -> None:
        super().__delitem__(user)
        self.local.pop(user, None)

    def pop(self, user: User, *default: Any) -> Any:
        self.local.pop(user, None)
        return super().pop(user, *default)

    def popitem(self) -> tuple[User, str]:
        user, modes = super().popitem()
        self.local.pop(user, None)
        return user, modes

    def clear(self) -> None:
        super().clear()
        self.local.clear()

    def setdefault(self, user: User, modes: str = "") -> str:
        if user not in self:
            self[user] = modes
        return self[user]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for user, modes in dict(*args, **kwargs).items():
            self[user] = modes

    def __reduce__(self) -> Any:  # pickled (snapshots) as its items; `local` is remade
        return (Members, (), None, None, iter(self.items()))


class Mask:
    """A casefolded IRC mask with * and ? wildcards, matched in linear time.

    A single regex (`*` as `.*`) backtracks exponentially on masks like `*a*a*a*a*a*a*a*a`:
    one such ban or WHO mask held the loop for seconds per check. Here the mask is split at
    its stars into fixed-length pieces (`?` matches any one character); the first piece is
    anchored at the start, the last at the end, and each middle piece is taken at its leftmost
    place, which is always a best choice.
    """

    __slots__ = ("_pieces", "_last_len")

    def __init__(self, mask: str) -> None:
        pieces = [
            re.compile("".join("." if ch == "?" else re.escape(ch) for ch in piece), re.DOTALL)
            for piece in fold(mask).split("*")
        ]
        self._pieces = pieces
        self._last_len = len(fold(mask).rsplit("*", 1)[-1])

    def fullmatch(self, text: str) -> bool:
        pieces = self._pieces
        if len(pieces) == 1:
            return pieces[0].fullmatch(text) is not None
        first = pieces[0].match(text)
        if first is None:
            return False
        pos = first.end()
        end = len(text) - self._last_len
        if end < pos or pieces[-1].fullmatch(text, end) is None:
            return False
        for piece in pieces[1:-1]:
            found = piece.search(text, pos, end)
            if found is None:
                return False
            pos = found.end()
        return True


def compile_mask(mask: str) -> Mask:
    """A matcher for an IRC mask with * and ? wildcards, compared casefolded."""
    return Mask(mask)


def normalise_mask(mask: str) -> str:
    """Complete a partial ban mask the way other servers do: nick -> nick!*@*, etc. An
    extban (`$a`, `$a:account`) stays as it is; `account_ban` says whether it is valid."""
    if mask.startswith(EXTBAN_PREFIX):
        return mask
    if "!" not in mask and "@" not in mask:
        return mask + "!*@*"
    if "!" not in mask:
        return "*!" + mask
    if "@" not in mask:
        return mask + "@*"
    return mask


def account_ban(mask: str) -> str | None:
    """For an account extban, the casefolded account it names ("" for `$a`: anyone
    identified); None if `mask` is not a valid one."""
    if mask == EXTBAN_PREFIX + EXTBAN_ACCOUNT:
        return ""
    prefix = EXTBAN_PREFIX + EXTBAN_ACCOUNT + ":"
    name = mask[len(prefix) :]
    if not mask.startswith(prefix) or not name or any(ch in name for ch in " ,*?!@"):
        return None
    return fold(name)


def _matches(entries: list[Ban], user: User) -> bool:
    """Whether an entry of a list (+b, +e, +I) matches the user: by account for an account
    extban, else by its nick!user@host with the cloaked or the real host."""
    if not entries:
        return False
    target = fold(user.prefix)
    if any(entry.matches(user, target) for entry in entries):
        return True
    if not user.cloaked:
        return False
    real = fold(user.real_prefix)
    return any(entry.account is None and entry.matcher.fullmatch(real) for entry in entries)


class Ban:
    __slots__ = ("mask", "setter", "set_at", "matcher", "account")

    def __init__(self, mask: str, setter: str, set_at: int) -> None:
        self.mask = mask
        self.setter = setter
        self.set_at = set_at
        # an account extban matches the account a user is logged in as, never a prefix
        self.account = account_ban(mask) if mask.startswith(EXTBAN_PREFIX) else None
        self.matcher = compile_mask(mask)

    def matches(self, user: User, folded_prefix: str) -> bool:
        account = self.account
        if account is None:
            return self.matcher.fullmatch(folded_prefix)
        if user.account is None:
            return False
        return not account or fold(user.account) == account


class Channel:
    __slots__ = (
        "name",
        "key",
        "members",
        "topic",
        "topic_by",
        "topic_at",
        "modes",
        "password",
        "limit",
        "bans",
        "created",
        "founder",
        "amodes",
        "registered_at",
        "opless",
        "excepts",
        "invexes",
        "metadata",
        "renamed_at",
        "__weakref__",
    )

    def __init__(self, name: str, created: int) -> None:
        self.name = name
        self.key = fold(name)
        self.members = Members()  # user -> its prefix modes, e.g. "o", "ov", ""
        self.topic = ""
        self.topic_by = ""
        self.topic_at = 0
        self.modes: set[str] = {"n", "t"}
        self.password: str | None = None
        self.limit: int | None = None
        self.bans: list[Ban] = []
        self.created = created
        # ChanServ (services/chanserv.py): the founder's account key, auto-modes by account
        self.founder: str | None = None
        self.amodes: dict[str, str] = {}
        self.registered_at = 0
        # restored at start-up with no registration: joining gives nobody ops until an IRC
        # operator gives them (docs/protocol.md, "Who runs a room")
        self.opless = False
        self.excepts: list[Ban] = []  # +e: masks the bans do not apply to
        self.invexes: list[Ban] = []  # +I: masks that need no INVITE to a +i channel
        self.metadata: dict[str, str] | None = None  # draft/metadata-3 keys, when any
        self.renamed_at: float | None = None  # monotonic time of the last RENAME

    def __repr__(self) -> str:
        return f"<Channel {self.name} {len(self.members)} members>"

    def is_op(self, user: User) -> bool:
        return "o" in self.members.get(user, "")

    def can_speak(self, user: User) -> bool:
        prefixes = self.members.get(user)
        if prefixes is None:
            return (
                not ({"n", "m"} & self.modes)
                and ("M" not in self.modes or user.account is not None)
                and not self.is_banned(user)
            )
        if prefixes:
            return True  # voice or op speak through +m, +M and bans
        if "M" in self.modes and user.account is None:
            return False
        return "m" not in self.modes and not self.is_banned(user)

    def is_banned(self, user: User) -> bool:
        """Whether a ban (+b) matches the user's nick!user@host, as others see it (the cloaked
        host) or with the real address (an operator may ban either), and no ban exception
        (+e) does."""
        if not self.bans or not _matches(self.bans, user):
            return False
        return not _matches(self.excepts, user)

    def is_invite_excepted(self, user: User) -> bool:
        """Whether a +I mask lets the user into a +i channel without an INVITE."""
        return bool(self.invexes) and _matches(self.invexes, user)

    def mask_list(self, mode: str) -> list[Ban]:
        """The list a list mode letter (b, e, I) names."""
        if mode == "e":
            return self.excepts
        if mode == "I":
            return self.invexes
        return self.bans

    def list_entries(self) -> int:
        """Entries on all three lists: MAXLIST=beI:n bounds them together."""
        return len(self.bans) + len(self.excepts) + len(self.invexes)

    def find_ban(self, mask: str, mode: str = "b") -> Ban | None:
        key = fold(mask)
        for ban in self.mask_list(mode):
            if fold(ban.mask) == key:
                return ban
        return None

    def prefix_of(self, user: User, multi: bool) -> str:
        modes = self.members.get(user, "")
        symbols = "".join(PREFIX_SYMBOLS[m] for m in PREFIX_MODES if m in modes)
        return symbols if multi else symbols[:1]

    def mode_string(self, show_key: bool) -> tuple[str, list[str]]:
        flags = "".join(sorted(self.modes))
        params: list[str] = []
        if self.password is not None:
            flags += "k"
            params.append(self.password if show_key else "*")
        if self.limit is not None:
            flags += "l"
            params.append(str(self.limit))
        return "+" + flags, params
