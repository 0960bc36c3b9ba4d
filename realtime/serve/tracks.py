"""WebRTC tracks: the browser's camera into a session, the session's avatar
out, and the overlay (colour | alpha side by side) out."""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from typing import Callable

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from vivicam.realtime.serve.alpha import person_alpha, side_by_side
from vivicam.realtime.serve.session import Rendered, Session
from vivicam.types import Frame

log = logging.getLogger(__name__)

VIDEO_CLOCK = 90000  # RTP's video clock rate
TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
# With nothing new to send (no session yet, a stalled one) a track repeats
# its last frame at this interval so the page keeps a live stream.
REPEAT_S = 0.25


async def feed(track: MediaStreamTrack, session: Session) -> None:
    """Hand the browser's camera frames to ``session`` until the track ends.
    Frames are converted to RGB in the session's worker, and only those it
    takes: a frame replaced in the slot costs no conversion."""
    index = 0
    while not session.closed:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        t_ns = time.perf_counter_ns()

        def make(frame: VideoFrame = frame, t_ns: int = t_ns, index: int = index) -> Frame:
            return Frame(frame.to_ndarray(format="rgb24"), t_capture_ns=t_ns, index=index)

        session.submit(make, pts=frame.pts)
        index += 1


class _Follow:
    """Wait, in asyncio, for the next output frame of whichever session is followed."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._session: Session | None = None

    def _notify(self, _: Rendered) -> None:
        try:
            self._loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # the event loop is gone (server stopping)
            pass

    def follow(self, session: Session | None) -> None:
        if session is self._session:
            return
        if self._session is not None:
            self._session.unsubscribe(self._notify)
        self._session = session
        if session is not None:
            session.subscribe(self._notify)
            self._event.set()  # its current frame is new to us

    async def wait(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except asyncio.TimeoutError:
            pass
        self._event.clear()

    def stop(self) -> None:
        self.follow(None)


class _Clocked(MediaStreamTrack):
    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._t0: float | None = None
        self._follow: _Follow | None = None

    def _frame(self, image: np.ndarray) -> VideoFrame:
        now = time.monotonic()
        if self._t0 is None:
            self._t0 = now
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int((now - self._t0) * VIDEO_CLOCK)
        frame.time_base = TIME_BASE
        return frame

    def _follower(self) -> _Follow:
        if self._follow is None:
            self._follow = _Follow()
        return self._follow

    def stop(self) -> None:
        if self._follow is not None:
            self._follow.stop()
        super().stop()


class AvatarTrack(_Clocked):
    """A session's avatar: always its newest frame (older ones are skipped)."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self._sent = 0

    async def recv(self) -> VideoFrame:
        follow = self._follower()
        follow.follow(self.session)
        while True:
            if self.readyState != "live" or self.session.closed:
                raise MediaStreamError
            latest = self.session.latest
            if latest is not None and latest.seq != self._sent:
                self._sent = latest.seq
                return self._frame(latest.image)
            await follow.wait(REPEAT_S)
            if self.session.latest is not None and self.session.latest.seq == self._sent:
                return self._frame(self.session.latest.image)  # nothing new: repeat the last


class OverlayTrack(_Clocked):
    """Colour | alpha of the session ``source()`` names (the server's camera, or
    the newest browser session); fully transparent frames while there is none."""

    def __init__(self, source: Callable[[], Session | None], size: tuple[int, int]) -> None:
        super().__init__()
        self.source = source
        self.size = tuple(size)
        self._sent: tuple[int, int] | None = None  # (id(session), seq)

    def _compose(self, rendered: Rendered) -> np.ndarray:
        alpha = person_alpha(rendered.state, self.size, rendered.shift)
        return side_by_side(rendered.image, alpha)

    async def recv(self) -> VideoFrame:
        follow = self._follower()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            session = self.source()
            follow.follow(session)
            latest = None if session is None else session.latest
            key = None if latest is None else (id(session), latest.seq)
            if latest is not None and key != self._sent:
                self._sent = key
                return self._frame(self._compose(latest))
            await follow.wait(REPEAT_S)
            session = self.source()
            latest = None if session is None else session.latest
            if latest is None:
                width, height = self.size
                return self._frame(np.zeros((height, 2 * width, 3), np.uint8))
            if (id(session), latest.seq) == self._sent:
                return self._frame(self._compose(latest))
