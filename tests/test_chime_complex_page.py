"""The listening page of a debug run of egs/chime_complex in headless Chromium.

The page is served over ``python -m http.server`` on 127.0.0.1 and driven through the DevTools
protocol (a minimal websocket client below; the standard library has none): it must load with no
console error, exception or failed resource, every ``<audio>`` source must answer HTTP 200, reach
``readyState >= 2`` with a positive duration, and ``play()`` must resolve; every image must load.

Chromium is Debian's ``chromium``: installed with apt when missing, as root in CI (``CI=true``) or with
``SPEECHGEN_INSTALL_SYSTEM_PACKAGES=1`` (``conftest.apt_install``); otherwise the test is skipped
with the reason.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from chime_complex_helpers import DEBUG_MODELS
from conftest import apt_install

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required", "--mute-audio", "--remote-debugging-port=0"]

AUDIO_CHECK = """
(async () => {
  const wait = (audio) => new Promise((resolve) => {
    if (audio.readyState >= 2 || audio.error) return resolve();
    audio.addEventListener('canplay', resolve, {once: true});
    audio.addEventListener('error', resolve, {once: true});
    setTimeout(resolve, 15000);
  });
  const audios = [];
  for (const audio of document.querySelectorAll('audio')) {
    const src = audio.currentSrc || audio.src;
    const answer = await fetch(src);
    await wait(audio);
    const record = {src, status: answer.status, type: answer.headers.get('content-type'),
                    readyState: audio.readyState, duration: audio.duration,
                    error: audio.error ? audio.error.code : null, played: false};
    try { await audio.play(); record.played = true; audio.pause(); } catch (e) { record.played = String(e); }
    audios.push(record);
  }
  const images = Array.from(document.images).map((img) => ({src: img.src, ok: img.complete && img.naturalWidth > 0}));
  return {audios, images, title: document.title};
})()
"""


def find_chromium() -> str:
    """The chromium binary, installed with apt when missing and allowed; pytest.skip otherwise."""
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    why = apt_install(["chromium"])
    if why:
        pytest.skip(f"headless Chromium is not installed: {why}")
    if shutil.which("chromium") is None:
        pytest.skip("apt-get installed no `chromium` binary")
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebSocket:
    """A minimal RFC 6455 client: text frames out (masked), text frames in; enough for DevTools."""

    def __init__(self, url: str, timeout: float = 30.0):
        assert url.startswith("ws://")
        host_port, _, path = url[5:].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        header = b""
        while b"\r\n\r\n" not in header:
            chunk = self.sock.recv(1)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            header += chunk
        if b" 101 " not in header.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {header[:200]!r}")

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return data

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        head = struct.pack("!B", 0x81)
        if n < 126:
            head += struct.pack("!B", 0x80 | n)
        elif n < 1 << 16:
            head += struct.pack("!BH", 0x80 | 126, n)
        else:
            head += struct.pack("!BQ", 0x80 | 127, n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            opcode, n = first & 0x0F, second & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode == 0x9:  # ping -> pong
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0\0\0\0" + payload)
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class DevTools:
    """Commands and events of one page target."""

    def __init__(self, ws_url: str):
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.events = []

    def call(self, method: str, timeout: float = 60.0, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        deadline = time.time() + timeout
        while time.time() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)
        raise TimeoutError(method)

    def wait_event(self, method: str, timeout: float = 60.0) -> dict:
        deadline = time.time() + timeout
        for event in self.events:
            if event.get("method") == method:
                return event
        while time.time() < deadline:
            message = json.loads(self.ws.recv())
            self.events.append(message)
            if message.get("method") == method:
                return message
        raise TimeoutError(method)

    def errors(self) -> list:
        """Console errors, uncaught exceptions and failed loads seen so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(("console", [a.get("value", a.get("description")) for a in params.get("args", [])]))
            elif method == "Runtime.exceptionThrown":
                found.append(("exception", params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(("log", params["entry"].get("text"), params["entry"].get("url")))
            elif method == "Network.loadingFailed":
                found.append(("network", params.get("errorText")))
        return found


@pytest.fixture(scope="module")
def page_server(chime_debug_run):
    root, out = chime_debug_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    exp = root / "exp"
    assert (exp / "index.html").is_file()
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                               "--directory", str(exp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield exp, port
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port_file = Path(profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            if proc.poll() is not None:
                pytest.fail(f"chromium exited with {proc.returncode}: {proc.stderr.read().decode()[-1000:]}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.slow
def test_page_loads_without_errors_and_every_audio_plays(page_server, browser):
    exp, port = page_server
    targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{browser}/json/list", timeout=10).read())
    page = next(t for t in targets if t.get("type") == "page")
    tools = DevTools(page["webSocketDebuggerUrl"])
    try:
        for domain in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
            tools.call(domain)
        tools.call("Page.navigate", url=f"http://127.0.0.1:{port}/index.html")
        tools.wait_event("Page.loadEventFired")
        result = tools.call("Runtime.evaluate", expression=AUDIO_CHECK, awaitPromise=True, returnByValue=True,
                            timeout=120)
        assert "exceptionDetails" not in result, result
        checks = result["result"]["value"]
        time.sleep(0.5)  # late console messages
        tools.call("Runtime.evaluate", expression="1")
        errors = tools.errors()
    finally:
        tools.ws.close()
    assert errors == [], errors
    audios = checks["audios"]
    n_models = len(DEBUG_MODELS.split())
    # per example: each model without and with GLA, PGHI on the first model's magnitude without and with
    # GLA, two oracle-magnitude references and the true utterance
    assert len(audios) == 2 * (2 * n_models + 2 + 3)
    for audio in audios:
        assert audio["status"] == 200, audio
        assert audio["error"] is None and audio["readyState"] >= 2 and audio["duration"] > 0, audio
        assert audio["played"] is True, audio
    assert checks["images"] and all(img["ok"] for img in checks["images"]), checks["images"]
    assert len(checks["images"]) == len(audios)
    html = (exp / "index.html").read_text()
    assert "Utterance ID:" in html and "PESQ-WB" in html and "(J7)" in html and "(M)" in html
