"""Helpers for the account tests: a state with cheap SCRAM credentials, accounts made without
the round trip, a SCRAM-SHA-256 client built from the RFC 5802 primitives, and the carrying out
of deferred work (`Effects`) at the state's own time."""

from __future__ import annotations

import base64

from ircclient import Effects, Scripted, make_state

from chatd.proto import scram
from chatd.proto.casemap import fold
from chatd.server import sasl
from chatd.server.accounts import Account
from chatd.server.state import ServerState

ITERATIONS = 4096  # RFC 7677's floor: tests stay fast; the default is 600,000
PASSWORD = "correct-horse-battery"


def account_state(**settings) -> tuple[ServerState, Effects]:
    settings.setdefault("scram_iterations", ITERATIONS)
    state = make_state(**settings)
    return state, Effects(state)


def run(state: ServerState, effects: Effects, later: float = 0.0) -> None:
    """Carry out what the state asked for, with the clock `later` seconds on."""
    if later:
        state.set_clock(state.now + later, state.wall + later)
    effects.run(state.now)


def add_account(
    state: ServerState, name: str, password: str = PASSWORD, certs: tuple[str, ...] = ()
) -> Account:
    account = Account(
        name,
        fold(name),
        int(state.wall),
        sasl.make_credentials(password, ITERATIONS),
        None,
        {fold(name): name},
        set(certs),
    )
    state.accounts.add(account)
    state.store.save_account(account.record())
    return account


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode() or "+"


def plain(name: str, password: str, authzid: str = "") -> str:
    return b64(f"{authzid}\0{name}\0{password}".encode())


class ScramClient:
    """proto/scram.py's client, on bytes as AUTHENTICATE carries them."""

    def __init__(self, name: str, password: str, nonce: str = "clientnonce0123456789") -> None:
        self.client = scram.ScramClient(name, password, nonce)

    def first(self) -> bytes:
        return self.client.first().encode()

    def final(self, server_first: bytes) -> bytes:
        return self.client.final(server_first.decode()).encode()

    def verify(self, server_final: bytes) -> bool:
        try:
            self.client.verify(server_final.decode())
        except scram.ScramError:
            return False
        return True


def sasl_client(state: ServerState, nick: str = "guest", host: str = "127.0.0.1") -> Scripted:
    """A client that asked for `sasl` and sent NICK and USER, before CAP END."""
    c = Scripted(state, host)
    c.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real Name")
    return c


def authenticate_param(lines: list[str]) -> str:
    """The parameter of the (single) AUTHENTICATE line among `lines`."""
    found = [line.split(" ", 1)[1] for line in lines if line.startswith("AUTHENTICATE ")]
    assert len(found) == 1, lines
    return found[0]
