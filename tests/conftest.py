"""Shared fixtures: a real chatd reactor on loopback in a background thread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ircclient import RunningServer, start_server  # noqa: E402


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
