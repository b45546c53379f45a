"""Log output for chatd: lines to stderr, written once per loop iteration.

A line per connect and disconnect is on the hot path of a connection storm, so logging skips
what chatd's format never shows (caller, thread and process look-ups), and lines are written out
once per loop iteration, not one system call each (the reactor flushes the handler before it
sleeps).
"""

from __future__ import annotations

import logging
import sys
import time
import typing


def configure_logging(level: str) -> logging.Handler:
    """Log lines to stderr, batched; the reactor flushes the returned handler before it
    sleeps."""
    global _fast
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = _BatchedHandler(sys.stderr)
    formatter = _Formatter("%(asctime)s %(levelname)s %(message)s")
    handler.setFormatter(formatter)
    logging.basicConfig(level=level.upper(), handlers=[handler])
    _fast = (handler, formatter)
    return handler


_fast: tuple[_BatchedHandler, _Formatter] | None = None


def info(log: logging.Logger, msg: str, *args: object) -> None:
    """`log.info(msg, *args)` for the lines of a connection storm (a connect, a disconnect):
    when chatd's own batched handler is the only one listening, the line is formatted as it
    would format it and queued directly, without a LogRecord and the handler machinery
    (about 10% of the server's CPU per registration). Anything else listening (a test's
    capture, another handler) gets the ordinary path."""
    fast = _fast
    if fast is None or logging.root.handlers != [fast[0]] or log.handlers:
        log.info(msg, *args)
        return
    if not log.isEnabledFor(logging.INFO):
        return
    handler, formatter = fast
    now = time.time()
    handler.pending.append(f"{formatter.stamp(now)} INFO {msg % args}\n")


class _BatchedHandler(logging.StreamHandler[typing.TextIO]):
    """Collects formatted lines; `flush()` writes them in one go. logging.shutdown() flushes
    at exit, so only a kill -9 can lose the lines of the iteration it interrupts."""

    def __init__(self, stream: typing.TextIO) -> None:
        super().__init__(stream)
        self.pending: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.pending.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed: nowhere left to log


class _Formatter(logging.Formatter):
    """Formats the date once per second instead of once per line."""

    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int(record.msecs):03d}"

    def stamp(self, when: float) -> str:
        """What formatTime gives for a record created at `when`."""
        second = int(when)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        return f"{self._stamp},{int((when - second) * 1000):03d}"
