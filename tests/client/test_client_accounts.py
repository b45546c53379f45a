"""chat-client logging in to real chatd accounts: SASL PLAIN and SCRAM-SHA-256 with an account
made by NickServ REGISTER, EXTERNAL with a client certificate NickServ CERT ADD registered, and
a wrong password (a warning, and the lines still go out). The real `chat-client` runs in line
mode or in tmux; other users see the account in the `account` tag of its messages."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from client_helpers import (
    CLIENT,
    DEADLINE,
    ChatdProcess,
    RawClient,
    Tmux,
    capable_client,
    client_env,
    free_port,
    port_open,
    register_account,
    wait_for,
)
from test_client_e2e_daily import start, write_config

pytestmark = pytest.mark.e2e

PASSWORD = "correct-horse-battery"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "cfg" / "chat-client").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    return tmp_path


def server_table(name: str, port: int, nick: str, extra: str = "") -> str:
    return (
        f'[[server]]\nname = "{name}"\nhost = "localhost"\nport = {port}\nnick = "{nick}"\n' + extra
    )


def line_mode(home: Path, *args: str, text: bytes) -> subprocess.CompletedProcess[bytes]:
    env = {**client_env(), "XDG_CONFIG_HOME": str(home / "cfg")}
    return subprocess.run(
        [*CLIENT, *args], input=text, capture_output=True, timeout=DEADLINE, env=env, check=False
    )


def test_sasl_plain_logs_in_to_a_chatd_account(accounts_chatd: ChatdProcess, home: Path) -> None:
    register_account(accounts_chatd.port, "alice", PASSWORD)
    bob = capable_client(accounts_chatd.port, "bob", "account-tag")
    try:
        bob.join("#lobby")
        write_config(
            home,
            server_table("acct", accounts_chatd.port, "alice")
            + f'[server.sasl]\nmechanism = "PLAIN"\nusername = "alice"\npassword = "{PASSWORD}"\n',
        )
        done = line_mode(home, "acct", text=b"logged in with PLAIN\n")
        assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
        line = bob.expect(r":alice!\S+ PRIVMSG #lobby :logged in with PLAIN")
        assert line.tags.get("account") == "alice"
    finally:
        bob.close()


def test_a_wrong_password_is_a_warning_and_the_lines_still_go_out(
    accounts_chatd: ChatdProcess, home: Path
) -> None:
    register_account(accounts_chatd.port, "alice", PASSWORD)
    bob = capable_client(accounts_chatd.port, "bob", "account-tag")
    try:
        bob.join("#lobby")
        write_config(
            home,
            server_table("acct", accounts_chatd.port, "ci")
            + '[server.sasl]\nmechanism = "PLAIN"\nusername = "alice"\npassword = "wrong one"\n',
        )
        done = line_mode(home, "acct", text=b"still delivered\n")
        assert done.returncode == 0, done.stderr.decode()
        line = bob.expect(r":ci!\S+ PRIVMSG #lobby :still delivered")
        assert "account" not in line.tags
        err = done.stderr.decode()  # one warning, with chatd's reason
        assert "SASL PLAIN as alice failed" in err and len(err.splitlines()) == 1, err
    finally:
        bob.close()


def test_sasl_scram_sha_256_in_the_terminal(
    accounts_chatd: ChatdProcess, tmux: Tmux, home: Path
) -> None:
    register_account(accounts_chatd.port, "alice", PASSWORD)
    write_config(
        home,
        server_table("acct", accounts_chatd.port, "alice")
        + '[server.sasl]\nmechanism = "SCRAM-SHA-256"\nusername = "alice"\n'
        + f'password_command = "echo {PASSWORD}"\n',
    )
    start(tmux, home, "--no-log")
    tmux.shows("You joined #lobby")
    tmux.keys("M-1")
    screen = tmux.shows("SASL SCRAM-SHA-256: logged in")
    assert "You are now logged in as alice" in screen
    tmux.keys("C-c")
    tmux.shows("CLIENT-EXITED:0")


def test_sasl_external_with_a_registered_client_certificate(
    accounts_options: tuple[str, ...],
    certificate: tuple[Path, Path],
    client_certificate: tuple[Path, Path, str],
    home: Path,
    tmp_path: Path,
) -> None:
    cert, key = certificate
    client_cert, client_key, fingerprint = client_certificate
    tls = free_port()
    options = ["--tls-port", str(tls), "--tls-cert", str(cert), "--tls-key", str(key)]
    server = ChatdProcess(log_dir=tmp_path, extra=[*accounts_options, *options]).start()
    wait_for(lambda: port_open(tls), what="TLS port open")
    with_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    with_cert.check_hostname = False
    with_cert.verify_mode = ssl.CERT_NONE
    with_cert.load_cert_chain(client_cert, client_key)
    owner = RawClient(tls, "alice", tls=with_cert)
    bob = capable_client(server.port, "bob", "account-tag")
    try:
        owner.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
        owner.expect_numeric("900")
        owner.send("PRIVMSG NickServ :CERT ADD")
        assert fingerprint in owner.expect("NOTICE alice :Certificate ").params[1]
        owner.close()
        bob.join("#lobby")
        tls_keys = f'tls = true\ninsecure = true\ntls_cert = "{client_cert}"\n'
        tls_keys += f'tls_key = "{client_key}"\n[server.sasl]\nmechanism = "EXTERNAL"\n'
        write_config(home, server_table("certified", tls, "alice", tls_keys))
        done = line_mode(home, "certified", text=b"my certificate speaks for me\n")
        assert done.returncode == 0 and done.stderr == b"", done.stderr.decode()
        line = bob.expect(r":alice!\S+ PRIVMSG #lobby :my certificate speaks for me")
        assert line.tags.get("account") == "alice"
    finally:
        bob.close()
        server.stop()
