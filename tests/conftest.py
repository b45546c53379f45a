"""Shared fixtures: a real chatd reactor on loopback in a background thread."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from certs import self_signed  # noqa: E402
from ircclient import RunningServer, start_server  # noqa: E402
from procs import Proc  # noqa: E402


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
def proc_factory():
    procs: list[Proc] = []

    def make(*args, **kw) -> Proc:
        proc = Proc(*args, **kw)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.stop()


@pytest.fixture(scope="session")
def redis_server():
    """One redis-server for the session (tests flush it before use)."""
    from cluster_harness import RedisServer

    redis = RedisServer()
    yield redis
    redis.stop()


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


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    """A throwaway self-signed certificate for localhost, made at test time: (cert, key) paths."""
    cert, key, _ = self_signed(tmp_path_factory.mktemp("tls"), "localhost", "cert", "localhost")
    return cert, key


@pytest.fixture(scope="session")
def client_certificate(tmp_path_factory):
    """A self-signed client certificate, as IRC users make for SASL EXTERNAL (CertFP):
    (cert path, key path, SHA-256 fingerprint in hex)."""
    return self_signed(tmp_path_factory.mktemp("client-tls"), "alice", "client")
