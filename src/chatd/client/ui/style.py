"""Colours and looks: the prompt_toolkit Style, nick colours, and IRC spans as style strings.

Owns every visual choice, so the rest of the UI only names classes ("class:log.time"). With
colour off, the same classes map to attributes only (bold, reverse, underline).
"""

from __future__ import annotations

import zlib

from prompt_toolkit.styles import Style

from chatd.proto.casemap import fold

from ..formatting import Span

NICK_COLORS = (
    "ansired",
    "ansigreen",
    "ansiyellow",
    "ansiblue",
    "ansimagenta",
    "ansicyan",
    "ansibrightred",
    "ansibrightgreen",
    "ansibrightyellow",
    "ansibrightblue",
    "ansibrightmagenta",
    "ansibrightcyan",
)

_COLOR_RULES = {
    "roombar": "bg:ansiblue ansiwhite",
    "roombar.item": "",
    "roombar.current": "reverse bold",
    "roombar.unread": "bold",
    "roombar.mention": "bold ansibrightyellow",
    "log.time": "ansibrightblack",
    "log.history": "italic",
    "log.day": "ansibrightblack",
    "log.pending": "ansibrightblack",
    "log.failed": "ansired strike",
    "log.deleted": "ansibrightblack italic",
    "log.divider": "ansibrightyellow bold",
    "log.own": "bold",
    "log.quiet": "ansibrightblack",
    "log.info": "ansicyan",
    "log.error": "ansired bold",
    "log.topic": "ansimagenta",
    "log.action": "italic",
    "log.notice": "ansibrightyellow",
    "log.highlight": "bg:ansiyellow ansiblack bold",
    "log.more": "reverse bold",
    "log.match": "bg:ansicyan ansiblack",
    "log.match.current": "bg:ansibrightyellow ansiblack bold",
    "status": "bg:ansiblue ansiwhite",
    "status.search": "bold",
    "status.nick": "bold",
    "status.state": "bold",
    "status.state.bad": "bg:ansired ansiwhite bold",
    "nicklist": "",
    "nicklist.title": "bold underline",
    "nicklist.away": "ansibrightblack",
    "nicklist.sep": "ansibrightblack",
    "nicklist.more": "ansibrightblack italic",
    "prompt": "bold",
    "prompt.search": "bold ansibrightyellow",
    "hint": "ansibrightblack italic",
    "paste": "reverse bold",
}

_MONO_RULES = {
    "roombar": "reverse",
    "roombar.current": "noreverse bold underline",
    "roombar.unread": "bold",
    "roombar.mention": "bold underline",
    "log.own": "bold",
    "log.error": "bold",
    "log.highlight": "reverse",
    "log.more": "reverse",
    "log.failed": "strike",
    "log.deleted": "italic",
    "log.divider": "bold",
    "log.match": "underline",
    "log.match.current": "reverse",
    "status.search": "bold",
    "prompt.search": "bold underline",
    "status": "reverse",
    "status.state.bad": "bold",
    "nicklist.title": "bold",
    "prompt": "bold",
    "paste": "reverse bold",
}


STYLE_NAMES = sorted(set(_COLOR_RULES) | set(_MONO_RULES))


def build_style(color: bool, overrides: dict[str, str] | None = None) -> Style:
    """The style; `overrides` are the [colors] of the configuration (name -> style string),
    checked here so that a mistake is one clear error, not a traceback at the first draw."""
    rules = dict(_COLOR_RULES if color else _MONO_RULES)
    for name, value in (overrides or {}).items():
        if name not in STYLE_NAMES:
            raise ValueError(f"[colors]: unknown style {name!r} (known: {', '.join(STYLE_NAMES)})")
        try:
            Style.from_dict({name: value})
        except (ValueError, AssertionError) as exc:
            raise ValueError(f"[colors]: {name} = {value!r}: {exc}") from None
        rules[name] = value
    return Style.from_dict(rules)


def nick_style(nick: str, color: bool = True) -> str:
    """A stable colour per nick (same nick, same colour, in every run)."""
    if not color:
        return ""
    return NICK_COLORS[zlib.crc32(fold(nick).encode()) % len(NICK_COLORS)]


def span_style(span: Span, color: bool) -> str:
    parts = sorted(span.attrs)
    if color and span.fg:
        parts.append("#" + span.fg)
    if color and span.bg:
        parts.append("bg:#" + span.bg)
    return " ".join(parts)
