"""A real IRC client, irssi, driven in tmux against chatd: what a person would see."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from ircclient import wait_for

pytestmark = pytest.mark.skipif(
    not (shutil.which("irssi") and shutil.which("tmux")),
    reason="irssi and tmux are installed by .ci/run (apt-get); not on this machine",
)


class Tmux:
    def __init__(self, name: str, command: str) -> None:
        self.name = name
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", name, "-x", "120", "-y", "30", command], check=True
        )

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-t", self.name, "-p"], capture_output=True, text=True
        ).stdout

    def wait_screen(self, text: str) -> str:
        wait_for(lambda: text in self.screen(), timeout=10, what=f"{text!r} on screen")
        return self.screen()

    def kill(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def irssi(server, tmp_path):
    home = tmp_path / "irssi"
    home.mkdir()
    # irssi paces its own commands (2.2 s apart after a burst of 5); the test need not wait.
    (home / "config").write_text(
        'settings = { "irc/core" = { cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; }; };\n'
    )
    term = Tmux(
        f"chatd-irssi-{server.port}", f"irssi --home={home} -n alice -c 127.0.0.1 -p {server.port}"
    )
    yield term
    term.kill()


def test_irssi_registers_joins_and_chats(server, irssi):
    wait_for(
        lambda: (u := server.state.find_user("alice")) and u.registered,
        timeout=10,
        what="irssi registered",
    )
    irssi.keys("/join #lobby", "Enter")
    wait_for(lambda: server.state.find_channel("#lobby"), timeout=10, what="#lobby exists")
    bob = server.client("bob")
    bob.join("#lobby")
    irssi.wait_screen("bob")  # the join line
    bob.send("PRIVMSG #lobby :hello alice, from a raw socket")
    irssi.wait_screen("< bob> hello alice, from a raw socket")
    irssi.keys("hi bob, typed in irssi", "Enter")
    bob.expect(r"^:alice!\S+ PRIVMSG #lobby :hi bob, typed in irssi$")
    irssi.keys("/topic #lobby Welcome to chatd", "Enter")
    bob.expect("TOPIC #lobby :Welcome to chatd")
    screen = irssi.wait_screen("Welcome to chatd")
    assert "Unknown command" not in screen
    assert "Irssi: warning" not in screen.lower()


def test_irssi_logs_in_with_sasl_plain(server_factory, tmp_path):
    """irssi's own SASL PLAIN (sasl_mechanism in its chatnet) during registration; its raw
    log is kept for the record."""
    from ircclient import Client

    server = server_factory(flood_limit=False, scram_iterations=4096)
    owner = Client(server.port)
    owner.register("alice")
    owner.send("PRIVMSG NickServ :REGISTER irssi-password")
    owner.expect_numeric("900")
    owner.send("QUIT")
    owner.wait_closed()
    home = tmp_path / "irssi-sasl"
    home.mkdir()
    (home / "config").write_text(
        f"""
servers = (
  {{ address = "127.0.0.1"; chatnet = "chatd"; port = "{server.port}"; use_tls = "no";
     autoconnect = "yes"; }}
);
chatnets = {{
  chatd = {{ type = "IRC"; sasl_mechanism = "plain"; sasl_username = "alice";
             sasl_password = "irssi-password"; }};
}};
settings = {{
  core = {{ nick = "alice"; user_name = "alice"; real_name = "Alice in irssi"; }};
  "irc/core" = {{ cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; }};
}};
"""
    )
    term = Tmux(f"chatd-irssi-sasl-{server.port}", f"irssi --home={home}")
    try:
        wait_for(
            lambda: (u := server.state.find_user("alice")) and u.account == "alice",
            timeout=10,
            what="irssi logged in with SASL",
        )
        screen = term.wait_screen("SASL authentication succeeded")  # irssi's words for 903
        assert "You are now logged in as alice" in screen
        rawlog = tmp_path / "irssi-sasl.rawlog"
        term.keys(f"/rawlog save {rawlog}", "Enter")
        wait_for(lambda: rawlog.exists() and "903" in rawlog.read_text(), timeout=10, what="rawlog")
        text = rawlog.read_text()
        assert "<< AUTHENTICATE PLAIN" in text and ">> AUTHENTICATE +" in text
        assert "irssi-password" not in text  # PLAIN goes base64-encoded (and only over TLS, please)
        print(text)  # the raw session, for the record (pytest -s)
    finally:
        term.kill()
