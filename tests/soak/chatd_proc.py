"""chatd as a subprocess for the fault and soak tests: the log goes to a file (a pipe nobody
reads would fill and stall the server), the port is read from it, and /proc gives RSS and CPU."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

CHATD = [sys.executable, "-m", "chatd.server"]
LISTEN_RX = re.compile(r"listening on \S+ port (\d+)")


class ChatdProc:
    def __init__(
        self, *args: str, port: int = 0, host: str = "127.0.0.1", timeout: float = 20.0
    ) -> None:
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - as long as the process
            "w", prefix="chatd-", suffix=".log", delete=False
        )
        self.log_path = self._log.name
        self.p = subprocess.Popen(
            [*CHATD, "--host", host, "--port", str(port), "--db", ":memory:", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        end = time.monotonic() + timeout
        while True:
            match = LISTEN_RX.search(self.log())
            if match:
                self.port = int(match.group(1))
                break
            if self.p.poll() is not None:
                raise AssertionError(f"chatd exited {self.p.returncode}: {self.log()[-2000:]}")
            if time.monotonic() > end:
                raise AssertionError("chatd did not start")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.p.pid

    def log(self) -> str:
        with open(self.log_path, errors="replace") as fh:
            return fh.read()

    def status_kib(self, field: str) -> int:
        """VmRSS (resident now) or VmHWM (peak resident) in KiB."""
        with open(f"/proc/{self.pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise KeyError(field)

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill9(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self) -> int | None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self._log.close()
        return self.p.returncode

    def cleanup(self) -> None:
        self.stop()
        with contextlib.suppress(OSError):
            os.unlink(self.log_path)
