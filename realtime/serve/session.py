"""Sessions: one driver each (a browser's camera, or the server's own camera),
all sharing one engine and the prepared avatars.

Each :class:`Session` owns what is personal to a driver (face tracker,
calibration, smoothing, motion state: a :class:`Pipeline` with its own
``MotionEstimator``) and one worker thread. Frames arrive in a one-frame slot:
a frame that was not started before the next one came is dropped, so under
load a session loses frames rather than building up latency. Engine and
compositing run under :attr:`Shared.render_lock`, since engines do not promise
to be re-entrant; tracking and motion of one session overlap another's render.

A session's output keeps a steady rate (``ServeConfig.fps``) whatever the
browser's camera delivers: as in the live loop (the same
:mod:`~vivicam.realtime.pacing`), a frame due before the next camera frame
came is rendered from motion predicted forward from the track, and a camera
that stops eases the avatar into idle motion at the same rate.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vivicam.engines.base import AvatarState, Engine
from vivicam.realtime.clock import Clock, SystemClock
from vivicam.realtime.pacing import Pacer, gap_motion, output_period
from vivicam.realtime.pipeline import AvatarCache, Pipeline
from vivicam.realtime.serve.config import ServeConfig
from vivicam.realtime.stats import LoopStats
from vivicam.types import Frame

log = logging.getLogger(__name__)

# Without a new camera frame for this long the avatar keeps moving on its own
# (held motion easing into idle), as the live loop does on a stalled camera.
STALL_S = 0.5


@dataclass(frozen=True, eq=False)
class Rendered:
    """One output frame of a session: the image (H×W×3 uint8 RGB), the avatar
    and frame shift it was composed with (for the overlay's mask), and when
    its camera frame arrived and when it was done (``perf_counter_ns``)."""

    image: np.ndarray
    state: AvatarState
    shift: Any
    t_capture_ns: int | None
    t_done_ns: int
    seq: int
    pts: int | None = None  # the camera frame's presentation stamp, when it had one


class Shared:
    """What every session uses: the engine, the prepared avatars and the lock
    that serializes engine calls."""

    def __init__(self, config: ServeConfig, engine: Engine, paths: list[Path], start: int = 0) -> None:
        self.config = config
        self.engine = engine
        self.paths = paths
        self.start = start
        self.cache = AvatarCache(engine, max_items=max(8, len(paths)))
        self.render_lock = threading.Lock()
        self._cache_lock = threading.Lock()

    def avatar(self, index: int) -> AvatarState:
        """The prepared avatar ``index`` (InputError for a photo without a usable face)."""
        with self._cache_lock:
            return self.cache.get(self.paths[index])

    def names(self) -> list[str]:
        return [p.name for p in self.paths]


class Session:
    """One driver's pipeline and worker thread. ``submit`` frames from any
    thread; ``subscribe`` a callback called (from the worker) after each
    output frame; ``close`` stops and joins the worker and frees the tracker.
    ``camera_fps``: the camera's rate when known (else measured as frames
    come); ``clock`` times the output (tests pass a virtual one)."""

    _ids = itertools.count(1)

    def __init__(self, shared: Shared, *, name: str | None = None, tracker: Any = None,
                 camera_fps: float | None = None, clock: Clock | None = None) -> None:
        from vivicam.calibrate.motion import MotionConfig, MotionEstimator

        self.shared = shared
        self.id = name or f"s{next(self._ids)}"
        self.opened_s = time.monotonic()
        self.last_input_s = self.opened_s
        self.clock = clock or SystemClock()
        self.stats = LoopStats(now_ns=self.clock.now_ns)
        self.pacer = Pacer(output_period(shared.config.fps, camera_fps), camera_fps, self._now())
        self._stalled = False
        self._arrived_s = self._now()  # when the worker took the last camera frame
        self._render_s = 0.0  # how long rendering a frame takes (moving average)
        self._camera_out: deque[int] = deque(maxlen=61)  # when camera frames were rendered (their rate)
        self.avatar_index = shared.start
        config = MotionConfig()
        if shared.config.mirror is not None:
            import dataclasses

            config = dataclasses.replace(config, mirror=shared.config.mirror)
        if tracker is None:
            from vivicam.face.tracker import MediaPipeTracker

            tracker = MediaPipeTracker()
        self._tracker = tracker
        self.pipeline = Pipeline(
            shared.engine,
            shared.avatar(self.avatar_index),
            tracker=tracker,
            estimator=MotionEstimator(config=config),
            out_size=tuple(shared.config.size),
            background=shared.config.background,
            stats=self.stats,
            driver_flow=shared.config.driver_flow,
        )
        self.latest: Rendered | None = None
        self._seq = 0
        self._slot: tuple[Any, int | None] | None = None
        self._pending: list[Callable[[], None]] = []
        self._listeners: list[Callable[[Rendered], None]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._echo: np.ndarray | None = None  # the last camera frame (stamp_echo only)
        self._thread = threading.Thread(target=self._work, name=f"vivicam-session-{self.id}", daemon=True)
        self._thread.start()

    # -- called from the server ------------------------------------------------
    def submit(self, frame: Frame | Callable[[], Frame], pts: int | None = None) -> None:
        """A new camera frame (or a function making it, called only if the
        frame is used); replaces one still waiting (newest wins)."""
        with self._lock:
            if self._slot is not None:
                self.stats.drop("stale")
            self._slot = (frame, pts)
            self.last_input_s = time.monotonic()
        self.clock.notify()

    def recalibrate(self) -> None:
        self._later(self.pipeline.recalibrate)

    def switch_avatar(self, index: int) -> None:
        """Use avatar ``index`` from the next frame (prepared here, in the caller's thread)."""
        state = self.shared.avatar(index)

        def apply() -> None:
            self.pipeline.set_avatar(state)
            self.avatar_index = index

        self._later(apply)

    def subscribe(self, callback: Callable[[Rendered], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[Rendered], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop the worker and free the tracker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._slot = None
            self._listeners.clear()
        self.clock.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("session %s: worker did not stop within %.0f s", self.id, timeout_s)
        self._tracker.close()

    def summary(self) -> dict[str, Any]:
        return self.stats.summary()

    def camera_fps(self) -> float:
        """Camera frames rendered per second, recently (the output rate counts in-between frames too)."""
        times = list(self._camera_out)
        if len(times) < 2 or times[-1] <= times[0]:
            return 0.0
        return (len(times) - 1) * 1e9 / (times[-1] - times[0])

    # -- the worker --------------------------------------------------------------
    def _now(self) -> float:
        return self.clock.now_ns() / 1e9

    def _later(self, action: Callable[[], None]) -> None:
        """Run ``action`` in the worker between frames (the pipeline is not shared between threads)."""
        with self._lock:
            self._pending.append(action)
        self.clock.notify()

    def _next(self) -> tuple[tuple[Any, int | None] | None, list[Callable[[], None]]]:
        """The camera frame and actions waiting, once there are any or an
        output frame is due (None, [] then)."""
        ready = lambda: self._slot is not None or bool(self._pending) or self._closed  # noqa: E731
        # before the first camera frame there is nothing to move: no deadline
        wait = None if self.latest is None else max(0.0, self.pacer.due_s - self._now())
        if wait is None or wait > 0:
            self.clock.wait_for(ready, wait)
        with self._lock:
            item, self._slot = self._slot, None
            actions, self._pending = self._pending, []
            return item, actions

    def _work(self) -> None:
        with self.clock.participant():
            while not self._closed:
                item, actions = self._next()
                if self._closed:
                    break
                try:
                    for action in actions:
                        action()
                    if item is not None:
                        frame, pts = item
                        self._step(frame() if callable(frame) else frame, pts)
                    elif self.latest is not None and self._now() >= self.pacer.due_s:
                        self._in_between()
                except Exception:  # one bad frame must not end the session
                    self.stats.count("error")
                    log.exception("session %s: frame failed", self.id)
        log.debug("session %s: worker stopped", self.id)

    def _in_between(self) -> None:
        """No camera frame in time: a frame from predicted motion (held, then
        idle, once the camera stalled), the next one a period later."""
        now = self._now()
        stands_for = self.pacer.in_between(now)
        if not self._stalled and self.pacer.since_camera(now) >= STALL_S:
            self._stalled = True
            self.stats.count("camera stalls")
            self.pipeline.motion(None, None, self.pacer.missed_at())  # hold from the first missed frame
        next_camera = self._arrived_s + self.pacer.camera_period_s
        if not self._stalled and now < next_camera < now + self._render_s:
            # One worker tracks and renders: an in-between frame still rendering
            # when the next camera frame comes would delay it. Skipped instead
            # (one for a camera frame that is already late is not).
            self.stats.count("in-between frames skipped")
            return
        motion = gap_motion(self.pipeline, stands_for, self._stalled)
        self.stats.count("frames without camera")
        self._render(motion, None, None)

    def _step(self, frame: Frame, pts: int | None) -> None:
        """A camera frame: tracked, its motion rendered."""
        self._stalled = False
        self._arrived_s = frame.t_capture_ns / 1e9  # stamped as it arrived (feed, the camera source)
        pipeline = self.pipeline
        # a frame may carry its own motion (the idle source): nothing to track
        landmarks = None if frame.motion is not None else pipeline.track(frame)
        motion = pipeline.motion(frame, landmarks, frame.t_capture_ns / 1e9)
        # paced from when it goes to the render, as an in-between frame does:
        # the output then keeps even gaps whatever tracking costs
        self.pacer.camera_frame(self._now(), frame.t_capture_ns / 1e9)
        if self.shared.config.stamp_echo:
            self._echo = frame.image
        self._render(motion, frame.t_capture_ns, pts)
        self._camera_out.append(self.clock.now_ns())

    def _render(self, motion: Any, t_capture: int | None, pts: int | None) -> None:
        """``motion`` (None: the last image again) to an output frame, handed to the listeners."""
        pipeline = self.pipeline
        if motion is None:
            if self.latest is None:
                return
            image, shift = self.latest.image, self.latest.shift
        else:
            start = self._now()
            with self.shared.render_lock:  # its wait included: other sessions' renders take time too
                image = pipeline.render(motion)
                shift = pipeline.engine.frame_shift(pipeline.state, motion)
            took = self._now() - start
            self._render_s = took if self._render_s <= 0 else self._render_s + 0.2 * (took - self._render_s)
            if self._echo is not None:  # an in-between frame names the camera frame it follows
                image = echo_stamp(self._echo, image)
        now = self.clock.now_ns()
        self.stats.frame_out(t_capture, now)
        self._seq += 1
        rendered = Rendered(image, pipeline.state, shift, t_capture, now, self._seq, pts)
        self.latest = rendered
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            callback(rendered)


# The latency benchmark's frame stamp: a strip of black/white blocks in the
# camera frame's top-left corner (see benchmarks/serve_latency.py).
STAMP_BLOCK = 16
STAMP_BITS = 12


def echo_stamp(camera: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``image`` with the camera frame's stamp strip copied into the same corner."""
    h, w = STAMP_BLOCK, STAMP_BLOCK * STAMP_BITS
    if camera.shape[0] < h or camera.shape[1] < w or image.shape[0] < h or image.shape[1] < w:
        return image
    out = image.copy()
    out[:h, :w] = camera[:h, :w]
    return out
