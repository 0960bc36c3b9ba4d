"""Small fakes for the pipeline and live-loop tests (sources, tracker,
estimator, engine, sinks) so they run without a webcam, a face or a GPU."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

from vivicam.engines.base import AvatarState, Capabilities
from vivicam.realtime.clock import SystemClock
from vivicam.types import NUM_LANDMARKS, Frame, Landmarks, Motion

PHOTO_W, PHOTO_H, CROP = 64, 48, 32


def photo(value: int = 100) -> np.ndarray:
    return np.full((PHOTO_H, PHOTO_W, 3), value, np.uint8)


def camera_image(index: int) -> np.ndarray:
    """A camera frame whose pixels encode its index (for passthrough checks)."""
    return np.full((PHOTO_H, PHOTO_W, 3), index % 256, np.uint8)


class FakeEngine:
    """Renders a flat crop whose grey level is ``motion.rotation[1]`` (yaw),
    so tests can read back the motion each frame was rendered with.
    ``delay_s`` of rendering pass on ``clock`` (a virtual clock in loop tests);
    ``backend`` is what a GPU engine would report."""

    name = "fake"
    backends = ("cpu",)

    def __init__(self, *, delay_s: float = 0.0, fail: Callable[[Motion], bool] | None = None,
                 wants_driver_frames: bool = False, wants_driver_flow: bool = False, clock: Any = None,
                 backend: str = "cpu") -> None:
        self.delay_s = delay_s
        self.clock = clock or SystemClock()
        self.backend = backend
        self.fail = fail
        self.prepared = 0
        self.rendered: list[Motion] = []
        self.capabilities = Capabilities(
            backends=("cpu",), driver_frames=wants_driver_frames, driver_flow=wants_driver_flow
        )

    def prepare(self, image: np.ndarray) -> AvatarState:
        self.prepared += 1
        matrix = np.array([[1, 0, -16], [0, 1, -8]], np.float32)  # axis-aligned: crop at (16, 8)
        return AvatarState(image, matrix, CROP, np.ones((CROP, CROP), np.float32))

    def frame_shift(self, state: AvatarState, motion: Motion) -> None:
        return None

    def render(self, state: AvatarState, motion: Motion) -> np.ndarray:
        if self.delay_s:
            self.clock.sleep(self.delay_s)
        if self.fail is not None and self.fail(motion):
            raise RuntimeError("engine hiccup")
        self.rendered.append(motion)
        return np.full((CROP, CROP, 3), int(np.clip(motion.rotation[1], 0, 255)), np.uint8)


def landmarks() -> Landmarks:
    rng = np.random.default_rng(0)
    pts = rng.uniform(10, 40, size=(NUM_LANDMARKS, 3)).astype(np.float32)
    return Landmarks(pts, (PHOTO_W, PHOTO_H))


class FakeTracker:
    """Finds a face except on frames where ``lost(call_index)`` is true;
    tracking takes ``delay_s`` on ``clock``."""

    def __init__(self, lost: Callable[[int], bool] = lambda i: False, *, delay_s: float = 0.0,
                 clock: Any = None) -> None:
        self.lost = lost
        self.calls = 0
        self.delay_s = delay_s
        self.clock = clock or SystemClock()

    def track(self, image: np.ndarray) -> Landmarks | None:
        if self.delay_s:
            self.clock.sleep(self.delay_s)
        i = self.calls
        self.calls += 1
        return None if self.lost(i) else landmarks()

    def close(self) -> None:
        pass


class FakeEstimator:
    """Counts updates; motion yaw = 10 + number of updates with a face,
    200 for updates without one (so a test sees which path rendered)."""

    def __init__(self, calibrate_after: int = 3) -> None:
        self.updates: list[tuple[bool, float]] = []
        self.recalibrations = 0
        self.calibrate_after = calibrate_after
        self.just_calibrated = False  # True for the one update that completed calibration
        self.lock = threading.Lock()

    @property
    def calibrated(self) -> bool:
        return sum(1 for found, _ in self.updates if found) >= self.calibrate_after

    def update(self, lm: Landmarks | None, t_s: float) -> Motion:
        with self.lock:
            was = self.calibrated
            self.updates.append((lm is not None, t_s))
            self.just_calibrated = self.calibrated and not was
        yaw = 200.0 if lm is None else 10.0 + min(len(self.updates), 100)
        return Motion(rotation=np.array([0, yaw, 0], np.float32))

    def recalibrate(self) -> None:
        """Like MotionEstimator: a new calibration over the next frames."""
        self.recalibrations += 1
        self.updates.clear()


class ListSource:
    """``count`` frames; ``pause(i)`` seconds of silence before frame i
    (a stalled camera); ``interval`` between frames; optional error. Waits
    and stamps on ``clock`` (the loop's)."""

    def __init__(self, count: int, *, fps: float = 100.0, interval: float = 0.0,
                 pause: Callable[[int], float] = lambda i: 0.0, raise_at: int | None = None,
                 with_motion: bool = False, clock: Any = None) -> None:
        self.clock = clock or SystemClock()
        self.count, self.fps, self.interval, self.pause = count, fps, interval, pause
        self.raise_at = raise_at
        self.with_motion = with_motion
        self.produced = 0
        self.closed = False

    def frames(self) -> Iterator[Frame]:
        while self.produced < self.count:
            i = self.produced
            if self.raise_at is not None and i == self.raise_at:
                self.raise_at = None  # fail once, like an unplugged camera
                raise OSError("camera unplugged")
            wait = self.pause(i) + self.interval
            if wait:
                self.clock.sleep(wait)
            self.produced += 1
            motion = Motion(rotation=np.array([0, 50, 0], np.float32)) if self.with_motion else None
            yield Frame(camera_image(i), self.clock.now_ns(), i, motion)

    def close(self) -> None:
        self.closed = True


class RecordingSink:
    def __init__(self) -> None:
        self.images: list[np.ndarray] = []
        self.frames: list[Frame] = []

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self.images.append(image.copy())
        self.frames.append(frame)

    def close(self) -> None:
        pass


class FakePreview(RecordingSink):
    """A preview window whose keys are scripted: ``keys[n]`` is returned after
    the n-th frame shown."""

    def __init__(self, keys: dict[int, str] | None = None) -> None:
        super().__init__()
        self.keys = dict(keys or {})

    def poll_key(self) -> str | None:
        return self.keys.pop(len(self.images), None)


def write_clip(path: Path, frames: int, size: int = 64) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        container.start_encoding()  # header written even when no frame follows
        for i in range(frames):
            image = np.full((size, size, 3), (i * 20) % 255, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
