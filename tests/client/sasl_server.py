"""A server that offers SASL, for the client's end-to-end tests, until chatd has accounts.

SaslProxy sits on a loopback port in front of a real chatd and passes every line through,
except that it offers `sasl=PLAIN,SCRAM-SHA-256` in CAP LS, acknowledges `sasl`, and runs the
AUTHENTICATE exchange itself against its own accounts, with the server side of
chatd.proto.scram (the stored keys, the proof check, the server signature). Everything else,
registration included, is chatd's.
"""

from __future__ import annotations

import asyncio
import base64
import threading

from chatd.proto import scram
from chatd.proto.message import Message, parse

READY_TIMEOUT = 10.0


class SaslProxy:
    def __init__(self, upstream_port: int, accounts: dict[str, str]) -> None:
        self.upstream_port = upstream_port
        self.passwords = dict(accounts)
        self.credentials = {user: scram.make_credentials(pw) for user, pw in accounts.items()}
        self.logins: list[tuple[str, str]] = []  # (mechanism, account) that succeeded
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SaslProxy:
        self.thread.start()
        if not self.ready.wait(READY_TIMEOUT):
            raise RuntimeError("SASL proxy did not start")
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(READY_TIMEOUT)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        exchange = _Exchange(self, writer)

        async def from_client() -> None:
            while line := await reader.readline():
                msg = parse(line.decode().rstrip("\r\n"))
                if msg.command == "CAP" and msg.param(0).upper() == "REQ":
                    wanted = msg.params[-1].split()
                    if "sasl" in wanted:
                        rest = [c for c in wanted if c != "sasl"]
                        exchange.ack_sasl = True
                        if not rest:
                            exchange.reply(":proxy CAP * ACK :sasl")
                            continue
                        up_writer.write(f"CAP REQ :{' '.join(rest)}\r\n".encode())
                        continue
                if msg.command == "AUTHENTICATE":
                    exchange.step(msg)
                    await writer.drain()
                    continue
                up_writer.write(line)
            up_writer.close()

        async def from_server() -> None:
            while line := await up_reader.readline():
                msg = parse(line.decode().rstrip("\r\n"))
                if msg.command == "CAP" and msg.param(1) == "LS" and msg.param(2) != "*":
                    msg.params[-1] += " sasl=PLAIN,SCRAM-SHA-256"
                    line = _encode(msg)
                elif msg.command == "CAP" and msg.param(1) == "ACK" and exchange.ack_sasl:
                    msg.params[-1] += " sasl"
                    exchange.ack_sasl = False
                    line = _encode(msg)
                writer.write(line)
                await writer.drain()
            writer.close()

        await asyncio.gather(from_client(), from_server(), return_exceptions=True)


def _encode(msg: Message) -> bytes:
    from chatd.proto.message import serialise

    return (serialise(msg) + "\r\n").encode()


class _Exchange:
    """One client's AUTHENTICATE conversation."""

    def __init__(self, proxy: SaslProxy, writer: asyncio.StreamWriter) -> None:
        self.proxy = proxy
        self.writer = writer
        self.ack_sasl = False
        self.mechanism = ""
        self.scram: scram.ScramServer | None = None
        self.user = ""
        self.verified = False

    def reply(self, line: str) -> None:
        self.writer.write((line + "\r\n").encode())

    def fail(self) -> None:
        self.reply(":proxy 904 * :SASL authentication failed")
        self.mechanism = ""

    def success(self) -> None:
        self.proxy.logins.append((self.mechanism, self.user))
        self.reply(f":proxy 900 * *!*@* {self.user} :You are now logged in as {self.user}")
        self.reply(":proxy 903 * :SASL authentication successful")
        self.mechanism = ""

    def step(self, msg: Message) -> None:
        arg = msg.param(0)
        if arg == "*":
            self.reply(":proxy 906 * :SASL authentication aborted")
            self.mechanism = ""
            return
        if not self.mechanism:
            if arg not in ("PLAIN", "SCRAM-SHA-256"):
                self.reply(":proxy 908 * PLAIN,SCRAM-SHA-256 :are available SASL mechanisms")
                self.fail()
                return
            self.mechanism = arg
            self.scram = scram.ScramServer(scram.make_nonce()) if arg != "PLAIN" else None
            self.reply("AUTHENTICATE +")
            return
        data = base64.b64decode(arg) if arg != "+" else b""
        if self.mechanism == "PLAIN":
            _, user, password = data.decode().split("\0")
            self.user = user
            if self.proxy.passwords.get(user) == password:
                self.success()
            else:
                self.fail()
            return
        assert self.scram is not None
        try:
            if not self.user:
                self.user = self.scram.receive_first(data.decode())
                creds = self.proxy.credentials.get(self.user)
                if creds is None:
                    self.fail()
                    return
                challenge = self.scram.challenge(creds)
                self.reply("AUTHENTICATE " + base64.b64encode(challenge.encode()).decode())
            elif not self.verified:
                verdict = self.scram.receive_final(data.decode())
                self.verified = True
                self.reply("AUTHENTICATE " + base64.b64encode(verdict.encode()).decode())
            else:
                self.success()
        except scram.ScramError:
            self.fail()
