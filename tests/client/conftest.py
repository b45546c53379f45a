"""Fixtures for the client tests: a real chatd subprocess per test, and raw clients on it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from client_helpers import ChatdProcess, RawClient, Tmux


def _chatd_available() -> bool:
    return importlib.util.find_spec("chatd.server.__main__") is not None


class ChatdPool:
    """Fresh chatd processes, one spare (per set of options) always starting in the
    background, so a test never waits for a whole interpreter start-up (each test still gets a
    server of its own)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.spares: dict[tuple[str, ...], ChatdProcess] = {}

    def take(self, extra: tuple[str, ...] = ()) -> ChatdProcess:
        server = self.spares.pop(extra, None) or self._spawn(extra)
        self.spares[extra] = self._spawn(extra)
        return server.wait_ready()

    def _spawn(self, extra: tuple[str, ...]) -> ChatdProcess:
        return ChatdProcess(log_dir=self.log_dir, extra=list(extra)).spawn()

    def close(self) -> None:
        for spare in self.spares.values():
            spare.stop()


@pytest.fixture(scope="session")
def chatd_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatdPool]:
    if not _chatd_available():
        pytest.skip("chatd server not available")
    pool = ChatdPool(tmp_path_factory.mktemp("chatd-logs"))
    yield pool
    pool.close()


@pytest.fixture
def chatd(chatd_pool: ChatdPool) -> Iterator[ChatdProcess]:
    server = chatd_pool.take()
    yield server
    server.stop()


ACCOUNTS_CONFIG = (
    "# accounts for the client tests: SCRAM credentials cheap to make and check\n"
    "scram-iterations = 4096\n"
)


@pytest.fixture(scope="session")
def accounts_options(chatd_pool: ChatdPool) -> tuple[str, ...]:
    config = chatd_pool.log_dir / "accounts.toml"
    config.write_text(ACCOUNTS_CONFIG)
    return ("--config", str(config))


@pytest.fixture
def accounts_chatd(
    chatd_pool: ChatdPool, accounts_options: tuple[str, ...]
) -> Iterator[ChatdProcess]:
    """A chatd whose accounts (NickServ REGISTER) are cheap: for SASL and private history."""
    server = chatd_pool.take(accounts_options)
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


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    """A tmux server of our own (its own socket), killed at the end of the test."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux not installed")
    t = Tmux()
    yield t
    t.run("kill-server", check=False)
