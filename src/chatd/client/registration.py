"""Getting one connection registered, sans-IO: CAP negotiation, SASL and the nick.

Registration owns what is sent before the welcome (CAP LS 302, PASS, NICK, USER), the
capabilities offered and acknowledged, the SASL exchange (CAP END waits for its outcome),
the nick we asked for and the nick we got: alternative nicks from the configuration first,
then alice_, alice__…, a nick too long for the server cut down instead of lengthened, and a
wrong server password recognised as final. It tells the user what happened through `note`
(text, is_error); the session decides where that goes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chatd.proto import caps as C
from chatd.proto import numerics as N
from chatd.proto.casemap import fold, valid_nick
from chatd.proto.message import Message

from . import multiline, sasl
from .model import ISupport
from .sasl import SaslConfig, SaslError

WANTED_CAPS = frozenset(
    {
        "server-time",
        "echo-message",
        "message-tags",
        "multi-prefix",
        "away-notify",
        "userhost-in-names",
        "cap-notify",
        "batch",
        "labeled-response",
        C.MULTILINE,  # pasted paragraphs go as one message
        C.READ_MARKER,  # what was read, shared with the user's other clients
        C.REDACTION,  # deleted messages say so
        C.RENAME,  # a renamed room keeps its buffer
        C.METADATA,  # a display name in /whois
    }
)
# Capabilities that are nothing without `batch`.
NEEDS_BATCH = frozenset({"draft/chathistory", C.MULTILINE, C.METADATA})
SASL_CAP = "sasl"
MAX_NICK_ATTEMPTS = 12
# Nick lengths to try when the server refuses a long nick before it has told us its NICKLEN:
# the common limits, down to RFC 1459's 9, which every server accepts.
COMMON_NICKLENS = (30, 16, 9)
RFC_NICKLEN = 9

Send = Callable[..., Message]
Note = Callable[[str, bool], None]


class Registration:
    def __init__(
        self,
        nick: str,
        *,
        send: Send,
        note: Note,
        isupport: ISupport,
        username: str | None = None,
        realname: str = "chatd client",
        password: str | None = None,
        alt_nicks: Iterable[str] = (),
        sasl_config: SaslConfig | None = None,
        wanted_caps: frozenset[str] = WANTED_CAPS,
    ) -> None:
        self.wanted_nick = nick
        self.nick = nick
        self.alt_nicks = [n for n in alt_nicks if n]
        self.username = username or nick
        self.realname = realname
        self.password = password
        self.sasl = sasl_config
        self.wanted_caps = wanted_caps
        self.isupport = isupport
        self._send = send
        self._note = note
        self.caps: set[str] = set()  # acknowledged (shared with the router: never rebound)
        self.offered: dict[str, str] = {}  # CAP LS: name -> value
        self.negotiating = False
        self.account: str | None = None  # logged in as (900)
        self.fatal: str | None = None  # why reconnecting is pointless (a wrong password)
        self.nick_note = ""  # why our nick is not the one asked for
        self._attempts = 0
        self._tried: set[str] = set()
        self._too_long = False
        self._limit: int | None = None  # the length a too-long nick was cut to
        self._mech: sasl.Mechanism | None = None
        self._decoder = sasl.Decoder()

    # ---- start

    def start(self) -> None:
        """The socket is up: say who we are."""
        self.caps.clear()
        self.offered.clear()
        self._attempts = 0
        self._tried.clear()
        self._too_long = False
        self._limit = None
        self._mech = None
        self.account = None
        self.nick_note = ""
        self.nick = self.wanted_nick
        if "NICKLEN" in self.isupport.raw and len(self.nick) > self.isupport.nicklen:
            self.nick = self.nick[: self.isupport.nicklen]  # learned on an earlier connection
            self._too_long = True
            self._limit = self.isupport.nicklen
        self._tried.add(self.nick)
        self.negotiating = True
        self._send("CAP", "LS", "302")
        if self.password:
            self._send("PASS", self.password)
        self._send("NICK", self.nick)
        self._send("USER", self.username, "0", "*", self.realname)

    def welcomed(self, nick: str) -> None:
        """001: registration is complete, under this nick."""
        self.nick = nick
        self.negotiating = False
        self._mech = None
        if fold(nick) != fold(self.wanted_nick):
            why = "is too long for this server" if self._too_long else "was taken"
            self.nick_note = f"Your nick is {nick}: {self.wanted_nick} {why} (/nick to change it)"

    # ---- CAP

    def on_cap(self, msg: Message) -> None:
        sub = msg.param(1).upper()
        if sub == "LS":
            more = msg.param(2) == "*"
            caps = msg.params[3] if more and len(msg.params) > 3 else msg.param(2)
            for item in caps.split():
                name, _, value = item.partition("=")
                self.offered[name] = value
            if not more:
                self._request_caps()
        elif sub == "ACK":
            acked = set()
            for cap in msg.params[-1].split():
                if cap.startswith("-"):
                    self.caps.discard(cap[1:])
                else:
                    self.caps.add(cap)
                    acked.add(cap)
            if SASL_CAP in acked and self.sasl is not None and self.negotiating:
                self._start_sasl()
            elif self._mech is None:
                self.end_cap()
        elif sub == "NAK":
            if self._mech is None:
                self.end_cap()
        elif sub == "NEW":
            new = set()
            for item in msg.params[-1].split():
                name, _, value = item.partition("=")
                self.offered[name] = value  # a value (multiline's limits) may come with it
                new.add(name)
            wanted = sorted((new & self.wanted_caps) - self.caps)
            if wanted:
                self._send("CAP", "REQ", " ".join(wanted))
        elif sub == "DEL":
            for cap in msg.params[-1].split():
                self.caps.discard(cap)
                self.offered.pop(cap, None)

    def _request_caps(self) -> None:
        offered = set(self.offered)
        wanted = sorted(offered & self.wanted_caps)
        if "batch" not in offered:  # a page of history, a multiline message: in their batch
            wanted = [cap for cap in wanted if cap not in NEEDS_BATCH]
        if self.sasl is not None and self._sasl_possible():
            wanted.append(SASL_CAP)
        if wanted and self.negotiating:
            self._send("CAP", "REQ", " ".join(sorted(wanted)))
        else:
            self.end_cap()

    def _sasl_possible(self) -> bool:
        assert self.sasl is not None
        problem = self.sasl.problem()
        if problem is not None:
            self._note(f"SASL: {problem}; continuing without logging in", True)
            return False
        if SASL_CAP not in self.offered:
            self._note("SASL: the server does not offer it; continuing without logging in", True)
            return False
        mechs = [m for m in self.offered[SASL_CAP].split(",") if m]
        if mechs and self.sasl.mechanism not in mechs:
            self._note(
                f"SASL: the server offers {', '.join(mechs)}, not {self.sasl.mechanism}; "
                "continuing without logging in",
                True,
            )
            return False
        return True

    def multiline_limits(self) -> multiline.Limits | None:
        """draft/multiline's limits when it is acknowledged (with `batch`), else None."""
        if multiline.CAP not in self.caps or "batch" not in self.caps:
            return None
        return multiline.limits(self.offered.get(multiline.CAP, ""))

    def end_cap(self) -> None:
        self._mech = None
        if self.negotiating:
            self.negotiating = False
            self._send("CAP", "END")

    def no_cap(self) -> None:
        """A server without CAP (421): nothing to end."""
        self.negotiating = False

    # ---- SASL

    def _start_sasl(self) -> None:
        assert self.sasl is not None
        try:
            self._mech = sasl.mechanism(self.sasl)
        except SaslError as exc:
            self._note(f"SASL: {exc}; continuing without logging in", True)
            self.end_cap()
            return
        self._decoder = sasl.Decoder()
        self._send("AUTHENTICATE", self._mech.name)

    def on_authenticate(self, msg: Message) -> None:
        if self._mech is None:
            return  # not asked for: nothing to answer
        try:
            challenge = self._decoder.feed(msg.param(0, "+"))
            if challenge is None:
                return
            response = self._mech.respond(challenge)
        except SaslError as exc:
            self._note(f"SASL {self._mech.name}: {exc} — aborted", True)
            self._send("AUTHENTICATE", "*")
            return
        for chunk in sasl.encode(response):
            self._send("AUTHENTICATE", chunk)

    def on_sasl_numeric(self, msg: Message) -> None:
        code, text = msg.command, msg.params[-1] if msg.params else ""
        mech = self.sasl.mechanism if self.sasl is not None else "SASL"
        if code == N.RPL_LOGGEDIN:
            self.account = msg.param(2) or None
            self._note(text, False)
        elif code == N.RPL_LOGGEDOUT:
            self.account = None
            self._note(text, False)
        elif code == N.RPL_SASLSUCCESS:
            self._note(f"SASL {mech}: logged in", False)
            self.end_cap()
        elif code == N.RPL_SASLMECHS:
            self._note(f"SASL: the server offers {msg.param(1)}", True)
        elif code == N.ERR_SASLFAIL:
            who = f" as {self.sasl.username}" if self.sasl and self.sasl.username else ""
            self._note(
                f"SASL {mech}{who} failed: {text} — check the sasl settings of this server "
                "(continuing without logging in)",
                True,
            )
            self.end_cap()
        elif code == N.ERR_SASLALREADY:
            self.end_cap()
        else:  # 902 nick locked, 905 too long, 906 aborted
            self._note(f"SASL {mech}: {text}", True)
            if code != N.ERR_NICKLOCKED:
                self.end_cap()

    # ---- the nick

    def nick_refused(self, msg: Message, registered: bool) -> str | None:
        """433/432/437. Before the welcome, try another nick (returns None); after it, the
        reason to show the user (their /nick did not work)."""
        tried = msg.param(1, self.nick)
        text = msg.params[-1] if msg.params else ""
        erroneous = msg.command == N.ERR_ERRONEUSNICKNAME
        if registered:
            if erroneous and len(tried) > self.isupport.nicklen:
                return (
                    f"Nick {tried} is too long: this server allows at most "
                    f"{self.isupport.nicklen} characters"
                )
            return f"Nick {tried} is not available: {text}"
        self._attempts += 1
        if erroneous:
            self._nick_erroneous(tried, text)
            return None
        if self._attempts > MAX_NICK_ATTEMPTS:
            self._note(f"Nick {tried} is taken; no fallback left — choose one with /nick", True)
            return None
        new = self._next_nick()
        self._try(new, f"Nick {tried} is taken, trying {new}")
        return None

    def _nick_erroneous(self, tried: str, text: str) -> None:
        """432: a nick of valid syntax that is refused is most likely too long for a server
        whose NICKLEN we do not know yet: cut it to the next common limit (never lengthen)."""
        if not valid_nick(tried, max(len(tried), 1)):
            self._note(f"Nick {tried} is not a valid nick ({text}) — choose one with /nick", True)
            return
        shorter = [n for n in (self.isupport.nicklen, *COMMON_NICKLENS) if n < len(tried)]
        if not shorter or self._attempts > MAX_NICK_ATTEMPTS:
            self._note(f"Nick {tried} is refused by the server ({text}) — /nick NEWNICK", True)
            return
        limit = max(shorter)
        new = tried[:limit]
        self._too_long = True
        self._limit = limit
        self._try(new, f"Nick {tried} is refused, too long for this server: trying {new}")
        return

    def _try(self, new: str, why: str) -> None:
        self.nick = new
        self._tried.add(new)
        self._send("NICK", new)
        self._note(why, False)

    def _next_nick(self) -> str:
        for alt in self.alt_nicks:
            if alt not in self._tried and len(alt) <= self.isupport.nicklen:
                return alt
        limit = min(self.isupport.nicklen, self._limit or self.isupport.nicklen)
        base = self.wanted_nick[:limit]
        attempt = 1
        while True:
            candidate = fallback_nick(base, attempt, min(limit, len(base) + 3))
            if candidate not in self._tried or attempt > MAX_NICK_ATTEMPTS:
                return candidate
            attempt += 1

    def change_nick(self, nick: str, connected: bool, registered: bool) -> None:
        self.wanted_nick = nick
        if connected:
            if not registered:
                self.nick = nick
                self._tried.add(nick)
            self._send("NICK", nick)
        else:
            self.nick = nick


def fallback_nick(base: str, attempt: int, limit: int) -> str:
    """alice_, alice__, alice___, then alice4, alice5…; from the 6th, fitting even in 9."""
    limit = limit if attempt <= 5 else min(limit, RFC_NICKLEN)
    base = base[:limit]
    if attempt <= 3:
        candidate = base + "_" * attempt
        if len(candidate) <= limit:
            return candidate
    suffix = str(attempt)
    return base[: limit - len(suffix)] + suffix
