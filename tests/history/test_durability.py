"""History and persistent channels across restarts of a real chatd process: a clean restart, and
`kill -9` in the middle of a flood, after which every message a client received is still there."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest
from ircclient import Client

from chatd.proto.message import parse

pytestmark = pytest.mark.e2e

CHATD = [sys.executable, "-m", "chatd.server"]
FULL = "draft/chathistory batch server-time message-tags"


class Proc:
    """chatd as a subprocess on a free port, its database at `db`."""

    def __init__(self, db: str, *args: str) -> None:
        self.p = subprocess.Popen(
            [*CHATD, "--host", "127.0.0.1", "--port", "0", "--db", db, "--no-flood-limit", *args],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.p.stderr is not None
        for line in self.p.stderr:
            match = re.search(r"listening on \S+ port (\d+)", line)
            if match:
                self.port = int(match.group(1))
                break
        else:
            raise AssertionError("chatd did not start")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.p.poll() is None:
            self.p.send_signal(sig)
        self.p.wait(10)
        assert self.p.stderr is not None
        self.p.stderr.close()


@pytest.fixture
def procs():
    started: list[Proc] = []

    def make(db: str, *args: str) -> Proc:
        proc = Proc(db, *args)
        started.append(proc)
        return proc

    yield make
    for proc in started:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.wait(10)


def connect(port: int, nick: str, caps: str = "") -> Client:
    c = Client(port)
    if caps:
        c.send("CAP LS 302", f"CAP REQ :{caps}")
        c.expect(" ACK ")
        c.send("CAP END")
    c.register(nick)
    return c


def history(c: Client, channel: str, limit: int = 100) -> list:
    """The whole history of `channel`, paged backwards from the latest message."""
    found: list = []
    request = f"CHATHISTORY LATEST {channel} * {limit}"
    while True:
        c.send(request)
        start = c.expect(r" BATCH \+\S+ chathistory ")
        ref = start.params[0][1:]
        page = []
        while True:
            m = c.expect(rf"batch={ref}\b| BATCH -{ref}$")
            if m.command == "BATCH":
                break
            page.append(m)
        if not page:
            return found
        found = page + found
        request = f"CHATHISTORY BEFORE {channel} msgid={page[0].tags['msgid']} {limit}"


def test_persistent_channel_and_its_history_survive_a_restart(procs, tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    first = procs(db)
    alice = connect(first.port, "alice", "server-time message-tags echo-message")
    alice.join("#room")
    alice.send("MODE #room +Pk sesame", "TOPIC #room :kept across restarts")
    alice.expect("TOPIC #room")
    alice.send("PRIVMSG #room :first words", "NOTICE #room :and a notice")
    sent = [alice.expect("PRIVMSG #room :first words"), alice.expect("NOTICE #room")]
    first.stop()

    second = procs(db)
    carol = connect(second.port, "carol", FULL)
    carol.send("JOIN #room")
    assert carol.expect_numeric("475").params[1] == "#room"  # the key was kept
    carol.send("JOIN #room sesame")
    assert carol.expect_numeric("332").params[2] == "kept across restarts"
    assert carol.expect_numeric("333").params[2].startswith("alice!")
    carol.expect_numeric("366")
    stored = history(carol, "#room")
    assert [(m.command, m.params[1]) for m in stored] == [
        ("PRIVMSG", "first words"),
        ("NOTICE", "and a notice"),
    ]
    for original, again in zip(
        sent, stored, strict=False
    ):  # the same message: same msgid, same time
        assert again.tags["msgid"] == original.tags["msgid"]
        assert again.tags["time"] == original.tags["time"]
    carol.send("MODE #room")
    assert carol.expect_numeric("324").params[2:4] == ["+Pntk", "sesame"]
    second.stop()


def test_kill_9_loses_nothing_a_client_received(procs, tmp_path):
    db = str(tmp_path / "chatd.sqlite3")
    first = procs(db)
    writer = connect(first.port, "writer")
    writer.join("#flood")
    writer.send("MODE #flood +P")
    reader = connect(first.port, "reader", "message-tags")
    reader.join("#flood")
    reader.sync()

    total = 30_000
    flood = b"".join(b"PRIVMSG #flood :flood %d\r\n" % i for i in range(total))

    def write() -> None:
        try:
            writer.sock.sendall(flood)
        except OSError:
            pass  # the server was killed under us

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    received: dict[str, str] = {}
    buf = b""
    reader.sock.settimeout(5)
    killed = False
    while True:
        try:
            data = reader.sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            data = b""
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\r\n")
        for line in lines:
            if b" PRIVMSG #flood :" in line:
                m = parse(line.decode())
                received[m.tags["msgid"]] = m.params[1]
        if not killed and len(received) >= 2000:
            first.p.send_signal(signal.SIGKILL)  # in the middle of the flood
            killed = True
    assert killed and 2000 <= len(received) < total, len(received)
    first.p.wait(10)
    thread.join(10)

    second = procs(db)
    check = connect(second.port, "check", FULL)
    check.join("#flood")
    stored = {m.tags["msgid"]: m.params[1] for m in history(check, "#flood", 100)}
    missing = [msgid for msgid in received if msgid not in stored]
    assert not missing, f"{len(missing)} received messages were not stored"
    assert all(stored[msgid] == text for msgid, text in received.items())
    print(f"received {len(received)} before kill -9, {len(stored)} stored")
    second.stop()


def test_default_database_is_under_xdg_state_home(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}
    p = subprocess.Popen(
        [*CHATD, "--host", "127.0.0.1", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert p.stderr is not None
        for line in p.stderr:
            if "database " in line:
                break
        assert (tmp_path / "state" / "chatd" / "chatd.sqlite3").exists()
        assert str(tmp_path / "state" / "chatd" / "chatd.sqlite3") in line
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


def test_a_database_that_cannot_be_opened_stops_chatd_with_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    done = subprocess.run(
        [*CHATD, "--host", "127.0.0.1", "--port", "0", "--db", str(blocker / "chatd.sqlite3")],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot open database" in done.stderr


def _damaged_database(path) -> None:
    """A real history database with one page in its middle overwritten (a bad sector, a torn
    copy): its first page, and so the header and schema, are intact."""
    from chatd.store import Store

    store = Store(str(path))
    for i in range(3000):
        store.append("#a", i, f"m{i}", "PRIVMSG", "a!~u@h", "#a", "x" * 200, "")
    store.settle(0.0, 0.0)
    store.close()
    page = 4096
    pages = path.stat().st_size // page
    assert pages > 20
    with open(path, "r+b") as fh:
        fh.seek(pages // 2 * page)
        fh.write(bytes(range(256)) * (page // 256))


def test_a_damaged_database_stops_chatd_with_one_line_on_how_to_recover(tmp_path):
    db = tmp_path / "chatd.sqlite3"
    _damaged_database(db)
    p = subprocess.Popen(
        [*CHATD, "--host", "127.0.0.1", "--port", "0", "--db", str(db)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert p.stderr is not None
        lines = []
        for line in p.stderr:  # ends at exit; a chatd that serves would say "listening"
            lines.append(line)
            assert "listening" not in line, f"chatd served from a damaged database: {lines}"
        code = p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
    assert code == 1
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"chatd: database {db} is damaged (")
    assert f"sqlite3 {db} .recover | sqlite3 {db}.recovered" in lines[0]
    assert "move" in lines[0]


def test_the_recovery_the_message_gives_works(tmp_path):
    """Following the advice (when the sqlite3 shell is installed) gives a database chatd
    starts from, with what could be read."""
    import shutil

    if shutil.which("sqlite3") is None:
        pytest.skip("no sqlite3 shell")
    probe = subprocess.run(
        ["sqlite3", ":memory:", "SELECT count(*) FROM sqlite_dbpage"],
        capture_output=True,
        timeout=20,
        check=False,
    )
    if probe.returncode != 0:  # Debian's and Ubuntu's shells are built without it
        pytest.skip("this sqlite3 shell has no sqlite_dbpage, which .recover needs")
    db = tmp_path / "chatd.sqlite3"
    _damaged_database(db)
    recover = subprocess.run(
        f"sqlite3 '{db}' .recover | sqlite3 '{db}.recovered'",
        shell=True,
        capture_output=True,
        timeout=20,
        check=False,
    )
    assert recover.returncode == 0, recover.stderr
    from chatd.store import Store

    store = Store(f"{db}.recovered")
    try:
        assert 0 < store.count("#a") < 3000  # the damaged page's rows are lost, the rest kept
    finally:
        store.close()
