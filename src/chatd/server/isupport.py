"""The RPL_ISUPPORT (005) tokens chatd advertises, built from its configuration."""

from __future__ import annotations

from ..proto.casemap import CASEMAPPING, CHANTYPES
from .channel import (FLAG_MODES, LIST_MODES, PARAM_MODES, PREFIX_MODES, PREFIX_SYMBOLS,
                      SET_PARAM_MODES)
from .config import Config


def tokens(config: Config) -> list[str]:
    prefix = "(" + PREFIX_MODES + ")" + "".join(PREFIX_SYMBOLS[m] for m in PREFIX_MODES)
    targets = config.max_targets
    return [
        "AWAYLEN=%d" % config.awaylen,
        "CASEMAPPING=" + CASEMAPPING,
        "CHANLIMIT=%s:%d" % (CHANTYPES, config.max_channels),
        "CHANMODES=%s,%s,%s,%s" % (LIST_MODES, PARAM_MODES, SET_PARAM_MODES, FLAG_MODES),
        "CHANNELLEN=%d" % config.channellen,
        "CHANTYPES=" + CHANTYPES,
        "HOSTLEN=64",
        "KICKLEN=%d" % config.kicklen,
        "MAXLIST=%s:%d" % (LIST_MODES, config.max_list_modes),
        "MAXTARGETS=%d" % targets,
        "MODES=4",
        "NETWORK=" + config.network,
        "NICKLEN=%d" % config.nicklen,
        "PREFIX=" + prefix,
        "TARGMAX=PRIVMSG:%d,NOTICE:%d,JOIN:,PART:,NAMES:%d,WHOIS:1,KICK:%d"
        % (targets, targets, targets, targets),
        "TOPICLEN=%d" % config.topiclen,
        "USERLEN=%d" % config.userlen,
        "UTF8ONLY",
        "WHOX",
        # after the RFC-era tokens, so that those stay on the first 005 line
        "CHATHISTORY=%d" % config.chathistory_max,
        "MSGREFTYPES=msgid,timestamp",
        "NAMELEN=200",  # realnames are cut at 200 (USER, SETNAME)
    ]


def lines(config: Config, per_line: int = 13) -> list[list[str]]:
    """The tokens split into 005 lines of at most `per_line` tokens each (computed once)."""
    cached = _LINES.get(id(config))
    if cached is None or cached[0] is not config:
        all_tokens = tokens(config)
        split = [all_tokens[i : i + per_line] for i in range(0, len(all_tokens), per_line)]
        cached = _LINES[id(config)] = (config, split)
    return cached[1]


_LINES: dict[int, tuple[Config, list[list[str]]]] = {}
