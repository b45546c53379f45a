"""tests/soak: chatd subprocess helpers (chatd_proc) importable by the tests here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chatd_proc import ChatdProc


@pytest.fixture
def chatd_proc():
    procs: list[ChatdProc] = []

    def make(*args: str, **kw) -> ChatdProc:
        proc = ChatdProc(*args, **kw)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        proc.cleanup()
