"""STATS N (the nodes: each one's figures, and the network's sums) and STATS R (the network's
log in Redis: its length, the leader, the snapshot, each node's lease), for IRC operators.

These letters are their own module: the general STATS command (commands/info.py: u, m, o, l)
hands them over to `answer`.
Figures come from `state.monitor` (server/opstats.py): they are this node's own and change
nothing in the replicated state, so a replica of the asking operator on another node (whose
output goes nowhere) skips the work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ...proto import numerics as N
from .. import opstats

if TYPE_CHECKING:
    from ..state import ServerState
    from ..user import User


def stats_nodes(state: ServerState, user: User) -> None:
    monitor = state.monitor
    if monitor is None:
        _say(state, user, "no figures: this server keeps none")
        return
    figures = monitor.nodes()
    for fig in figures:
        _say(state, user, opstats.node_line(fig, state.wall))
    if len(figures) > 1:
        _say(state, user, opstats.network_line(figures))


def stats_log(state: ServerState, user: User) -> None:
    monitor = state.monitor
    logf = monitor.log() if monitor is not None else None
    if logf is None:
        _say(state, user, "no log: this server is not part of a cluster")
        return
    if not logf.read_at:
        _say(state, user, "the log has not been read from Redis yet; try again in a second")
        return
    names = {lease.node: lease.figures.server for lease in logf.nodes if lease.figures}
    for line in opstats.log_lines(logf, state.wall, names):
        _say(state, user, line)


def _say(state: ServerState, user: User, text: str) -> None:
    state.reply(user, N.RPL_STATSDEBUG, text)


QUERIES: dict[str, Callable[[ServerState, User], None]] = {
    "N": stats_nodes,
    "R": stats_log,
}


def answer(state: ServerState, user: User, query: str) -> None:
    """STATS N or R (commands/info.py hands these letters over), ending with 219."""
    if not user.local:
        return  # the operator's own node answers; nothing here changes the state
    if not user.oper:
        state.reply(user, N.ERR_NOPRIVILEGES, "Permission Denied- You're not an IRC operator")
    else:
        QUERIES[query](state, user)
    state.reply(user, N.RPL_ENDOFSTATS, query, "End of /STATS report")
