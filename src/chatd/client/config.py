"""chat-client's configuration file: $XDG_CONFIG_HOME/chat-client/config.toml.

Owns the schema (global settings, `[colors]`, one `[[server]]` table per server with an
optional `sasl` table), reading it with a clear one-line error for every mistake (unknown
key, wrong type, bad value, naming the file, the table and the key), the values /set shows
and changes by name (`bell`, `home.nick`, `home.sasl.mechanism`…), writing it back (/save,
/ignore), and running the `password_command`s. The form the issue gives works as written:

    [[server]]
    name = "home"
    host = "127.0.0.1"
    port = 8520
    nick = "alice"
    autojoin = ["#lobby", "#dev"]

It knows nothing of sessions or the UI; cli.py and the app read it.
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import shutil
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatd.proto.casemap import valid_nick

from .sasl import MECHANISMS

APP = "chat-client"
DEFAULT_PORT = 8520
DEFAULT_TLS_PORT = 6697
SECRET_TIMEOUT = 10.0
NICKLIST_CHOICES = ("auto", "on", "off")
MAX_NICK = 64  # generous: the server has the last word (NICKLEN)


class ConfigError(ValueError):
    """A mistake in the configuration, said in one line."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / APP / "config.toml"


def data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP


def login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment or the password database
        return "guest"


def room_name(name: str) -> str:
    return name if name.startswith(("#", "&")) else "#" + name


# ------------------------------------------------------------------ the schema


@dataclass(frozen=True)
class Field:
    kind: type  # str, int, float, bool or list (of strings)
    help: str
    choices: tuple[str, ...] = ()


SETTINGS: dict[str, Field] = {
    "nick": Field(str, "your nick on servers that do not set one (default: your login name)"),
    "timestamp_format": Field(str, "strftime format of the time before each line"),
    "highlight": Field(list, "words that mark a line as mentioning you, besides your nick"),
    "bell": Field(bool, "ring the terminal bell on mentions and private messages"),
    "log": Field(bool, "write every buffer to a file, one per day"),
    "log_dir": Field(str, "where the logs go (empty: $XDG_DATA_HOME/chat-client/logs)"),
    "color": Field(bool, "colours (off: bold, underline and reverse only)"),
    "nicklist": Field(str, "the nick list: auto (100 columns or wider), on, off", NICKLIST_CHOICES),
    "mouse": Field(bool, "capture the mouse at start (F3 toggles it)"),
    "reconnect_delay": Field(float, "first reconnection delay in seconds (doubles up to 60)"),
    "paste_confirm": Field(int, "a paste of more lines than this asks first"),
    "history_page": Field(int, "messages of history fetched per page"),
}

SERVER_FIELDS: dict[str, Field] = {
    "name": Field(str, "what the room bar and /buffer call this server"),
    "host": Field(str, "host name or address"),
    "port": Field(int, f"port (default {DEFAULT_PORT}, or {DEFAULT_TLS_PORT} with tls)"),
    "tls": Field(bool, "connect with TLS (certificate and host name checked)"),
    "insecure": Field(bool, "with tls: accept any certificate"),
    "tls_cert": Field(str, "TLS client certificate (PEM), for SASL EXTERNAL"),
    "tls_key": Field(str, "its private key, if not in tls_cert"),
    "nick": Field(str, "your nick (default: your login name)"),
    "alt_nicks": Field(list, "nicks to try, in order, when yours is taken"),
    "username": Field(str, "the user (ident) name (default: the nick)"),
    "realname": Field(str, "the real name /whois shows"),
    "password": Field(str, "server password (PASS)"),
    "password_command": Field(str, "a command printing the server password"),
    "autojoin": Field(list, "rooms to join on connecting, the first one shown"),
    "autoconnect": Field(bool, "connect when chat-client starts without an address"),
    "ignore": Field(list, "nicks or nick!user@host masks whose messages are hidden"),
    "notify": Field(list, "nicks to watch: you are told when they come and go"),
}

SASL_FIELDS: dict[str, Field] = {
    "mechanism": Field(str, "PLAIN, SCRAM-SHA-256 or EXTERNAL (tls_cert)", MECHANISMS),
    "username": Field(str, "account name"),
    "password": Field(str, "account password"),
    "password_command": Field(str, "a command printing the account password"),
}


@dataclass
class SaslSettings:
    mechanism: str = "PLAIN"
    username: str = ""
    password: str = ""
    password_command: str = ""


@dataclass
class ServerConfig:
    name: str
    host: str
    port: int = 0  # 0: the default for tls
    tls: bool = False
    insecure: bool = False
    tls_cert: str = ""
    tls_key: str = ""
    nick: str = ""
    alt_nicks: list[str] = field(default_factory=list)
    username: str = ""
    realname: str = "chat-client user"
    password: str = ""
    password_command: str = ""
    autojoin: list[str] = field(default_factory=list)
    autoconnect: bool = True
    ignore: list[str] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)
    sasl: SaslSettings | None = None

    @property
    def effective_port(self) -> int:
        return self.port or (DEFAULT_TLS_PORT if self.tls else DEFAULT_PORT)

    def effective_nick(self, default: str = "") -> str:
        return self.nick or default or login_name()


@dataclass
class Settings:
    nick: str = ""
    timestamp_format: str = "%H:%M"
    highlight: list[str] = field(default_factory=list)
    bell: bool = True
    log: bool = True
    log_dir: str = ""
    color: bool = True
    nicklist: str = "auto"
    mouse: bool = False
    reconnect_delay: float = 1.0
    paste_confirm: int = 3
    history_page: int = 50
    colors: dict[str, str] = field(default_factory=dict)
    servers: list[ServerConfig] = field(default_factory=list)

    def server(self, name: str) -> ServerConfig | None:
        return next((s for s in self.servers if s.name.lower() == name.lower()), None)

    @property
    def logs(self) -> Path:
        return Path(self.log_dir).expanduser() if self.log_dir else data_dir() / "logs"


# ------------------------------------------------------------------ values


def _type_name(kind: type) -> str:
    return {
        str: "a string",
        int: "a whole number",
        float: "a number",
        bool: "true or false",
        list: "a list of strings",
    }[kind]


def coerce(value: Any, spec: Field, where: str) -> Any:
    """A TOML value checked against its field (an int is a fine float)."""
    kind = spec.kind
    ok = (
        (kind is bool and isinstance(value, bool))
        or (kind is int and isinstance(value, int) and not isinstance(value, bool))
        or (kind is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (kind is str and isinstance(value, str))
        or (kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value))
    )
    if not ok:
        raise ConfigError(f"{where} must be {_type_name(kind)}, not {value!r}")
    if kind is float:
        value = float(value)
    if spec.choices and value not in spec.choices:
        raise ConfigError(f"{where} must be one of {', '.join(spec.choices)}, not {value!r}")
    return value


def parse_value(text: str, spec: Field, where: str) -> Any:
    """What the user typed after /set NAME: a TOML value, or a bare word or list."""
    text = text.strip()
    try:
        value: Any = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    if spec.kind is bool and isinstance(value, str):
        words = {"on": True, "yes": True, "true": True, "off": False, "no": False, "false": False}
        value = words.get(value.lower(), value)
    if spec.kind is list and isinstance(value, str):
        value = [w for w in value.replace(",", " ").split() if w]
    if spec.kind is str and not isinstance(value, str):
        value = text
    return coerce(value, spec, where)


def _check_server(server: ServerConfig, where: str) -> None:
    if not server.name:
        raise ConfigError(f"{where}: name must not be empty")
    if not server.host:
        raise ConfigError(f"{where}: host must not be empty")
    if server.port and not 0 < server.port < 65536:
        raise ConfigError(f"{where}: port must be from 1 to 65535, not {server.port}")
    for key in ("nick", *(("alt_nicks",) if server.alt_nicks else ())):
        for nick in [server.nick] if key == "nick" else server.alt_nicks:
            if nick and not valid_nick(nick, MAX_NICK):
                raise ConfigError(
                    f"{where}: {key}: {nick!r} is not a valid nick "
                    "(letters, digits and []\\`_^{|}- only, not starting with a digit or -)"
                )
    server.autojoin = [room_name(r) for r in server.autojoin]
    if server.insecure and not server.tls:
        raise ConfigError(f"{where}: insecure only makes sense with tls = true")
    if server.sasl is not None:
        if server.sasl.mechanism not in MECHANISMS:
            raise ConfigError(
                f"{where}: sasl.mechanism must be one of {', '.join(MECHANISMS)}, "
                f"not {server.sasl.mechanism!r}"
            )
        if server.sasl.mechanism == "EXTERNAL" and not server.tls_cert:
            raise ConfigError(f"{where}: sasl EXTERNAL needs tls_cert (and tls = true)")


def _check_settings(settings: Settings, where: str) -> None:
    if settings.nick and not valid_nick(settings.nick, MAX_NICK):
        raise ConfigError(f"{where}nick: {settings.nick!r} is not a valid nick")
    try:
        time.strftime(settings.timestamp_format)
    except ValueError as exc:
        raise ConfigError(f"{where}timestamp_format: {exc}") from None
    if settings.paste_confirm < 0 or settings.history_page < 1 or settings.reconnect_delay <= 0:
        raise ConfigError(
            f"{where}paste_confirm must be 0 or more, history_page 1 or more, "
            "reconnect_delay more than 0"
        )


# ------------------------------------------------------------------ reading


def _table(data: dict[str, Any], specs: dict[str, Field], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        spec = specs.get(key)
        if spec is None:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(specs)})")
        out[key] = coerce(value, spec, f"{where}: {key}")
    return out


def from_dict(data: dict[str, Any], source: str = "config.toml") -> Settings:
    top = dict(data)
    colors = top.pop("colors", {})
    servers = top.pop("server", [])
    settings = Settings(**_table(top, SETTINGS, source))
    if not isinstance(colors, dict) or not all(isinstance(v, str) for v in colors.values()):
        raise ConfigError(f"{source}: [colors] maps style names to style strings")
    settings.colors = dict(colors)
    if isinstance(servers, dict):
        raise ConfigError(f"{source}: servers are [[server]] tables (two brackets)")
    if not isinstance(servers, list):
        raise ConfigError(f"{source}: server must be a list of [[server]] tables")
    seen: set[str] = set()
    for index, entry in enumerate(servers, start=1):
        name = entry.get("name", "") if isinstance(entry, dict) else ""
        name = name if isinstance(name, str) else ""
        where = f"{source}: [[server]] {index}" + (f" ({name})" if name else "")
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        entry = dict(entry)
        sasl_data = entry.pop("sasl", None)
        values = _table(entry, SERVER_FIELDS, where)
        for required in ("name", "host"):
            if required not in values:
                raise ConfigError(f"{where}: {required} is required")
        server = ServerConfig(**values)
        if sasl_data is not None:
            if not isinstance(sasl_data, dict):
                raise ConfigError(f"{where}: sasl must be a table")
            server.sasl = SaslSettings(**_table(sasl_data, SASL_FIELDS, f"{where}: sasl"))
        _check_server(server, where)
        if server.name.lower() in seen:
            raise ConfigError(f"{where}: another server is already named {server.name!r}")
        seen.add(server.name.lower())
        settings.servers.append(server)
    _check_settings(settings, f"{source}: ")
    return settings


def load(path: Path | None = None) -> Settings:
    """The settings in the file; the defaults when there is no file."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return from_dict(data, str(path))


# ------------------------------------------------------------------ writing


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def _key(name: str) -> str:
    bare = name.replace("_", "a").replace("-", "a").replace(".", "!")
    return name if bare.isascii() and bare.isalnum() else json.dumps(name)


def to_toml(settings: Settings) -> str:
    """The whole configuration as TOML (only what differs from the defaults)."""
    defaults = Settings()
    lines = ["# chat-client configuration (written by /save; see docs/client.md)", ""]
    for name in SETTINGS:
        value = getattr(settings, name)
        if value != getattr(defaults, name):
            lines.append(f"{name} = {_toml_value(value)}")
    if settings.colors:
        lines += ["", "[colors]"]
        lines += [f"{_key(k)} = {_toml_value(v)}" for k, v in settings.colors.items()]
    for server in settings.servers:
        plain = ServerConfig(server.name, server.host)
        lines += ["", "[[server]]"]
        for name in SERVER_FIELDS:
            value = getattr(server, name)
            if name in ("name", "host") or value != getattr(plain, name):
                lines.append(f"{name} = {_toml_value(value)}")
        if server.sasl is not None:
            lines += ["", "[server.sasl]"]
            for name in SASL_FIELDS:
                value = getattr(server.sasl, name)
                if value or name == "mechanism":
                    lines.append(f"{name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


class ConfigFile:
    """The settings and the file they are saved to. The first save over a file this run did
    not write keeps the old one as config.toml.bak (comments are not carried over)."""

    def __init__(self, settings: Settings, path: Path | None = None) -> None:
        self.settings = settings
        self.path = path or config_path()
        self.dirty = False  # changed by /set since the last save
        self._backed_up = False

    def save(self) -> Path:
        text = to_toml(self.settings)
        from_dict(tomllib.loads(text), "the saved configuration")  # never write a broken file
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and not self._backed_up:
            shutil.copyfile(self.path, self.path.with_name(self.path.name + ".bak"))
        self._backed_up = True
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o600)  # it may hold passwords
        tmp.replace(self.path)
        self.dirty = False
        return self.path

    # ---- /set

    def names(self) -> list[str]:
        out = list(SETTINGS)
        for server in self.settings.servers:
            out += [f"{server.name}.{key}" for key in SERVER_FIELDS if key != "name"]
            out += [f"{server.name}.sasl.{key}" for key in SASL_FIELDS]
        return out

    def _locate(self, name: str) -> tuple[object, str, Field]:
        if name in SETTINGS:
            return self.settings, name, SETTINGS[name]
        server_name, dot, rest = name.partition(".")
        server = self.settings.server(server_name) if dot else None
        if server is None:
            raise ConfigError(f"no setting {name!r} — /set lists them")
        if rest.startswith("sasl."):
            key = rest[len("sasl.") :]
            if key not in SASL_FIELDS:
                raise ConfigError(f"no setting {name!r} (sasl has {', '.join(SASL_FIELDS)})")
            if server.sasl is None:
                server.sasl = SaslSettings()
            return server.sasl, key, SASL_FIELDS[key]
        if rest not in SERVER_FIELDS or rest == "name":
            known = ", ".join(k for k in SERVER_FIELDS if k != "name")
            raise ConfigError(f"no setting {name!r} (a server has {known})")
        return server, rest, SERVER_FIELDS[rest]

    def get(self, name: str) -> Any:
        owner, key, _ = self._locate(name)
        return getattr(owner, key)

    def describe(self, name: str) -> str:
        owner, key, spec = self._locate(name)
        value = getattr(owner, key)
        shown = "********" if key == "password" and value else _toml_value(value)
        return f"{name} = {shown}    # {spec.help}"

    def set(self, name: str, text: str) -> Any:
        owner, key, spec = self._locate(name)
        value = parse_value(text, spec, name)
        old = getattr(owner, key)
        setattr(owner, key, value)
        try:
            if isinstance(owner, Settings):
                _check_settings(owner, f"{name}: ")
            else:
                for server in self.settings.servers:
                    _check_server(server, name)
        except ConfigError:
            setattr(owner, key, old)
            raise
        self.dirty = True
        return getattr(owner, key)


# ------------------------------------------------------------------ secrets


def run_secret_command(command: str, what: str) -> str:
    """The first line a password command prints (`pass show irc/home`, say)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{what}: cannot parse {command!r}: {exc}") from None
    if not argv:
        raise ConfigError(f"{what} is empty")
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=SECRET_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"{what} {command!r} failed: {exc}") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or [""])[0]
        raise ConfigError(f"{what} {command!r} exited with {done.returncode}: {detail}")
    lines = done.stdout.splitlines()
    if not lines or not lines[0]:
        raise ConfigError(f"{what} {command!r} printed nothing")
    return lines[0]


def server_password(server: ServerConfig) -> str | None:
    if server.password_command:
        return run_secret_command(server.password_command, f"{server.name}.password_command")
    return server.password or None


def sasl_password(server: ServerConfig) -> str:
    sasl = server.sasl
    if sasl is None:
        return ""
    if sasl.password_command:
        return run_secret_command(sasl.password_command, f"{server.name}.sasl.password_command")
    return sasl.password
