"""The live page: served on 127.0.0.1, fed over its websocket, it renders in headless Chromium
and its traces move (two screenshots 1 s apart differ). Chromium is driven through its DevTools
protocol on 127.0.0.1; the frames come from a real LiveServer fed like the engine feeds it."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from websockets.sync.client import connect

from nmm.stream.engine import Frame
from nmm.stream.online import Contraction
from nmm.stream.server import LiveServer, frame_message
from tests.html_probe import OFFLINE_FLAGS

MUSCLES = ("BIClong", "BRA", "TRIlong", "TRImed")

CHROMIUM_FLAGS = [
    *OFFLINE_FLAGS,
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
    "--window-size=1000,700",
]


def _frame(k: int) -> Frame:
    """Update k of a stream at 100 Hz, 2 samples per update: moving sine envelopes."""
    t = (2 * k + np.arange(2)) / 100.0
    env = 0.5 + 0.4 * np.sin(2 * np.pi * 0.5 * t[:, None] + np.arange(len(MUSCLES)))
    done = (Contraction(t[0] - 0.8, t[0] - 0.2, 0.7),) if k % 50 == 49 else ()
    return Frame(t, env, 5 * np.sin(t), np.zeros(2, bool), 30.0, 0.2, done, (), 0.004)


class Feeder(threading.Thread):
    """Sends the server a frame every 20 ms, as the engine does, until stopped."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(daemon=True)
        self.server, self.stop = server, threading.Event()

    def run(self) -> None:
        for k in itertools.count():
            if self.stop.wait(0.02):
                return
            self.server.send(_frame(k))


class DevTools:
    """One headless Chromium page at ``url``, driven over the DevTools protocol."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            pytest.skip("chromium not installed (Debian package 'chromium')")
        profile = tmp_path / "profile"
        self.proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                pytest.fail("headless Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(self._page_socket(port, deadline), max_size=2**26, open_timeout=30)
        )
        self._ids = itertools.count(1)

    @staticmethod
    def _page_socket(port: int, deadline: float) -> str:
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.1)
        pytest.fail("no page target in headless Chromium")

    def call(self, method: str, **params) -> dict:
        call_id = next(self._ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == call_id:
                assert "error" not in reply, reply
                return reply["result"]

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])

    def close(self) -> None:
        if hasattr(self, "_stack"):
            self._stack.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def test_frame_message_carries_the_estimates_and_nan_as_null() -> None:
    frame = _frame(49)
    message = json.loads(frame_message(Frame(**{**frame.__dict__, "rudolph": float("nan")})))
    assert message["type"] == "frame" and len(message["env"]) == 2
    assert len(message["env"][0]) == len(MUSCLES)
    assert message["rudolph"] is None and message["cci"] == 30.0
    assert message["contractions"] == [{"onset": 0.18, "offset": 0.78, "p": 0.7}]


def test_the_page_and_its_websocket_are_served_on_loopback_only() -> None:
    server = LiveServer(MUSCLES, {"BRA": (0.2, 0.4)}, window_s=2.0)
    url = server.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.headers["Content-Type"].startswith("text/html")
            assert "nmm-stream" in r.read().decode()
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(url + "nothing", timeout=10)
        for k in range(300):  # 6 s of stream; a page connecting now gets the last 2 s
            server.send(_frame(k))
        time.sleep(0.2)
        with connect(f"ws://127.0.0.1:{server.port}/ws", open_timeout=10) as ws:
            hello = json.loads(ws.recv(timeout=10))
            assert hello["muscles"] == list(MUSCLES) and hello["bands"] == {"BRA": [0.2, 0.4]}
            first = json.loads(ws.recv(timeout=10))
            assert 3.9 <= first["t"][0] <= 4.1
            server.send(_frame(300))
            last = None
            while last is None or last["t"][0] < 6.0:
                last = json.loads(ws.recv(timeout=10))
            assert last["t"] == [6.0, 6.01]
    finally:
        server.close()
    with pytest.raises(ValueError, match="not streamed"):
        LiveServer(MUSCLES, {"BRD": (0.1, 0.2)})
    taken = LiveServer(MUSCLES, {})
    taken.start()
    try:
        with pytest.raises(RuntimeError, match=r"did not start .*outputs\.port"):
            LiveServer(MUSCLES, {}, port=taken.port).start()
    finally:
        taken.close()


def test_the_live_page_renders_and_its_traces_move(tmp_path: Path) -> None:
    bands = {"BIClong": (0.3, 0.6), "BRA": (0.2, 0.4)}
    server = LiveServer(MUSCLES, bands, hidden=("BRA", "TRImed"), window_s=5.0)
    url = server.start()
    feeder = Feeder(server)
    feeder.start()
    browser = DevTools(url, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not browser.evaluate("S.t.length > 50"):
            assert time.monotonic() < deadline, "the page received no frames"
            time.sleep(0.2)
        first, t_first = browser.screenshot(), browser.evaluate("S.t[S.t.length - 1]")
        time.sleep(1.0)
        second, t_second = browser.screenshot(), browser.evaluate("S.t[S.t.length - 1]")
        assert first[:8] == b"\x89PNG\r\n\x1a\n" and len(first) > 5000  # a drawn page
        assert first != second
        assert t_second - t_first > 0.5  # the stream moved on between the two
        assert browser.evaluate("document.getElementById('status').textContent") == "streaming"
        assert browser.evaluate("document.getElementById('pain').textContent") == "0.70"
        (tmp_path / "first.png").write_bytes(first)
        (tmp_path / "second.png").write_bytes(second)
    finally:
        browser.close()
        feeder.stop.set()
        feeder.join()
        server.close()
