"""A short soak (scripts/soak.py) in the normal suite: chatd under well-behaved, flooding,
slow-reading and garbage-sending clients for ~30 s. No well-behaved message may be lost."""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def load_soak():
    spec = importlib.util.spec_from_file_location("chatd_soak_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.soak
def test_short_soak_loses_nothing():
    soak = load_soak()
    seed = int(os.environ.get("CHATD_SOAK_SEED") or random.SystemRandom().randrange(1 << 32))
    args = argparse.Namespace(
        seconds=float(os.environ.get("CHATD_SOAK_SECONDS", "30")),
        clients=int(os.environ.get("CHATD_SOAK_CLIENTS", "80")),
        seed=seed,
        sendq=131072,
        ping_interval=5.0,
        ping_timeout=5.0,
    )
    print(f"soak seed {seed} (CHATD_SOAK_SEED={seed} to repeat)")
    report = soak.Soak(args).run()
    for key, value in report.items():
        print(f"{key:24} {value}")
    assert report["server_alive_at_end"] and report["server_exit_code"] == 0
    assert not report["server_errors"]
    assert report["messages_delivered"] > 100
    assert report["messages_lost"] == 0 and report["duplicates"] == 0
    assert not report["good_clients_dropped"]
    assert report["unfinished_at_drain"] == 0
    reasons = report["disconnects_by_reason"]
    assert reasons.get("Excess Flood [f]", 0) > 0  # the flooders were cut off
    assert report["rss_kib"]["peak"] < 200 * 1024
