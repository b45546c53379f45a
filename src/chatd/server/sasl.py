"""SASL for the server side, sans-IO: SCRAM-SHA-256 credentials and the server's half of an
exchange, PLAIN (RFC 4616) and EXTERNAL (RFC 4422) messages, and the IRCv3 `AUTHENTICATE`
framing (base64 in 400-byte pieces, bounded).

The SCRAM primitives (SASLprep, PBKDF2, ClientKey, StoredKey, ServerKey, proofs, signatures,
message parsing, `ScramServer`) are `chatd/proto/scram.py`'s, shared with the client. What is
added here is what a chat server needs around them: credentials as plain data (for a resume
value), checking a PLAIN password against SCRAM credentials at constant cost, decoy credentials
for names that are no account, and a server exchange whose nonce arrives after the
client-first message (it is made off the state machine).

Nothing here touches the chat state, a socket or a clock, and nothing here draws randomness:
`make_nonce` and `make_salt` are called only in deferred jobs and on the command line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from ..limits import SASL_CHUNK, SASL_MAX_CHUNKS
from ..proto.scram import (
    Credentials,
    ScramError,
    ScramServer,
    client_key,
    client_proof,
    make_nonce,
    make_salt,
    parse_client_first,
    salted_password,
    saslprep,
    server_key,
    server_signature,
    stored_key,
    unescape_name,
)
from ..proto.scram import make_credentials as _make_credentials

__all__ = [
    "Credentials",
    "client_key",
    "client_proof",
    "make_nonce",
    "make_salt",
    "salted_password",
    "saslprep",
    "server_key",
    "server_signature",
    "stored_key",
]

SCRAM = "SCRAM-SHA-256"
PLAIN = "PLAIN"
EXTERNAL = "EXTERNAL"
PASSWORD_MAX = 300  # bytes: what fits in a NickServ line (account-registration spec)

# One error for every mechanism: a SASL message that cannot be accepted (answered with 904).
SaslError = ScramError


class TooLong(SaslError):
    """An AUTHENTICATE response past the length bounds (answered with 905)."""


# -- credentials ----------------------------------------------------------------------------------


def make_credentials(password: str, iterations: int, salt: bytes | None = None) -> Credentials:
    """SCRAM credentials for a password (PBKDF2: slow by design; a deferred job or the CLI)."""
    return _make_credentials(password, salt=salt, iterations=iterations)


def credentials_data(credentials: Credentials) -> dict[str, Any]:
    """Plain data (for a resume value, which a cluster puts in its log)."""
    b64 = base64.b64encode
    return {
        "salt": b64(credentials.salt).decode(),
        "iterations": credentials.iterations,
        "stored_key": b64(credentials.stored_key).decode(),
        "server_key": b64(credentials.server_key).decode(),
    }


def credentials_from(data: dict[str, Any]) -> Credentials:
    d = base64.b64decode
    return Credentials(
        d(data["salt"]), int(data["iterations"]), d(data["stored_key"]), d(data["server_key"])
    )


def verify_password(credentials: Credentials, password: str) -> bool:
    """Whether a PLAIN password matches SCRAM credentials: one PBKDF2 at the account's
    iteration count, compared in constant time (a deferred job). A password SASLprep refuses
    matches nothing but costs the same PBKDF2, so the time tells nothing."""
    try:
        prepared, usable = saslprep(password), True
    except ScramError:
        prepared, usable = password, False
    raw = prepared.encode("utf-8", "surrogatepass")
    salted = hashlib.pbkdf2_hmac("sha256", raw, credentials.salt, credentials.iterations)
    matched = hmac.compare_digest(stored_key(client_key(salted)), credentials.stored_key)
    return matched and usable


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def decoy_credentials(secret: bytes, name: str, iterations: int) -> Credentials:
    """Credentials for an account that does not exist: stable per name (the same salt on
    every attempt, as a real account has) and matched by no password or proof, so that an
    unknown name costs the same work and shows the same exchange as a known one."""
    seed = _hmac(secret, b"chatd decoy " + name.encode())
    return Credentials(seed[:16], iterations, _hmac(seed, b"stored"), _hmac(seed, b"server"))


# -- AUTHENTICATE framing (IRCv3 sasl-3.1) --------------------------------------------------------


class Reassembly:
    """One client response arriving in AUTHENTICATE pieces: 400-byte pieces continue it, a
    shorter piece or `+` ends it. Bounded by SASL_MAX_CHUNKS pieces."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def add(self, piece: str) -> bytes | None:
        """The decoded response once complete, else None. Raises TooLong or SaslError."""
        if len(piece) > SASL_CHUNK:
            raise TooLong("piece longer than 400 bytes")
        if piece != "+":
            self.parts.append(piece)
            if len(self.parts) > SASL_MAX_CHUNKS:
                raise TooLong("response too long")
            if len(piece) == SASL_CHUNK:
                return None
        text, self.parts = "".join(self.parts), []
        if not text:
            return b""
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("invalid base64") from None


def chunks(data: bytes) -> list[str]:
    """A server challenge as AUTHENTICATE parameters: base64 in 400-byte pieces, `+` for an
    empty one or after a last piece of exactly 400."""
    text = base64.b64encode(data).decode()
    pieces = [text[i : i + SASL_CHUNK] for i in range(0, len(text), SASL_CHUNK)]
    if not pieces or len(pieces[-1]) == SASL_CHUNK:
        pieces.append("+")
    return pieces


# -- PLAIN and EXTERNAL ---------------------------------------------------------------------------


def parse_plain(data: bytes) -> tuple[str, str, str]:
    """authzid, authcid, password from a PLAIN response (RFC 4616)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("PLAIN response is not UTF-8") from None
    parts = text.split("\0")
    if len(parts) != 3 or not parts[1] or not parts[2]:
        raise SaslError("PLAIN response is malformed")
    if len(parts[2].encode()) > PASSWORD_MAX:
        raise SaslError("password too long")
    return parts[0], parts[1], parts[2]


def parse_external(data: bytes) -> str:
    """The authzid of an EXTERNAL response ("" for none)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError("EXTERNAL response is not UTF-8") from None


# -- the SCRAM-SHA-256 exchange, server side ------------------------------------------------------


class ScramExchange:
    """The server side of one SCRAM-SHA-256 exchange around `proto.scram.ScramServer`, whose
    nonce must be known when it starts: `first` reads the client-first message (the name to
    look up), `challenge` answers it once the caller has the credentials and a nonce made off
    the loop, `final` checks the proof. The checks cost two HMACs and a hash (microseconds, so
    they run on the loop); only the client runs PBKDF2."""

    __slots__ = ("first_message", "server")

    def __init__(self) -> None:
        self.first_message = ""
        self.server: ScramServer | None = None

    def first(self, data: bytes) -> str:
        """Reads client-first-message; returns the (SASLprep'd) user name asked for."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslError("SCRAM message is not UTF-8") from None
        name = parse_client_first(text).username
        authzid = text.split(",", 2)[1]
        if authzid and saslprep(unescape_name(authzid[2:])) != name:
            raise SaslError("the authorization identity must be the account itself")
        self.first_message = text
        return name

    def challenge(self, creds: Credentials, server_nonce: str) -> bytes:
        """server-first-message for these credentials (a decoy's, for an unknown name)."""
        self.server = ScramServer(server_nonce)
        self.server.receive_first(self.first_message)
        return self.server.challenge(creds).encode()

    def final(self, data: bytes) -> bytes | None:
        """Checks client-final-message: the server-final-message (`v=` signature) if the
        proof is right, None if it is not. Raises SaslError if the message is malformed."""
        if self.server is None:
            raise SaslError("no challenge was sent")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise SaslError("SCRAM message is not ASCII") from None
        try:
            return self.server.receive_final(text).encode()
        except ScramError as exc:
            if str(exc) == "invalid-proof":  # proto/scram.py's word for a wrong password
                return None
            raise
