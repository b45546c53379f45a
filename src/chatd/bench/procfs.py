"""Read a process's CPU time and resident memory from /proc.

Only file reads; nothing here opens sockets or keeps state. Linux only.
"""

from __future__ import annotations

import os
import resource
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` (all threads), in seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    # The command name (field 2) may contain spaces; fields after ')' are space separated.
    fields = raw[raw.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB, from VmRSS in /proc/PID/status."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def own_cpu_seconds() -> float:
    """CPU time (user + system) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def busy_cpu_seconds() -> float:
    """CPU time all cores spent running processes since boot (user, nice, system in /proc/stat).

    irq and softirq time is left out: on loopback most of it is the bench's own traffic.
    """
    with open("/proc/stat", "rb") as f:
        user, nice, system = (int(x) for x in f.readline().split()[1:4])
    return (user + nice + system) / CLOCK_TICKS


def machine_busy_pct(interval: float) -> float:
    """How busy the whole machine is over `interval` seconds, in % of one core."""
    before = busy_cpu_seconds()
    time.sleep(interval)
    return 100.0 * (busy_cpu_seconds() - before) / interval


def alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}/stat")


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def machine_summary() -> dict[str, str]:
    """Cores, CPU model, kernel and Python version, for the report header."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import platform

    return {
        "cores": str(os.cpu_count()),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
