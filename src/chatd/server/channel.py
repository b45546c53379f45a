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
LIST_MODES = "b"
PARAM_MODES = "k"  # a parameter to set and to unset
SET_PARAM_MODES = "l"  # a parameter only to set
FLAG_MODES = "Pimnst"  # P: persistent (kept with no members, stored, restored on restart)


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
    """Complete a partial ban mask the way other servers do: nick -> nick!*@*, etc."""
    if "!" not in mask and "@" not in mask:
        return mask + "!*@*"
    if "!" not in mask:
        return "*!" + mask
    if "@" not in mask:
        return mask + "@*"
    return mask


class Ban:
    __slots__ = ("mask", "setter", "set_at", "matcher")

    def __init__(self, mask: str, setter: str, set_at: int) -> None:
        self.mask = mask
        self.setter = setter
        self.set_at = set_at
        self.matcher = compile_mask(mask)


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

    def __repr__(self) -> str:
        return f"<Channel {self.name} {len(self.members)} members>"

    def is_op(self, user: User) -> bool:
        return "o" in self.members.get(user, "")

    def can_speak(self, user: User) -> bool:
        prefixes = self.members.get(user)
        if prefixes is None:
            return not ({"n", "m"} & self.modes) and not self.is_banned(user)
        if prefixes:
            return True  # voice or op speak through +m and bans
        return "m" not in self.modes and not self.is_banned(user)

    def is_banned(self, user: User) -> bool:
        """Whether a ban matches the user's nick!user@host: the cloaked host as others see it,
        or the real address (an operator may ban either)."""
        if not self.bans:
            return False
        target = fold(user.prefix)
        if any(ban.matcher.fullmatch(target) for ban in self.bans):
            return True
        if not user.cloaked:
            return False
        real = fold(user.real_prefix)
        return any(ban.matcher.fullmatch(real) for ban in self.bans)

    def find_ban(self, mask: str) -> Ban | None:
        key = fold(mask)
        for ban in self.bans:
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
