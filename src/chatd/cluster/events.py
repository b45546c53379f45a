"""The events of the network's log, and their encoding (sans-IO).

Every node appends, once per loop iteration, one entry to the Redis Stream that is the
network's log: `n <node id> d <events>`. The events are what the node's clients did, in the order
the node saw them, one per line (no event can hold a LF: lines are split on it):

    C <cid> <tls 0|1> <host> [<certfp>]   a client connected (with a TLS client certificate)
    L <cid> <line>               a complete line from it (raw bytes)
    S <cid> <0|1> <copy>         a line that held a secret (a password): the copy with the
                                 secret left out, and whether the origin found it was the
                                 server's password (PASS); server/hidden.py
    T <cid>                      a line that was too long
    Q <cid> <reason>             the node dropped it (EOF, ping timeout, sendq, excess flood)
    R <cid> <kind> <json>        the result of work done for it off the loop (state.resume)
    X <node id> <reason>         every client of that node is gone (node stopped or lost)
    H <node id>                  that node joined the network (LUSERS counts the live nodes)

A client id (`cid`) is `<node id>:<n>`; a node id is the node's name and a per-start suffix, so
the clients of a node's earlier life never clash with its new ones.
"""

from __future__ import annotations

import json
from typing import NamedTuple

CONNECT, LINE, TOO_LONG, QUIT, RESUME, NODE_GONE = b"C", b"L", b"T", b"Q", b"R", b"X"
HELLO = b"H"
SECRET_LINE = b"S"


class Event(NamedTuple):
    kind: bytes  # one of the eight letters
    target: str  # the cid, or the node id for NODE_GONE and HELLO
    data: bytes = b""  # the line (or its copy), host, reason, or "kind json"
    flag: bool = False  # CONNECT: TLS; SECRET_LINE: the password was the server's
    certfp: str = ""  # CONNECT: the SHA-256 fingerprint of the client's certificate, if any


def connect(cid: str, host: str, tls: bool, certfp: str | None = None) -> bytes:
    line = b"C %s %d %s" % (cid.encode(), tls, host.encode())
    return line + b" " + certfp.encode() if certfp else line


def line(cid: str, raw: bytes) -> bytes:
    return b"L %s %s" % (cid.encode(), raw)


def secret_line(cid: str, copy: bytes, password_ok: bool) -> bytes:
    return b"S %s %d %s" % (cid.encode(), password_ok, copy)


def too_long(cid: str) -> bytes:
    return b"T " + cid.encode()


def quit(cid: str, reason: str) -> bytes:
    return b"Q %s %s" % (cid.encode(), _one_line(reason))


def resume(cid: str, kind: str, value: object) -> bytes:
    return b"R %s %s %s" % (cid.encode(), kind.encode(), json.dumps(value).encode())


def node_gone(node: str, reason: str) -> bytes:
    return b"X %s %s" % (node.encode(), _one_line(reason))


def hello(node: str) -> bytes:
    return b"H " + node.encode()


def _one_line(text: str) -> bytes:
    return text.replace("\n", " ").replace("\r", " ").encode("utf-8", "replace")


def decode(payload: bytes) -> list[Event]:
    """The events of one log entry. A malformed event (a bug, or a foreign writer) is skipped:
    every node skips the same ones, so the replicas still agree."""
    out: list[Event] = []
    for raw in payload.split(b"\n"):
        kind, _, rest = raw.partition(b" ")
        target_b, _, data = rest.partition(b" ")
        target = target_b.decode("utf-8", "replace")
        if kind == CONNECT:
            tls, _, rest = data.partition(b" ")
            host, _, certfp = rest.partition(b" ")
            out.append(Event(kind, target, host, tls == b"1", certfp.decode("ascii", "replace")))
        elif kind == SECRET_LINE and target:
            flag, _, copy = data.partition(b" ")
            out.append(Event(kind, target, copy, flag == b"1"))
        elif kind in (LINE, TOO_LONG, QUIT, RESUME, NODE_GONE, HELLO) and target:
            out.append(Event(kind, target, data))
    return out


def encode(events: list[bytes]) -> bytes:
    return b"\n".join(events)


def node_of(cid: str) -> str:
    return cid.rpartition(":")[0]
