"""What IRC over WebSocket costs the server, sans-IO (net/websocket.py's IrcWebSocket, no
sockets): framing a line out, a 20-line batch out, one message in, one room broadcast to 1,000
WebSocket members (the frames of one broadcast are reused across members), and the memory of
one open connection's protocol object.

    python bench/websocket_cost.py
"""

from __future__ import annotations

import timeit
import tracemalloc

from wsproto import ConnectionType, WSConnection
from wsproto.events import BytesMessage, Request, TextMessage

from chatd.net.websocket import IrcWebSocket
from chatd.proto.framing import LineReader

MAX_LINE = 512 + 4096
N = 20000
LINE = b"@time=2026-12-01T10:00:00.000Z :nick!~u@127.0.0.1 PRIVMSG #room :" + b"x" * 80 + b"\r\n"


def member(subprotocol: str) -> tuple[IrcWebSocket, WSConnection]:
    server = IrcWebSocket(LineReader(MAX_LINE, keep_empty=True), ("*",))
    client = WSConnection(ConnectionType.CLIENT)
    got = server.receive(client.send(Request(host="x", target="/", subprotocols=[subprotocol])))
    client.receive_data(got.out)
    list(client.events())
    return server, client


def measure(
    subprotocol: str, fresh: list[bytes], batches: list[bytes]
) -> tuple[float, float, float]:
    """Seconds per line framed alone, per line framed in batches, per message received."""
    server, client = member(subprotocol)
    lines = iter(fresh)
    alone = timeit.timeit(lambda: server.frame(next(lines)), number=len(fresh)) / len(fresh)
    runs = iter(batches)
    batched = timeit.timeit(lambda: server.frame(next(runs)), number=len(batches)) / len(fresh)
    text = "PRIVMSG #room :" + "x" * 80
    event = TextMessage(text) if subprotocol.startswith("text") else BytesMessage(text.encode())
    message = client.send(event)
    incoming = timeit.timeit(lambda: server.receive(message), number=N) / N
    return alone, batched, incoming


def main() -> None:
    fresh = [bytes(bytearray(LINE)) for _ in range(N)]  # new objects: no reuse between calls
    batches = [bytes(bytearray(LINE * 20)) for _ in range(N // 20)]
    for subprotocol in ("text.ircv3.net", "binary.ircv3.net"):
        alone, batched, incoming = measure(subprotocol, fresh, batches)
        print(
            f"{subprotocol}: out {alone * 1e6:.2f} us/line alone, {batched * 1e6:.2f} us/line "
            f"in 20-line batches; in {incoming * 1e6:.2f} us/message"
        )
    members = [member("text.ircv3.net")[0] for _ in range(1000)]
    broadcasts = iter([bytes(bytearray(LINE)) for _ in range(200)])

    def broadcast() -> None:
        data = next(broadcasts)
        for m in members:
            m.frame(data)

    per = timeit.timeit(broadcast, number=200) / 200
    print(f"one message to 1,000 WebSocket members of a room: {per * 1e3:.2f} ms")
    request = WSConnection(ConnectionType.CLIENT).send(
        Request(host="x", target="/", subprotocols=["text.ircv3.net"])
    )
    tracemalloc.start()
    keep = []
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(1000):
        server = IrcWebSocket(LineReader(MAX_LINE, keep_empty=True), ("*",))
        server.receive(request)
        keep.append(server)
    after = tracemalloc.get_traced_memory()[0]
    print(f"memory of one open IrcWebSocket: {(after - before) / 1000:.0f} bytes")


if __name__ == "__main__":
    main()
