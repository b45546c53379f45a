"""The chat-client command: arguments, the configuration file, and the choice of UI or line mode.

Owns argument parsing and validation (every bad input ends in one clear message and exit
status 2, never a traceback), reading the configuration ($XDG_CONFIG_HOME/chat-client/
config.toml, or --config), deciding which servers to connect to (the address given, a server
named in the configuration, or with no address every configured server with autoconnect),
building a Session and Endpoint for each, and starting either the full-screen UI (stdin is a
terminal) or line mode (stdin is a pipe or a file; one server, no logs, no reconnection).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from chatd.proto.casemap import valid_nick

from . import config as cfg
from .config import ConfigError, ConfigFile, ServerConfig, Settings, room_name
from .sasl import SaslConfig
from .session import Session
from .transport import Endpoint

DEFAULT_PORT = cfg.DEFAULT_PORT
DEFAULT_TLS_PORT = cfg.DEFAULT_TLS_PORT
DEFAULT_ROOM = "#lobby"

EPILOG = """\
examples:
  chat-client                              connect to the servers in the configuration file
  chat-client alice@localhost              connect to localhost:8520 as alice, join #lobby
  chat-client bob@chat.example.org:6667 '#dev' '#ops'
  chat-client home '#ops'                  the server named "home" in the configuration
  echo "build done" | chat-client ci@localhost '#builds'    (line mode)

The configuration file is $XDG_CONFIG_HOME/chat-client/config.toml (~/.config/...), e.g.

  [[server]]
  name = "home"
  host = "127.0.0.1"
  port = 8520
  nick = "alice"
  autojoin = ["#lobby", "#dev"]

When standard input is not a terminal, chat-client runs in line mode: each input line is sent
to the first room, each message received is printed as "[HH:MM:SS] #room <nick> text", and it
exits once the server has acknowledged the last line.

Inside the UI: /help lists commands; Alt-1..9, Ctrl-N/Ctrl-P switch buffers; PgUp/PgDn scroll;
Ctrl-R searches; Tab completes; F2 toggles the nick list; F3 toggles mouse capture; Ctrl-C quits.
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
        nick = cfg.login_name()
    if not valid_nick(nick, 30):
        raise AddressError(
            f"bad nick {nick!r}: letters, digits and []\\`_^{{|}}- only, "
            "not starting with a digit or -"
        )
    return Address(nick, host, port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chat-client",
        description="Full-screen terminal chat client for chatd (and any IRC server).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "address",
        nargs="?",
        metavar="NICK@HOST[:PORT]",
        help=f"your nick and the server (port {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with --tls), "
        "or the name of a configured server; none: the configured servers",
    )
    p.add_argument(
        "rooms",
        nargs="*",
        metavar="ROOM",
        help=f"rooms to join (default {DEFAULT_ROOM}; '#a,#b' is two); the first one is shown",
    )
    p.add_argument("--password", help="server password (sent as PASS)")
    p.add_argument("--tls", action="store_true", help="connect with TLS")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="with --tls: accept any certificate (self-signed servers)",
    )
    p.add_argument("--realname", help="the real name shown by /whois")
    p.add_argument("--username", help="the user name (ident); default: the nick")
    p.add_argument("--no-color", action="store_true", help="no colours (also when NO_COLOR is set)")
    p.add_argument("--line-mode", action="store_true", help="force line mode even on a terminal")
    p.add_argument("--no-log", action="store_true", help="do not write the buffers to disk")
    p.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="the configuration file (default $XDG_CONFIG_HOME/chat-client/config.toml)",
    )
    p.add_argument(
        "--reconnect-delay",
        type=float,
        metavar="SECONDS",
        help="first reconnection delay, doubled up to 60 s (default 1)",
    )
    return p


def split_rooms(args: list[str]) -> list[str]:
    """Room arguments: '#a,#b' is two rooms, a name without # gets one."""
    return [room_name(r) for arg in args for r in arg.split(",") if r.strip()]


def _fail(message: str) -> int:
    print(f"chat-client: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.insecure and not args.tls:
        return _fail("--insecure only makes sense with --tls")
    if args.reconnect_delay is not None and args.reconnect_delay <= 0:
        return _fail("--reconnect-delay must be more than 0")
    try:
        settings = cfg.load(args.config)
        servers = choose_servers(args, settings)
    except (AddressError, ConfigError) as exc:
        return _fail(str(exc))
    line_mode = args.line_mode or not sys.stdin.isatty()
    if line_mode:
        servers = servers[:1]
    try:
        pairs = [build(server, settings, line_mode) for server in servers]
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        if line_mode:
            session, endpoint = pairs[0]
            return _run_line_mode(session, endpoint, session.autojoin[0])
        return _run_ui(pairs, ConfigFile(settings, args.config), args)
    except KeyboardInterrupt:
        return 130


def choose_servers(args: argparse.Namespace, settings: Settings) -> list[ServerConfig]:
    """The servers to connect to, as configured, with the command line's changes."""
    rooms = split_rooms(args.rooms)
    if args.address is None:
        chosen = [s for s in settings.servers if s.autoconnect]
        if not chosen:
            where = args.config or cfg.config_path()
            raise ConfigError(
                f"no server to connect to: give NICK@HOST[:PORT], or add a [[server]] "
                f"with autoconnect to {where}"
            )
        return [_with_options(s, args, rooms) for s in chosen]
    named = settings.server(args.address) if "@" not in args.address else None
    if named is not None:
        return [_with_options(named, args, rooms)]
    address = parse_address(args.address)
    port = address.port or (DEFAULT_TLS_PORT if args.tls else DEFAULT_PORT)
    known = next(
        (s for s in settings.servers if s.host == address.host and s.effective_port == port),
        None,
    )
    if known is None:  # remembered (not written) so that /ignore and /save can keep it
        name = Endpoint(address.host, port).label
        known = ServerConfig(name, address.host, port=address.port or 0, autoconnect=False)
        settings.servers.append(known)
    server = replace(known, nick=address.nick, port=port)
    return [_with_options(server, args, rooms)]


def _with_options(server: ServerConfig, args: argparse.Namespace, rooms: list[str]) -> ServerConfig:
    changes: dict[str, object] = {}
    if rooms:
        changes["autojoin"] = rooms
    elif not server.autojoin:
        changes["autojoin"] = [DEFAULT_ROOM]
    if args.tls:
        changes["tls"] = True
    if args.insecure:
        changes["insecure"] = True
    for option in ("password", "realname", "username"):
        value = getattr(args, option)
        if value is not None:
            changes[option] = value
    return replace(server, **changes) if changes else server  # type: ignore[arg-type]


def build(server: ServerConfig, settings: Settings, line_mode: bool) -> tuple[Session, Endpoint]:
    """The Session and Endpoint for one server (password commands are run here)."""
    sasl = None
    if server.sasl is not None:
        s = server.sasl
        password = cfg.sasl_password(server) if s.mechanism != "EXTERNAL" else ""
        sasl = SaslConfig(s.mechanism, s.username or server.effective_nick(settings.nick), password)
    endpoint = Endpoint(
        server.host,
        server.effective_port,
        tls=server.tls,
        insecure=server.insecure,
        cert=server.tls_cert or None,
        key=server.tls_key or None,
    )
    session = Session(
        server.effective_nick(settings.nick),
        username=server.username or None,
        realname=server.realname,
        password=cfg.server_password(server),
        channels=server.autojoin or [DEFAULT_ROOM],
        server_label=endpoint.label,
        fetch_history=not line_mode,  # a script wants new messages only
        history_page=settings.history_page,
        alt_nicks=server.alt_nicks,
        sasl=sasl,
        highlights=settings.highlight,
        ignores=server.ignore,
        notify=server.notify,
        name=server.name,
    )
    return session, endpoint


def _run_line_mode(session: Session, endpoint: Endpoint, room: str) -> int:
    from . import linemode

    return asyncio.run(linemode.run(session, endpoint, room, sys.stdin.buffer))


def _run_ui(
    pairs: list[tuple[Session, Endpoint]], config: ConfigFile, args: argparse.Namespace
) -> int:
    from .logs import LogWriter
    from .transport import Timing
    from .ui.app import ChatApp
    from .ui.style import build_style

    settings = config.settings
    color = settings.color and not args.no_color and "NO_COLOR" not in os.environ
    try:
        build_style(color, settings.colors)
    except ValueError as exc:
        return _fail(f"{config.path}: {exc}")
    delay = args.reconnect_delay or settings.reconnect_delay
    logger = None
    if settings.log and not args.no_log:
        logger = LogWriter(settings.logs)

    def make_server(target: str) -> tuple[Session, Endpoint]:
        """/connect NAME or /connect NICK@HOST[:PORT]."""
        named = settings.server(target) if "@" not in target else None
        if named is None:
            address = parse_address(target)
            named = choose_servers(
                argparse.Namespace(
                    address=target, rooms=[], tls=False, insecure=False, password=None,
                    realname=None, username=None, config=None,
                ),
                settings,
            )[0]  # fmt: skip
            named = replace(named, nick=address.nick)
        elif not named.autojoin:
            named = replace(named, autojoin=[DEFAULT_ROOM])
        return build(named, settings, line_mode=False)

    app = ChatApp(
        servers=pairs,
        config=config,
        color=color,
        timing=Timing(backoff_min=delay),
        logger=logger,
        make_server=make_server,
    )
    if logger is not None:
        logger.on_error = lambda text: app.session.error(
            text, app.clock(), app.session.server_buffer
        )
    return app.run()


if __name__ == "__main__":
    raise SystemExit(main())
