"""tests/e2e: the proc_factory fixture (chatd as a real process)."""

from __future__ import annotations

import pytest
from procs import Proc


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
