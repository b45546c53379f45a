"""Helpers shared by the server command tests: registered scripted clients and a small world
of users and a channel, all driven through ServerState without sockets."""

from __future__ import annotations

from ircclient import HOST, Scripted, make_state, numerics  # noqa: F401  (re-exported)

from chatd.proto.message import Message, parse
from chatd.server.state import ServerState


def registered(state: ServerState, nick: str, caps: tuple[str, ...] | list[str] = ()) -> Scripted:
    """A Scripted client registered as `nick`, with `caps` negotiated, its welcome discarded."""
    c = Scripted(state)
    if caps:
        c.send("CAP LS 302", "CAP REQ :" + " ".join(caps))
    c.register(nick)
    if caps:
        c.send("CAP END")
    assert c.user.registered, f"{nick} did not register"
    c.take()
    return c


def room(
    state: ServerState, *nicks: str, channel: str = "#room", caps: tuple[str, ...] = ()
) -> list[Scripted]:
    """Register `nicks` and join each to `channel` (the first becomes its operator)."""
    clients = [registered(state, n, caps) for n in nicks]
    for c in clients:
        c.send(f"JOIN {channel}")
    for c in clients:
        c.take()
    return clients


def msgs(lines: list[str]) -> list[Message]:
    return [parse(line) for line in lines]


def only(lines: list[str], command: str) -> list[Message]:
    """The parsed lines whose command (or numeric) is `command`."""
    return [m for m in msgs(lines) if m.command == command]


def one(lines: list[str], command: str) -> Message:
    found = only(lines, command)
    assert len(found) == 1, f"expected one {command}, got {lines}"
    return found[0]


def join_all(channel: str, *clients: Scripted) -> None:
    """Join already registered clients to `channel`, in order, and discard what they received."""
    for c in clients:
        c.send(f"JOIN {channel}")
    for c in clients:
        c.take()


def history_texts(client: Scripted, channel: str) -> list[str]:
    """The texts of a channel's stored history as CHATHISTORY gives them to `client` (one of
    its members), oldest first: what is kept, seen the way a client sees it, on any backend."""
    lines = client.send(f"CHATHISTORY LATEST {channel} * 100")
    return [m.params[-1] for m in msgs(lines) if m.command in ("PRIVMSG", "NOTICE")]
