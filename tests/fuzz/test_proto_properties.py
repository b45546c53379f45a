"""Property tests of the protocol module (hypothesis): the line grammar round-trips, the parser
fails only with ProtocolError, and LineReader is independent of how the stream is chunked and
never buffers more than its bound."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chatd.proto.errors import ProtocolError
from chatd.proto.framing import TOO_LONG, LineReader
from chatd.proto.message import Message, parse, serialise

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"

# any text but NUL, CR and LF (which no line can carry)
line_text = st.text(st.characters(blacklist_characters="\0\r\n", blacklist_categories=("Cs",)))
word_chars = st.characters(blacklist_characters="\0\r\n ", blacklist_categories=("Cs",))

commands = st.one_of(
    st.text(st.sampled_from(_ALPHA), min_size=1, max_size=12),
    st.integers(0, 999).map(lambda n: f"{n:03d}"),
)
tag_keys = st.builds(
    lambda client, vendor, name: ("+" if client else "") + (vendor + "/" if vendor else "") + name,
    st.booleans(),
    st.one_of(st.just(""), st.from_regex(r"\A[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}\Z")),
    st.text(st.sampled_from(_KEY_CHARS), min_size=1, max_size=12),
)
# tag values: any text but NUL (CR, LF, ';', space and '\\' travel escaped)
tags = st.dictionaries(
    tag_keys,
    st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",))),
    max_size=5,
)
sources = st.one_of(st.none(), st.text(word_chars, min_size=1, max_size=40))
middles = st.text(word_chars, min_size=1, max_size=20).filter(lambda p: p[0] != ":")


@st.composite
def messages(draw) -> Message:
    params = draw(st.lists(middles, max_size=15))
    if draw(st.booleans()):
        params.append(draw(line_text))  # a trailing parameter: spaces, ':' and empty allowed
    return Message(draw(commands), params, draw(sources), draw(tags))


@FAST
@given(messages())
def test_parse_inverts_serialise(msg):
    line = serialise(msg)
    assert "\r" not in line and "\n" not in line
    assert parse(line) == msg


@FAST
@given(messages())
def test_serialise_parse_serialise_is_stable(msg):
    line = serialise(msg)
    assert serialise(parse(line)) == line


@settings(max_examples=1000, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_parser_raises_only_protocol_error(text):
    try:
        msg = parse(text)
    except ProtocolError:
        return
    assert msg.command and (msg.command.isalpha() or msg.command.isdigit())


@settings(max_examples=1000, deadline=None)
@given(st.text(st.sampled_from(" :@;=\\+/#!*?,\t\x0b\x0c\x85\xa0\u2003\u3000aZ0"), max_size=40))
def test_parser_on_grammar_punctuation(text):
    """Dense in the characters the grammar reacts to, including non-space whitespace."""
    try:
        msg = parse(text)
    except ProtocolError:
        return
    for p in msg.params[:-1]:
        assert p and " " not in p and not p.startswith(":")


@FAST
@given(st.lists(middles, min_size=1, max_size=4), st.sampled_from("\t\x0b\x0c\x1c\x85\xa0\u2003"))
def test_only_space_separates_parameters(params, space):
    """A middle parameter holding other whitespace stays one parameter (RFC 1459: SPACE)."""
    param = params[0] + space + params[-1]
    assert parse(f"PRIVMSG {param} :x").params == [param, "x"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(Message, commands, st.lists(line_text, max_size=6), sources, tags))
def test_serialise_refuses_cleanly(msg):
    """Any Message either serialises to a line that parses back the same or raises
    ProtocolError."""
    try:
        line = serialise(msg)
    except ProtocolError:
        return
    assert parse(line) == msg


# -- framing --------------------------------------------------------------------------------------


def _stream_lines() -> st.SearchStrategy[bytes]:
    piece = st.one_of(
        st.binary(max_size=30),
        st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n", b"PING x", b""]),
        st.integers(0, 140).map(lambda n: b"A" * n),  # around the bound of 64
    )
    return st.lists(piece, max_size=30).map(b"".join)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    out, last = [], 0
    for p in points:
        out.append(data[last:p])
        last = p
    out.append(data[last:])
    return out


@settings(max_examples=600, deadline=None)
@given(_stream_lines(), st.lists(st.integers(0, 10_000), max_size=20), st.integers(8, 80))
def test_line_reader_is_chunking_independent_and_bounded(data, cuts, limit):
    whole = LineReader(limit).feed(data)
    reader = LineReader(limit)
    got = []
    for chunk in _chunks(data, cuts):
        got += reader.feed(chunk)
        assert reader.buffered <= limit + 1
    assert got == whole
    for line in got:
        assert line is TOO_LONG or (0 < len(line) <= limit and b"\n" not in line)


@settings(max_examples=300, deadline=None)
@given(_stream_lines(), st.integers(8, 80))
def test_line_reader_byte_by_byte(data, limit):
    assume(data)
    reader = LineReader(limit)
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i : i + 1])
        assert reader.buffered <= limit + 1
    assert got == LineReader(limit).feed(data)
