"""Questions about users and the server: WHO (and WHOX), WHOIS, WHOWAS, ISON, USERHOST, AWAY,
MOTD, LUSERS, VERSION, TIME."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ...limits import ISON_MAX, SCAN_COST, USERHOST_MAX
from ...proto import numerics as N
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message
from .. import isupport
from ..channel import BOT_MODE, Channel, Mask, compile_mask
from . import monitor

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User

WHOX_FIELDS = "tcuihsnfdlaor"
HIDDEN_IP = "255.255.255.255"  # WHOX %i for a cloaked user, as other servers answer


# -- WHO ----------------------------------------------------------------------------------------


def handle_who(state: ServerState, user: User, msg: Message) -> None:
    mask = msg.params[0] if msg.params else "*"
    whox = msg.params[1] if len(msg.params) > 1 and msg.params[1].startswith("%") else None
    for channel, member in _who_matches(state, user, mask):
        if whox is None:
            _who_reply(state, user, channel, member)
        else:
            _whox_reply(state, user, channel, member, whox)
    state.reply(user, N.RPL_ENDOFWHO, mask, "End of WHO list")


def _who_matches(
    state: ServerState, user: User, mask: str
) -> Iterable[tuple[Channel | None, User]]:
    if is_channel_name(mask):
        channel = state.find_channel(mask)
        if channel is None:
            return []
        member_view = user in channel.members
        if "s" in channel.modes and not member_view and not user.oper:
            return []
        return [(channel, m) for m in channel.members if member_view or "i" not in m.modes][
            : state.config.who_max
        ]
    exact = state.find_user(mask)
    if exact is not None:
        return [(None, exact)]
    matcher = compile_mask(mask if mask not in ("0", "") else "*")
    shared = user.neighbours()
    found: list[tuple[Channel | None, User]] = []
    scanned = 0
    for other in state.users.values():
        scanned += 1
        if not other.registered or not _who_mask_matches(matcher, other, user.oper):
            continue
        if "i" in other.modes and other is not user and other not in shared and not user.oper:
            continue
        found.append((None, other))
        if len(found) >= state.config.who_max:
            break
    state.charge(scanned * SCAN_COST)  # a scan with few matches costs flood control too
    return found


def _who_mask_matches(matcher: Mask, other: User, oper: bool) -> bool:
    """A WHO mask matches a user's nick, user@host prefix, host or realname (Modern IRC); for
    an IRC operator also the real address (for anyone else that would reveal it)."""
    if any(
        matcher.fullmatch(fold(field))
        for field in (other.nick, other.prefix, other.username, other.host, other.realname)
    ):
        return True
    return oper and other.cloaked and matcher.fullmatch(fold(other.ip))


def _who_flags(state: ServerState, user: User, channel: Channel | None, member: User) -> str:
    flags = "G" if member.away is not None else "H"
    if member.oper:
        flags += "*"
    if BOT_MODE in member.modes:
        flags += BOT_MODE
    if channel is not None:
        flags += channel.prefix_of(member, "multi-prefix" in user.caps)
    return flags


def _who_reply(state: ServerState, user: User, channel: Channel | None, member: User) -> None:
    state.reply(
        user,
        N.RPL_WHOREPLY,
        channel.name if channel else "*",
        member.username,
        member.host,
        state.name,
        member.nick,
        _who_flags(state, user, channel, member),
        f"0 {member.realname}",
    )


def _whox_reply(
    state: ServerState, user: User, channel: Channel | None, member: User, spec: str
) -> None:
    fields, _, token = spec[1:].partition(",")
    values = {
        "t": token or "0",
        "c": channel.name if channel else "*",
        "u": member.username,
        "i": member.ip if member.host_for(user) == member.ip else HIDDEN_IP,
        "h": member.host,
        "s": state.name,
        "n": member.nick,
        "f": _who_flags(state, user, channel, member),
        "d": "0",
        "l": str(int(state.now - member.last_spoke)),
        "a": member.account or "0",
        "o": "n/a",
        "r": member.realname,
    }
    out = [values[f] for f in WHOX_FIELDS if f in fields]
    if out and "r" in fields:
        out[-1] = member.realname  # the realname is last and may hold spaces
    state.reply(user, N.RPL_WHOSPCRPL, *out)


# -- WHOIS, WHOWAS ------------------------------------------------------------------------------


def handle_whois(state: ServerState, user: User, msg: Message) -> None:
    nick = msg.params[1] if len(msg.params) > 1 else msg.params[0]
    nick = nick.split(",")[0]
    target = state.find_user(nick)
    if target is None:
        state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        state.reply(user, N.RPL_ENDOFWHOIS, nick, "End of /WHOIS list")
        return
    state.reply(
        user, N.RPL_WHOISUSER, target.nick, target.username, target.host, "*", target.realname
    )
    channels = _visible_channels(user, target)
    if channels:
        state.reply(user, N.RPL_WHOISCHANNELS, target.nick, " ".join(channels))
    server = target.server or state.name  # on a cluster, the node the target is on
    state.reply(user, N.RPL_WHOISSERVER, target.nick, server, state.config.network)
    if target.cloaked and target.host_for(user) == target.ip:
        state.reply(
            user,
            N.RPL_WHOISHOST,
            target.nick,
            f"is connecting from {target.username}@{target.ip} {target.ip}",
        )
    if target.oper:
        state.reply(user, N.RPL_WHOISOPERATOR, target.nick, "is an IRC operator")
    if target.account is not None:
        state.reply(user, N.RPL_WHOISACCOUNT, target.nick, target.account, "is logged in as")
    if BOT_MODE in target.modes:
        state.reply(user, N.RPL_WHOISBOT, target.nick, f"is a Bot on {state.config.network}")
    if target.away is not None:
        state.reply(user, N.RPL_AWAY, target.nick, target.away)
    idle = max(0, int(state.now - target.last_spoke))
    state.reply(
        user,
        N.RPL_WHOISIDLE,
        target.nick,
        str(idle),
        str(int(target.signon)),
        "seconds idle, signon time",
    )
    state.reply(user, N.RPL_ENDOFWHOIS, target.nick, "End of /WHOIS list")


def _visible_channels(user: User, target: User) -> list[str]:
    multi = "multi-prefix" in user.caps
    names = []
    for channel in sorted(target.channels, key=lambda c: c.key):
        if "s" in channel.modes and user not in channel.members and user is not target:
            continue
        names.append(channel.prefix_of(target, multi) + channel.name)
    return names


def handle_whowas(state: ServerState, user: User, msg: Message) -> None:
    nick = msg.params[0].split(",")[0]
    if not nick:
        state.reply(user, N.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    count = msg.params[1] if len(msg.params) > 1 else ""
    try:
        wanted = int(count) if count else 0  # zero or negative: every record kept
    except ValueError:
        wanted = 0
    records = state.whowas.find(nick, state.now, wanted)
    if not records:
        state.reply(user, N.ERR_WASNOSUCHNICK, nick, "There was no such nickname")
    for record in records:
        state.reply(
            user,
            N.RPL_WHOWASUSER,
            record.nick,
            record.username,
            record.host,
            "*",
            record.realname,
        )
        when = datetime.datetime.fromtimestamp(record.wall, datetime.UTC)
        state.reply(
            user, N.RPL_WHOISSERVER, record.nick, state.name, f"{when:%a %b %d %H:%M:%S %Y} UTC"
        )
    state.reply(user, N.RPL_ENDOFWHOWAS, nick, "End of WHOWAS")


# -- ISON, USERHOST, AWAY -----------------------------------------------------------------------


def handle_ison(state: ServerState, user: User, msg: Message) -> None:
    nicks = " ".join(msg.params).split()[:ISON_MAX]
    online = [u.nick for u in map(state.find_user, nicks) if u is not None]
    state.reply(user, N.RPL_ISON, " ".join(online))


def handle_userhost(state: ServerState, user: User, msg: Message) -> None:
    replies = []
    for nick in " ".join(msg.params).split()[:USERHOST_MAX]:
        target = state.find_user(nick)
        if target is not None:
            oper = "*" if target.oper else ""
            away = "-" if target.away is not None else "+"
            host = target.host_for(user)
            replies.append(f"{target.nick}{oper}={away}{target.username}@{host}")
    state.reply(user, N.RPL_USERHOST, " ".join(replies))


def handle_away(state: ServerState, user: User, msg: Message) -> None:
    text = msg.params[0][: state.config.awaylen] if msg.params else ""
    before = user.away
    if text:
        user.away = text
        state.reply(user, N.RPL_NOWAWAY, "You have been marked as being away")
    else:
        user.away = None
        state.reply(user, N.RPL_UNAWAY, "You are no longer marked as being away")
    if user.away == before:
        return  # away-notify reports changes only
    notice = state.delivery.event(Message("AWAY", [text] if text else [], user.prefix))
    watchers = (u for u in user.neighbours() if "away-notify" in u.caps)
    state.delivery.to_users(watchers, notice)
    monitor.notify_change(state, user, notice, "away-notify")


# -- server information -------------------------------------------------------------------------


def handle_motd(state: ServerState, user: User, msg: Message) -> None:
    send_motd(state, user)


def send_motd(state: ServerState, user: User) -> None:
    if state.motd is None:
        state.reply(user, N.ERR_NOMOTD, "MOTD File is missing")
        return
    state.reply_rendered(user, "motd", lambda: motd_lines(state))


def motd_lines(state: ServerState) -> list[tuple[str, ...]]:
    """375, 372..., 376 as (numeric, *params), for ServerState.rendered (a MOTD is there)."""
    assert state.motd is not None
    return [
        (N.RPL_MOTDSTART, f"- {state.name} Message of the day - "),
        *((N.RPL_MOTD, f"- {line}") for line in state.motd),
        (N.RPL_ENDOFMOTD, "End of /MOTD command."),
    ]


def handle_lusers(state: ServerState, user: User, msg: Message) -> None:
    send_lusers(state, user)


def send_lusers(state: ServerState, user: User) -> None:
    if user.output.overflowed:
        return
    state.delivery.settle_for(user)
    user.write(lusers_text(state, user.nick).encode())


def lusers_text(state: ServerState, nick: str) -> str:
    """The LUSERS replies (251-255, 265, 266) to `nick`, as one string: every client gets
    them in its welcome burst, so they are one f-string rather than seven replies."""
    registered = state.connections - state.unregistered
    invisible = state.invisible
    servers = state.servers  # the nodes of a cluster
    peak = max(state.peak_users, registered)
    head = f":{state.name} "
    return (
        f"{head}{N.RPL_LUSERCLIENT} {nick} :There are {registered - invisible} users and "
        f"{invisible} invisible on {servers} servers\r\n"
        f"{head}{N.RPL_LUSEROP} {nick} {state.opers} :operator(s) online\r\n"
        f"{head}{N.RPL_LUSERUNKNOWN} {nick} {state.unregistered} :unknown connection(s)\r\n"
        f"{head}{N.RPL_LUSERCHANNELS} {nick} {len(state.channels)} :channels formed\r\n"
        f"{head}{N.RPL_LUSERME} {nick} :I have {registered} clients and {servers - 1} servers\r\n"
        f"{head}{N.RPL_LOCALUSERS} {nick} {registered} {peak} :Current local users "
        f"{registered}, max {peak}\r\n"
        f"{head}{N.RPL_GLOBALUSERS} {nick} {registered} {peak} :Current global users "
        f"{registered}, max {peak}\r\n"
    )


def handle_version(state: ServerState, user: User, msg: Message) -> None:
    state.reply(user, N.RPL_VERSION, state.version, state.name, "reactor chat server")
    for tokens in isupport.lines(state.config):
        state.reply(user, N.RPL_ISUPPORT, *tokens, "are supported by this server")


def handle_time(state: ServerState, user: User, msg: Message) -> None:
    now = datetime.datetime.fromtimestamp(state.wall, datetime.UTC)
    state.reply(user, N.RPL_TIME, state.name, now.strftime("%A %B %d %Y -- %H:%M:%S +00:00"))
