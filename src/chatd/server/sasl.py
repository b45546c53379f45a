"""SASL for the server side, sans-IO: SCRAM-SHA-256 credentials and exchanges (RFC 5802 and
RFC 7677), PLAIN (RFC 4616) and EXTERNAL (RFC 4422) messages, SASLprep (RFC 4013), and the
IRCv3 `AUTHENTICATE` framing (base64 in 400-byte pieces, bounded).

Nothing here touches the chat state, a socket or a clock, and nothing here draws randomness:
the server nonce of a SCRAM exchange and the salt of new credentials are passed in (they are
made by `make_nonce` and `make_salt` in a deferred job, never on the state machine). The chat
state drives this module from `commands/accounts.py`.

The client helper writes a sans-IO SCRAM client in `chatd/proto/scram.py`; when it lands, the
primitives below (`salted_password`, `stored_key`, `server_key`, `client_proof`, saslprep) are
the ones to share.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import stringprep
import unicodedata
from dataclasses import dataclass
from typing import Any

from ..limits import SASL_CHUNK, SASL_MAX_CHUNKS

SCRAM = "SCRAM-SHA-256"
PLAIN = "PLAIN"
EXTERNAL = "EXTERNAL"
MIN_ITERATIONS = 4096  # RFC 7677's floor
MAX_ITERATIONS = 10_000_000
SALT_BYTES = 16
NONCE_BYTES = 24
NONCE_MAX = 256  # characters of a client nonce accepted
PASSWORD_MAX = 300  # bytes: what fits in a NickServ line (account-registration spec)


class SaslError(ValueError):
    """A SASL message that cannot be accepted (answered with 904)."""


class TooLong(SaslError):
    """An AUTHENTICATE response past the length bounds (answered with 905)."""


# -- SASLprep (RFC 4013) --------------------------------------------------------------------------


def saslprep(text: str, stored: bool = True) -> str:
    """The SASLprep form of a password or name: non-ASCII spaces mapped to SPACE, soft
    characters removed, NFKC, prohibited characters and bad bidi refused (SaslError).
    Unassigned code points are refused for strings to be stored, allowed in queries."""
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing maps, nothing is prohibited
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    norm = unicodedata.normalize("NFKC", mapped)
    if not norm:
        return norm
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    for ch in norm:
        if any(table(ch) for table in prohibited):
            raise SaslError("prohibited character")
        if stored and stringprep.in_table_a1(ch):
            raise SaslError("unassigned code point")
    if any(stringprep.in_table_d1(ch) for ch in norm):
        if any(stringprep.in_table_d2(ch) for ch in norm):
            raise SaslError("mixed bidirectional text")
        if not (stringprep.in_table_d1(norm[0]) and stringprep.in_table_d1(norm[-1])):
            raise SaslError("bidirectional text must start and end right-to-left")
    return norm


# -- SCRAM-SHA-256 primitives (RFC 5802 section 3) ------------------------------------------------


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(Normalize(password), salt, i): PBKDF2-HMAC-SHA-256. The slow part: a deferred job."""
    return _pbkdf2(saslprep(password, stored=False), salt, iterations)


def _pbkdf2(text: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", text.encode("utf-8", "surrogatepass"), salt, iterations)


def client_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Client Key")


def stored_key(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def server_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Server Key")


def client_proof(salted: bytes, auth_message: bytes) -> bytes:
    """ClientKey XOR HMAC(StoredKey, AuthMessage): what a client sends (tests use it)."""
    key = client_key(salted)
    return _xor(key, _hmac(stored_key(key), auth_message))


def server_signature(server: bytes, auth_message: bytes) -> bytes:
    return _hmac(server, auth_message)


def make_salt() -> bytes:
    """A fresh salt (randomness: called only in deferred jobs and on the command line)."""
    return secrets.token_bytes(SALT_BYTES)


def make_nonce() -> str:
    """A fresh server nonce from `secrets` (called only in deferred jobs)."""
    return secrets.token_urlsafe(NONCE_BYTES)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What an account stores instead of its password (RFC 5802): the salt, the iteration
    count, StoredKey and ServerKey. They check a SCRAM proof, and a PLAIN password too."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def to_data(self) -> dict[str, Any]:
        """Plain data (for a resume value, which a cluster may log)."""
        b64 = base64.b64encode
        return {
            "salt": b64(self.salt).decode(),
            "iterations": self.iterations,
            "stored_key": b64(self.stored_key).decode(),
            "server_key": b64(self.server_key).decode(),
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> Credentials:
        d = base64.b64decode
        return cls(
            d(data["salt"]), int(data["iterations"]), d(data["stored_key"]), d(data["server_key"])
        )


def make_credentials(password: str, iterations: int, salt: bytes | None = None) -> Credentials:
    """SCRAM credentials for a password (PBKDF2: slow by design; a deferred job or the CLI)."""
    salt = salt if salt is not None else make_salt()
    salted = salted_password(password, salt, iterations)
    return Credentials(salt, iterations, stored_key(client_key(salted)), server_key(salted))


def verify_password(credentials: Credentials, password: str) -> bool:
    """Whether a PLAIN password matches SCRAM credentials: one PBKDF2 at the account's
    iteration count, compared in constant time (a deferred job)."""
    try:
        prepared, usable = saslprep(password, stored=False), True
    except SaslError:
        prepared, usable = password, False  # matches nothing, but costs the same PBKDF2
    salted = _pbkdf2(prepared, credentials.salt, credentials.iterations)
    matched = hmac.compare_digest(stored_key(client_key(salted)), credentials.stored_key)
    return matched and usable


def decoy_credentials(secret: bytes, name: str, iterations: int) -> Credentials:
    """Credentials for an account that does not exist: stable per name (the same salt on
    every attempt, as a real account has) and matched by no password or proof, so that an
    unknown name costs the same work and shows the same exchange as a known one."""
    seed = _hmac(secret, b"chatd decoy " + name.encode())
    return Credentials(
        seed[:SALT_BYTES], iterations, _hmac(seed, b"stored"), _hmac(seed, b"server")
    )


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


def _attributes(message: str) -> list[tuple[str, str]]:
    out = []
    for item in message.split(","):
        if len(item) < 2 or item[1] != "=" or not item[0].isalpha():
            raise SaslError("malformed SCRAM attribute")
        out.append((item[0], item[2:]))
    return out


def _unescape_name(text: str) -> str:
    """A saslname: "=2C" is a comma, "=3D" an equals sign, and no other "=" is allowed."""
    out = text.replace("=2C", ",").replace("=3D", "=")
    if "=" in text.replace("=2C", "").replace("=3D", ""):
        raise SaslError("bad escape in SCRAM name")
    return out


def _valid_nonce(nonce: str) -> bool:
    return 0 < len(nonce) <= NONCE_MAX and all("!" <= ch <= "~" and ch != "," for ch in nonce)


class ScramExchange:
    """The server side of one SCRAM-SHA-256 exchange: `first` reads the client-first message,
    `challenge` answers it once the caller has the credentials and a nonce, `final` checks the
    client's proof and gives the server signature. The checks cost two HMACs and a hash:
    microseconds, so they run on the loop; only the client runs PBKDF2."""

    __slots__ = (
        "gs2_header",
        "name",
        "client_nonce",
        "first_bare",
        "nonce",
        "server_first",
        "creds",
    )

    def __init__(self) -> None:
        self.gs2_header = ""
        self.name = ""
        self.client_nonce = ""
        self.first_bare = ""
        self.nonce = ""
        self.server_first = ""
        self.creds: Credentials | None = None

    def first(self, data: bytes) -> str:
        """Reads client-first-message; returns the (unescaped) user name asked for."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SaslError("SCRAM message is not UTF-8") from None
        flag, _, rest = text.partition(",")
        authzid, _, bare = rest.partition(",")
        if flag not in ("n", "y"):
            raise SaslError("channel binding is not supported")  # "p=..." or garbage
        if authzid and not authzid.startswith("a="):
            raise SaslError("malformed authzid")
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r":
            raise SaslError("client-first needs n= and r=")
        if any(key == "m" for key, _ in attrs):
            raise SaslError("mandatory extension not supported")
        name = saslprep(_unescape_name(attrs[0][1]), stored=False)
        if authzid and _unescape_name(authzid[2:]) != name:
            raise SaslError("authzid must be the account itself")
        if not name or not _valid_nonce(attrs[1][1]):
            raise SaslError("bad name or nonce")
        self.gs2_header = f"{flag},{authzid},"
        self.name = name
        self.client_nonce = attrs[1][1]
        self.first_bare = bare
        return name

    def challenge(self, creds: Credentials, server_nonce: str) -> bytes:
        """server-first-message for these credentials (a decoy's, for an unknown name)."""
        self.creds = creds
        self.nonce = self.client_nonce + server_nonce
        salt = base64.b64encode(creds.salt).decode()
        self.server_first = f"r={self.nonce},s={salt},i={creds.iterations}"
        return self.server_first.encode()

    def final(self, data: bytes) -> bytes | None:
        """Checks client-final-message: the server-final-message (`v=` signature) if the
        proof is right, None if it is not. Raises SaslError if the message is malformed."""
        creds = self.creds
        if creds is None:
            raise SaslError("no challenge was sent")
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise SaslError("SCRAM message is not ASCII") from None
        without_proof, sep, proof_attr = text.rpartition(",p=")
        if not sep:
            raise SaslError("client-final needs p=")
        attrs = dict(_attributes(without_proof))
        binding = base64.b64encode(self.gs2_header.encode()).decode()
        if attrs.get("c") != binding or attrs.get("r") != self.nonce:
            raise SaslError("channel binding or nonce mismatch")
        try:
            proof = base64.b64decode(proof_attr, validate=True)
        except (binascii.Error, ValueError):
            raise SaslError("bad proof encoding") from None
        auth = f"{self.first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(creds.stored_key, auth)
        if len(proof) != len(signature):
            proof = b"\0" * len(signature)  # compared all the same: no early answer
        key = _xor(proof, signature)
        if not hmac.compare_digest(hashlib.sha256(key).digest(), creds.stored_key):
            return None
        verifier = base64.b64encode(server_signature(creds.server_key, auth)).decode()
        return f"v={verifier}".encode()
