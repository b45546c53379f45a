"""SASL, sans-IO: the SCRAM-SHA-256 primitives against the RFC 7677 test vector, SASLprep,
AUTHENTICATE framing, and the state machine of each mechanism (PLAIN, SCRAM-SHA-256, EXTERNAL)
driven through the chat state with `Effects` carrying out the deferred work."""

from __future__ import annotations

import base64
import json

import pytest
from ircclient import HOST, numerics

from chatd.server import sasl
from chatd.server.state import Deferred, Later

from .account_helpers import (
    PASSWORD,
    ScramClient,
    account_state,
    add_account,
    authenticate_param,
    b64,
    plain,
    run,
    sasl_client,
)

# Sans-IO: the state is driven directly, time travels (Effects); once, on one process.
pytestmark = pytest.mark.single_process

# -- RFC 7677 section 3: the SCRAM-SHA-256 test vector --------------------------------------------

RFC_USER, RFC_PASSWORD = "user", "pencil"
RFC_CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC_SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
RFC_CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
RFC_SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_rfc7677_vector_server_side():
    creds = sasl.make_credentials(RFC_PASSWORD, 4096, RFC_SALT)
    exchange = sasl.ScramExchange()
    assert exchange.first(RFC_CLIENT_FIRST) == RFC_USER
    assert exchange.challenge(creds, RFC_SERVER_NONCE) == RFC_SERVER_FIRST
    assert exchange.final(RFC_CLIENT_FINAL) == RFC_SERVER_FINAL


def test_rfc7677_vector_client_proof_and_wrong_proof():
    salted = sasl.salted_password(RFC_PASSWORD, RFC_SALT, 4096)
    auth = b"n=user,r=rOprNGfwEbeRWgbNEkqO," + RFC_SERVER_FIRST + b"," + RFC_CLIENT_FINAL[:-47]
    proof = base64.b64encode(sasl.client_proof(sasl.client_key(salted), auth.decode()))
    assert proof == b"dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    wrong = sasl.make_credentials("pencil2", 4096, RFC_SALT)
    exchange = sasl.ScramExchange()
    exchange.first(RFC_CLIENT_FIRST)
    exchange.challenge(wrong, RFC_SERVER_NONCE)
    assert exchange.final(RFC_CLIENT_FINAL) is None


@pytest.mark.parametrize(
    "message",
    [
        b"p=tls-unique,,n=user,r=abc",  # channel binding is not offered
        b"n,,r=abc,n=user",  # attribute order
        b"n,,n=user,r=abc,m=ext",  # a mandatory extension
        b"n,,n=us=er,r=abc",  # a bad saslname escape
        b"n,a=other,n=user,r=abc",  # someone else's authorization identity
        b"n,,n=user,r=a,b",  # a nonce with a comma
        b"\xff",
    ],
)
def test_client_first_messages_that_are_refused(message):
    with pytest.raises(sasl.SaslError):
        sasl.ScramExchange().first(message)


def test_client_final_with_another_nonce_or_binding_is_refused():
    creds = sasl.make_credentials(RFC_PASSWORD, 4096, RFC_SALT)
    for bad in (RFC_CLIENT_FINAL.replace(b"k0,p", b"k1,p"), b"c=eSws," + RFC_CLIENT_FINAL[7:]):
        exchange = sasl.ScramExchange()
        exchange.first(RFC_CLIENT_FIRST)
        exchange.challenge(creds, RFC_SERVER_NONCE)
        with pytest.raises(sasl.SaslError):
            exchange.final(bad)


def test_credentials_are_plain_data_and_hold_no_password():
    creds = sasl.make_credentials("hunter2hunter2", 4096)
    data = sasl.credentials_data(creds)
    assert sasl.credentials_from(json.loads(json.dumps(data))) == creds
    assert "hunter2" not in json.dumps(data)
    assert sasl.verify_password(creds, "hunter2hunter2")
    assert not sasl.verify_password(creds, "hunter2hunter3")


def test_decoy_credentials_are_stable_per_name_and_cost_the_same():
    a = sasl.decoy_credentials(b"k", "nobody", 600_000)
    assert a == sasl.decoy_credentials(b"k", "nobody", 600_000)
    assert a.salt != sasl.decoy_credentials(b"k", "nobody2", 600_000).salt
    assert a.salt != sasl.decoy_credentials(b"k2", "nobody", 600_000).salt
    assert a.iterations == 600_000  # the same PBKDF2 work as a real account's check


# -- SASLprep (RFC 4013 section 3's examples) -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "prepared"),
    [("I\u00adX", "IX"), ("user", "user"), ("USER", "USER"), ("\u00aa", "a"), ("\u2168", "IX")],
)
def test_saslprep_examples(given, prepared):
    assert sasl.saslprep(given) == prepared


@pytest.mark.parametrize("given", ["\u0007", "\u0627\u0031", "a\u200eb"])
def test_saslprep_refusals(given):
    with pytest.raises(sasl.SaslError):
        sasl.saslprep(given)


# -- AUTHENTICATE framing -------------------------------------------------------------------------


def test_reassembly_of_400_byte_pieces():
    data = bytes(range(256)) * 2  # 512 bytes: 684 base64 characters
    text = base64.b64encode(data).decode()
    pieces = sasl.Reassembly()
    assert pieces.add(text[:400]) is None
    assert pieces.add(text[400:]) == data
    exact = base64.b64encode(b"x" * 300).decode()  # exactly 400 characters
    assert len(exact) == 400
    assert pieces.add(exact) is None
    assert pieces.add("+") == b"x" * 300
    assert pieces.add("+") == b""


def test_reassembly_bounds():
    with pytest.raises(sasl.TooLong):
        sasl.Reassembly().add("A" * 401)
    pieces = sasl.Reassembly()
    with pytest.raises(sasl.TooLong):
        for _ in range(100):
            pieces.add("A" * 400)
    with pytest.raises(sasl.SaslError):
        sasl.Reassembly().add("not base64!")


def test_server_challenges_are_chunked():
    assert sasl.chunks(b"") == ["+"]
    assert sasl.chunks(b"x" * 300) == [base64.b64encode(b"x" * 300).decode(), "+"]
    long = sasl.chunks(b"y" * 400)
    assert [len(p) for p in long] == [400, 136]


# -- the mechanisms through the state -------------------------------------------------------------


def test_plain_during_registration():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    assert c.send("AUTHENTICATE PLAIN") == ["AUTHENTICATE +"]
    assert c.send("AUTHENTICATE " + plain("alice", PASSWORD)) == []  # checked off the loop
    run(state, fx)
    lines = c.take()
    assert numerics(lines) == ["900", "903"]
    assert lines[0] == (
        f":chatd.local 900 guest guest!~u@{HOST} alice :You are now logged in as alice"
    )
    welcome = c.send("CAP END")
    assert numerics(welcome)[0] == "001"
    assert c.user.account == "alice" and "r" in c.user.modes


def test_plain_with_a_bad_password_or_an_unknown_name_costs_the_same_and_fails():
    state, fx = account_state()
    add_account(state, "alice")
    requests = []
    for name in ("alice", "nobody"):
        c = sasl_client(state)
        c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain(name, "wrong password"))
        [request] = state.requests
        requests.append(request)
        run(state, fx)
        assert numerics(c.take()) == ["904"]
        assert c.user.account is None
    # both were one PBKDF2 at the same iteration count, on a worker thread
    costs = [r.job.args[1].iterations for r in requests]
    assert all(isinstance(r, Deferred) and r.kind == "auth-checked" for r in requests)
    assert costs == [4096, 4096]


def test_plain_authzid_must_be_the_account():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN")
    lines = c.send("AUTHENTICATE " + plain("alice", PASSWORD, authzid="bob"))
    assert numerics(lines) == ["904"]
    assert state.requests == []


def test_scram_sha_256_during_registration():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    client = ScramClient("alice", PASSWORD)
    assert c.send("AUTHENTICATE SCRAM-SHA-256") == ["AUTHENTICATE +"]
    assert c.send("AUTHENTICATE " + b64(client.first())) == []  # the nonce is made off the loop
    run(state, fx)
    server_first = base64.b64decode(authenticate_param(c.take()))
    assert b",i=4096" in server_first
    server_final = base64.b64decode(
        authenticate_param(c.send("AUTHENTICATE " + b64(client.final(server_first))))
    )
    assert client.verify(server_final)  # the server proved it holds the ServerKey
    assert c.send("AUTHENTICATE +") == []
    run(state, fx)
    assert numerics(c.take()) == ["900", "903"]
    assert c.user.account == "alice"


def test_scram_with_a_wrong_password_fails_after_the_proof():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    client = ScramClient("alice", "not the password")
    c.send("AUTHENTICATE SCRAM-SHA-256", "AUTHENTICATE " + b64(client.first()))
    run(state, fx)
    server_first = base64.b64decode(authenticate_param(c.take()))
    assert c.send("AUTHENTICATE " + b64(client.final(server_first))) == []
    run(state, fx)
    assert numerics(c.take()) == ["904"]


def test_scram_for_an_unknown_name_looks_like_a_known_one():
    state, fx = account_state()
    add_account(state, "alice")
    firsts = []
    for name in ("nobody", "nobody", "alice"):
        c = sasl_client(state)
        client = ScramClient(name, "guess")
        c.send("AUTHENTICATE SCRAM-SHA-256", "AUTHENTICATE " + b64(client.first()))
        run(state, fx)
        server_first = base64.b64decode(authenticate_param(c.take()))
        firsts.append(dict(item.split("=", 1) for item in server_first.decode().split(",")))
        c.send("AUTHENTICATE " + b64(client.final(server_first)))
        run(state, fx)
        assert numerics(c.take()) == ["904"]
    unknown, again, known = firsts
    assert unknown["s"] == again["s"]  # the same salt every time, as a real account's
    assert unknown["i"] == known["i"] == "4096"
    assert unknown["r"] != again["r"]  # fresh server nonces


def test_external_with_a_registered_certificate():
    state, fx = account_state()
    fingerprint = "ab" * 32
    add_account(state, "alice", certs=(fingerprint,))
    c = sasl_client(state)
    c.user.certfp = fingerprint
    assert c.send("AUTHENTICATE EXTERNAL") == ["AUTHENTICATE +"]
    c.send("AUTHENTICATE +")
    run(state, fx)
    assert numerics(c.take()) == ["900", "903"]
    other = sasl_client(state)
    other.user.certfp = "cd" * 32  # a certificate nobody registered
    other.send("AUTHENTICATE EXTERNAL", "AUTHENTICATE " + b64(b"alice"))
    run(state, fx)
    assert numerics(other.take()) == ["904"]
    plain_tcp = sasl_client(state)
    assert numerics(plain_tcp.send("AUTHENTICATE EXTERNAL")) == ["904"]


def test_abort_and_a_late_result_is_ignored():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    assert numerics(c.send("AUTHENTICATE *")) == ["906"]
    run(state, fx)  # the check still finishes, but the exchange it belonged to is gone
    assert c.take() == []
    assert c.user.account is None


def test_abort_costs_nothing():
    state, _ = account_state()
    c = sasl_client(state)
    for _ in range(5):
        assert numerics(c.send("AUTHENTICATE PLAIN", "AUTHENTICATE *")) == ["AUTHENTICATE", "906"]
    assert state.requests == []


def test_overlong_authenticate_is_refused():
    state, _ = account_state()
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN")
    assert numerics(c.send("AUTHENTICATE " + "A" * 401)) == ["905"]
    c.send("AUTHENTICATE PLAIN")
    lines = c.send(*["AUTHENTICATE " + "A" * 400] * 17)
    assert numerics(lines) == ["905"]
    assert c.user.sasl is None and state.requests == []


def test_cap_end_during_an_exchange_aborts_it_and_registers():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    lines = c.send("CAP END")
    assert numerics(lines)[:2] == ["906", "001"]
    run(state, fx)
    assert c.user.account is None


def test_mechanisms_caps_and_already_authenticated():
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    lines = c.send("AUTHENTICATE DIGEST-MD5")
    assert numerics(lines) == ["908", "904"]
    assert (
        lines[0]
        == ":chatd.local 908 guest PLAIN,SCRAM-SHA-256,EXTERNAL :are available SASL mechanisms"
    )
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    run(state, fx)
    c.take()
    assert numerics(c.send("AUTHENTICATE PLAIN")) == ["907"]
    no_cap = account_state()[0]
    from ircclient import Scripted

    bare = Scripted(no_cap)
    bare.send("NICK x", "USER u 0 * :R")
    assert numerics(bare.send("AUTHENTICATE PLAIN")) == ["904"]


def test_failures_per_connection_are_bounded():
    state, fx = account_state(auth_max_failures=2)
    add_account(state, "alice")
    c = sasl_client(state)
    for _ in range(2):
        c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", "wrong"))
        run(state, fx)
        assert numerics(c.take()) == ["904"]
    assert numerics(c.send("AUTHENTICATE PLAIN")) == ["904"]  # no third check
    assert state.requests == []


def test_failures_per_account_back_off_for_every_name():
    state, fx = account_state(auth_account_burst=3, auth_account_backoff_max=8.0)
    add_account(state, "alice")
    for name in ("alice", "nobody"):  # throttling tells nothing about which names exist
        for _ in range(3):
            c = sasl_client(state)
            c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain(name, "wrong"))
            run(state, fx)
            assert numerics(c.take()) == ["904"]
        c = sasl_client(state)
        lines = c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain(name, "wrong"))
        assert numerics(lines) == ["AUTHENTICATE", "902"]  # locked for 1 s after the 3rd failure
        assert state.requests == []
    run(state, fx, later=1.0)
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    run(state, fx)
    assert numerics(c.take()) == ["900", "903"]  # the right password after the wait
    assert state.accounts.throttle.wait("alice", state.now) == 0  # and forgotten


def test_back_off_doubles_up_to_its_ceiling():
    state, _ = account_state(auth_account_burst=2, auth_account_backoff_max=8.0)
    throttle = state.accounts.throttle
    waits = []
    for _ in range(8):
        throttle.failed("bob", 100.0)
        waits.append(throttle.wait("bob", 100.0))
    assert waits == [0, 1, 2, 4, 8, 8, 8, 8]


def test_checks_at_once_are_bounded():
    state, fx = account_state(auth_max_pending=1)
    add_account(state, "alice")
    first, second = sasl_client(state), sasl_client(state)
    first.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    lines = second.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    assert numerics(lines) == ["AUTHENTICATE", "904"]
    assert "busy" in lines[-1]
    run(state, fx)
    assert numerics(first.take()) == ["900", "903"]
    second.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    run(state, fx)
    assert numerics(second.take()) == ["900", "903"]  # the slot was given back


def test_a_remote_replica_does_no_sasl_work():
    """On a cluster node the replica of another node's user ignores AUTHENTICATE: the
    conversation is its own node's, and only the outcome comes in (as a resume)."""
    state, fx = account_state()
    add_account(state, "alice")
    c = sasl_client(state)
    c.user.local = False
    assert c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD)) == []
    assert state.requests == [] and c.user.sasl is None
    state.resume(
        c.user,
        "login",
        {"ok": True, "account": "alice", "via": "sasl", "mechanism": "PLAIN", "counts": True},
    )
    assert c.user.account == "alice"


def test_what_enters_the_state_is_plain_data_without_secrets():
    """Every resume value (what a cluster would put in its log) is JSON, and none carries a
    password, a nonce's exchange state or a proof."""
    state, fx = account_state()
    add_account(state, "alice")
    seen = []
    original = state.resume

    def record(user, kind, value):
        seen.append((kind, json.dumps(value)))
        original(user, kind, value)

    state.resume = record
    c = sasl_client(state)
    c.send("AUTHENTICATE PLAIN", "AUTHENTICATE " + plain("alice", PASSWORD))
    run(state, fx)
    s = sasl_client(state)
    client = ScramClient("alice", PASSWORD)
    s.send("AUTHENTICATE SCRAM-SHA-256", "AUTHENTICATE " + b64(client.first()))
    run(state, fx)
    first = base64.b64decode(authenticate_param(s.take()))
    s.send("AUTHENTICATE " + b64(client.final(first)), "AUTHENTICATE +")
    run(state, fx)
    assert numerics(s.take()) == ["900", "903"]
    kinds = [kind for kind, _ in seen]
    assert kinds == ["auth-checked", "login", "sasl-nonce", "login"]
    assert not any(PASSWORD in text for _, text in seen)
    outcomes = [json.loads(text) for kind, text in seen if kind == "login"]
    assert outcomes == [
        {"ok": True, "account": "alice", "via": "sasl", "mechanism": "PLAIN", "counts": True},
        {
            "ok": True,
            "account": "alice",
            "via": "sasl",
            "mechanism": "SCRAM-SHA-256",
            "counts": True,
        },
    ]
    assert all(isinstance(r, Later) for r in state.requests) or state.requests == []
