"""Fixtures for the client tests: a real chatd subprocess per test, and raw clients on it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from client_helpers import ChatdProcess, RawClient


def _chatd_available() -> bool:
    return importlib.util.find_spec("chatd.server.__main__") is not None


@pytest.fixture
def chatd(tmp_path: Path) -> Iterator[ChatdProcess]:
    if not _chatd_available():
        pytest.skip("chatd server not available")
    server = ChatdProcess(log_dir=tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def raw(chatd: ChatdProcess) -> Iterator[Callable[[str], RawClient]]:
    clients: list[RawClient] = []

    def make(nick: str) -> RawClient:
        client = RawClient(chatd.port, nick)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
