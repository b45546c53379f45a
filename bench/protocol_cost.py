"""What the commands of issue 12 cost at their configured worst, on the sans-IO state.

    python bench/protocol_cost.py [--users 1000] [--channels 10000] [--rounds 5]

Each case builds its world once and then times the one command that is at its bound, best of
`rounds`: the server CPU of handling that line, and the bytes it wrote. Sinks only append to a
list, as `Connection.write` does. The cases:

- LIST *mask* over `channels` channels (the answer cut at list_max)
- WHOWAS of a nick with whowas_per_nick records, in a full ring; and the ring's memory
- a nick watched by `users` MONITOR lists signs on (730 to each)
- a draft/multiline batch at max-lines/max-bytes to a channel of `users` members (half of them
  with the capability), against the same lines as PRIVMSGs
- METADATA SET by a user whose channel has `users` subscribed members
- JOIN of a metadata client to a channel of `users` members with one key each (the sync batch)
- RENAME of a channel of `users` members without the capability (the PART/JOIN/NAMES fallback)
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable

from chatd.server.config import build
from chatd.server.state import ServerState
from chatd.server.user import User


class Sink:
    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def close(self) -> None:
        pass


def make(**settings: object) -> ServerState:
    settings.setdefault("flood_limit", False)
    settings.setdefault("cloak_hosts", False)
    state = ServerState(build(settings), 1_700_000_000.0)
    state.set_clock(100.0, 1_700_000_000.0)
    return state


def client(state: ServerState, nick: str, caps: str = "") -> tuple[User, Sink]:
    sink = Sink()
    user = state.connect(sink.write, sink.close, "127.0.0.1")
    if caps:
        state.handle_line(user, b"CAP LS 302")
        state.handle_line(user, f"CAP REQ :{caps}".encode())
    state.handle_line(user, f"NICK {nick}".encode())
    state.handle_line(user, b"USER u 0 * :bench")
    if caps:
        state.handle_line(user, b"CAP END")
    return user, sink


def clear(sinks: list[Sink]) -> None:
    for sink in sinks:
        sink.data.clear()


def measure(state: ServerState, sinks: list[Sink], rounds: int, step: Callable[[], None]) -> str:
    """Best time of `step` (state settled, as the reactor would), and the bytes it wrote."""
    best, written = float("inf"), 0
    for _ in range(rounds):
        clear(sinks)
        t0 = time.perf_counter()
        step()
        state.settle()
        best = min(best, time.perf_counter() - t0)
        written = sum(len(d) for s in sinks for d in s.data)
    return f"{best * 1000:9.2f} ms {written / 1024:10.1f} KiB"


def case_list(channels: int, rounds: int) -> str:
    state = make(max_channels=channels)
    op, sink = client(state, "op")
    for i in range(channels):
        state.handle_line(op, f"JOIN #chan{i}".encode())
    asker, asked = client(state, "asker")
    return measure(state, [asked], rounds, lambda: state.handle_line(asker, b"LIST *chan1*"))


def case_whowas(rounds: int) -> str:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    state = make()
    user, _ = client(state, "a0")
    for i in range(state.config.whowas_entries):
        state.handle_line(user, f"NICK a{(i + 1) % 200}".encode())
    ring = sum(
        s.size_diff
        for s in tracemalloc.take_snapshot().compare_to(before, "filename")
        if "whowas" in str(s.traceback)
    )
    tracemalloc.stop()
    asker, asked = client(state, "asker")
    timed = measure(state, [asked], rounds, lambda: state.handle_line(asker, b"WHOWAS a7"))
    return f"{timed}   ring of {len(state.whowas)} records: {ring / 1024:.0f} KiB"


def case_monitor(users: int, rounds: int) -> str:
    state = make()
    sinks = []
    for i in range(users):
        watcher, sink = client(state, f"w{i}")
        state.handle_line(watcher, b"MONITOR + target")
        sinks.append(sink)

    def signon() -> None:
        target, _ = client(state, "target")
        state.disconnect(target, "again")

    return measure(state, sinks, rounds, signon)


def channel_of(state: ServerState, users: int, caps: Callable[[int], str]) -> list[Sink]:
    sinks = []
    for i in range(users):
        member, sink = client(state, f"m{i}", caps(i))
        state.handle_line(member, b"JOIN #big")
        sinks.append(sink)
    return sinks


def case_multiline(users: int, rounds: int) -> tuple[str, str]:
    state = make()
    cfg = state.config
    sinks = channel_of(state, users, lambda i: "batch draft/multiline" if i % 2 else "")
    sender, sent = client(state, "sender", "batch draft/multiline")
    state.handle_line(sender, b"JOIN #big")
    text = "x" * (cfg.multiline_max_bytes // cfg.multiline_max_lines - 1)
    lines = [f"@batch=r PRIVMSG #big :{text}".encode() for _ in range(cfg.multiline_max_lines)]

    def batch() -> None:
        state.handle_line(sender, b"BATCH +r draft/multiline #big")
        for line in lines:
            state.handle_line(sender, line)
        state.handle_line(sender, b"BATCH -r")

    def singles() -> None:
        for _ in lines:
            state.handle_line(sender, f"PRIVMSG #big :{text}".encode())

    return measure(state, [*sinks, sent], rounds, batch), measure(
        state, [*sinks, sent], rounds, singles
    )


def case_metadata_set(users: int, rounds: int) -> str:
    state = make()
    caps = "batch draft/metadata-3"
    sinks = channel_of(state, users, lambda i: caps)
    for i in range(users):
        state.handle_line(state.users[f"m{i}"], b"METADATA * SUB avatar")
    setter, sink = client(state, "setter", caps)
    state.handle_line(setter, b"JOIN #big")
    value = "https://example.org/" + "a" * (state.config.metadata_max_value_bytes - 20)
    step = lambda: state.handle_line(setter, f"METADATA * SET avatar :{value}".encode())  # noqa: E731
    return measure(state, [*sinks, sink], rounds, step)


def case_metadata_join(users: int, rounds: int) -> str:
    state = make()
    caps = "batch draft/metadata-3"
    channel_of(state, users, lambda i: caps)
    for i in range(users):
        state.handle_line(state.users[f"m{i}"], b"METADATA * SET avatar :https://example.org/x")
    joiner, sink = client(state, "joiner", caps)
    state.handle_line(joiner, b"METADATA * SUB avatar")

    def join() -> None:
        state.handle_line(joiner, b"JOIN #big")
        state.handle_line(joiner, b"PART #big")

    return measure(state, [sink], rounds, join)


def case_rename(users: int, rounds: int) -> str:
    state = make(rename_cooldown=0.0)
    sinks = channel_of(state, users, lambda i: "")
    op = state.users["m0"]
    names = ["#big", "#big2"]

    def rename() -> None:
        state.handle_line(op, f"RENAME {names[0]} {names[1]}".encode())
        names.reverse()

    return measure(state, sinks, rounds, rename)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    n, rounds = args.users, args.rounds
    print(f"{'case':58} {'best time':>12} {'written':>14}")
    print(f"{f'LIST *chan1* over {args.channels} channels':58} {case_list(args.channels, rounds)}")
    print(f"{'WHOWAS of a nick in a full ring':58} {case_whowas(rounds)}")
    print(f"{f'sign-on of a nick on {n} MONITOR lists':58} {case_monitor(n, rounds)}")
    batch, singles = case_multiline(n, rounds)
    print(f"{f'multiline batch at its limits to {n} members':58} {batch}")
    print(f"{'  the same lines as PRIVMSGs':58} {singles}")
    print(f"{f'METADATA SET seen by {n} subscribed members':58} {case_metadata_set(n, rounds)}")
    print(f"{f'JOIN with the metadata sync of {n} members':58} {case_metadata_join(n, rounds)}")
    print(f"{f'RENAME of a channel of {n} members, all fallback':58} {case_rename(n, rounds)}")


if __name__ == "__main__":
    main()
