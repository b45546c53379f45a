"""Accounts over real sockets: SASL during registration with each mechanism (EXTERNAL with a
client certificate over TLS), bad credentials, aborted and overlong AUTHENTICATE, a registered
nick, and private history; the checks run on the core's worker threads."""

from __future__ import annotations

import base64
import ssl

import pytest
from ircclient import HOST, Client

from .account_helpers import ITERATIONS, PASSWORD, ScramClient, b64, plain

ACCOUNTS = {"flood_limit": False, "scram_iterations": ITERATIONS}


@pytest.fixture
def accounts_server(server_factory):
    return server_factory(**ACCOUNTS)


def make_account(server, nick: str, port: int | None = None, tls=None) -> Client:
    c = Client(port or server.port, tls=tls)
    c.register(nick)
    c.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    c.expect_numeric("900")
    return c


def any_node(server) -> int:
    """A port to connect to: on a cluster the next node in turn, so that an account made
    through one node logs in through another."""
    next_node = getattr(server, "next_node", None)
    return next_node().port if next_node is not None else server.port


def sasl_start(port: int, nick: str = "someone", tls=None) -> Client:
    c = Client(port, tls=tls)
    c.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real Name")
    c.expect(r"CAP \S+ ACK :?sasl")
    return c


def test_sasl_plain_during_registration(accounts_server):
    make_account(accounts_server, "alice").close()
    c = sasl_start(any_node(accounts_server))
    c.send("AUTHENTICATE PLAIN")
    c.expect(r"^AUTHENTICATE \+$")
    c.send("AUTHENTICATE " + plain("alice", PASSWORD))
    logged_in = c.expect_numeric("900")
    assert logged_in.params[1:] == [
        f"someone!~u@{HOST}",
        "alice",
        "You are now logged in as alice",
    ]
    c.expect_numeric("903")
    c.send("CAP END")
    c.expect_numeric("001")
    c.send("WHOIS someone")
    assert c.expect_numeric("330").params[1:3] == ["someone", "alice"]


def test_sasl_scram_sha_256_during_registration(accounts_server):
    make_account(accounts_server, "alice").close()
    c = sasl_start(any_node(accounts_server))
    client = ScramClient("alice", PASSWORD)
    c.send("AUTHENTICATE SCRAM-SHA-256")
    c.expect(r"^AUTHENTICATE \+$")
    c.send("AUTHENTICATE " + b64(client.first()))
    server_first = base64.b64decode(c.expect(r"^AUTHENTICATE ").params[0])
    c.send("AUTHENTICATE " + b64(client.final(server_first)))
    server_final = base64.b64decode(c.expect(r"^AUTHENTICATE ").params[0])
    assert client.verify(server_final)
    c.send("AUTHENTICATE +")
    c.expect_numeric("903")


@pytest.mark.single_process  # the cluster harness's nodes listen without TLS
def test_sasl_external_with_a_client_certificate(server_factory, certificate, client_certificate):
    cert, key = certificate
    server = server_factory(tls_cert=cert, tls_key=key, **ACCOUNTS)
    client_cert, client_key, fingerprint = client_certificate
    with_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with_cert.check_hostname = False
    with_cert.verify_mode = ssl.CERT_NONE
    with_cert.load_cert_chain(client_cert, client_key)
    owner = make_account(server, "alice", server.tls_port, with_cert)
    owner.send("PRIVMSG NickServ :CERT ADD")
    added = owner.expect("NOTICE alice :Certificate ")
    assert fingerprint in added.params[1]  # the fingerprint the server saw is the certificate's
    owner.close()
    c = sasl_start(server.tls_port, tls=with_cert)
    c.send("AUTHENTICATE EXTERNAL")
    c.expect(r"^AUTHENTICATE \+$")
    c.send("AUTHENTICATE +")
    assert c.expect_numeric("900").params[2] == "alice"
    c.expect_numeric("903")
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.check_hostname = False
    no_cert.verify_mode = ssl.CERT_NONE
    anonymous = sasl_start(server.tls_port, tls=no_cert)
    anonymous.send("AUTHENTICATE EXTERNAL")
    assert "TLS client certificate" in anonymous.expect_numeric("904").params[-1]


def test_bad_credentials_abort_and_overlong(accounts_server):
    make_account(accounts_server, "alice").close()
    c = sasl_start(any_node(accounts_server))
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", "wrong-password"))
    c.expect_numeric("904")
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE *")
    c.expect_numeric("906")
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + "A" * 401)
    c.expect_numeric("905")
    c.send("AUTHENTICATE PLAIN", *["AUTHENTICATE " + "A" * 400] * 17)
    c.expect_numeric("905")
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("nobody", "whatever-it-is"))
    c.expect_numeric("904")
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", "wrong-again"))
    c.expect_numeric("904")  # the third failure (aborts and overlong pieces do not count)
    c.send("AUTHENTICATE PLAIN")
    assert "too many failed attempts" in c.expect_numeric("904").params[-1]
    c.send("CAP END")
    c.expect_numeric("001")  # and registers without an account


def test_a_registered_nick_is_announced_and_private_history_is_kept(accounts_server):
    alice = make_account(accounts_server, "alice")
    bob = make_account(accounts_server, "bob")
    thief = Client(accounts_server.port)
    thief.send("NICK alice", "USER t 0 * :T")
    thief.expect_numeric("433")  # alice is online: the ordinary rule
    thief.send("NICK bob_")
    thief.expect_numeric("001")
    alice.send("QUIT")
    alice.wait_closed()
    thief.send("NICK alice")
    assert "alice is a registered nick" in thief.expect("NOTICE alice :").params[1]
    bob.send("CAP REQ :draft/chathistory batch", "PRIVMSG alice :not you, I hope")
    reader = Client(any_node(accounts_server))
    reader.register("alice_")
    reader.send("PRIVMSG NickServ :IDENTIFY alice " + PASSWORD)
    reader.expect_numeric("900")
    reader.send("PRIVMSG bob :this is the real alice")
    bob.expect("PRIVMSG bob :this is the real alice")
    bob.send("CHATHISTORY LATEST alice * 10")
    bob.expect("BATCH \\+\\S+ chathistory alice")
    assert bob.expect("PRIVMSG bob :").params[1] == "this is the real alice"
    bob.send("CHATHISTORY LATEST alice_ * 10")  # alice_ is logged in as alice: the same
    bob.expect("BATCH \\+\\S+ chathistory alice_")
    assert bob.expect("PRIVMSG bob :").params[1] == "this is the real alice"
    # the line to the unidentified alice went to bob's history with that nick, not with alice's
    reader.send("CAP REQ :draft/chathistory batch")
    reader.send("CHATHISTORY LATEST bob * 10")
    reader.expect("BATCH \\+\\S+ chathistory bob")
    lines = reader.collect("PRIVMSG", "BATCH -")
    assert [m.params[1] for m in lines] == ["this is the real alice"]
