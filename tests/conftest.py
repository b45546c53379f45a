"""Shared fixtures: a real chatd reactor on loopback in a background thread."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ircclient import RunningServer, start_server  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _hermetic_state_dir(tmp_path_factory):
    """chatd's default database lives under $XDG_STATE_HOME: never the real home in tests
    (subprocesses inherit this)."""
    saved = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(tmp_path_factory.mktemp("xdg-state"))
    yield
    if saved is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = saved


@pytest.fixture
def server_factory():
    started: list[RunningServer] = []

    def make(**settings) -> RunningServer:
        srv = start_server(**settings)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory) -> RunningServer:
    return server_factory(flood_limit=False)
