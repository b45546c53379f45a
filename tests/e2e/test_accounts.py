"""Accounts with chatd as a real process: `chatd account add|list|passwd|remove` on the
database, SIGHUP picking up what the command line changed, and a registered room's founder and
auto-ops coming back after a restart with a file database."""

from __future__ import annotations

import signal
import subprocess

import pytest
from ircclient import Client, wait_for
from procs import CHATD, _read_log

PASSWORD = "founder-password"


@pytest.fixture
def setup(tmp_path):
    """A config with cheap SCRAM credentials and a file database: (config path, db path)."""
    db = tmp_path / "chatd.sqlite3"
    config = tmp_path / "chatd.toml"
    config.write_text(f'db = "{db}"\nscram-iterations = 4096\nflood-limit = false\n')
    return str(config), str(db)


def account(config: str, *args: str, password: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CHATD, "account", "--config", config, *args],
        capture_output=True,
        text=True,
        timeout=20,
        input=None if password is None else password + "\n",
    )


def sasl_login(port: int, nick: str, name: str, password: str) -> Client:
    import base64

    c = Client(port)
    c.send("CAP LS 302", "CAP REQ :sasl", f"NICK {nick}", "USER u 0 * :Real Name")
    c.send("AUTHENTICATE PLAIN")
    c.expect(r"^AUTHENTICATE \+$")
    c.send("AUTHENTICATE " + base64.b64encode(f"\0{name}\0{password}".encode()).decode())
    c.expect_numeric("(903|904)")
    c.send("CAP END")
    c.expect_numeric("001")
    return c


def test_account_command_line(setup, proc_factory):
    config, db = setup
    added = account(config, "add", "alice", "--email", "alice@example.org", password=PASSWORD)
    assert (added.returncode, added.stdout, added.stderr) == (0, "account alice added\n", "")
    again = account(config, "add", "Alice", password=PASSWORD)
    assert again.returncode == 1 and again.stderr == "chatd account: Alice is already registered\n"
    bad = account(config, "add", "Nick Serv", password=PASSWORD)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    weak = account(config, "add", "bob", password="short")
    assert weak.returncode == 1
    assert weak.stderr == "chatd account: Passwords need at least 8 characters\n"
    listed = account(config, "list")
    assert listed.returncode == 0 and listed.stdout.startswith("alice\tcreated ")
    assert "email alice@example.org" in listed.stdout
    missing = account(config, "passwd", "nobody", password=PASSWORD)
    assert missing.returncode == 1 and missing.stderr == "chatd account: no account nobody\n"
    usage = subprocess.run([*CHATD, "account"], capture_output=True, text=True, timeout=20)
    assert usage.returncode == 2
    # the server reads what the command line wrote; SIGHUP picks up later changes
    proc = proc_factory("--config", config)
    alice = sasl_login(proc.port, "alice", "alice", PASSWORD)
    assert "900" in " ".join(alice.lines)
    assert account(config, "add", "carol", password="carol-password").returncode == 0
    proc.p.send_signal(signal.SIGHUP)
    wait_for(lambda: any("accounts: 1 added" in l for l in _read_log(proc)), what="reload")
    carol = sasl_login(proc.port, "carol", "carol", "carol-password")
    assert any(" 903 " in l for l in carol.lines)
    assert account(config, "passwd", "carol", password="new-carol-password").returncode == 0
    removed = account(config, "remove", "alice")
    assert removed.returncode == 0 and removed.stdout.startswith("account alice removed")
    proc.p.send_signal(signal.SIGHUP)
    alice.expect_numeric("901")  # logged out: the account is gone
    assert account(config, "list").stdout.startswith("carol\t")


def test_founder_and_auto_op_get_their_status_back_after_a_restart(setup, proc_factory):
    config, db = setup
    proc = proc_factory("--config", config)
    alice = Client(proc.port)
    alice.register("alice")
    alice.send(f"PRIVMSG NickServ :REGISTER {PASSWORD}")
    alice.expect_numeric("900")
    bob = Client(proc.port)
    bob.register("bob")
    bob.send("PRIVMSG NickServ :REGISTER bob-password")
    bob.expect_numeric("900")
    alice.join("#home")
    alice.send("PRIVMSG ChanServ :REGISTER #home", "PRIVMSG ChanServ :AMODE #home +o bob")
    alice.expect("NOTICE alice :#home: bob gets auto-op")
    alice.send("TOPIC #home :alice's room")
    alice.expect("TOPIC #home")
    assert proc.stop() == 0

    proc = proc_factory("--config", config)
    first = Client(proc.port)
    first.register("eager")
    first.send("JOIN #home")
    names = first.expect_numeric("353")
    assert names.params[-1] == "eager"  # the first in an empty registered room is no op
    alice = sasl_login(proc.port, "alice", "alice", PASSWORD)
    alice.send("JOIN #home")
    alice.expect(r"^:ChanServ!ChanServ@\S+ MODE #home \+o alice$")
    first.expect(r"^:ChanServ!ChanServ@\S+ MODE #home \+o alice$")
    bob = sasl_login(proc.port, "bob", "bob", "bob-password")
    bob.send("JOIN #home")
    bob.expect(r"^:ChanServ!ChanServ@\S+ MODE #home \+o bob$")
    alice.send("MODE #home +v eager")  # alice runs the room again
    first.expect(r"^:alice!\S+ MODE #home \+v eager$")


def test_chat_client_logs_in_with_scram_sha_256(setup, proc_factory, tmp_path):
    """chatd's own terminal client (line mode), SCRAM-SHA-256 from its config, against real
    accounts: two implementations of RFC 5802 written apart, meeting."""
    import os
    import sys

    config, db = setup
    assert account(config, "add", "alice", password=PASSWORD).returncode == 0
    proc = proc_factory("--config", config)
    bob = Client(proc.port)
    bob.send("CAP REQ :account-tag", "NICK bob", "USER b 0 * :Bob", "CAP END")
    bob.expect_numeric("001")
    bob.join("#lobby")
    home = tmp_path / "cfg" / "chat-client"
    home.mkdir(parents=True)
    (home / "config.toml").write_text(
        f'[[server]]\nname = "acct"\nhost = "127.0.0.1"\nport = {proc.port}\nnick = "alice"\n'
        f'[server.sasl]\nmechanism = "SCRAM-SHA-256"\nusername = "alice"\npassword = "{PASSWORD}"\n'
    )
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    done = subprocess.run(
        [sys.executable, "-m", "chatd.client", "acct", "#lobby"],
        input=b"logged in, says the tag\n",
        capture_output=True,
        timeout=20,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    line = bob.expect(r"PRIVMSG #lobby :logged in, says the tag")
    assert line.tags["account"] == "alice"
    wait_for(lambda: any("as alice (SCRAM-SHA-256)" in l for l in _read_log(proc)), what="log")
