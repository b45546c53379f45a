"""The RPL_ISUPPORT (005) tokens and the CAP LS values chatd advertises, built from its
configuration."""

from __future__ import annotations

from ..limits import HOSTLEN
from ..proto import caps
from ..proto.casemap import CASEMAPPING, CHANTYPES
from .channel import (
    BOT_MODE,
    EXTBAN_ACCOUNT,
    EXTBAN_PREFIX,
    FLAG_MODES,
    LIST_MODES,
    PARAM_MODES,
    PREFIX_MODES,
    PREFIX_SYMBOLS,
    SET_PARAM_MODES,
    STATUSMSG,
)
from .config import Config

ELIST = "CMNTU"  # LIST conditions: creation time, mask, negated mask, topic time, users


def tokens(config: Config) -> list[str]:
    prefix = "(" + PREFIX_MODES + ")" + "".join(PREFIX_SYMBOLS[m] for m in PREFIX_MODES)
    targets = config.max_targets
    return [
        f"AWAYLEN={config.awaylen}",
        "CASEMAPPING=" + CASEMAPPING,
        f"CHANLIMIT={CHANTYPES}:{config.max_channels}",
        f"CHANMODES={LIST_MODES},{PARAM_MODES},{SET_PARAM_MODES},{FLAG_MODES}",
        f"CHANNELLEN={config.channellen}",
        "CHANTYPES=" + CHANTYPES,
        f"HOSTLEN={HOSTLEN}",
        f"KICKLEN={config.kicklen}",
        f"MAXLIST={LIST_MODES}:{config.max_list_modes}",
        f"MAXTARGETS={targets}",
        f"MODES={config.modes_per_line}",
        "NETWORK=" + config.network,
        f"NICKLEN={config.nicklen}",
        "PREFIX=" + prefix,
        f"TARGMAX=PRIVMSG:{targets},NOTICE:{targets},JOIN:,PART:,NAMES:{targets},WHOIS:1,"
        f"KICK:{targets},TAGMSG:{targets}",
        f"TOPICLEN={config.topiclen}",
        f"USERLEN={config.userlen}",
        "UTF8ONLY",
        "WHOX",
        # after the RFC-era tokens, so that those stay on the first 005 line
        f"CHATHISTORY={config.chathistory_max}",
        "MSGREFTYPES=msgid,timestamp",
        f"NAMELEN={config.realnamelen}",  # realnames (USER, SETNAME)
        f"EXTBAN={EXTBAN_PREFIX},{EXTBAN_ACCOUNT}",  # +b $a:account (IRCv3 account-extban)
        f"ACCOUNTEXTBAN={EXTBAN_ACCOUNT}",
        f"BOT={BOT_MODE}",
        f"ELIST={ELIST}",
        "EXCEPTS=e",
        "INVEX=I",
        f"MONITOR={config.monitor_max}",
        f"STATUSMSG={STATUSMSG}",
    ]


def cap_values(config: Config) -> dict[str, str]:
    """Every capability with its CAP LS 302 value; limits come from the configuration."""
    values = dict(caps.SUPPORTED)
    values[caps.MULTILINE] = (
        f"max-bytes={config.multiline_max_bytes},max-lines={config.multiline_max_lines}"
    )
    values[caps.METADATA] = (
        f"max-subs={config.metadata_max_subs},max-keys={config.metadata_max_keys},"
        f"max-key-bytes={config.metadata_max_key_bytes},"
        f"max-value-bytes={config.metadata_max_value_bytes}"
    )
    return values


def lines(config: Config, per_line: int = 13) -> list[list[str]]:
    """The tokens split into 005 lines of at most `per_line` tokens each (computed once)."""
    cached = _LINES.get(id(config))
    if cached is None or cached[0] is not config:
        all_tokens = tokens(config)
        split = [all_tokens[i : i + per_line] for i in range(0, len(all_tokens), per_line)]
        cached = _LINES[id(config)] = (config, split)
    return cached[1]


_LINES: dict[int, tuple[Config, list[list[str]]]] = {}


def forget() -> None:
    """The configuration changed: build the lines again on next use."""
    _LINES.clear()
