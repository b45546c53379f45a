"""What settling one room batch costs as the number of distinct senders grows.

    python bench/batch_cost.py [--members 1000] [--messages 1000] [--rounds 15]

A room of `members` users (their tag views spread evenly over plain, server-time, message-tags
and both) gets a batch of `messages` PRIVMSGs from S distinct members (round-robin), for S = 1,
10, 100, 1,000; then `LocalDelivery.settle()` hands it out. Each member's sink only appends to a
list, as `Connection.write` does. Printed: the median and best time of one settle; the median
time to turn every member's queue into the one bytes object a send() takes, as
`Connection.flush` does (`b"".join` when a member got more than one piece); the bytes written
in all, and the part of them that went to the senders (who get the batch without their own
lines).
"""

from __future__ import annotations

import argparse
import statistics
import time

from chatd.proto.message import Message
from chatd.server.channel import Channel
from chatd.server.delivery import LocalDelivery
from chatd.server.user import User

VIEW_CAPS = [
    frozenset(),
    frozenset({"server-time"}),
    frozenset({"message-tags"}),
    frozenset({"server-time", "message-tags"}),
]


def build_room(members: int) -> tuple[Channel, list[User], list[list[bytes]]]:
    channel = Channel("#bench", 0)
    users, sinks = [], []
    for i in range(members):
        sink: list[bytes] = []
        user = User(sink.append, lambda: None, "127.0.0.1", 0.0, 0.0, None)
        user.set_username("u")
        user.set_nick(f"member{i}")
        user.set_caps(VIEW_CAPS[i % 4])
        channel.members[user] = ""
        users.append(user)
        sinks.append(sink)
    return channel, users, sinks


def one_round(
    delivery: LocalDelivery, channel: Channel, users: list[User], senders: int, messages: int
) -> float:
    """Queue one batch and settle it; returns the seconds settle took."""
    text = "a line of an ordinary length, about sixty bytes of chat text"
    for i in range(messages):
        sender = users[i % senders]
        msg = Message("PRIVMSG", ["#bench", f"{text} {i}"], sender.prefix)
        delivery.message_to_channel(channel, delivery.event(msg), sender)
    t0 = time.perf_counter()
    delivery.settle()
    return time.perf_counter() - t0


def flush_all(sinks: list[list[bytes]]) -> float:
    """What Connection.flush does before send(): one bytes object per member."""
    t0 = time.perf_counter()
    for sink in sinks:
        data = sink[0] if len(sink) == 1 else b"".join(sink)
        del data
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    channel, users, sinks = build_room(args.members)
    delivery = LocalDelivery("bench-")
    print(
        f"one settle of a {args.messages}-message batch in a {args.members}-member room "
        f"(4 tag views), median of {args.rounds}"
    )
    print(
        f"{'senders':>8} {'settle ms':>10} {'best ms':>8} {'flush ms':>9} {'MB written':>11} "
        f"{'MB to senders':>14}"
    )
    for senders in (1, 10, 100, 1000):
        if senders > args.members:
            break
        times, flushes = [], []
        written = to_senders = 0
        for _ in range(args.rounds):
            for sink in sinks:
                sink.clear()
            times.append(one_round(delivery, channel, users, senders, args.messages))
            flushes.append(flush_all(sinks))
            written = sum(len(b) for sink in sinks for b in sink)
            to_senders = sum(len(b) for sink in sinks[:senders] for b in sink)
        print(
            f"{senders:>8} {statistics.median(times) * 1000:>10.2f} {min(times) * 1000:>8.2f} "
            f"{statistics.median(flushes) * 1000:>9.2f} {written / 1e6:>11.1f} "
            f"{to_senders / 1e6:>14.1f}"
        )


if __name__ == "__main__":
    main()
