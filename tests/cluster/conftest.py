"""tests/cluster: chatd nodes as subprocesses too (proc_factory)."""

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
