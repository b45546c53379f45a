"""The chat-client command: arguments, the address, and the choice of UI or line mode.

Owns argument parsing and validation (every bad input ends in one clear message and exit
status 2, never a traceback), building the Session and Endpoint, and starting either the
full-screen UI (stdin is a terminal) or line mode (stdin is a pipe or a file).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from dataclasses import dataclass

from chatd.proto.casemap import valid_nick

from .session import Session
from .transport import Endpoint

DEFAULT_PORT = 8520
DEFAULT_TLS_PORT = 6697
DEFAULT_ROOM = "#lobby"

EPILOG = """\
examples:
  chat-client alice@localhost              connect to localhost:8520 as alice, join #lobby
  chat-client bob@chat.example.org:6667 '#dev' '#ops'
  echo "build done" | chat-client ci@localhost '#builds'    (line mode)

When standard input is not a terminal, chat-client runs in line mode: each input line is sent
to the first room, each message received is printed as "[HH:MM:SS] #room <nick> text", and it
exits once the server has acknowledged the last line.

Inside the UI: /help lists commands; Alt-1..9, Ctrl-N/Ctrl-P switch buffers; PgUp/PgDn scroll;
Tab completes; F2 toggles the nick list; F3 toggles mouse capture; Ctrl-C quits.
"""


class AddressError(ValueError):
    pass


@dataclass(frozen=True)
class Address:
    nick: str
    host: str
    port: int | None


def parse_address(text: str) -> Address:
    """Parse NICK@HOST[:PORT] (HOST may be [v6]); a missing nick is the login name."""
    nick, at, hostport = text.rpartition("@")
    if not at:
        nick, hostport = "", text
    if hostport.startswith("["):
        host, bracket, rest = hostport[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise AddressError(f"bad address {text!r}: unbalanced [ ] around an IPv6 host")
        port_text = rest[1:] if rest else ""
    elif hostport.count(":") == 1:
        host, _, port_text = hostport.partition(":")
    else:
        host, port_text = hostport, ""
    if not host:
        raise AddressError(f"bad address {text!r}: no host (expected NICK@HOST[:PORT])")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AddressError(f"bad address {text!r}: port must be a number from 1 to 65535")
        port = int(port_text)
    if not nick:
        nick = _login_name()
    if not valid_nick(nick, 30):
        raise AddressError(
            f"bad nick {nick!r}: letters, digits and []\\`_^{{|}}- only, "
            "not starting with a digit or -"
        )
    return Address(nick, host, port)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or the password database
        return "guest"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chat-client",
        description="Full-screen terminal chat client for chatd (and any IRC server).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "address",
        metavar="NICK@HOST[:PORT]",
        help=f"your nick and the server (port {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with --tls)",
    )
    p.add_argument(
        "rooms",
        nargs="*",
        metavar="ROOM",
        help=f"rooms to join (default {DEFAULT_ROOM}); the first one is shown first",
    )
    p.add_argument("--password", help="server password (sent as PASS)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls: accept any certificate (self-signed servers)",
    )
    p.add_argument("--realname", default="chat-client user", help="the real name shown by /whois")
    p.add_argument("--username", help="the user name (ident); default: the nick")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.add_argument("--line-mode", action="store_true", help="force line mode even on a terminal")
    p.add_argument(
        "--reconnect-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="first reconnection delay, doubled up to 60 s (default 1)",
    )
    return p


def _room(name: str) -> str:
    return name if name.startswith(("#", "&")) else "#" + name


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        address = parse_address(args.address)
    except AddressError as exc:
        print(f"chat-client: {exc}", file=sys.stderr)
        return 2
    if args.insecure and not args.tls:
        print("chat-client: --insecure only makes sense with --tls", file=sys.stderr)
        return 2
    rooms = [_room(r) for r in args.rooms] or [DEFAULT_ROOM]
    port = address.port or (DEFAULT_TLS_PORT if args.tls else DEFAULT_PORT)
    endpoint = Endpoint(address.host, port, tls=args.tls, insecure=args.insecure)
    line_mode = args.line_mode or not sys.stdin.isatty()
    session = Session(
        address.nick,
        username=args.username,
        realname=args.realname,
        password=args.password,
        channels=rooms,
        server_label=endpoint.label,
        fetch_history=not line_mode,  # a script wants new messages only
    )
    try:
        if line_mode:
            return _run_line_mode(session, endpoint, rooms[0])
        return _run_ui(session, endpoint, args)
    except KeyboardInterrupt:
        return 130


def _run_line_mode(session: Session, endpoint: Endpoint, room: str) -> int:
    from . import linemode

    return asyncio.run(linemode.run(session, endpoint, room, sys.stdin.buffer))


def _run_ui(session: Session, endpoint: Endpoint, args: argparse.Namespace) -> int:
    import os

    from .transport import Timing
    from .ui.app import ChatApp

    color = not args.no_color and "NO_COLOR" not in os.environ
    timing = Timing(backoff_min=args.reconnect_delay)
    app = ChatApp(session, endpoint, color=color, timing=timing)
    return app.run()


if __name__ == "__main__":
    raise SystemExit(main())
