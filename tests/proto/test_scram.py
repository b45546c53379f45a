"""SCRAM-SHA-256: the RFC 7677 test vector on both sides, and clear errors for bad input."""

from __future__ import annotations

import base64

import pytest

from chatd.proto import scram
from chatd.proto.scram import ScramClient, ScramError, ScramServer

# RFC 7677, section 3: user "user", password "pencil".
CLIENT_NONCE = "rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_FIRST = (
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_vector_client_side() -> None:
    client = ScramClient("user", "pencil", nonce=CLIENT_NONCE)
    assert client.first() == CLIENT_FIRST
    assert client.final(SERVER_FIRST) == CLIENT_FINAL
    client.verify(SERVER_FINAL)  # does not raise


def test_rfc7677_vector_server_side() -> None:
    creds = scram.make_credentials("pencil", salt=SALT, iterations=4096)
    server = ScramServer(SERVER_NONCE)
    assert server.receive_first(CLIENT_FIRST) == "user"
    assert server.challenge(creds) == SERVER_FIRST
    assert server.receive_final(CLIENT_FINAL) == SERVER_FINAL


def test_keys_and_signatures_match_the_rfc_definitions() -> None:
    salted = scram.salted_password("pencil", SALT, 4096)
    key = scram.client_key(salted)
    creds = scram.make_credentials("pencil", salt=SALT)
    assert creds.stored_key == scram.stored_key(key)
    assert creds.server_key == scram.server_key(salted)
    auth = f"{CLIENT_FIRST[3:]},{SERVER_FIRST},{CLIENT_FINAL.rsplit(',p=', 1)[0]}"
    proof = scram.client_proof(key, auth)
    assert base64.b64encode(proof).decode() == CLIENT_FINAL.rsplit("p=", 1)[1]
    assert scram.verify_client_proof(creds.stored_key, auth, proof)
    assert not scram.verify_client_proof(creds.stored_key, auth, bytes(len(proof)))
    assert not scram.verify_client_proof(creds.stored_key, auth, proof[:-1])
    assert "v=" + base64.b64encode(scram.server_signature(creds.server_key, auth)).decode() == (
        SERVER_FINAL
    )


def test_a_wrong_password_is_an_invalid_proof_and_a_wrong_server_is_caught() -> None:
    creds = scram.make_credentials("pencil", iterations=4096)
    server = ScramServer(scram.make_nonce())
    client = ScramClient("user", "crayon")
    server.receive_first(client.first())
    final = client.final(server.challenge(creds))
    with pytest.raises(ScramError, match="invalid-proof"):
        server.receive_final(final)
    good = ScramClient("user", "pencil", nonce=CLIENT_NONCE)
    good.final(SERVER_FIRST)
    with pytest.raises(ScramError, match="signature is wrong"):
        good.verify("v=" + base64.b64encode(b"x" * 32).decode())
    with pytest.raises(ScramError, match="refused: other-error"):
        good.verify("e=other-error")


def test_round_trip_with_fresh_randomness_and_escaped_names() -> None:
    creds = scram.make_credentials("pässword")
    assert len(creds.salt) == scram.SALT_BYTES
    client = ScramClient("a,b=c", "pässword")
    server = ScramServer(scram.make_nonce())
    assert "n=a=2Cb=3Dc," in client.first()
    assert server.receive_first(client.first()) == "a,b=c"
    client.verify(server.receive_final(client.final(server.challenge(creds))))


def test_saslprep() -> None:
    assert scram.saslprep("I\u00adX") == "IX"  # soft hyphen maps to nothing
    assert scram.saslprep("\u2168") == "IX"  # NFKC
    assert scram.saslprep("a\u00a0b") == "a b"  # non-ASCII space
    with pytest.raises(ScramError, match="prohibited"):
        scram.saslprep("a\u0007")


@pytest.mark.parametrize(
    "message, reason",
    [
        ("", "empty"),
        ("r=abc,novalue", "expected a=value"),
        ("rr=abc", "attribute name"),
        ("r=a,r=b", "given twice"),
        ("1=a", "attribute name"),
    ],
)
def test_malformed_attributes_are_clear_errors(message: str, reason: str) -> None:
    with pytest.raises(ScramError, match=reason):
        scram.parse_attributes(message)


@pytest.mark.parametrize(
    "server_first, reason",
    [
        ("r=someoneelse123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        (f"r={CLIENT_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "does not extend ours"),
        (f"r={CLIENT_NONCE}x,s=!!!,i=4096", "not valid base64"),
        (f"r={CLIENT_NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=many", "not a number"),
        (f"r={CLIENT_NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", "outside"),
        (f"r={CLIENT_NONCE}x,i=4096", "'s' attribute"),
        (f"m=ext,r={CLIENT_NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "extensions"),
        ("e=unknown-user", "refused: unknown-user"),
    ],
)
def test_bad_server_first_messages(server_first: str, reason: str) -> None:
    with pytest.raises(ScramError, match=reason):
        ScramClient("user", "pencil", nonce=CLIENT_NONCE).final(server_first)


@pytest.mark.parametrize(
    "client_first, reason",
    [
        ("n=user,r=abc", "GS2 header"),
        ("p=tls-unique,,n=user,r=abc", "channel binding"),
        ("x,,n=user,r=abc", "channel binding flag"),
        ("n,,r=abc,n=user", "n= then r="),
        ("n,,n=us=ZZer,r=abc", "bad escape"),
        ("n,,n=user", "'r' attribute"),
        ("n,,n=user,r=a,b", "expected a=value"),
    ],
)
def test_bad_client_first_messages(client_first: str, reason: str) -> None:
    with pytest.raises(ScramError, match=reason):
        ScramServer("srvnonce").receive_first(client_first)


def test_bad_client_final_messages() -> None:
    creds = scram.make_credentials("pencil", salt=SALT)

    def server() -> ScramServer:
        s = ScramServer(SERVER_NONCE)
        s.receive_first(CLIENT_FIRST)
        s.challenge(creds)
        return s

    with pytest.raises(ScramError, match="nonce mismatch"):
        server().receive_final(CLIENT_FINAL.replace("$k0", "$k1"))
    with pytest.raises(ScramError, match="channel binding does not match"):
        server().receive_final(CLIENT_FINAL.replace("c=biws", "c=eSws"))
    with pytest.raises(ScramError, match="last attribute"):
        server().receive_final("p=abc," + CLIENT_FINAL.rsplit(",p=", 1)[0])
    with pytest.raises(ScramError, match="before the challenge"):
        ScramServer(SERVER_NONCE).receive_final(CLIENT_FINAL)
