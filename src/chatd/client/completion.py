"""Tab completion of nicks, rooms and /commands in the input line (pure, no UI).

TabCompleter owns one completion cycle: the first Tab replaces the word before the cursor with
the first candidate, each further Tab (on the unchanged result) cycles to the next. A nick at
the start of the line gets ": " after it, like "bob: ". The caller resets it on any other key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chatd.proto.casemap import fold


@dataclass
class _Cycle:
    prefix: str  # text before the completed word
    suffix_text: str  # text after the cursor
    candidates: list[str]
    index: int
    produced: tuple[str, int]


def rank_nicks(recent_speakers: Iterable[str], members: Iterable[str], own: str) -> list[str]:
    """Candidates for nick completion: recent speakers first, then the rest alphabetically."""
    seen: set[str] = {fold(own)}
    ranked: list[str] = []
    for nick in list(recent_speakers) + sorted(members, key=fold):
        if fold(nick) not in seen:
            seen.add(fold(nick))
            ranked.append(nick)
    return ranked


class TabCompleter:
    def __init__(self) -> None:
        self._cycle: _Cycle | None = None

    def reset(self) -> None:
        self._cycle = None

    def complete(
        self,
        text: str,
        cursor: int,
        nicks: Sequence[str],
        commands: Sequence[str],
        rooms: Sequence[str] = (),
        backwards: bool = False,
        words: Sequence[str] | None = None,
    ) -> tuple[str, int] | None:
        """`words`, when given, are what the argument being typed can be (setting names for
        /set, buffers for /buffer…) instead of nicks and rooms."""
        """The new (text, cursor), or None when nothing matches."""
        cycle = self._cycle
        if cycle is not None and cycle.produced == (text, cursor) and cycle.candidates:
            step = -1 if backwards else 1
            cycle.index = (cycle.index + step) % len(cycle.candidates)
            return self._apply(cycle)
        start = text.rfind(" ", 0, cursor) + 1
        word = text[start:cursor]
        if words is not None and start > 0:
            candidates = [w + " " for w in words if fold(w).startswith(fold(word))]
        else:
            candidates = self._candidates(word, start, nicks, commands, rooms)
        if not candidates:
            self._cycle = None
            return None
        self._cycle = _Cycle(text[:start], text[cursor:], candidates, 0, ("", 0))
        return self._apply(self._cycle)

    @staticmethod
    def _candidates(
        word: str, start: int, nicks: Sequence[str], commands: Sequence[str], rooms: Sequence[str]
    ) -> list[str]:
        if not word:
            return []
        if start == 0 and word.startswith("/"):
            return ["/" + c + " " for c in commands if c.startswith(word[1:].lower())]
        if word.startswith("#"):
            return [r + " " for r in rooms if fold(r).startswith(fold(word))]
        suffix = ": " if start == 0 else " "
        return [n + suffix for n in nicks if fold(n).startswith(fold(word))]

    @staticmethod
    def _apply(cycle: _Cycle) -> tuple[str, int]:
        choice = cycle.candidates[cycle.index]
        rest = cycle.suffix_text
        if rest.startswith(" ") and choice.endswith(" "):
            rest = rest[1:]
        text = cycle.prefix + choice + rest
        cursor = len(cycle.prefix) + len(choice)
        cycle.produced = (text, cursor)
        return text, cursor
