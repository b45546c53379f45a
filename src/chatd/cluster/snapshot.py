"""Snapshots of the network: the replicated state at one log position, as bytes (sans-IO).

A node that starts loads the newest snapshot and applies the log from its position on, instead
of replaying the network's whole life; the log is trimmed up to the snapshot. A snapshot holds:

- the chat state: every user, every channel, and every other field of `ServerState` that is
  not this node's own (its configuration, store handle, output machinery);
- the store, as the SQLite database's pages (`Store.export`): history, persistent channels,
  and whatever else features keep there;
- the log position it was taken at.

Users and channels reference each other everywhere (members, invitations, ...). Pickling that
graph in one go would recurse as deep as its longest chain, so each user and channel is pickled
on its own, and a reference to another one is written as its name (`persistent_id`); loading
makes every object first and fills them in after. Callables (a user's `write` and `close`) are
never stored: a loaded user is a replica that writes nowhere. Fields that features add to these
classes are carried along without code of their own.

The bytes come from the network's own nodes through Redis, which is trusted like the log
itself (docs/decisions/0002-cluster-on-a-redis-stream.md).
"""

from __future__ import annotations

import functools
import io
import pickle
import types
import zlib
from typing import Any

from ..server.channel import Channel
from ..server.state import ServerState
from ..server.user import UNBOUNDED, User
from .replica import Replica, _nowhere

FORMAT = 1
# ServerState fields that belong to this node, not to the network
NODE_FIELDS = frozenset(
    {
        "config",
        "store",
        "delivery",
        "reload_hook",
        "config_file",
        "cloak",  # built from the (network-wide) cloak_key at start-up
        "monitor",  # this node's figures (server/opstats.py)
        "auth_pending",  # password checks running on this node's worker threads
        "hidden",  # only set while a copy of a line is applied
        "requests",
        "_rendered",
        "motd",
        "name",
        "version",
        "max_line",
        "now",
        "wall",
    }
)
_CALLABLE = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)
# User fields that belong to the node the user is connected to, written as these values: a
# SASL conversation in progress holds the pieces of a response (a PLAIN password, base64), which
# must not reach Redis; a password check out on this node is this node's business; its output
# queue is a connection of this node (restored as UNBOUNDED).
LOCAL_USER_FIELDS: dict[str, Any] = {"sasl": None, "auth_busy": False, "output": None}


def _slots(cls: type) -> list[str]:
    names: list[str] = []
    for klass in cls.__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in ("__weakref__", "__dict__") and name not in names:
                names.append(name)
    return names


def _fields(obj: object) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in _slots(type(obj)) if hasattr(obj, name)}


class _Pickler(pickle.Pickler):
    def __init__(
        self, out: io.BytesIO, users: dict[int, str], channels: dict[int, str], root: object
    ) -> None:
        super().__init__(out, protocol=pickle.HIGHEST_PROTOCOL)
        self.users = users
        self.channels = channels
        self.root = root

    def persistent_id(self, obj: Any) -> Any:
        if obj is self.root:
            return None
        if isinstance(obj, User):
            cid = self.users.get(id(obj))
            return ("u", cid) if cid is not None else ("gone",)
        if isinstance(obj, Channel):
            key = self.channels.get(id(obj))
            return ("c", key) if key is not None else None
        if isinstance(obj, _CALLABLE):
            return ("fn",)
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(
        self, data: bytes, users: dict[str, User], channels: dict[str, Channel], gone: User
    ) -> None:
        super().__init__(io.BytesIO(data))
        self.users = users
        self.channels = channels
        self.gone = gone

    def persistent_load(self, pid: Any) -> Any:
        if pid[0] == "u":
            return self.users[pid[1]]
        if pid[0] == "c":
            return self.channels[pid[1]]
        if pid[0] == "gone":
            return self.gone
        return _nowhere


def dump(state: ServerState, replica: Replica, seqs: dict[str, int]) -> bytes:
    """The network as this node holds it, after a settle (nothing half-delivered)."""
    users = {id(u): cid for cid, u in replica.users.items()}
    channels = {id(c): key for key, c in state.channels.items()}

    def one(obj: object, fields: object) -> bytes:
        out = io.BytesIO()
        _Pickler(out, users, channels, obj).dump(fields)
        return out.getvalue()

    top = {name: value for name, value in vars(state).items() if name not in NODE_FIELDS}
    body = {
        "format": FORMAT,
        "position": replica.position,
        "seqs": seqs,  # each node's last entry applied (appends retried are applied once)
        "live": sorted(replica.live),  # the nodes that said HELLO and are not gone
        "users": {cid: one(u, _fields(u) | LOCAL_USER_FIELDS) for cid, u in replica.users.items()},
        "channels": {key: one(c, _fields(c)) for key, c in state.channels.items()},
        "state": one(state, top),
        "store": state.store.export(state.now),
    }
    return zlib.compress(pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL), 1)


def position_of(blob: bytes) -> str:
    return str(pickle.loads(zlib.decompress(blob))["position"])


def load(blob: bytes, state: ServerState, replica: Replica) -> dict[str, int]:
    """Make `state` and `replica` what the snapshot says (a node starting up); returns each
    node's last entry sequence applied."""
    body = pickle.loads(zlib.decompress(blob))
    if body["format"] != FORMAT:
        raise ValueError(f"snapshot format {body['format']} is not {FORMAT}")
    users = {cid: User.__new__(User) for cid in body["users"]}
    channels = {key: Channel.__new__(Channel) for key in body["channels"]}
    gone = User(_nowhere, _nowhere, "gone", 0.0, 0.0, None)
    gone.gone = True

    def fill(obj: object, data: bytes) -> None:
        for name, value in _Unpickler(data, users, channels, gone).load().items():
            setattr(obj, name, value)

    for cid, data in body["users"].items():
        fill(users[cid], data)
        user = users[cid]
        user.write = user.close = _nowhere
        user.output = UNBOUNDED
        user.local = False
    for key, data in body["channels"].items():
        fill(channels[key], data)
    for name, value in _Unpickler(body["state"], users, channels, gone).load().items():
        setattr(state, name, value)
    state.store.load(body["store"])
    replica.users = users
    replica.live = set(body.get("live", ()))
    replica.position = body["position"]
    state.reconfigured()
    return dict(body["seqs"])
