"""A real browser on chatd's WebSocket port: headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by .ci/run) driven by Selenium.

A page served by a test-local HTTP server opens a WebSocket to a chatd process, registers,
joins a room and exchanges messages with a plain TCP client; then a page from an origin that
is not allowed is refused. In CI (CI=true) a missing browser fails the test; elsewhere it
skips and says why.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator

import pytest
from ircclient import Client, wait_for
from procs import _read_log

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

pytestmark = pytest.mark.e2e

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>chatd over WebSocket</title>
<pre id="log"></pre>
<script>
"use strict";
const transcript = [];
const state = {open: false, joined: false, closed: null, protocol: null};
window.transcript = transcript;
window.chat = state;
const pre = document.getElementById("log");
function note(text) { transcript.push(text); pre.textContent += text + "\\n"; }
const ws = new WebSocket("ws://127.0.0.1:%(port)d/", ["text.ircv3.net"]);
function send(line) { note("> " + line); ws.send(line); }
ws.onopen = () => {
  state.open = true;
  state.protocol = ws.protocol;
  note("* open, subprotocol " + ws.protocol);
  send("NICK browser");
  send("USER web 0 * :Headless Chromium");
};
ws.onmessage = (event) => {
  if (typeof event.data !== "string") { note("* a binary message"); return; }
  const line = event.data;
  note("< " + line);
  const words = line.split(" ");
  if (words[0] === "PING") send("PONG " + words.slice(1).join(" "));
  else if (words[1] === "001") send("JOIN #web");
  else if (words[1] === "366" && words[3] === "#web") {
    state.joined = true;
    send("PRIVMSG #web :hello from a real browser, \\u00e7a va?");
  } else if (words[1] === "PRIVMSG" && line.endsWith(" :hello, browser")) {
    send("QUIT :done");
  }
};
ws.onerror = () => note("* error");
ws.onclose = (event) => {
  state.closed = event.code;
  note("* close " + event.code + (event.reason ? " " + event.reason : ""));
};
</script>
"""


def _require_browser(programs: tuple[str, ...] = (CHROMIUM, CHROMEDRIVER)) -> None:
    missing = [path for path in programs if not shutil.which(path)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (test extra)")
    if not missing:
        return
    reason = f"the browser test needs {', '.join(missing)} (.ci/run installs them)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class _Pages(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        body = self.page if self.path == "/" else b"not here\n"
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def web_server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def browser(tmp_path):
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_script_timeout(5)
    yield driver
    driver.quit()


def _js(driver, expression: str):
    return driver.execute_script(f"return {expression};")


def test_a_browser_page_chats_with_a_tcp_client(proc_factory, web_server, browser):
    http_port = web_server.server_address[1]
    origin = f"http://127.0.0.1:{http_port}"
    proc = proc_factory("--websocket-port", "0", "--websocket-origin", origin)
    match = re.search(r"WebSocket port (\d+)", proc.log[-1])
    assert match, proc.log
    _Pages.page = (PAGE % {"port": int(match.group(1))}).encode()

    tcp = Client(proc.port)
    tcp.register("tcpuser")
    tcp.join("#web")
    started = time.monotonic()
    browser.get(f"{origin}/")
    tcp.expect(r"^:browser!~web@\S+ JOIN #web$", timeout=15)
    tcp.expect(r"^:browser!\S+ PRIVMSG #web :hello from a real browser, ça va\?$")
    tcp.send("PRIVMSG #web :hello, browser")
    tcp.expect(r"^:browser!\S+ QUIT :Quit: done$")
    wait_for(lambda: _js(browser, "window.chat.closed") is not None, what="the close event")
    elapsed = time.monotonic() - started

    transcript = _js(browser, "window.transcript")
    state = _js(browser, "window.chat")
    assert state["protocol"] == "text.ircv3.net" and state["joined"]
    assert state["closed"] == 1000  # the server's close frame: a clean close, not 1006
    assert any(
        re.fullmatch(r"< :tcpuser!~u@\S+ PRIVMSG #web :hello, browser", t) for t in transcript
    )
    assert any(re.fullmatch(r"< ERROR :Closing Link: \S+ \(Quit: done\)", t) for t in transcript)
    assert not [t for t in transcript if t in ("* error", "* a binary message")]
    log = "".join(_read_log(proc))
    assert f"WebSocket 127.0.0.1: text.ircv3.net, Origin {origin}" in log

    # the same page from another origin (localhost is not 127.0.0.1 to a browser): refused
    browser.get(f"http://localhost:{http_port}/")
    wait_for(lambda: _js(browser, "window.chat && window.chat.closed") is not None)
    assert _js(browser, "window.chat.open") is False
    assert _js(browser, "window.chat.closed") == 1006  # the JavaScript API's word for refused
    wait_for(
        lambda: (
            f"403 pages from http://localhost:{http_port} may not connect"
            in "".join(_read_log(proc))
        ),
        what="the refusal in the log",
    )
    print(f"browser session ({elapsed:.2f} s from page load to close):")  # shown with -s
    for line in transcript:
        print("   ", line)


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="needs /nonexistent/chromium"):
        _require_browser(("/nonexistent/chromium", CHROMEDRIVER))
