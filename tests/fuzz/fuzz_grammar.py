"""Hostile IRC lines for the fuzzers: random bytes and grammar-built commands with hostile
arguments (case tricks, Unicode, control characters, NUL, huge parameter counts, empty
parameters, thousands of comma-separated targets, overlong lines, invalid UTF-8, random tags).

Shared by tests/fuzz/test_socket_fuzz.py, tests/fuzz/test_state_fuzz_lines.py and
scripts/fuzz_atheris.py. Every function takes a random.Random so a seed reproduces a run.
"""

from __future__ import annotations

import random

from chatd.server.dispatch import COMMANDS

VERBS = sorted(COMMANDS) + [
    "CAP",
    "LIST",
    "NAMES",
    "PING",
    "PONG",
    "JOIN",
    "MODE",
    "PRIVMSG",
    "BATCH",
    "NOSUCH",
    "SQUIT",
    "DIE",
    "PRIVMSG",
    "NICK",
    "CHATHISTORY",
]
CAPS = [
    "echo-message",
    "message-tags",
    "server-time",
    "batch",
    "labeled-response",
    "multi-prefix",
    "userhost-in-names",
    "away-notify",
    "extended-join",
    "invite-notify",
    "cap-notify",
    "draft/chathistory",
    "chathistory",
    "setname",
    "account-tag",
    "draft/multiline",
    "draft/read-marker",
    "draft/message-redaction",
    "draft/channel-rename",
    "draft/metadata-3",
    "extended-monitor",
    "nope",
]
NICKS = [
    "alice",
    "Alice",
    "ALICE",
    "bob",
    "[x]",
    "{x}",
    "a\\b",
    "a|b",
    "w~",
    "w^",
    "x" * 40,
    "*",
    "0",
    "-",
    "",
    ":colon",
    "nick!user@host",
    "a*",
    "?",
    "Ω",
    "é",
    "ops",
    "\x01",
]
CHANNELS = [
    "#chan",
    "#CHAN",
    "#Chan[1]",
    "#chan{1}",
    "#a\\b",
    "#a|b",
    "#",
    "##",
    "#" * 60,
    "#chan\u200b",
    "#ch\u0430n",
    "#\u3164",
    "&local",
    "+plus",
    "!bang",
    "#a,#b",
    "0",
    "#c\x07",
    "#c:d",
    "#x" * 30,
    "#é",
    "#\U0001f600",
]
MODES = [
    "+i",
    "-i",
    "+o",
    "-o",
    "+b",
    "-b",
    "+k",
    "-k",
    "+l",
    "-l",
    "+m",
    "+n",
    "+t",
    "+s",
    "+P",
    "-P",
    "+v",
    "+ov",
    "+bbbb",
    "+kl",
    "+-+-",
    "+Z",
    "+" + "b" * 40,
    "+lk",
    "o",
    "-",
]
SUBCMDS = [
    "LS",
    "LS 302",
    "REQ",
    "END",
    "LIST",
    "ACK",
    "NAK",
    "LATEST",
    "BEFORE",
    "AFTER",
    "BETWEEN",
    "AROUND",
    "TARGETS",
    "*",
    "timestamp=2020-01-01T00:00:00.000Z",
    "msgid=t-1",
    "timestamp=bogus",
    "msgid=",
    "9999999999",
    "-1",
    "0",
    "100",
]
WORDS = (
    NICKS
    + CHANNELS
    + MODES
    + SUBCMDS
    + ["*!*@*", "*a*a*a*a*a*a*a*a*a", "%tcuhnfar,42", "%", "0", "-5", "1e9", "99999999999999999999"]
)


def hostile_word(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.55:
        return rng.choice(WORDS)
    if roll < 0.7:
        return ",".join(rng.choice(CHANNELS + NICKS) for _ in range(rng.randrange(1, 60)))
    if roll < 0.8:
        return "".join(chr(rng.randrange(0x20, 0x7F)) for _ in range(rng.randrange(1, 20)))
    if roll < 0.9:
        return (
            "".join(
                chr(
                    rng.choice(
                        (
                            rng.randrange(1, 0x20),
                            rng.randrange(0x80, 0x3000),
                            rng.randrange(0x1F000, 0x1F700),
                        )
                    )
                )
                for _ in range(rng.randrange(1, 12))
            )
            .replace("\r", "")
            .replace("\n", "")
        )
    return rng.choice(["", " ", ":", "::", "\\", "@", "!", "$", "\x00", "\t"])


def random_tags(rng: random.Random) -> str:
    items = []
    for _ in range(rng.randrange(1, 8)):
        key = rng.choice(
            [
                "+k",
                "label",
                "batch",
                "msgid",
                "time",
                "+draft/reply",
                "+typing",
                "a" * rng.randrange(1, 80),
                "",
                "+",
                "=",
                "+x/y",
            ]
        )
        value = rng.choice(
            [
                "",
                "v",
                "\\",
                "\\s\\:\\\\",
                "a;b",
                "x" * rng.randrange(0, 600),
                hostile_word(rng).replace(" ", "\\s"),
            ]
        )
        items.append(f"{key}={value}" if value or rng.random() < 0.5 else key)
    return "@" + ";".join(items) + " "


def grammar_line(rng: random.Random) -> bytes:
    """A command from the table (or near it) with hostile arguments."""
    verb = rng.choice(VERBS)
    if rng.random() < 0.1:
        verb = verb.lower() if rng.random() < 0.5 else verb.title()
    count = rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, rng.randrange(6, 40), rng.randrange(40, 400)])
    params = [hostile_word(rng) for _ in range(count)]
    parts = [verb]
    for i, p in enumerate(params):
        if i == len(params) - 1 and rng.random() < 0.6:
            parts.append(":" + p)
        else:
            parts.append(p.replace(" ", "") or "x")
    line = " ".join(parts)
    if rng.random() < 0.2:
        line = random_tags(rng) + line
    if rng.random() < 0.1:
        line = ":" + rng.choice(NICKS + ["server", "x!y@z"]) + " " + line
    data = line.encode("utf-8", "surrogatepass")
    roll = rng.random()
    if roll < 0.03:
        data += b" :" + b"\xff\xfe\xc3" + bytes(rng.randrange(256) for _ in range(10))
    elif roll < 0.05:
        data = data.replace(b" ", b"\x00", 1)
    return data.replace(b"\r", b"").replace(b"\n", b"")


def targets_line(rng: random.Random) -> bytes:
    """10,000 comma-separated targets (overlong: answered with 417) or as many as fit."""
    n = 10_000 if rng.random() < 0.3 else rng.randrange(2, 120)
    verb = rng.choice(
        [
            "PRIVMSG",
            "NOTICE",
            "JOIN",
            "PART",
            "KICK #chan",
            "WHOIS",
            "NAMES",
            "LIST",
            "ISON",
            "WHO",
            "TAGMSG",
            "MODE #chan +bbbb",
        ]
    )
    names = ",".join(rng.choice(CHANNELS + NICKS) + str(i) for i in range(n))
    return f"{verb} {names} :x".encode()


def random_bytes_line(rng: random.Random) -> bytes:
    size = rng.choice([1, 5, 50, 400, 600, 5000, 70_000])
    data = bytes(rng.randrange(256) for _ in range(min(size, 2000)))
    if size > 2000:
        data = data * (size // 2000)
    return data.replace(b"\n", b" ")


def registration(rng: random.Random, nick: str) -> list[bytes]:
    lines = []
    if rng.random() < 0.6:
        lines.append(b"CAP LS 302")
        caps = " ".join(rng.sample(CAPS, rng.randrange(1, len(CAPS))))
        lines.append(f"CAP REQ :{caps}".encode())
        lines.append(b"CAP END")
    lines += [f"NICK {nick}".encode(), b"USER u 0 * :fuzz"]
    return lines


def fuzz_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.75:
        return grammar_line(rng)
    if roll < 0.85:
        return targets_line(rng)
    if roll < 0.95:
        return random_bytes_line(rng)
    # overlong: just past the line limit, past the tag limit, or past the input buffer
    size = rng.choice([511, 512, 513, 4096 + 512, 4096 + 513, 20_000])
    prefix = rng.choice([b"PRIVMSG #chan :", b"@" + b"a" * 4000 + b" PRIVMSG #chan :", b""])
    return prefix + b"y" * max(0, size - len(prefix))
