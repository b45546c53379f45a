"""IRC messages: parse a decoded line into a Message and serialise it back.

Owns the grammar of one line (IRCv3 tags with escaping, source, command, params, trailing).
It must not do I/O, framing or length policy: callers hand it one line without CR/LF.
"""

from __future__ import annotations

from .errors import ProtocolError


class BadCommand(ProtocolError):
    """A line whose command word is not a command (`FOO1`, `NO_SUCH`): the server answers it
    with 421 like an unknown command, so the word and the tags (a label) are kept."""

    def __init__(self, command: str, tags: dict[str, str]) -> None:
        super().__init__(f"invalid command {command[:20]!r}")
        self.command = command
        self.tags = tags


_TAG_UNESCAPE = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPE = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})
# Commands whose last parameter is human text: always written as a trailing parameter, because
# many scripts and older clients read the text only after " :".
# The value is the position of the text: `PART #chan` has none, `PART #chan :reason` has one.
_TEXT_COMMANDS = {
    "PRIVMSG": 1,
    "NOTICE": 1,
    "PART": 1,
    "TOPIC": 1,
    "KILL": 1,
    "KICK": 2,
    "QUIT": 0,
    "ERROR": 0,
    "AWAY": 0,
    "WALLOPS": 0,
}


class Message:
    """One IRC message. `tags` maps names to values ("" for a tag without a value)."""

    __slots__ = ("tags", "source", "command", "params")

    def __init__(
        self,
        command: str,
        params: list[str] | tuple[str, ...] = (),
        source: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.command = command
        self.params = list(params)
        self.source = source
        self.tags = tags if tags is not None else {}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (
            self.command == other.command
            and self.params == other.params
            and self.source == other.source
            and self.tags == other.tags
        )

    def __repr__(self) -> str:
        return (
            f"Message({self.command!r}, {self.params!r}, source={self.source!r}, "
            f"tags={self.tags!r})"
        )

    @property
    def nick(self) -> str | None:
        """The nick part of a `nick!user@host` source (or the whole source)."""
        if self.source is None:
            return None
        return self.source.split("!", 1)[0]

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if index < len(self.params) else default


def as_word(text: str, limit: int = 64) -> str:
    """A client's word made safe to echo as a middle parameter: cut to `limit` characters,
    spaces made `_`, a leading `:` dropped, `*` for nothing."""
    return text[:limit].replace(" ", "_").lstrip(":") or "*"


def unescape_tag_value(value: str) -> str:
    if "\\" not in value:
        return value
    out = []
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if ch == "\\":
            i += 1
            if i < n:  # a lone trailing backslash is dropped
                nxt = value[i]
                out.append(_TAG_UNESCAPE.get(nxt, nxt))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    if value.isalnum():  # most values (labels, msgids) have nothing to escape
        return value
    return value.translate(_TAG_ESCAPE)


def parse_tags(text: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in text.split(";"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if not key or key == "+":
            raise ProtocolError("empty tag name")
        tags[key] = unescape_tag_value(value)
    return tags


def serialise_tags(tags: dict[str, str]) -> str:
    return ";".join(f"{k}={escape_tag_value(v)}" if v else k for k, v in tags.items())


def _valid_command(command: str) -> bool:
    if command.isascii() and command.isalpha():
        return True
    return len(command) == 3 and command.isascii() and command.isdigit()


def parse(line: str) -> Message:
    """Parse one line (no CR/LF). Raises ProtocolError on anything malformed."""
    tags: dict[str, str] = {}
    source: str | None = None
    rest = line
    if rest.startswith("@"):
        tag_text, _, rest = rest[1:].partition(" ")
        tags = parse_tags(tag_text)
        rest = rest.lstrip(" ")
    if rest.startswith(":"):
        source, _, rest = rest[1:].partition(" ")
        if not source:
            raise ProtocolError("empty source")
        rest = rest.lstrip(" ")
    trailing: str | None = None
    head, sep, tail = rest.partition(" :")
    if sep:
        trailing = tail
    elif head.startswith(":"):
        # no command before the trailing marker
        raise ProtocolError("missing command")
    # Only SPACE separates parameters: str.split() would also split on tabs, \x1c-\x1f, NBSP
    # and other Unicode spaces, which may sit inside a parameter.
    words = head.split(" ")
    if "" in words:
        words = [w for w in words if w]
    if not words:
        raise ProtocolError("missing command")
    command = words[0]
    if not _valid_command(command):
        raise BadCommand(command, tags)
    params = words[1:]
    if trailing is not None:
        params.append(trailing)
    return Message(command.upper(), params, source, tags)


def serialise(msg: Message) -> str:
    """Serialise a Message to a line without CR/LF. Raises ProtocolError if it cannot be."""
    command = msg.command
    head = command if not msg.source else f":{msg.source} {command}"
    if msg.tags:
        head = f"@{serialise_tags(msg.tags)} {head}"
    params = msg.params
    if params:
        *middle, last = params
        for p in middle:
            if not p or p[0] == ":" or " " in p:
                raise ProtocolError(f"middle parameter {p[:20]!r} needs to be trailing")
        if (
            _TEXT_COMMANDS.get(command) == len(middle)
            or command[0].isdigit()
            or not last
            or last[0] == ":"
            or " " in last
        ):
            last = ":" + last
        line = f"{head} {' '.join(middle)} {last}" if middle else f"{head} {last}"
    else:
        line = head
    if "\r" in line or "\n" in line or "\0" in line:
        raise ProtocolError("message contains NUL, CR or LF")
    return line


def encode(msg: Message) -> bytes:
    """The wire form of a message: UTF-8 with CRLF."""
    return (serialise(msg) + "\r\n").encode("utf-8", "surrogateescape")
