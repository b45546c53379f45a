"""Joining the network at start-up, before the reactor runs: the newest snapshot, then the log
from its position to the end, then the nodes that are gone.

This runs once, with a blocking Redis client (redis-py) handed in by the composition root: no
client is connected yet, so there is no loop to stall. From then on the node follows the log
through its non-blocking links (`net/redis.py`).

The first node of a network creates it: a random epoch (the network's identity: a Redis that
lost its data no longer has it, and the nodes notice), the network-wide settings, and a first
snapshot of the empty network. Two nodes starting at once race on `SET NX`; one creates, the
other joins what it made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from typing import Any

from ..server.config import Config
from . import events as ev
from . import snapshot
from .core import ClusterCore, server_name_of

log = logging.getLogger("chatd")

# Settings each node may have its own way; every other setting changes what the replicated
# state does with an input, so it must be the same on every node of a network.
NODE_LOCAL = frozenset(
    {
        "host",
        "port",
        "reuse_port",
        "name",
        "motd",
        "log_level",
        "db",
        "tls_cert",
        "tls_key",
        "tls_port",
        "tls_handshake_timeout",
        "websocket_port",
        "websocket_tls_port",
        "websocket_origins",
        "websocket_handshake_timeout",
        "max_clients",
        "max_per_ip",
        "ip_connect_burst",
        "ip_connect_rate",
        "history_pending_bytes",
        "flood_limit",
        "flood_burst",
        "flood_rate",
        "flood_max_queue",
        "sendq",
        "ping_interval",
        "ping_timeout",
        "metrics_port",
        "metrics_host",
    }
)
CREATE_WAIT = 10.0  # seconds to wait for another node that is creating the network
# Network-wide settings that are secrets: Redis records a digest of each (scrypt, salted with
# the network and the setting's name), enough to tell that two nodes differ, never the value.
SECRET_SETTINGS = frozenset({"password", "cloak_key"})


class JoinError(Exception):
    """This node cannot join the network (one clear line for the operator)."""


def network_settings(config: Config) -> dict[str, Any]:
    values = dataclasses.asdict(config)
    return {
        name: value
        for name, value in sorted(values.items())
        if name not in NODE_LOCAL and not name.startswith("cluster_")
    }


def recorded_settings(config: Config) -> dict[str, Any]:
    """The network-wide settings as Redis keeps them: the secrets as digests."""
    values = network_settings(config)
    for name in SECRET_SETTINGS & values.keys():
        if values[name] is not None:
            salt = f"chatd setting {config.network} {name}".encode()
            digest = hashlib.scrypt(str(values[name]).encode(), salt=salt, n=1 << 14, r=8, p=1)
            values[name] = "scrypt:" + digest.hex()
    return values


def join(client: Any, core: ClusterCore, epoch_if_new: str) -> None:
    """Load the network into `core`'s replica (creating the network if there is none)."""
    keys = core.keys
    state, replica = core.state, core.replica
    mine = json.dumps(recorded_settings(state.config), sort_keys=True, default=str)
    if client.set(keys.epoch, epoch_if_new, nx=True):
        client.set(keys.settings, mine)
        client.set(keys.snapshot, snapshot.dump(state, replica, {}))
        log.info("cluster: created the network (epoch %s)", epoch_if_new)
    deadline = time.monotonic() + CREATE_WAIT
    while True:
        blob = client.get(keys.snapshot)
        theirs = client.get(keys.settings)
        if blob is not None and theirs is not None:
            break
        if time.monotonic() > deadline:
            raise JoinError(
                "the network in Redis has no snapshot (was it created by an older "
                "chatd, or is another node still creating it?)"
            )
        time.sleep(0.05)
    differ = _differences(json.loads(mine), json.loads(theirs))
    if differ:
        raise JoinError(
            "this node's settings differ from the network's ("
            + ", ".join(differ)
            + "): every node must use the same values"
        )
    core.epoch = client.get(keys.epoch).decode()
    core.seqs = snapshot.load(blob, state, replica)
    core.snapshot_position = replica.position
    applied = 0
    while True:  # the log after the snapshot, in pages
        page = client.xrange(keys.log, min="(" + replica.position, count=1000)
        for entry_id, fields in page:
            flat: list[bytes] = []
            for key, value in fields.items():
                flat += [key, value]
            core._apply(entry_id.decode(), flat)
            applied += 1
        if len(page) < 1000:
            break
    state.settle()
    gone = [node for node in replica.nodes() if not client.exists(keys.node(node))]
    me = server_name_of(core.node)
    for node in gone:  # nodes that stopped or died (an earlier life of this one too)
        core._event(ev.node_gone(node, "*.net *.split"))
    core._event(ev.hello(core.node))
    client.sadd(keys.nodes, core.node)
    client.set(keys.node(core.node), replica.position, px=int(core.settings.lease * 1000))
    log.info(
        "cluster: joined as %s (server %s) at %s: snapshot + %d entries, %d users, %d channels, "
        "%d nodes gone",
        core.node,
        me,
        replica.position,
        applied,
        len(replica.users),
        len(state.channels),
        len(gone),
    )


def _differences(mine: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    names = sorted(set(mine) | set(theirs))
    return [name.replace("_", "-") for name in names if mine.get(name) != theirs.get(name)]
