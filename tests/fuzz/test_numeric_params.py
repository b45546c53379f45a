"""Numeric parameters: one ASCII-only parser (`proto/numbers.py`), and no number a client can
write makes a handler raise.

`str.isdigit()` is true for '²' (int() then raises) and for Arabic-Indic digits (int() then
accepts them): `CAP LS ²`, `MODE #c +l ²` and `CHATHISTORY LATEST #c * ²` each raised a
ValueError in the handler.
"""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from ircclient import make_state
from server.util import registered

from chatd.proto.numbers import parse_uint

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Unicode digits that are not ASCII: superscripts, Arabic-Indic, Devanagari, full-width, Thai
TRICKY = ["²", "٣", "۵", "७", "５", "๙", "1²", "²1", "٠", "𝟗", "Ⅻ", "½"]
# every kind of word that could stand in a number's place, and nothing a line cannot carry
number_like = st.one_of(
    st.sampled_from(TRICKY),
    st.integers(-(10**30), 10**30).map(str),
    st.text(st.sampled_from("0123456789"), min_size=1, max_size=600),
    st.text(
        st.characters(blacklist_characters="\0\r\n ", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=12,
    ),
)


@pytest.mark.parametrize(
    "text, maximum, expected",
    [
        ("0", 10, 0),
        ("7", 10, 7),
        ("007", 10, 7),
        ("10", 10, 10),
        ("11", 10, None),
        ("0" * 500 + "5", 10, 5),
        ("9" * 500, 10, None),
        ("", 10, None),
        ("-1", 10, None),
        ("+1", 10, None),
        (" 1", 10, None),
        ("1 ", 10, None),
        ("1.0", 10, None),
        ("²", 10, None),
        ("٣", 10, None),  # int() says 3
        ("５", 10, None),  # int() says 5
    ],
)
def test_parse_uint_table(text, maximum, expected):
    assert parse_uint(text, maximum) == expected


def test_parse_uint_clamps_on_request():
    assert parse_uint("11", 10, clamp=True) == 10
    assert parse_uint("9" * 500, 10, clamp=True) == 10
    assert parse_uint("²", 10, clamp=True) is None


@FAST
@given(number_like, st.integers(0, 10**7))
def test_parse_uint_is_ascii_int(text, maximum):
    value = parse_uint(text, maximum)
    ascii_number = re.fullmatch(r"[0-9]+", text) is not None
    if ascii_number and int(text) <= maximum:
        assert value == int(text)
    else:
        assert value is None


def _numeric_lines(word: str) -> list[str]:
    """Every command of the server that takes a number, with `word` in the number's place."""
    return [
        f"CAP LS {word}",
        f"MODE #num +l {word}",
        f"MODE #num +lk {word} key",
        f"CHATHISTORY LATEST #num * {word}",
        f"CHATHISTORY BEFORE #num timestamp=2023-01-01T00:00:00.000Z {word}",
        f"CHATHISTORY BETWEEN #num timestamp=2023-01-01T00:00:00.000Z * {word}",
        f"CHATHISTORY TARGETS timestamp=2023-01-01T00:00:00.000Z "
        f"timestamp=2033-01-01T00:00:00.000Z {word}",
    ]


_state = make_state()
_op = registered(_state, "numop", ["draft/chathistory", "batch", "server-time"])
_op.send("JOIN #num", "PRIVMSG #num :hello")
_op.take()


@FAST
@given(number_like)
@example("²")
@example("٣")
@example("9" * 500)
def test_no_numeric_parameter_raises(word):
    handler_errors: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                handler_errors.append(record)

    catch = Catch()
    logging.getLogger("chatd").addHandler(catch)
    try:
        for line in _numeric_lines(word):
            replies = _op.send(line)
            assert not any("INTERNAL_ERROR" in r for r in replies), (line, replies)
    finally:
        logging.getLogger("chatd").removeHandler(catch)
    assert not handler_errors, [r.getMessage() for r in handler_errors]
    _op.send("MODE #num -l")


def test_limit_takes_only_ascii_digits():
    state = make_state()
    op = registered(state, "op")
    op.send("JOIN #c")
    for word in ("²", "٣", "５"):
        replies = op.send(f"MODE #c +l {word}")
        assert any(" 696 " in r for r in replies), replies
    assert state.find_channel("#c").limit is None
    assert op.send("MODE #c +l 007") == [":op!~u@" + op.user.host + " MODE #c +l 7"]


def test_cap_ls_superscript_is_a_plain_ls():
    state = make_state()
    c = registered(state, "capper")
    replies = c.send("CAP LS ²")
    assert len(replies) == 1 and " CAP capper LS :" in replies[0], replies
    assert "=" not in replies[0]  # no 302 values for a version that is not a number


def test_chathistory_limit_superscript_is_invalid_params():
    state = make_state()
    c = registered(state, "hist", ["draft/chathistory", "batch"])
    c.send("JOIN #h")
    replies = c.send("CHATHISTORY LATEST #h * ²")
    assert replies == [
        ":chatd.local FAIL CHATHISTORY INVALID_PARAMS LATEST :The limit must be a positive number"
    ]
