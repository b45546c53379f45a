"""The configuration file (reading, errors, /set, saving, password commands), the disk logs,
and the command line's use of both."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from client_helpers import CLIENT, DEADLINE, client_env

from chatd.client import config as cfg
from chatd.client.cli import build, choose_servers, split_rooms
from chatd.client.config import ConfigError, ConfigFile
from chatd.client.logs import LogWriter, safe_name
from chatd.client.model import Buffer, Kind

ISSUE_FORM = """\
[[server]]
name = "home"
host = "127.0.0.1"
port = 8520
nick = "alice"
autojoin = ["#lobby", "#dev"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_form_in_the_issue_works_as_written(tmp_path: Path) -> None:
    settings = cfg.load(write(tmp_path, ISSUE_FORM))
    (home,) = settings.servers
    assert (home.name, home.host, home.port, home.nick) == ("home", "127.0.0.1", 8520, "alice")
    assert home.autojoin == ["#lobby", "#dev"] and home.autoconnect and not home.tls
    assert settings.bell and settings.log and settings.timestamp_format == "%H:%M"
    session, endpoint = build(home, settings, line_mode=False)
    assert (endpoint.host, endpoint.port, session.nick, session.name) == (
        "127.0.0.1", 8520, "alice", "home",
    )  # fmt: skip
    assert session.autojoin == ["#lobby", "#dev"]


def test_every_key_in_a_full_file(tmp_path: Path) -> None:
    text = """
nick = "al"
timestamp_format = "%H:%M:%S"
highlight = ["deploy", "release"]
bell = false
log = false
log_dir = "~/irclogs"
color = true
nicklist = "on"
mouse = true
reconnect_delay = 2
paste_confirm = 5
history_page = 30

[colors]
"log.highlight" = "bg:ansired ansiwhite"

[[server]]
name = "libera"
host = "irc.libera.chat"
tls = true
nick = "alice"
alt_nicks = ["alice_", "alicia"]
username = "al"
realname = "Alice A."
password_command = "echo hunter2"
autojoin = ["#chatd", "python"]
autoconnect = false
ignore = ["spammer", "*!*@bad.example"]
notify = ["bob"]
tls_cert = "/tmp/alice.pem"

[server.sasl]
mechanism = "SCRAM-SHA-256"
username = "alice"
password_command = "echo pencil"
"""
    settings = cfg.load(write(tmp_path, text))
    (libera,) = settings.servers
    assert libera.effective_port == 6697 and libera.autojoin == ["#chatd", "#python"]
    assert libera.sasl is not None and libera.sasl.mechanism == "SCRAM-SHA-256"
    assert settings.reconnect_delay == 2.0 and settings.colors["log.highlight"].startswith("bg:")
    assert settings.logs == Path("~/irclogs").expanduser()
    session, endpoint = build(libera, settings, line_mode=False)
    assert session.reg.password == "hunter2" and session.reg.sasl is not None
    assert session.reg.sasl.password == "pencil" and session.ignores[0] == "spammer"
    assert endpoint.tls and endpoint.cert == "/tmp/alice.pem"
    assert session.highlights == ["deploy", "release"] and session.notify.nicks == ["bob"]
    assert session.nick == "alice"  # the server's own nick wins over the global one
    libera.nick = ""
    assert build(libera, settings, line_mode=True)[0].nick == "al"
    # Written back, it reads the same.
    again = cfg.from_dict(tomllib.loads(cfg.to_toml(settings)))
    assert again == settings


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[server]]\nname = 'a'\nhots = 'x'\n", "[[server]] 1 (a): unknown key 'hots'"),
        ("[[server]]\nname = 'a'\n", "[[server]] 1 (a): host is required"),
        ("[[server]]\nname = 'a'\nhost = 'h'\nport = '8520'\n", "port must be a whole number"),
        ("[[server]]\nname = 'a'\nhost = 'h'\nport = 70000\n", "port must be from 1 to 65535"),
        ("[server]\nname = 'a'\nhost = 'h'\n", "[[server]] tables (two brackets)"),
        ("[[server]]\nname='a'\nhost='h'\n[[server]]\nname='A'\nhost='i'\n", "already named"),
        ("[[server]]\nname='a'\nhost='h'\nnick='9lives'\n", "not a valid nick"),
        ("[[server]]\nname='a'\nhost='h'\n[server.sasl]\nmechanism='MD5'\n", "must be one of"),
        ("[[server]]\nname='a'\nhost='h'\n[server.sasl]\nmechanism='EXTERNAL'\n", "needs tls_cert"),
        ("[[server]]\nname='a'\nhost='h'\ninsecure=true\n", "only makes sense with tls"),
        ("bell = 'yes'\n", "bell must be true or false"),
        ("nicklist = 'sometimes'\n", "must be one of auto, on, off"),
        ("colour = true\n", "unknown key 'colour'"),
        ("bell = \n", "Invalid value"),
    ],
)
def test_mistakes_are_one_clear_line_naming_the_place(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        cfg.load(write(tmp_path, text))
    assert message in str(info.value) and str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)


def test_set_shows_and_changes_settings_and_save_keeps_them(tmp_path: Path) -> None:
    path = write(tmp_path, "# my notes\n" + ISSUE_FORM)
    store = ConfigFile(cfg.load(path), path)
    assert "bell" in store.names() and "home.nick" in store.names()
    assert "home.sasl.mechanism" in store.names()
    assert store.describe("bell").startswith("bell = true    # ring")
    assert store.set("bell", "off") is False
    assert store.set("highlight", "deploy, release") == ["deploy", "release"]
    assert store.set("home.autojoin", '["#a", "b"]') == ["#a", "#b"]
    assert store.set("timestamp_format", "%H:%M:%S") == "%H:%M:%S"
    store.set("home.sasl.password", "s3cret")
    assert "s3cret" not in store.describe("home.sasl.password")
    for name, value, message in [
        ("nosuch", "1", "no setting 'nosuch'"),
        ("home.hots", "x", "a server has"),
        ("paste_confirm", "many", "must be a whole number"),
        ("home.nick", "9lives", "not a valid nick"),
        ("home.port", "0x", "whole number"),
    ]:
        with pytest.raises(ConfigError, match=message):
            store.set(name, value)
    assert store.get("home.nick") == "alice"  # a refused value changes nothing
    assert store.dirty
    store.save()
    assert not store.dirty
    saved = cfg.load(path)
    assert saved.bell is False and saved.servers[0].autojoin == ["#a", "#b"]
    assert saved.servers[0].sasl is not None and saved.servers[0].sasl.password == "s3cret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds a password
    assert (tmp_path / "config.toml.bak").read_text().startswith("# my notes")


def test_password_commands(tmp_path: Path) -> None:
    good = cfg.ServerConfig("a", "h", password_command=f"{sys.executable} -c \"print('pw')\"")
    assert cfg.server_password(good) == "pw"
    for command, message in [
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "exited with 3"),
        (f"{sys.executable} -c 'pass'", "printed nothing"),
        ("/no/such/program", "failed"),
        ("'unbalanced", "cannot parse"),
    ]:
        with pytest.raises(ConfigError, match=message):
            cfg.server_password(cfg.ServerConfig("a", "h", password_command=command))


def test_the_command_line_picks_servers_from_the_file(tmp_path: Path) -> None:
    import argparse

    settings = cfg.load(
        write(
            tmp_path, ISSUE_FORM + '\n[[server]]\nname = "off"\nhost = "x"\nautoconnect = false\n'
        )
    )

    def args(address: str | None, *rooms: str) -> argparse.Namespace:
        return argparse.Namespace(
            address=address, rooms=list(rooms), tls=False, insecure=False, password=None,
            realname=None, username=None, config=None,
        )  # fmt: skip

    assert [s.name for s in choose_servers(args(None), settings)] == ["home"]
    (named,) = choose_servers(args("off", "#x,#y"), settings)
    assert named.name == "off" and named.autojoin == ["#x", "#y"]
    (same,) = choose_servers(args("bob@127.0.0.1:8520"), settings)
    assert same.name == "home" and same.nick == "bob"  # its ignores and notify list apply
    (new,) = choose_servers(args("bob@elsewhere:7000"), settings)
    assert new.name == "elsewhere:7000" and settings.server("elsewhere:7000") is not None
    assert not settings.server("elsewhere:7000").autoconnect  # type: ignore[union-attr]
    assert split_rooms(["#a,b", "c"]) == ["#a", "#b", "#c"]


def test_no_address_and_no_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = {**client_env(), "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run(
        CLIENT, input=b"", capture_output=True, timeout=DEADLINE, env=env, check=False
    )
    assert done.returncode == 2
    err = done.stderr.decode()
    assert "no server to connect to" in err and "config.toml" in err and len(err.splitlines()) == 1
    (tmp_path / "chat-client").mkdir()
    (tmp_path / "chat-client" / "config.toml").write_text("[[server]]\nname = 1\n")
    done = subprocess.run(
        CLIENT, input=b"", capture_output=True, timeout=DEADLINE, env=env, check=False
    )
    assert done.returncode == 2 and "name must be a string" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


# ------------------------------------------------------------------------ logs


def test_logs_one_file_per_buffer_and_day(tmp_path: Path) -> None:
    writer = LogWriter(tmp_path)
    room = Buffer("#Lobby", "channel")
    day1 = time.mktime((2026, 11, 27, 23, 59, 0, 0, 0, -1))
    day2 = day1 + 120
    writer.write("home", room, room.add(day1, Kind.MESSAGE, "\x02late\x02 night", nick="bob"))
    writer.write("home", room, room.add(day1, Kind.ACTION, "yawns", nick="bob"))
    writer.write("home", room, room.add(day1, Kind.MESSAGE, "old", nick="bob", history=True))
    writer.write("home", room, room.add(day2, Kind.JOIN, "carol joined #lobby", nick="carol"))
    writer.close()
    first = tmp_path / "home" / "#lobby" / "2026-11-27.log"
    second = tmp_path / "home" / "#lobby" / "2026-11-28.log"
    assert first.read_text() == (
        "2026-11-27 23:59:00 <bob> late night\n2026-11-27 23:59:00 * bob yawns\n"
    )  # history fetched from the server is not written again
    assert second.read_text() == "2026-11-28 00:01:00 --> carol joined #lobby\n"
    assert safe_name("../etc") == "_.._etc" and safe_name("a/b") == "a_b"


def test_a_log_that_cannot_be_written_turns_logging_off_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "home").write_text("a file where the directory should be")
    errors: list[str] = []
    writer = LogWriter(tmp_path, on_error=errors.append)
    room = Buffer("#lobby", "channel")
    for _ in range(3):
        writer.write("home", room, room.add(time.time(), Kind.MESSAGE, "hi", nick="bob"))
    assert len(errors) == 1 and "Logging turned off" in errors[0] and not writer.enabled


def test_the_docs_describe_every_command_and_every_setting() -> None:
    from chatd.client import commands

    docs = (Path(__file__).parents[2] / "docs" / "client.md").read_text()
    rows = [line for line in docs.splitlines() if line.startswith("| `/")]
    for name in commands.names():
        assert any(f"/{name} " in row or f"`/{name}`" in row for row in rows), name
    for key in [*cfg.SETTINGS, *cfg.SERVER_FIELDS, *cfg.SASL_FIELDS]:
        assert re.search(rf"^{key} = ", docs, re.M), key
    from chatd.client.ui.style import STYLE_NAMES

    for style in STYLE_NAMES:
        assert f"`{style}`" in docs, style
