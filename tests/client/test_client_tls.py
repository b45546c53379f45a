"""--tls: the real chat-client against chatd's own TLS listener, and through a small TLS
terminator in front of a plain chatd (self-signed certificates)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from certs import self_signed
from client_helpers import (
    CLIENT,
    DEADLINE,
    ChatdProcess,
    RawClient,
    client_env,
    free_port,
    port_open,
    server_help,
    wait_for,
)

pytestmark = pytest.mark.e2e


class TlsTerminator:
    """Accepts TLS on a loopback port and relays the plain bytes to chatd, in its own loop."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self.upstream_port = upstream_port
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TlsTerminator:
        self.thread.start()
        if not self.ready.wait(DEADLINE):
            raise RuntimeError("TLS terminator did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(DEADLINE)


def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost."""
    cert, key, _ = self_signed(tmp_path, "localhost", "cert", "localhost")
    return Path(cert), Path(key)


@pytest.fixture
def tls_port(chatd: ChatdProcess, tmp_path: Path) -> Iterator[int]:
    cert, key = make_cert(tmp_path)
    terminator = TlsTerminator(chatd.port, cert, key).start()
    yield terminator.port
    terminator.stop()


def test_tls_with_insecure_accepts_a_self_signed_server(chatd: ChatdProcess, tls_port: int) -> None:
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        result = subprocess.run(
            [*CLIENT, "--tls", "--insecure", f"sec@localhost:{tls_port}"],
            input=b"over tls\n",
            capture_output=True,
            timeout=DEADLINE,
            env=client_env(),
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        bob.expect(r":sec!\S+ PRIVMSG #lobby :over tls")
    finally:
        bob.close()


def test_tls_refuses_an_unverified_certificate_with_a_clear_message(tls_port: int) -> None:
    result = subprocess.run(
        [*CLIENT, "--tls", f"sec@localhost:{tls_port}"],
        input=b"never sent\n",
        capture_output=True,
        timeout=DEADLINE,
        env=client_env(),
        check=False,
    )
    err = result.stderr.decode()
    assert result.returncode == 1
    assert "TLS error" in err and "CERTIFICATE_VERIFY_FAILED" in err and "Traceback" not in err


def test_tls_against_chatds_own_tls_listener(tmp_path: Path) -> None:
    if "--tls-cert" not in server_help():
        pytest.skip("this chatd has no TLS listener")
    cert, key = make_cert(tmp_path)
    tls = free_port()
    server = ChatdProcess(
        log_dir=tmp_path,
        extra=["--tls-port", str(tls), "--tls-cert", str(cert), "--tls-key", str(key)],
    ).start()
    wait_for(lambda: port_open(tls), what="TLS port open")
    bob = RawClient(server.port, "bob")
    try:
        bob.join("#lobby")
        result = subprocess.run(
            [*CLIENT, "--tls", "--insecure", f"sec@localhost:{tls}"],
            input=b"native tls\n",
            capture_output=True,
            timeout=DEADLINE,
            env=client_env(),
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()
        bob.expect(r":sec!\S+ PRIVMSG #lobby :native tls")
    finally:
        bob.close()
        server.stop()


def test_a_client_certificate_from_the_config_is_presented(
    chatd: ChatdProcess, tmp_path: Path
) -> None:
    """For SASL EXTERNAL: tls_cert/tls_key in the configuration go into the TLS handshake
    (the terminator here refuses clients without a certificate it trusts)."""
    server_dir, client_dir = tmp_path / "server", tmp_path / "client"
    server_dir.mkdir()
    client_dir.mkdir()
    cert, key = make_cert(server_dir)
    client_cert, client_key = make_cert(client_dir)
    terminator = TlsTerminator(chatd.port, cert, key)
    terminator.context.verify_mode = ssl.CERT_REQUIRED
    terminator.context.load_verify_locations(client_cert)
    terminator.start()
    bob = RawClient(chatd.port, "bob")
    try:
        bob.join("#lobby")
        (tmp_path / "cfg" / "chat-client").mkdir(parents=True)
        base = f'[[server]]\nname = "certified"\nhost = "localhost"\nport = {terminator.port}\n'
        base += 'nick = "sec"\ntls = true\ninsecure = true\n'
        config = tmp_path / "cfg" / "chat-client" / "config.toml"
        env = {**client_env(), "XDG_CONFIG_HOME": str(tmp_path / "cfg")}

        def run() -> subprocess.CompletedProcess[bytes]:
            return subprocess.run(
                [*CLIENT, "certified"], input=b"with my certificate\n", capture_output=True,
                timeout=DEADLINE, env=env, check=False,
            )  # fmt: skip

        config.write_text(base + f'tls_cert = "{client_cert}"\ntls_key = "{client_key}"\n')
        good = run()
        assert good.returncode == 0, good.stderr.decode()
        bob.expect(r":sec!\S+ PRIVMSG #lobby :with my certificate")
        config.write_text(base)
        without = run()  # refused in the handshake: a clear line, not a traceback
        assert without.returncode == 1 and "Traceback" not in without.stderr.decode()
        config.write_text(base + 'tls_cert = "/no/such.pem"\n')
        missing = run()
        err = missing.stderr.decode()
        assert missing.returncode == 1 and "cannot use the client certificate /no/such.pem" in err
    finally:
        bob.close()
        terminator.stop()
