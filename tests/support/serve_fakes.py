"""Helpers for the `vivicam serve` tests: a server on its own thread and
event loop, a fake-camera Y4M clip made from the test data, the avatar photo."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-gpu",
    "--no-sandbox",  # the tests run as root in a container
]


def write_y4m(clip: Path, out: Path, *, size: tuple[int, int] = (640, 480), frames: int = 120) -> Path:
    """The first ``frames`` of ``clip`` as a 30 fps Y4M file (I420), letterboxed
    into ``size``: what Chromium's fake camera plays (looped)."""
    import av
    import cv2

    width, height = size
    with av.open(str(clip)) as container, open(out, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for n, frame in enumerate(container.decode(video=0)):
            if n >= frames:
                break
            rgb = frame.to_ndarray(format="rgb24")
            scale = min(width / rgb.shape[1], height / rgb.shape[0])
            w, h = int(rgb.shape[1] * scale) // 2 * 2, int(rgb.shape[0] * scale) // 2 * 2
            canvas = np.zeros((height, width, 3), np.uint8)
            y, x = (height - h) // 2, (width - w) // 2
            canvas[y : y + h, x : x + w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
            yuv = cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420)
            f.write(b"FRAME\n" + yuv.tobytes())
    return out


def write_avatar(path: Path) -> Path:
    """The bundled astronaut portrait as a file (always there, no test data needed)."""
    import cv2

    from vivicam.realtime.app import demo_photo

    cv2.imwrite(str(path), cv2.cvtColor(demo_photo(), cv2.COLOR_RGB2BGR))
    return path


class ServerThread:
    """A running server (``running``) on its own thread and event loop."""

    def __init__(self, config: Any, shared: Any = None) -> None:
        from vivicam.realtime.serve.server import create, prepare

        self.config = config
        if shared is not None:  # the engine and avatar of an earlier server, with this config
            shared.config = config
        self.shared = shared or prepare(config)
        self.server, _ = create(config, self.shared)
        self.token = self.server.token
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="test-server", daemon=True)

    def _run(self) -> None:
        from vivicam.realtime.serve.server import running

        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with running(self.server):
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    def start(self) -> "ServerThread":
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def url(self, path: str = "") -> str:
        base = f"http://127.0.0.1:{self.server.port}/{path}"
        return base + (f"?token={self.token}" if self.token else "")

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


@contextmanager
def server_thread(config: Any, shared: Any = None) -> Iterator[ServerThread]:
    thread = ServerThread(config, shared).start()
    try:
        yield thread
    finally:
        thread.stop()
