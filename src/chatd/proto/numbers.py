"""Numeric parameters from the wire: the one parser for every number a client sends.

`str.isdigit()` and `int()` accept far more than IRC's digits: `"²".isdigit()` is true but
`int("²")` raises, and `int("٣")` (ARABIC-INDIC DIGIT THREE) is 3. A number in an IRC line is
ASCII digits only, so every handler parses its numbers here and never calls `int()` on client
text. Sans-IO and shared with the client.
"""

from __future__ import annotations

_DIGITS = frozenset("0123456789")


def parse_uint(text: str, maximum: int, *, clamp: bool = False) -> int | None:
    """The value of `text` if it is one or more ASCII digits, else None.

    A value above `maximum` is None, or `maximum` itself with `clamp` (a request for "as many
    as you allow"). The length is checked before converting, so a long run of digits costs no
    big-integer work.
    """
    if not text or not _DIGITS.issuperset(text):
        return None
    significant = text.lstrip("0")
    if len(significant) > len(str(maximum)):
        return maximum if clamp else None
    value = int(significant) if significant else 0
    if value > maximum:
        return maximum if clamp else None
    return value
