"""The C load generator (cload.c): compile it once, run one scenario, read its figures.

`binary()` compiles `cload.c` with the system's C compiler into a cache directory keyed by
the source's hash (`$XDG_CACHE_HOME/chatd-bench`, or ~/.cache), or returns None when there is
no compiler: chatd-bench then falls back to the Python generator (load.py) and says so.
`run()` starts it on the load core and turns its raw counts into the same figures the Python
scenarios report.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("cload.c")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "chatd-bench")


def binary() -> str | None:
    """The compiled generator, built now if needed; None without a C compiler."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = _cache_dir() / f"cload-{digest}"
    if target.exists():
        return str(target)
    if cc is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    # with OpenSSL (the tls scenario) where its headers are installed, else without
    for flags in (["-DCLOAD_TLS", "-lssl", "-lcrypto"], []):
        done = subprocess.run(
            [cc, "-O2", "-o", str(tmp), str(SOURCE), *flags],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0:
            tmp.replace(target)
            return str(target)
    raise RuntimeError(f"compiling {SOURCE.name} failed:\n{done.stderr}")


def run(exe: str, scenario: str, options: dict[str, Any]) -> dict[str, Any]:
    """One run; the generator's raw figures (JSON), or {"error": ...}. It inherits this
    process's CPU affinity (chatd-bench pins itself to the load core)."""
    argv = [exe, scenario]
    for key, value in options.items():
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = int(value)
        argv.append(f"{key}={value}")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": done.stderr.strip() or f"cload exited with {done.returncode}"}
    raw: dict[str, Any] = json.loads(done.stdout)
    return raw


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """The table's figures from the generator's raw counts (the same keys as the Python
    scenarios: deliveries_per_s, server_cpu_pct, ...)."""
    if "error" in raw:
        return raw
    wall = raw["window_s"]
    srv = raw.get("server_cpu_s")
    redis = raw.get("redis_cpu_s")
    load = raw["load_cpu_s"]
    other = raw["busy_cpu_s"] - load - (srv or 0.0) - (redis or 0.0)
    fig: dict[str, Any] = {
        "window_s": wall,
        "server_cpu_pct": None if srv is None else 100.0 * srv / wall,
        "redis_cpu_pct": None if redis is None else 100.0 * redis / wall,
        "load_cpu_pct": 100.0 * load / wall,
        "other_cpu_pct": 100.0 * max(0.0, other) / wall,
        "generator": "c",
    }
    if "registrations" in raw:
        regs = raw["registrations"]
        fig["registrations_per_s"] = regs / wall
        fig["connect_errors"] = raw["connect_errors"]
        fig["server_cpu_us_per_reg"] = None if srv is None or not regs else 1e6 * srv / regs
        return fig
    delivered, messages = raw["delivered"], raw["messages"]
    fig.update(
        {
            "deliveries_per_s": delivered / wall,
            "messages_per_s": messages / wall,
            "latency_p50_ms": raw.get("latency_p50_ms"),
            "latency_p99_ms": raw.get("latency_p99_ms"),
            "latency_samples": raw["latency_samples"],
            "lost": raw["lost"],
            "extra": raw["extra"],
            "disconnects": raw["disconnects"],
            "rate_skipped": raw["rate_skipped"],
            "server_cpu_s_per_M": None if srv is None or not delivered else srv / (delivered / 1e6),
            "redis_cpu_s_per_M": (
                None if redis is None or not delivered else redis / (delivered / 1e6)
            ),
            "redis_cpu_us_per_msg": (
                None if redis is None or not messages else 1e6 * redis / messages
            ),
        }
    )
    return fig
