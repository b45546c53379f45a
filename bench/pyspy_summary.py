"""Summarise a py-spy raw profile of chatd (`py-spy record -r 200 -f raw -o FILE -p PID`):
the share of samples in each part of the server (a sample counts for every group one of
its frames belongs to), then the top frames by self time.

    python bench/pyspy_summary.py FILE [TOP]
"""

from __future__ import annotations

import collections
import sys

GROUPS = {
    "history store (Store.*, record_message)": (
        "Store.",
        "ServerState.record_message",
        "_row_size",
    ),
    "handle_line (parse, dispatch, handlers)": ("ServerState.handle_line",),
    "parse": ("parse ",),
    "a member's share of the room batch (settle_for)": ("LocalDelivery.settle_for",),
    "the room batch (settle, _Joined, _fan_out)": (
        "LocalDelivery.settle ",
        "_Joined",
        "_fan_out",
    ),
    "flush and send": ("Connection.flush",),
    "PING/PONG": ("handle_ping",),
    "accept": ("Listener.on_event",),
}


def main(path: str, top: int = 20) -> None:
    total = 0
    groups: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            n = int(count)
            total += n
            frames = stack.split(";")
            own[frames[-1]] += n
            for name, prefixes in GROUPS.items():
                if any(frame.startswith(prefixes) for frame in frames):
                    groups[name] += n
    print(f"{total} samples")
    for name in GROUPS:
        print(f"{100 * groups[name] / total:5.1f}%  {name}")
    print("-- self time")
    for frame, n in own.most_common(top):
        print(f"{100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20)
