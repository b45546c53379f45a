"""Lines that carry a secret, and the copy of each that a cluster's log carries instead.

On a cluster every client line enters the network's log (a Redis Stream) and is applied by every
node. A password must not: the node the client is connected to (the line's *origin*) knows it and
does whatever needs it (a password check, new credentials: local work, `state.defer`), so the
log carries a copy of the line with the secret replaced by `*`, and the other nodes apply that
copy. `hide` makes the copy; cluster/core.py keeps the real line in a FIFO of its own and the
origin applies the real line when its entry comes back (cluster/replica.py). The replicas reach
the same state as the origin because:

- the copy has the same fate before any handler runs: a line too long is replaced by a line too
  long (417), invalid UTF-8 by invalid UTF-8 (the same `FAIL <command> INVALID_UTF8`), a NUL or
  CR by a NUL, an unparseable line by an unparseable line; a line that parses is copied byte for
  byte but for the secret's span, so it is never longer, parses into the same command, tags
  (a label), source and leading parameters;
- what a handler does with the secret on its own node only, or replies only, never changes
  the replicated state: AUTHENTICATE is ignored by replicas altogether; OPER, IDENTIFY,
  REGISTER and SET PASSWORD start local work whose outcome comes back as an input for every
  node (`oper-checked`, `login`, `account-created`, `password-changed`);
- the one outcome decided from the secret on the spot, whether `PASS` gave the server's
  password, is decided at the origin (`Hidden.password_ok`) and travels with the copy; while a
  replica applies a copy, `ServerState.hidden` holds it and `handle_pass` takes it from there.

Which lines: `PASS`, `OPER <name>`, `AUTHENTICATE`, `REGISTER <account> <email>` (all that
follows), and the password words of `PRIVMSG`/`NOTICE NickServ`, `NICKSERV` and `NS`
(`IDENTIFY [account]`, `REGISTER`, `SET PASSWORD`, `GHOST`/`REGAIN <nick>`: see
services/nickserv.py `secret_args`). A message to NickServ and someone else as well is
delivered as sent, so it goes to the log as sent.

Sans-IO and pure: `hide` reads the line and the network-wide settings only.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, NamedTuple

from ..proto.casemap import fold
from ..proto.errors import ProtocolError
from ..proto.message import BadCommand, Message, parse
from .accounts import SERVICES

if TYPE_CHECKING:
    from .config import Config

HIDDEN = "*"  # what stands for a secret in the log's copy of a line
NICKSERV_KEY = fold(SERVICES[0])

# Commands whose parameters from this one on are secret.
_SECRET_FROM = {"PASS": 0, "OPER": 1, "AUTHENTICATE": 0, "REGISTER": 2}
_SERVICE_COMMANDS = ("NICKSERV", "NS")  # their text is a NickServ command
_MESSAGES = ("PRIVMSG", "NOTICE")  # to NickServ: its text is one
# A line whose command word starts with none of these carries no secret we know of (a word
# that merely starts with one, like `PASS\tsecret`, is not a command: 421, hidden too).
_COMMAND_WORDS = tuple(word.encode() for word in (*_SECRET_FROM, *_SERVICE_COMMANDS))
_MESSAGE_WORDS = tuple(word.encode() for word in _MESSAGES)
_NICKSERV = NICKSERV_KEY.upper().encode()

# Copies with the fate of a line that is not handled: too long (made to measure), invalid UTF-8
# (after the command word, which the FAIL names), a NUL, and an unparseable tag.
_BAD_UTF8, _NUL, _UNPARSEABLE = b" \xff", b"* \x00", b"@+ *"


class Hidden(NamedTuple):
    """A line's copy for the log, and what its origin decided from the secret."""

    line: bytes
    password_ok: bool = False  # PASS: the hidden password is the server's (`password`)


def too_long(raw: bytes, max_line: int, tags_length: int) -> bool:
    """Whether a line is over the length limits (417): its tags (with the `@` and the space)
    over `tags_length`, or the rest over `max_line` (ServerState.handle_line)."""
    if raw[:1] == b"@":
        tags, _, rest = raw.partition(b" ")
        return len(tags) + 1 > tags_length or len(rest) > max_line
    return len(raw) > max_line


def _candidate(raw: bytes) -> bool:
    """Whether the command word (after any tags and source) may be one of ours."""
    rest = raw
    if rest[:1] == b"@":
        rest = rest.partition(b" ")[2].lstrip(b" ")
    if rest[:1] == b":":
        rest = rest.partition(b" ")[2].lstrip(b" ")
    word, _, rest = rest.partition(b" ")
    word = word.lstrip(b":").upper()
    if word.startswith(_COMMAND_WORDS):
        return True
    if word.startswith(_MESSAGE_WORDS):
        target = rest.lstrip(b" ").partition(b" ")[0]
        return _NICKSERV in word or _NICKSERV in target.upper()
    return False


def password_matches(config: Config, given: str) -> bool:
    """Whether `given` is the server's connection password (compared in constant time)."""
    password = config.password
    return password is not None and hmac.compare_digest(given.encode(), password.encode())


def hide(raw: bytes, config: Config) -> Hidden | None:
    """The copy of `raw` the log carries instead, or None when it carries no secret."""
    if not _candidate(raw):
        return None  # the cheap test: most lines stop here
    max_line = config.line_length - 2
    if too_long(raw, max_line, config.tags_length):
        return Hidden(b"*" * (max_line + 1))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        word = raw.split(b" ", 1)[0]
        return Hidden((word if word.isalpha() and word.isascii() else b"*") + _BAD_UTF8)
    if "\0" in text or "\r" in text:
        return Hidden(_NUL)
    try:
        msg = parse(text)
    except BadCommand as exc:
        from .dispatch import COMMANDS  # (a cycle at import time otherwise)

        # not a command word (`PASS\tsecret`): the copy is one too, with the same label; a
        # word the server reads as a command (`:src :PASS :x`, dispatched with no parameters)
        # stays that command
        tags = raw.partition(b" ")[0] + b" " if raw[:1] == b"@" else b""
        command = exc.command[:32].lstrip(":").upper()
        if command in COMMANDS:
            return Hidden(tags + b":s :" + command.encode() + b" :")
        return Hidden(tags + b"*")  # 421 (451 before registration)
    except ProtocolError:
        return Hidden(_UNPARSEABLE)
    span = _secret_span(text, msg)
    if span is None:
        return None
    start, end = span
    copy = (text[:start] + HIDDEN + text[end:]).encode() if end > start else raw
    password_ok = msg.command == "PASS" and password_matches(config, msg.params[0])
    return Hidden(copy, password_ok)


def _secret_span(text: str, msg: Message) -> tuple[int, int] | None:
    """Where in `text` the secret of a parsed line is: [start, end) (empty for an empty
    password), or None when the line has none."""
    command, params = msg.command, msg.params
    spans = param_spans(text)[1:]  # [0] is the command word
    first = _SECRET_FROM.get(command)
    if first is not None:
        if len(params) <= first:
            return None  # 461: nothing to hide
        return spans[first][0], spans[-1][1]
    if command in _SERVICE_COMMANDS:
        words = [w for s in spans for w in _words(text, *s)]
    elif command in _MESSAGES and len(params) >= 2 and _only_nickserv(params[0]):
        words = _words(text, *spans[1])
    else:
        return None
    from .services import nickserv  # the service knows its commands

    if not words:
        return None
    verb = text[words[0][0] : words[0][1]].upper()
    args = [text[s:e] for s, e in words[1:]]
    secret = nickserv.secret_args(verb, args)
    if secret is None:
        return None
    return words[1 + secret.start][0], words[secret.stop][1]


def _only_nickserv(targets: str) -> bool:
    """A PRIVMSG/NOTICE whose every target is NickServ (each once or more)."""
    return all(fold(target) == NICKSERV_KEY for target in targets.split(","))


def param_spans(text: str) -> list[tuple[int, int]]:
    """[start, end) of the command word and of each parameter of a line that `parse`
    accepts, in its order (the same grammar: tags, source, SPACE-separated words, trailing)."""
    i, n = 0, len(text)
    for marker in "@:":
        if text.startswith(marker, i):
            i = text.index(" ", i) + 1
            while i < n and text[i] == " ":
                i += 1
    colon = text.find(" :", i)
    head_end = colon if colon >= 0 else n
    spans: list[tuple[int, int]] = []
    while i < head_end:
        if text[i] == " ":
            i += 1
            continue
        end = text.find(" ", i, head_end)
        end = head_end if end < 0 else end
        spans.append((i, end))
        i = end
    if colon >= 0:
        spans.append((colon + 2, n))
    return spans


def _words(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) of each word of `text[start:end]` as `str.split()` finds them."""
    words: list[tuple[int, int]] = []
    i = start
    while i < end:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < end and not text[j].isspace():
            j += 1
        words.append((i, j))
        i = j
    return words
