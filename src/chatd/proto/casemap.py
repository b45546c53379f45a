"""Casemapping and name syntax for nicks and channels (sans-IO, pure functions).

chatd advertises CASEMAPPING=rfc1459: ASCII letters fold, and so do []\\~ to {}|^. Only ASCII
is folded on purpose: str.lower() would fold other scripts differently from every client.
"""

from __future__ import annotations

CASEMAPPING = "rfc1459"

_RFC1459 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~",
    "abcdefghijklmnopqrstuvwxyz{}|^",
)

# the same mapping on bytes: an ASCII name folds through encode/translate/decode five times
# faster than through str.translate with the dict above (a nick is folded a few times at
# every registration)
_RFC1459_ASCII = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ[]\\~", b"abcdefghijklmnopqrstuvwxyz{}|^"
)

_NICK_SPECIAL = set("[]\\`_^{|}")
_NICK_FIRST = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") | _NICK_SPECIAL
_NICK_REST = _NICK_FIRST | set("0123456789-")
CHANTYPES = "#"
_CHANNEL_FORBIDDEN = set(" ,\x07\x00\r\n:")
# Letters and symbols that render as blank space although str.isprintable() accepts them
# (Hangul fillers, the halfwidth Hangul filler, the blank Braille pattern): a name made with
# them looks like another name, or like nothing. docs/security.md lists what else is possible.
_CHANNEL_FORBIDDEN |= set("\u115f\u1160\u3164\uffa0\u2800")


_FOLDED: dict[str, str] = {}
_FOLDED_MAX = 10_000


def fold(name: str) -> str:
    """The key under which a nick or channel name is compared and stored.

    Every channel message looks its channel up, so channel folds are remembered (a dict hit is
    ten times cheaper than str.translate); nicks are not, so idle users cost no memo entry.
    The memo is bounded by starting over when it fills.
    """
    if name[:1] not in CHANTYPES:
        if name.isascii():
            return name.encode().translate(_RFC1459_ASCII).decode()
        return name.translate(_RFC1459)
    folded = _FOLDED.get(name)
    if folded is None:
        if len(_FOLDED) >= _FOLDED_MAX:
            _FOLDED.clear()
        folded = _FOLDED[name] = name.translate(_RFC1459)
    return folded


def valid_nick(nick: str, max_len: int) -> bool:
    if not nick or len(nick) > max_len:
        return False
    if nick[0] not in _NICK_FIRST:
        return False
    return all(ch in _NICK_REST for ch in nick[1:])


def is_channel_name(name: str) -> bool:
    """Whether a target names a channel (by its prefix), valid or not."""
    return bool(name) and name[0] in CHANTYPES


def valid_channel(name: str, max_len: int) -> bool:
    if len(name) < 2 or len(name) > max_len or name[0] not in CHANTYPES:
        return False
    if any(ch in _CHANNEL_FORBIDDEN for ch in name):
        return False
    # Invisible format characters make look-alike channel names; refuse them outright.
    return name.isprintable()
