"""MODE for users (+B +i +w, and -o) and channels (+C +P +i +m +n +s +t +k +l +b +e +I +o
+v)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...limits import CHANNEL_LIMIT_MAX, KEYLEN, MASK_ECHO
from ...proto import numerics as N
from ...proto.casemap import fold, is_channel_name
from ...proto.message import Message
from ...proto.numbers import parse_uint
from ..channel import (
    FLAG_MODES,
    LIST_MODES,
    PARAM_MODES,
    PREFIX_MODES,
    SET_PARAM_MODES,
    USER_MODES,
    Ban,
    Channel,
    account_ban,
    max_mask_length,
    normalise_mask,
)

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


def handle_mode(state: ServerState, user: User, msg: Message) -> None:
    if is_channel_name(msg.params[0]):
        _channel_mode(state, user, msg)
    else:
        _user_mode(state, user, msg)


# -- user modes ---------------------------------------------------------------------------------


def _user_mode(state: ServerState, user: User, msg: Message) -> None:
    nick = msg.params[0]
    if fold(nick) != user.key:
        if state.find_user(nick) is None:
            state.reply(user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
        else:
            state.reply(user, N.ERR_USERSDONTMATCH, "Cant change mode for other users")
        return
    if len(msg.params) == 1:
        state.reply(user, N.RPL_UMODEIS, "+" + "".join(sorted(user.modes)))
        return
    applied = _ModeChanges()
    unknown = False
    sign = "+"
    for ch in msg.params[1]:
        if ch in "+-":
            sign = ch
        elif ch in SETTABLE_USER_MODES or (ch == "o" and sign == "-"):
            if (sign == "+") != (ch in user.modes):
                _set_user_mode(state, user, sign, ch)
                applied.add(sign, ch)
        elif ch not in "or":  # +o comes from OPER, +r from logging in: never set by hand
            unknown = True
    if unknown:
        state.reply(user, N.ERR_UMODEUNKNOWNFLAG, "Unknown MODE flag")
    if applied:
        state.send(user, Message("MODE", [user.nick, applied.modes()], user.prefix))


SETTABLE_USER_MODES = USER_MODES.replace("o", "").replace("r", "")  # +o: OPER; +r: logging in


def _set_user_mode(state: ServerState, user: User, sign: str, mode: str) -> None:
    """Change one user mode, keeping the server's LUSERS counters true."""
    delta = 1 if sign == "+" else -1
    if sign == "+":
        user.modes += mode
    else:
        user.modes = user.modes.replace(mode, "")
    if mode == "o":
        state.opers += delta
    elif mode == "i":
        state.invisible += delta


# -- channel modes ------------------------------------------------------------------------------


class _ModeChanges:
    """Accumulates applied changes into the compact form `+ov-k nick nick key`."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str | None]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, sign: str, mode: str, param: str | None = None) -> None:
        self.items.append((sign, mode, param))

    def modes(self) -> str:
        out = []
        last = ""
        for sign, mode, _ in self.items:
            if sign != last:
                out.append(sign)
                last = sign
            out.append(mode)
        return "".join(out)

    def params(self) -> list[str]:
        return [p for _, _, p in self.items if p is not None]


def _channel_mode(state: ServerState, user: User, msg: Message) -> None:
    name = msg.params[0]
    channel = state.find_channel(name)
    if channel is None:
        state.reply(user, N.ERR_NOSUCHCHANNEL, name, "No such channel")
        return
    if len(msg.params) == 1:
        modes, params = channel.mode_string(show_key=user in channel.members)
        state.reply(user, N.RPL_CHANNELMODEIS, channel.name, modes, *params)
        state.reply(user, N.RPL_CREATIONTIME, channel.name, str(channel.created))
        return
    _ChannelModeChange(state, user, channel, msg.params[1], msg.params[2:]).run()


class _ChannelModeChange:
    """One MODE command on a channel: walks the mode string, checks, applies, broadcasts."""

    def __init__(
        self, state: ServerState, user: User, channel: Channel, modestring: str, args: list[str]
    ) -> None:
        self.state = state
        self.user = user
        self.channel = channel
        self.modestring = modestring
        self.args = list(args)
        self.applied = _ModeChanges()
        self.param_modes = 0
        self.denied = False
        self.is_op = channel.is_op(user) or user.oper
        self.listed = ""  # list modes and unknown letters answered on this line (once each)

    def run(self) -> None:
        sign = "+"
        for mode in self.modestring:
            if mode in "+-":
                sign = mode
                continue
            if mode in LIST_MODES:
                self._ban(sign, mode)
            elif mode in PREFIX_MODES:
                self._prefix(sign, mode)
            elif mode in PARAM_MODES:
                self._key(sign)
            elif mode in SET_PARAM_MODES:
                self._limit(sign)
            elif mode in FLAG_MODES:
                self._flag(sign, mode)
            elif mode not in self.listed:  # each unknown letter answered once per line too
                self.listed += mode
                self.state.reply(self.user, N.ERR_UNKNOWNMODE, mode, "is unknown mode char to me")
        if self.applied:
            msg = Message(
                "MODE",
                [self.channel.name, self.applied.modes(), *self.applied.params()],
                self.user.prefix,
            )
            event = self.state.delivery.event(msg)
            self.state.delivery.to_channel(self.channel, event)
            if self.user not in self.channel.members:
                self.state.delivery.to_user(self.user, event)  # an IRC operator from outside
            if any(mode == "P" for _, mode, _ in self.applied.items) or (
                "P" in self.channel.modes
                and any(mode not in PREFIX_MODES for _, mode, _ in self.applied.items)
            ):
                self.state.channel_changed(self.channel)  # stored, or forgotten after -P

    def _allowed(self) -> bool:
        if self.is_op:
            return True
        if not self.denied:
            self.denied = True
            self.state.reply(
                self.user, N.ERR_CHANOPRIVSNEEDED, self.channel.name, "You're not channel operator"
            )
        return False

    def _take_arg(self) -> str | None:
        if not self.args or self.param_modes >= self.state.config.modes_per_line:
            return None
        self.param_modes += 1
        return self.args.pop(0)

    def _flag(self, sign: str, mode: str) -> None:
        if not self._allowed():
            return
        modes = self.channel.modes
        if sign == "+" and mode not in modes:
            if mode == "P" and not self._may_persist():
                return
            modes.add(mode)
            self.applied.add(sign, mode)
        elif sign == "-" and mode == "P" and self.channel.founder is not None:
            self.state.send(
                self.user,
                Message(
                    "FAIL",
                    [
                        "MODE",
                        "REGISTERED",
                        self.channel.name,
                        "A registered channel stays persistent (ChanServ DROP first)",
                    ],
                    self.state.name,
                ),
            )
        elif sign == "-" and mode in modes:
            modes.discard(mode)
            self.applied.add(sign, mode)

    def _may_persist(self) -> bool:
        """Channel operators may make channels persistent up to a server-wide number; past
        it only IRC operators may (each one costs storage for as long as it exists)."""
        state = self.state
        limit = state.config.max_persistent_channels
        if self.user.oper or sum("P" in c.modes for c in state.channels.values()) < limit:
            return True
        state.send(
            self.user,
            Message(
                "FAIL",
                [
                    "MODE",
                    "LIMIT_REACHED",
                    self.channel.name,
                    f"At most {limit} persistent channels; ask an IRC operator",
                ],
                state.name,
            ),
        )
        return False

    def _prefix(self, sign: str, mode: str) -> None:
        nick = self._take_arg()
        if nick is None or not self._allowed():
            return
        target = self.state.find_user(nick)
        if target is None:
            self.state.reply(self.user, N.ERR_NOSUCHNICK, nick, "No such nick/channel")
            return
        current = self.channel.members.get(target)
        if current is None:
            self.state.reply(
                self.user,
                N.ERR_USERNOTINCHANNEL,
                target.nick,
                self.channel.name,
                "They aren't on that channel",
            )
            return
        if sign == "+" and mode not in current:
            self.channel.members[target] = "".join(m for m in PREFIX_MODES if m in current + mode)
            if mode == "o":
                self.channel.opless = False  # someone runs it again
        elif sign == "-" and mode in current:
            self.channel.members[target] = current.replace(mode, "")
        else:
            return
        self.applied.add(sign, mode, target.nick)

    def _key(self, sign: str) -> None:
        key = self._take_arg()
        if sign == "+" and key is None:
            return
        if not self._allowed():
            return
        channel = self.channel
        if sign == "-":
            if channel.password is not None:
                channel.password = None
                self.applied.add("-", "k", "*")
            return
        assert key is not None
        if not key or " " in key or "," in key or len(key) > KEYLEN:
            self.state.reply(self.user, N.ERR_INVALIDKEY, channel.name, "Key is not well-formed")
            return
        channel.password = key
        self.applied.add("+", "k", key)

    def _limit(self, sign: str) -> None:
        if sign == "-":
            if self._allowed() and self.channel.limit is not None:
                self.channel.limit = None
                self.applied.add("-", "l")
            return
        arg = self._take_arg()
        if arg is None or not self._allowed():
            return
        limit = parse_uint(arg, CHANNEL_LIMIT_MAX)
        if not limit:
            self.state.reply(
                self.user,
                N.ERR_INVALIDMODEPARAM,
                self.channel.name,
                "l",
                arg,
                "Invalid limit: a positive number is needed",
            )
            return
        self.channel.limit = limit
        self.applied.add("+", "l", str(limit))

    def _ban(self, sign: str, mode: str) -> None:
        """+b, +e, +I: add or remove a mask; without one, list them."""
        mask = self._take_arg()
        channel = self.channel
        if mask is None:
            if sign == "+":
                self._list_query(mode)
            return
        if not self._allowed() or not _is_word(mask):
            return
        mask = normalise_mask(mask)
        cfg = self.state.config
        if mask.startswith("$") and account_ban(mask) is None:
            self.state.reply(
                self.user,
                N.ERR_INVALIDMODEPARAM,
                channel.name,
                "b",
                mask[:MASK_ECHO],
                "Unknown extban: $a or $a:account",
            )
            return
        if sign == "+" and len(mask) > max_mask_length(cfg.nicklen, cfg.userlen):
            self.state.reply(
                self.user,
                N.ERR_INVALIDMODEPARAM,
                channel.name,
                mode,
                mask[:MASK_ECHO],
                "Ban mask is too long",
            )
            return
        entries = channel.mask_list(mode)
        existing = channel.find_ban(mask, mode)
        if sign == "+" and existing is None:
            if channel.list_entries() >= self.state.config.max_list_modes:
                self.state.reply(
                    self.user, N.ERR_BANLISTFULL, channel.name, mode, "Channel list is full"
                )
                return
            entries.append(Ban(mask, self.user.prefix, int(self.state.wall)))
            self.applied.add("+", mode, mask)
        elif sign == "-" and existing is not None:
            entries.remove(existing)
            self.applied.add("-", mode, existing.mask)

    def _list_query(self, mode: str) -> None:
        """A list mode without a parameter asks for the list: answered at most once per MODE
        line and list mode, so `MODE #c bbb...b` (490 letters) costs one list, not 490."""
        if mode in self.listed:
            return
        self.listed += mode
        self._list_bans(mode)

    def _list_bans(self, mode: str) -> None:
        state, user, channel = self.state, self.user, self.channel
        if "s" in channel.modes and user not in channel.members and not user.oper:
            # a secret channel's lists (masks, setters) are its members' business
            state.reply(user, N.ERR_NOTONCHANNEL, channel.name, "You're not on that channel")
            return
        if mode != "b" and not (self.is_op or user in channel.members):
            # exception lists say who gets past the bans: members see them, outsiders not
            self._allowed()
            return
        reply, end, text = _LIST_REPLIES[mode]
        entries, name = channel.mask_list(mode), channel.name

        def build() -> list[tuple[str, ...]]:
            listed = [(reply, name, b.mask, b.setter, str(b.set_at)) for b in entries]
            return [*listed, (end, name, text)]

        # rendered once per list content: a repeated query costs a copy, not a reply per mask
        state.reply_cached(user, (mode, name, *entries), build)


_LIST_REPLIES = {
    "b": (N.RPL_BANLIST, N.RPL_ENDOFBANLIST, "End of channel ban list"),
    "e": (N.RPL_EXCEPTLIST, N.RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
    "I": (N.RPL_INVEXLIST, N.RPL_ENDOFINVEXLIST, "End of Channel Invite Exception List"),
}


def _is_word(arg: str) -> bool:
    """Whether a mode argument can be stored and shown again as a middle parameter (367)."""
    return bool(arg) and " " not in arg and arg[0] != ":"
