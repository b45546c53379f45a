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
