"""docs/protocol.md against the server's own tables, so that neither can drift: every command of
the dispatch table, every capability, every ISUPPORT token (and the 005 line exactly, TARGMAX
included), every mode letter and every numeric the server sends is documented, and nothing is
documented that the server does not have."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatd.proto import caps, numerics
from chatd.server import channel, isupport
from chatd.server.config import Config
from chatd.server.dispatch import COMMANDS

DOC = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text()
SRC = Path(__file__).parents[1] / "src" / "chatd" / "server"  # what the server sends


def section(title: str) -> str:
    """The text under a `## title` heading, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    assert match, f"docs/protocol.md has no section {title!r}"
    return match.group(1)


def first_column(title: str) -> list[str]:
    """The backticked word starting each table row of a section (header rows aside)."""
    return re.findall(r"^\| `([^`]+)` \|", section(title), re.M)


def test_every_command_is_documented_and_no_other():
    documented = first_column("Commands")
    assert len(documented) == len(set(documented)), "a command is documented twice"
    assert set(documented) == set(COMMANDS)


def test_every_capability_is_documented_and_no_other():
    assert set(first_column("Capabilities")) == set(caps.SUPPORTED)


def test_capability_values_in_the_doc_are_the_defaults():
    values = isupport.cap_values(Config())
    text = section("Capabilities")
    for name, value in values.items():
        if value:
            assert f"`{value}`" in text, f"{name}={value} is not in the doc"


def test_the_005_line_in_the_doc_is_the_servers():
    block = re.search(r"```\n(.*?)```", section("ISUPPORT (005)"), re.S)
    assert block, "no 005 block"
    assert block.group(1).split() == isupport.tokens(Config())


def test_every_isupport_token_is_explained():
    names = {token.split("=", 1)[0] for token in isupport.tokens(Config())}
    assert set(first_column("ISUPPORT (005)")) == names


def test_targmax_in_the_doc_matches_005():
    (targmax,) = [t for t in isupport.tokens(Config()) if t.startswith("TARGMAX=")]
    assert targmax in DOC


def test_every_channel_mode_is_documented():
    letters = (
        channel.LIST_MODES
        + channel.PARAM_MODES
        + channel.SET_PARAM_MODES
        + channel.FLAG_MODES
        + channel.PREFIX_MODES
    )
    documented = [mode.lstrip("+") for mode in first_column("Channel modes")]
    assert sorted(documented) == sorted(letters)


def test_every_user_mode_is_documented():
    documented = [mode.lstrip("+") for mode in first_column("User modes")]
    assert sorted(documented) == sorted(channel.USER_MODES)


def _named() -> dict[str, str]:
    return {k: v for k, v in vars(numerics).items() if k.isupper()}


def test_every_numeric_is_documented_with_its_name():
    rows = re.findall(r"^\| `(\d{3})` \| (\w+) \|", section("Numerics"), re.M)
    assert dict((name, number) for number, name in rows) == _named()


def test_numerics_documented_as_not_sent_are_not_used():
    text = "".join(p.read_text() for p in SRC.rglob("*.py") if p.name != "numerics.py")
    used = {name for name in _named() if re.search(rf"\bN\.{name}\b", text)}
    rows = re.findall(r"^\| `\d{3}` \| (\w+) \| (.*) \|$", section("Numerics"), re.M)
    for name, what in rows:
        assert (name not in used) == (what == "named, not sent"), name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help_text(name):
    from chatd.server.help import HELP

    assert HELP[name][0].split()[0] == name
