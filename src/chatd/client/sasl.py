"""SASL for chat-client, sans-IO: the mechanisms and IRC's AUTHENTICATE framing.

Owns PLAIN (RFC 4616), EXTERNAL (the TLS client certificate speaks for us) and SCRAM-SHA-256
(through chatd.proto.scram), and the base64 framing of AUTHENTICATE: payloads in chunks of
400 bytes, an exact multiple followed by "+", an empty payload sent as "+". Registration
(registration.py) drives the exchange; nothing here sends anything.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from chatd.proto import numerics as N
from chatd.proto import scram

# The SASL numerics a server answers AUTHENTICATE with (their names are in proto/numerics.py).
SASL_NUMERICS = frozenset(
    {
        N.RPL_LOGGEDIN,
        N.RPL_LOGGEDOUT,
        N.ERR_NICKLOCKED,
        N.RPL_SASLSUCCESS,
        N.ERR_SASLFAIL,
        N.ERR_SASLTOOLONG,
        N.ERR_SASLABORTED,
        N.ERR_SASLALREADY,
        N.RPL_SASLMECHS,
    }
)

PLAIN, EXTERNAL, SCRAM = "PLAIN", "EXTERNAL", scram.MECHANISM
MECHANISMS = (PLAIN, SCRAM, EXTERNAL)
CHUNK = 400  # bytes of base64 per AUTHENTICATE line
MAX_CHALLENGE = 8192  # bytes of base64 accepted from the server for one challenge


class SaslError(Exception):
    """The exchange cannot go on (a bad challenge, a server that failed to prove itself)."""


@dataclass(frozen=True)
class SaslConfig:
    mechanism: str
    username: str = ""
    password: str = ""

    def problem(self) -> str | None:
        """Why this configuration cannot work, or None."""
        if self.mechanism not in MECHANISMS:
            return f"unknown SASL mechanism {self.mechanism!r} (use {', '.join(MECHANISMS)})"
        if self.mechanism != EXTERNAL and (not self.username or not self.password):
            return f"SASL {self.mechanism} needs a username and a password"
        return None


class Mechanism:
    """One exchange: each challenge from the server gets a response."""

    name = ""

    def respond(self, challenge: bytes) -> bytes:
        raise NotImplementedError


class Plain(Mechanism):
    name = PLAIN

    def __init__(self, username: str, password: str) -> None:
        self.payload = f"{username}\0{username}\0{password}".encode()

    def respond(self, challenge: bytes) -> bytes:
        return self.payload


class External(Mechanism):
    name = EXTERNAL

    def respond(self, challenge: bytes) -> bytes:
        return b""  # no authorisation identity: the certificate's account


class Scram(Mechanism):
    name = SCRAM

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        self.client = scram.ScramClient(username, password, nonce)
        self.step = 0

    def respond(self, challenge: bytes) -> bytes:
        self.step += 1
        try:
            text = challenge.decode("utf-8")
            if self.step == 1:
                return self.client.first().encode()
            if self.step == 2:
                return self.client.final(text).encode()
            if self.step == 3:
                self.client.verify(text)
                return b""
        except (scram.ScramError, UnicodeDecodeError) as exc:
            raise SaslError(str(exc)) from None
        raise SaslError("the server asked for more than SCRAM has to say")


def mechanism(config: SaslConfig) -> Mechanism:
    if config.mechanism == PLAIN:
        return Plain(config.username, config.password)
    if config.mechanism == SCRAM:
        try:
            return Scram(config.username, config.password)
        except scram.ScramError as exc:
            raise SaslError(str(exc)) from None
    if config.mechanism == EXTERNAL:
        return External()
    raise SaslError(f"unknown SASL mechanism {config.mechanism!r}")


def encode(payload: bytes) -> list[str]:
    """The AUTHENTICATE parameters that carry one response."""
    text = base64.b64encode(payload).decode()
    chunks = [text[i : i + CHUNK] for i in range(0, len(text), CHUNK)]
    if not chunks or len(chunks[-1]) == CHUNK:
        chunks.append("+")
    return chunks


class Decoder:
    """Reassembles a challenge sent in AUTHENTICATE chunks."""

    def __init__(self) -> None:
        self._parts: list[str] = []

    def feed(self, param: str) -> bytes | None:
        """The whole challenge once its last chunk is in, else None."""
        if param != "+":
            self._parts.append(param)
            if sum(len(p) for p in self._parts) > MAX_CHALLENGE:
                self._parts.clear()
                raise SaslError("the server's challenge is too long")
            if len(param) == CHUNK:
                return None
        text, self._parts = "".join(self._parts), []
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("the server's challenge is not valid base64") from None
