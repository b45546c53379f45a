"""chatd as a subprocess for the end-to-end tests: its port is read from its log."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

CHATD = [sys.executable, "-m", "chatd.server"]


class Proc:
    """A chatd subprocess whose port is read from its log."""

    def __init__(self, *args: str, preexec=None, port: int = 0) -> None:
        self.p = subprocess.Popen(
            [*CHATD, "--host", "127.0.0.1", "--port", str(port), *args],
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=preexec,
        )
        self.log: list[str] = []
        match = None
        while match is None:
            line = self.p.stderr.readline()
            self.log.append(line)
            assert line, f"chatd did not start: {''.join(self.log)!r}"
            match = re.search(r"listening on \S+ port (\d+)", line)
        self.port = int(match.group(1))

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.p.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            code = self.p.wait(10)
        finally:
            if self.p.poll() is None:
                self.p.kill()
        self.log.extend(self.p.stderr.readlines())
        return code


def _read_log(proc: Proc) -> list[str]:
    """Non-blocking read of whatever the server logged so far."""
    os.set_blocking(proc.p.stderr.fileno(), False)
    try:
        chunk = proc.p.stderr.read()
    except (BlockingIOError, TypeError):
        chunk = None
    if chunk:
        proc.log.extend(chunk.splitlines(keepends=True))
    return proc.log
