"""The notify list: being told when people come online or leave, sans-IO.

NotifyList owns the nicks to watch and who of them is online. With MONITOR in ISUPPORT it
hands the list to the server (`MONITOR +`), which then reports changes (730/731); without
it, `tick()` polls with ISON every ISON_INTERVAL seconds and compares the answers (303).
It returns the changes as text; the session shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chatd.proto import numerics as N
from chatd.proto.casemap import fold
from chatd.proto.message import Message

MONITOR_NUMERICS = frozenset(
    {N.RPL_MONONLINE, N.RPL_MONOFFLINE, N.RPL_MONLIST, N.RPL_ENDOFMONLIST, N.ERR_MONLISTFULL}
)
ISON_INTERVAL = 60.0
LINE_BUDGET = 400  # bytes of nicks per MONITOR or ISON line

Send = Callable[..., Message]


def _chunks(nicks: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    size = 0
    for nick in nicks:
        if not out or size + len(nick) + 1 > LINE_BUDGET:
            out.append([])
            size = 0
        out[-1].append(nick)
        size += len(nick) + 1
    return out


class NotifyList:
    def __init__(self, nicks: Iterable[str], send: Send) -> None:
        self.nicks: list[str] = []
        for nick in nicks:
            self._add(nick)
        self._send = send
        self.online: dict[str, str] = {}  # folded nick -> nick as the server wrote it
        self.mode = ""  # "monitor", "ison", or "" (not connected)
        self.limit = 0  # MONITOR=N (0: no limit given)
        self._next_ison = 0.0
        self._ison_answered = False

    def _add(self, nick: str) -> bool:
        if not nick or fold(nick) in {fold(n) for n in self.nicks}:
            return False
        self.nicks.append(nick)
        return True

    # ---- connection

    def start(self, monitor: str | None, now: float) -> None:
        """Registered: `monitor` is the MONITOR token of ISUPPORT (None: not offered)."""
        self.online.clear()
        self._ison_answered = False
        if monitor is not None:
            self.mode = "monitor"
            self.limit = int(monitor) if monitor.isdigit() else 0
            wanted = self.nicks[: self.limit] if self.limit else self.nicks
            for chunk in _chunks(wanted):
                self._send("MONITOR", "+", ",".join(chunk))
        else:
            self.mode = "ison"
            self._next_ison = now  # at the first tick

    def stop(self) -> None:
        self.mode = ""
        self.online.clear()

    def tick(self, now: float) -> None:
        if self.mode == "ison" and self.nicks and now >= self._next_ison:
            self._next_ison = now + ISON_INTERVAL
            for chunk in _chunks(self.nicks):
                self._send("ISON", " ".join(chunk))

    # ---- the list

    def add(self, nick: str) -> bool:
        if not self._add(nick):
            return False
        if self.mode == "monitor":
            self._send("MONITOR", "+", nick)
        elif self.mode == "ison":
            self._next_ison = 0.0  # ask at the next tick
        return True

    def remove(self, nick: str) -> bool:
        key = fold(nick)
        kept = [n for n in self.nicks if fold(n) != key]
        if len(kept) == len(self.nicks):
            return False
        self.nicks = kept
        self.online.pop(key, None)
        if self.mode == "monitor":
            self._send("MONITOR", "-", nick)
        return True

    def watched(self, nick: str) -> bool:
        return fold(nick) in {fold(n) for n in self.nicks}

    # ---- answers

    def on_numeric(self, msg: Message) -> list[str]:
        """730/731/734: what changed, as lines for the user."""
        text = msg.params[-1] if msg.params else ""
        if msg.command == N.RPL_MONONLINE:
            return self._came([t.split("!", 1)[0] for t in text.split(",") if t])
        if msg.command == N.RPL_MONOFFLINE:
            return self._left([t.split("!", 1)[0] for t in text.split(",") if t])
        if msg.command == N.ERR_MONLISTFULL:
            full = f"The server's notify list is full ({msg.param(1)})"
            return [f"{full}: {msg.param(2)} not watched"]
        return []

    def on_ison(self, msg: Message) -> list[str] | None:
        """303: who of the list is online now; None when we did not ask (a /quote ISON)."""
        if self.mode != "ison":
            return None
        present = {fold(n): n for n in (msg.params[-1] if msg.params else "").split()}
        watched = {fold(n) for n in self.nicks}
        present = {k: v for k, v in present.items() if k in watched}
        came = [v for k, v in present.items() if k not in self.online]
        left = [v for k, v in self.online.items() if k not in present]
        first = not self._ison_answered
        self._ison_answered = True
        out = self._came(came) + self._left(left)
        if first and not came:
            out.append("Nobody on your notify list is online")
        return out

    def _came(self, nicks: list[str]) -> list[str]:
        out = []
        for nick in nicks:
            if fold(nick) not in self.online and self.watched(nick):
                self.online[fold(nick)] = nick
                out.append(f"{nick} is online")
        return out

    def _left(self, nicks: list[str]) -> list[str]:
        out = []
        for nick in nicks:
            if self.online.pop(fold(nick), None) is not None:
                out.append(f"{nick} went offline")
        return out
