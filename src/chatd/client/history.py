"""Input history of one buffer (pure): Up walks back, Down walks forward to the draft."""

from __future__ import annotations

MAX_ENTRIES = 500


class InputHistory:
    def __init__(self) -> None:
        self.entries: list[str] = []
        self._index = 0
        self._draft = ""

    def add(self, text: str) -> None:
        if text and (not self.entries or self.entries[-1] != text):
            self.entries.append(text)
            del self.entries[:-MAX_ENTRIES]
        self._index = len(self.entries)
        self._draft = ""

    def older(self, current: str) -> str | None:
        if self._index == 0:
            return None
        if self._index == len(self.entries):
            self._draft = current
        self._index -= 1
        return self.entries[self._index]

    def newer(self) -> str | None:
        if self._index >= len(self.entries):
            return None
        self._index += 1
        return self._draft if self._index == len(self.entries) else self.entries[self._index]
