"""chatd as a real process: command line, signals, descriptor exhaustion."""

from __future__ import annotations

import resource
import signal
import socket
import subprocess
import time

import pytest
from ircclient import Client, wait_for
from procs import CHATD, _read_log


def run_cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CHATD, *args], capture_output=True, text=True, timeout=20, input=input)


def test_sigterm_tells_clients_and_exits_zero(proc_factory):
    proc = proc_factory("--no-flood-limit")
    alice = Client(proc.port)
    alice.register("alice")
    bob = Client(proc.port)
    bob.register("bob")
    alice.join("#lobby")
    bob.join("#lobby")
    alice.send("PRIVMSG #lobby :before shutdown")
    bob.expect("before shutdown")
    assert proc.stop() == 0
    for c in (alice, bob):
        c.expect("^ERROR :Closing Link: .*Server shutting down")
        c.wait_closed()
    assert any("shutting down" in l for l in proc.log)


def test_sigint_also_exits_zero(proc_factory):
    proc = proc_factory()
    c = Client(proc.port)
    c.register("carol")
    proc.p.send_signal(signal.SIGINT)
    assert proc.p.wait(10) == 0
    c.expect("^ERROR :Closing Link")


def test_logs_connect_and_disconnect_with_reason(proc_factory):
    proc = proc_factory()
    c = Client(proc.port)
    c.register("dave")
    c.send("QUIT :gone fishing")
    c.wait_closed()
    proc.stop()
    text = "".join(proc.log)
    assert "connect 127.0.0.1" in text
    assert "disconnect 127.0.0.1 dave: Quit: gone fishing" in text


def _low_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))


def test_emfile_backs_off_and_existing_clients_keep_chatting(proc_factory):
    proc = proc_factory(
        "--no-flood-limit",
        "--max-per-ip",
        "1000",
        "--ip-connect-burst",
        "1000",
        preexec=_low_fd_limit,
    )
    alice = Client(proc.port)
    alice.register("alice")
    bob = Client(proc.port)
    bob.register("bob")
    # Fill the server's descriptor table; the kernel keeps completing handshakes in the backlog.
    extra = []
    for _ in range(60):
        s = socket.socket()
        s.settimeout(5)
        s.connect(("127.0.0.1", proc.port))
        extra.append(s)
    wait_for(lambda: any("accept failed" in l for l in _read_log(proc)), what="EMFILE logged")
    cpu_before = proc.cpu_seconds()
    wall_before = time.monotonic()
    for i in range(200):
        alice.send(f"PRIVMSG bob :{i}")
        bob.expect(f"PRIVMSG bob :{i}$")
    wall = time.monotonic() - wall_before
    cpu = proc.cpu_seconds() - cpu_before
    # a server spinning on a readable listener would burn a whole core meanwhile
    assert cpu < max(0.5 * wall, 0.05), (cpu, wall)
    for s in extra:
        s.close()
    # descriptors come back: new clients are served again
    carol = Client(proc.port)
    carol.register("carol")
    proc.stop()
    warnings = [l for l in proc.log if "accept failed" in l]
    assert len(warnings) == 1, warnings


def test_help_explains_options():
    result = run_cli("--help")
    assert result.returncode == 0
    for option in (
        "--port",
        "--config",
        "--max-clients",
        "--sendq",
        "--ping-interval",
        "--no-flood-limit",
        "--motd",
        "--password",
        "--log-level",
    ):
        assert option in result.stdout


def test_port_in_use_is_one_clear_line(proc_factory):
    proc = proc_factory()
    result = run_cli("--host", "127.0.0.1", "--port", str(proc.port))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "cannot listen on 127.0.0.1" in result.stderr


@pytest.mark.parametrize(
    "content,message",
    [
        ("port = 'eighty'", "port must be int"),
        ("colour = 3", "unknown setting 'colour'"),
        ("port = [", "config"),
        ("sendq = -1", "sendq must be positive"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path, content, message):
    path = tmp_path / "chatd.toml"
    path.write_text(content)
    result = run_cli("--config", str(path))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_missing_config_file():
    result = run_cli("--config", "/nonexistent/chatd.toml")
    assert result.returncode == 2
    assert "cannot read config" in result.stderr


def test_config_file_values_and_option_override(tmp_path, proc_factory):
    motd = tmp_path / "motd.txt"
    motd.write_text("Be excellent to each other.\n")
    config = tmp_path / "chatd.toml"
    config.write_text(
        f'name = "irc.example.test"\nnetwork = "ExampleNet"\nmotd = "{motd}"\nnicklen = 12\n'
    )
    proc = proc_factory("--config", str(config), "--network", "Override")
    c = Client(proc.port)
    c.send("NICK n", "USER u 0 * :U")
    welcome = c.expect_numeric("001")
    assert welcome.source == "irc.example.test"
    assert "Override" in welcome.params[1]
    isupport = " ".join(" ".join(c.expect_numeric("005").params) for _ in range(1))
    assert "NICKLEN=12" in isupport
    c.expect("372 n :- Be excellent to each other.")


def test_hash_password_then_oper(tmp_path, proc_factory):
    hashed = run_cli("--hash-password", input="s3cret\n").stdout.strip()
    assert hashed.startswith("scrypt$")
    config = tmp_path / "chatd.toml"
    config.write_text(f'[opers]\nadmin = "{hashed}"\n')
    proc = proc_factory("--config", str(config))
    c = Client(proc.port)
    c.register("boss")
    c.send("OPER admin s3cret")
    c.expect_numeric("381")
    intruder = Client(proc.port)
    intruder.register("intruder")

    def guess() -> bool:  # one password check per 0.5 s server-wide: 263 means try again
        intruder.send("OPER admin wrong")
        return intruder.expect_numeric("(464|263)").command == "464"

    wait_for(guess, what="464 for a wrong password")


def test_example_config_is_complete_and_loads():
    """docs/chatd.example.toml names every setting and loads as it stands."""
    import dataclasses
    from pathlib import Path

    from chatd.server.config import Config, build, load_toml

    path = Path(__file__).parents[2] / "docs" / "chatd.example.toml"
    text = path.read_text()
    for field in dataclasses.fields(Config):
        name = field.name.removeprefix("cluster_")  # the [cluster] table's keys
        assert name.replace("_", "-") in text or name in text, field.name
    config = build(load_toml(str(path)))
    assert config == Config(opers={})
