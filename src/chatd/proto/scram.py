"""SCRAM-SHA-256 (RFC 5802 with the SHA-256 of RFC 7677), sans-IO, both sides.

Owns the SCRAM messages and keys: SASLprep of passwords, the salted password
(`hashlib.pbkdf2_hmac`), ClientKey, StoredKey and ServerKey, the client proof and the server
signature, attribute parsing (every malformed message raises `ScramError` with a clear
reason), and one exchange per side: `ScramClient` (what chat-client sends) and `ScramServer`
(what a server checks against the `Credentials` it stores; it never sees the password).

It must not do I/O or read clocks. Randomness is only in `make_nonce` and `make_salt`: a
deterministic server state calls those once, outside, and feeds the results in (the nonce of
a `ScramServer` is a constructor argument). The messages are text without the SASL base64
framing, which belongs to the carrier (IRC's AUTHENTICATE).
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

MECHANISM = "SCRAM-SHA-256"
HASH = "sha256"
DEFAULT_ITERATIONS = 4096  # RFC 7677 recommends at least 4096
MIN_ITERATIONS = 4096  # a client refuses weaker challenges
MAX_ITERATIONS = 1_000_000  # and absurd ones (a server cannot make a client burn minutes)
SALT_BYTES = 16
NONCE_BYTES = 18
GS2_HEADER = "n,,"  # no channel binding, no authorisation identity
CHANNEL_BINDING = base64.b64encode(GS2_HEADER.encode()).decode()  # "biws"


class ScramError(ValueError):
    """A SCRAM message that is malformed, or an exchange that fails (bad proof, bad nonce)."""


# ------------------------------------------------------------------ primitives


def saslprep(text: str) -> str:
    """RFC 4013 SASLprep (the stringprep profile for user names and passwords)."""
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    normal = unicodedata.normalize("NFKC", mapped)
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
    for ch in normal:
        if any(table(ch) for table in prohibited):
            raise ScramError(f"prohibited character U+{ord(ch):04X} in a SCRAM name or password")
        if stringprep.in_table_a1(ch):
            raise ScramError(f"unassigned code point U+{ord(ch):04X} in a SCRAM name or password")
    if any(stringprep.in_table_d1(ch) for ch in normal):
        if any(stringprep.in_table_d2(ch) for ch in normal):
            raise ScramError("mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(normal[0]) and stringprep.in_table_d1(normal[-1])):
            raise ScramError("right-to-left text must start and end with a right-to-left character")
    return normal


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SaltedPassword := Hi(Normalize(password), salt, i)."""
    if iterations < 1:
        raise ScramError(f"iteration count must be positive, not {iterations}")
    return hashlib.pbkdf2_hmac(HASH, saslprep(password).encode(), salt, iterations)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, HASH).digest()


def client_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Client Key")


def stored_key(key: bytes) -> bytes:
    """StoredKey := H(ClientKey)."""
    return hashlib.new(HASH, key).digest()


def server_key(salted: bytes) -> bytes:
    return _hmac(salted, b"Server Key")


def client_proof(key: bytes, auth_message: str) -> bytes:
    """ClientProof := ClientKey XOR HMAC(StoredKey, AuthMessage)."""
    signature = _hmac(stored_key(key), auth_message.encode())
    return bytes(a ^ b for a, b in zip(key, signature, strict=True))


def verify_client_proof(stored: bytes, auth_message: str, proof: bytes) -> bool:
    """Whether a client proof shows knowledge of the password behind `stored`."""
    signature = _hmac(stored, auth_message.encode())
    if len(proof) != len(signature):
        return False
    recovered = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
    return hmac.compare_digest(stored_key(recovered), stored)


def server_signature(key: bytes, auth_message: str) -> bytes:
    """ServerSignature := HMAC(ServerKey, AuthMessage)."""
    return _hmac(key, auth_message.encode())


def make_nonce() -> str:
    """A fresh printable nonce (no commas): the only randomness of an exchange."""
    return secrets.token_urlsafe(NONCE_BYTES)


def make_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


@dataclass(frozen=True)
class Credentials:
    """What a server stores for one account: never the password itself."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


def make_credentials(
    password: str, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> Credentials:
    salt = make_salt() if salt is None else salt
    salted = salted_password(password, salt, iterations)
    return Credentials(salt, iterations, stored_key(client_key(salted)), server_key(salted))


# ---------------------------------------------------------------- messages


def parse_attributes(message: str) -> dict[str, str]:
    """`a=1,b=2` as {"a": "1", "b": "2"}; each attribute a single letter, given once."""
    if not message:
        raise ScramError("empty SCRAM message")
    out: dict[str, str] = {}
    for part in message.split(","):
        name, eq, value = part.partition("=")
        if not eq:
            raise ScramError(f"malformed SCRAM attribute {part[:40]!r} (expected a=value)")
        if len(name) != 1 or not name.isascii() or not name.isalpha():
            raise ScramError(f"malformed SCRAM attribute name {name[:40]!r}")
        if name in out:
            raise ScramError(f"SCRAM attribute {name!r} given twice")
        out[name] = value
    return out


def _require(attrs: dict[str, str], *names: str) -> None:
    for name in names:
        if name not in attrs:
            raise ScramError(f"SCRAM message without its {name!r} attribute")
    if "m" in attrs:
        raise ScramError("SCRAM extensions ('m') are not supported")


def escape_name(name: str) -> str:
    """A user name inside a SCRAM message: ',' is =2C and '=' is =3D."""
    return name.replace("=", "=3D").replace(",", "=2C")


def unescape_name(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "=":
            code = text[i : i + 3]
            if code == "=2C":
                out.append(",")
            elif code == "=3D":
                out.append("=")
            else:
                raise ScramError(f"bad escape {code!r} in a SCRAM user name")
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ScramError(f"{what} is not valid base64") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _check_nonce(nonce: str) -> None:
    if not nonce or any(not (0x21 <= ord(ch) <= 0x7E) or ch == "," for ch in nonce):
        raise ScramError("a SCRAM nonce must be printable ASCII without commas")


# ------------------------------------------------------------------- client


class ScramClient:
    """One client exchange: `first()`, then `final(server_first)`, then `verify(server_final)`."""

    def __init__(self, username: str, password: str, nonce: str | None = None) -> None:
        self.username = saslprep(username)
        self.password = password
        self.nonce = nonce if nonce is not None else make_nonce()
        _check_nonce(self.nonce)
        self._bare = f"n={escape_name(self.username)},r={self.nonce}"
        self._expected_signature: bytes | None = None

    def first(self) -> str:
        return GS2_HEADER + self._bare

    def final(self, server_first: str) -> str:
        attrs = parse_attributes(server_first)
        if "e" in attrs:
            raise ScramError(f"the server refused: {attrs['e']}")
        _require(attrs, "r", "s", "i")
        nonce = attrs["r"]
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise ScramError("the server's nonce does not extend ours")
        _check_nonce(nonce)
        salt = _b64decode(attrs["s"], "the salt")
        if not attrs["i"].isdigit():
            raise ScramError(f"iteration count {attrs['i'][:20]!r} is not a number")
        iterations = int(attrs["i"])
        if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
            raise ScramError(
                f"iteration count {iterations} outside {MIN_ITERATIONS}..{MAX_ITERATIONS}"
            )
        without_proof = f"c={CHANNEL_BINDING},r={nonce}"
        auth_message = f"{self._bare},{server_first},{without_proof}"
        salted = salted_password(self.password, salt, iterations)
        proof = client_proof(client_key(salted), auth_message)
        self._expected_signature = server_signature(server_key(salted), auth_message)
        return f"{without_proof},p={_b64(proof)}"

    def verify(self, server_final: str) -> None:
        """Raise ScramError unless the server proved it knows our credentials too."""
        if self._expected_signature is None:
            raise ScramError("server-final before the client-final was made")
        attrs = parse_attributes(server_final)
        if "e" in attrs:
            raise ScramError(f"the server refused: {attrs['e']}")
        _require(attrs, "v")
        signature = _b64decode(attrs["v"], "the server signature")
        if not hmac.compare_digest(signature, self._expected_signature):
            raise ScramError("the server's signature is wrong (it does not know the password)")


# ------------------------------------------------------------------- server


@dataclass(frozen=True)
class ClientFirst:
    username: str
    nonce: str
    bare: str  # client-first-message-bare, part of the AuthMessage


def parse_client_first(message: str) -> ClientFirst:
    gs2, sep, rest = message.partition(",")
    authzid, sep2, bare = rest.partition(",")
    if not sep or not sep2:
        raise ScramError("client-first message without its GS2 header (n,,)")
    if gs2 == "p" or gs2.startswith("p="):
        raise ScramError("channel binding is not supported")
    if gs2 not in ("n", "y"):
        raise ScramError(f"bad GS2 channel binding flag {gs2[:10]!r}")
    if authzid and not authzid.startswith("a="):
        raise ScramError("bad authorisation identity in the GS2 header")
    attrs = parse_attributes(bare)
    _require(attrs, "n", "r")
    if list(attrs)[:2] != ["n", "r"]:
        raise ScramError("client-first message must start with n= then r=")
    _check_nonce(attrs["r"])
    username = saslprep(unescape_name(attrs["n"]))
    if not username:
        raise ScramError("empty SCRAM user name")
    return ClientFirst(username, attrs["r"], bare)


class ScramServer:
    """One server exchange: `receive_first` (gives the user name to look up), `challenge`
    with that account's Credentials, then `receive_final`, which returns the server-final
    message or raises ScramError (a wrong password is ScramError("invalid-proof"))."""

    def __init__(self, server_nonce: str) -> None:
        _check_nonce(server_nonce)
        self.server_nonce = server_nonce
        self._first: ClientFirst | None = None
        self._gs2 = ""
        self._server_first = ""
        self._credentials: Credentials | None = None

    def receive_first(self, message: str) -> str:
        self._first = parse_client_first(message)
        self._gs2 = message[: len(message) - len(self._first.bare)]
        return self._first.username

    def challenge(self, credentials: Credentials) -> str:
        if self._first is None:
            raise ScramError("challenge before the client-first message")
        self._credentials = credentials
        nonce = self._first.nonce + self.server_nonce
        self._server_first = f"r={nonce},s={_b64(credentials.salt)},i={credentials.iterations}"
        return self._server_first

    def receive_final(self, message: str) -> str:
        if self._first is None or self._credentials is None:
            raise ScramError("client-final before the challenge")
        attrs = parse_attributes(message)
        _require(attrs, "c", "r", "p")
        if list(attrs)[-1] != "p":
            raise ScramError("the proof must be the last attribute of client-final")
        if _b64decode(attrs["c"], "the channel binding").decode("latin-1") != self._gs2:
            raise ScramError("channel binding does not match the GS2 header")
        if attrs["r"] != self._first.nonce + self.server_nonce:
            raise ScramError("nonce mismatch")
        proof = _b64decode(attrs["p"], "the proof")
        without_proof = message[: message.rindex(",p=")]
        auth_message = f"{self._first.bare},{self._server_first},{without_proof}"
        if not verify_client_proof(self._credentials.stored_key, auth_message, proof):
            raise ScramError("invalid-proof")
        return "v=" + _b64(server_signature(self._credentials.server_key, auth_message))
