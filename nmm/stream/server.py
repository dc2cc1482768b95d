"""The live page: ``http://127.0.0.1:<port>/`` serves a self-contained HTML/JS plot
(``page.html``) and ``ws://127.0.0.1:<port>/ws`` streams the frames to it (``websockets``, one
port for both; loopback only).

The server runs its own asyncio loop in a daemon thread. :meth:`LiveServer.send` is an engine
output: it turns a frame into JSON and hands it to that loop without waiting; the loop
broadcasts it to every page, skipping a page that cannot keep up (``websockets.broadcast``), so
a slow or absent browser never holds the engine back. A page that connects receives the
stream's description (the ``hello`` message: muscles, target bands, window) and the frames of
the last ``window_s`` s, then every new frame. Stream time going back (the next recording of a
replay) starts the plot afresh.

Messages (JSON): ``{"type": "hello", "muscles": [...], "bands": {muscle: [low, high]},
"window_s": s, "hidden": [...], "flexors": [...], "extensors": [...]}`` and
``{"type": "frame", "t": [k] s, "env": [k][M] (0-1), "torque": [k] N·m, "gap": [k] 0/1,
"cci": %, "rudolph": CCI, "contractions": [{"onset": s, "offset": s, "p": probability}],
"stalled": [...], "latency_ms": ms}``, NaN written as null.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from functools import cache
from http import HTTPStatus
from importlib import resources

import numpy as np
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from nmm.stream.engine import Frame

__all__ = ["HOST", "LiveServer", "frame_message", "page_html"]

#: The only address the page is served on.
HOST = "127.0.0.1"


@cache
def page_html() -> str:
    """The live page (``nmm/stream/page.html``)."""
    return resources.files("nmm.stream").joinpath("page.html").read_text(encoding="utf-8")


def _finite(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), digits)


def frame_message(frame: Frame) -> str:
    """The JSON of one frame (module doc); values rounded to what a plot can show."""
    return json.dumps(
        {
            "type": "frame",
            "t": np.round(frame.t_s, 4).tolist(),
            "env": np.round(frame.envelopes, 4).tolist(),
            "torque": np.round(frame.torque_nm, 3).tolist(),
            "gap": frame.in_gap.astype(int).tolist(),
            "cci": _finite(frame.cocontraction_pct, 2),
            "rudolph": _finite(frame.rudolph, 4),
            "contractions": [
                {
                    "onset": round(c.onset_s, 4),
                    "offset": round(c.offset_s, 4),
                    "p": _finite(c.probability, 4),
                }
                for c in frame.contractions
            ],
            "stalled": list(frame.stalled),
            "latency_ms": _finite(None if frame.latency_s is None else frame.latency_s * 1e3, 2),
        }
    )


class LiveServer:
    """The page and its websocket on 127.0.0.1 (module doc); an engine output.

    muscles: the envelopes' columns; bands: biofeedback target band [low, high] (0-1 of MVIC)
    per muscle (muscles without one get none); hidden: the deep muscles (no EMG, estimated
    only; labelled so); flexors, extensors: the co-contraction groups; window_s: s of stream
    the page shows; port: 0 picks a free port.
    """

    def __init__(
        self,
        muscles: Sequence[str],
        bands: Mapping[str, Sequence[float]],
        hidden: Sequence[str] = (),
        flexors: Sequence[str] = (),
        extensors: Sequence[str] = (),
        window_s: float = 10.0,
        port: int = 0,
    ) -> None:
        unknown = sorted(set(bands) - set(muscles))
        if unknown:
            raise ValueError(f"target bands for muscles not streamed: {unknown}")
        self._hello = json.dumps(
            {
                "type": "hello",
                "muscles": list(muscles),
                "bands": {m: [float(b[0]), float(b[1])] for m, b in bands.items()},
                "window_s": window_s,
                "hidden": list(hidden),
                "flexors": list(flexors),
                "extensors": list(extensors),
            }
        )
        self._window_s, self._port = window_s, port
        self._history: deque[tuple[float, str]] = deque()
        self._clients: set[ServerConnection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="nmm-stream-page", daemon=True)
        self.port: int | None = None
        self._error: OSError | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self, timeout_s: float = 10.0) -> str:
        """Starts serving; returns the page's URL."""
        self._thread.start()
        if not self._ready.wait(timeout_s) or self.port is None:
            why = f" ({self._error})" if self._error else ""
            raise RuntimeError(
                f"the live page did not start on {HOST}:{self._port}{why}; "
                "choose another outputs.port (0: any free port)"
            )
        return self.url

    def send(self, frame: Frame) -> None:
        """Queues ``frame`` for every page (never waits)."""
        if self._loop is not None and frame.t_s.size:
            message = frame_message(frame)
            self._loop.call_soon_threadsafe(self._broadcast, float(frame.t_s[-1]), message)

    def close(self) -> None:
        """Stops serving (closes the pages' connections)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
            self._thread.join(timeout=5)
            self._loop = None

    def _broadcast(self, t_s: float, message: str) -> None:
        if self._history and t_s < self._history[-1][0]:  # the next recording starts
            self._history.clear()
        self._history.append((t_s, message))
        while self._history and self._history[0][0] < t_s - self._window_s:
            self._history.popleft()
        broadcast(self._clients, message)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except OSError as exc:  # the port is taken, or not allowed
            self._error = exc
        finally:
            self._ready.set()  # a failed start must not leave start() waiting

    async def _main(self) -> None:
        self._stop = asyncio.get_running_loop().create_future()
        async with serve(self._client, HOST, self._port, process_request=_page) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._loop = asyncio.get_running_loop()
            self._ready.set()
            await self._stop

    async def _client(self, connection: ServerConnection) -> None:
        await connection.send(self._hello)
        for _, message in list(self._history):
            await connection.send(message)
        self._clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            self._clients.discard(connection)


def _page(connection: ServerConnection, request: Request) -> Response | None:
    """The HTTP answer: the page at ``/``, the websocket at ``/ws``, 404 elsewhere."""
    if request.path == "/ws":
        return None
    if request.path not in ("/", "/index.html"):
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    body = page_html().encode()
    headers = Headers(
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    )
    return Response(HTTPStatus.OK, "OK", headers, body)
