"""Nick!user@host masks with * and ? (for /ignore and /ban), in IRC casemapping (pure).

A bare nick means `nick!*@*`, a bare `user@host` means `*!user@host`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from chatd.proto.casemap import fold


def normalise(mask: str) -> str:
    mask = mask.strip()
    if "!" not in mask and "@" not in mask:
        return f"{mask}!*@*"
    if "!" not in mask:
        return f"*!{mask}"
    if "@" not in mask:
        return f"{mask}@*"
    return mask


@lru_cache(maxsize=512)
def _pattern(mask: str) -> re.Pattern[str]:
    parts = (".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in fold(mask))
    return re.compile("".join(parts), re.DOTALL)


def matches(mask: str, source: str) -> bool:
    """Whether a message source (nick!user@host, or a bare nick) matches the mask."""
    if "!" not in source:
        source = f"{source}!*@*" if "@" not in source else source
    return _pattern(normalise(mask)).fullmatch(fold(source)) is not None


def ban_mask(nick: str, userhost: str) -> str:
    """The mask /ban sets for a nick: *!*@host when the host is known, else nick!*@*."""
    host = userhost.partition("@")[2]
    return f"*!*@{host}" if host else f"{nick}!*@*"
