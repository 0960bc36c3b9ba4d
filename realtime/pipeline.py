"""One frame through the stages: track → motion → render → post.

:class:`Pipeline` is the per-frame step shared by the live loop, ``render``,
``demo`` and the live-loop benchmark, so all of them measure and behave the
same. It knows nothing about threads or queues; :mod:`vivicam.realtime.loop`
runs it concurrently with capture and output.

:class:`AvatarCache` keeps prepared avatars per photo path so switching back
to a photo (hotkeys n/p) is instant the second time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vivicam.engines.base import AvatarState, Engine
from vivicam.errors import InputError
from vivicam.realtime.protocols import Tracker
from vivicam.realtime.stats import LoopStats
from vivicam.types import DriverFrame, Frame, Landmarks, Motion

log = logging.getLogger(__name__)

# Face sizes: a first frame's camera reading at most this far from the neutral
# frame's counts as the same place (a still camera reads a few thousandths;
# a hand-held clip had travelled 0.1-0.5 by its neutral frames).
CAMERA_ORIGIN_MIN = 0.02


@dataclass(frozen=True, eq=False)
class StepResult:
    """What one step produced: the output image (H×W×3 uint8 RGB, host memory),
    the motion it was rendered with and the driver's landmarks (None when the
    face was lost or the frame carried its own motion)."""

    image: np.ndarray
    motion: Motion
    landmarks: Landmarks | None


def even_size(width: int, height: int, *, max_side: int = 1920) -> tuple[int, int]:
    """A video-friendly size near (width, height): even sides, at most ``max_side``."""
    scale = min(1.0, max_side / max(width, height))
    w, h = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2
    return max(w, 2), max(h, 2)


class Pipeline:
    """The per-frame step.

    - ``tracker``: finds the driver's face (skipped for frames that carry
      their own ``motion``, e.g. from the idle source); may be None when every
      frame carries motion.
    - ``estimator``: a ``MotionEstimator`` (``update(landmarks | None, t_s)``);
      may be None when every frame carries motion.
    - ``out_size``: (width, height) of the output, letterboxed; None = photo size.
    - ``background``: passed to ``vivicam.realtime.post.compose``.
    - ``stats``: where stage times go (``track``, ``flow``, ``motion``, ``render``, ``post``).
    - ``driver_flow``: measure the driver's optical flow for engines that want
      it (``capabilities.driver_flow``: sharper landmarks, hair and shoulders that
      move as the driver's); False saves its few milliseconds a frame.
    """

    def __init__(
        self,
        engine: Engine,
        state: AvatarState,
        *,
        tracker: Tracker | None = None,
        estimator: Any = None,
        out_size: tuple[int, int] | None = None,
        background: Any = "keep",
        stats: LoopStats | None = None,
        driver_flow: bool = True,
    ) -> None:
        self.engine = engine
        self.state = state
        self.tracker = tracker
        self.estimator = estimator
        self.out_size = out_size
        self.background = background
        self.stats = stats if stats is not None else LoopStats()
        caps = engine.capabilities
        self.wants_driver_frames = caps.driver_frames
        # engines that move hair and shoulders with the driver's optical flow
        # (Motion.surround); the flow also sharpens the landmarks they get
        self.wants_driver_flow = driver_flow and caps.driver_flow
        self._driver_neutral: DriverFrame | None = None
        self._flow: Any = None  # DriverFlow against _driver_neutral, built on first use
        self._flow_lock = threading.Lock()  # offline, the flow is measured on the decoding thread
        self._tracks: tuple[Landmarks | None, ...] = ()  # the driver's first frames, tracked already
        self._was_calibrated = bool(getattr(estimator, "calibrated", False))
        self._camera_from_first = False
        self._camera_origin: np.ndarray | None = None  # camera_from_first: the first reading's camera

    def set_avatar(self, state: AvatarState) -> None:
        """Switch avatars; the driver's calibration is kept."""
        self.state = state

    def recalibrate(self) -> None:
        """Start a new neutral calibration on the next frames (hotkey c)."""
        # The old neutral (and its driver frame) stays in use until the new
        # calibration completes, as MotionEstimator does.
        if self.estimator is not None:
            self.estimator.recalibrate()

    # -- the stages ----------------------------------------------------------
    def set_driver_tracks(self, tracks: tuple[Landmarks | None, ...] | None) -> None:
        """Landmarks of the driver's first frames (``Frame.index`` 0, 1, …)
        tracked already by this pipeline's tracker, which has seen exactly
        those frames (the offline pre-pass): they are not tracked again."""
        self._tracks = tuple(tracks or ())

    def tracked_already(self, frame: Frame) -> bool:
        """Whether :meth:`track` answers this frame from :meth:`set_driver_tracks`."""
        return 0 <= frame.index < len(self._tracks)

    def track(self, frame: Frame) -> Landmarks | None:
        if self.tracked_already(frame):
            landmarks = self._tracks[frame.index]
        elif self.tracker is None:
            return None
        else:
            with self.stats.time("track"):
                landmarks = self.tracker.track(frame.image)
        if landmarks is None:
            self.stats.count("face lost")
        return landmarks

    def measure_flow(self, frame: Frame, landmarks: Landmarks | None) -> Any:
        """The driver flow of this frame, measured ahead of :meth:`motion`
        (offline, on the decoding thread); None when there is nothing to
        measure yet. :meth:`motion` uses it while the neutral frame it was
        measured against is still the current one, else measures again."""
        if not self.wants_driver_flow or frame.motion is not None or landmarks is None:
            return None
        flow = self._ensure_flow()
        if flow is None:
            return None
        with self.stats.time("flow"):
            return flow.reference, flow.measure(frame.image, landmarks.points)

    def motion(self, frame: Frame | None, landmarks: Landmarks | None, t_s: float, *, measured: Any = None) -> Motion:
        """Motion for this moment; ``frame`` None means no new camera frame;
        ``measured``: :meth:`measure_flow`'s result for this frame."""
        if frame is not None and frame.motion is not None:
            return frame.motion
        if self.estimator is None:
            return Motion.neutral()
        reading = None
        if measured is not None and measured[0] is self._driver_neutral:
            reading = measured[1]
        elif self.wants_driver_flow and frame is not None and landmarks is not None:
            with self.stats.time("flow"):
                reading = self._flow_reading(frame, landmarks)
        with self.stats.time("motion"):
            if reading is None:
                motion = self.estimator.update(landmarks, t_s)
            else:
                landmarks = Landmarks(reading.points, landmarks.image_size, landmarks.confidence)
                motion = self.estimator.update(landmarks, t_s, surround=reading.surround, camera=self._camera(reading))
        if self.wants_driver_frames or self.wants_driver_flow:
            self._note_calibration(frame, landmarks)
        if self.wants_driver_frames:
            motion = self._attach_driver(motion, frame, landmarks)
        return motion

    def _camera(self, reading: Any) -> np.ndarray:
        """The reading's camera motion from the camera's origin: the neutral
        driver frame's place, or (``set_driver_neutral(camera_from_first=True)``)
        where the camera was on the first frame read."""
        if not self._camera_from_first or not reading.camera_read:
            return reading.camera  # (0: too little background in view to read the camera)
        if self._camera_origin is None:
            origin = np.asarray(reading.camera, np.float32).copy()
            # within the flow's noise the reference frame's own zero stands: a
            # still driver's first reading would offset the whole picture by a pixel
            self._camera_origin = origin if np.abs(origin).max() > CAMERA_ORIGIN_MIN else np.zeros(2, np.float32)
        return reading.camera - self._camera_origin

    def _flow_reading(self, frame: Frame, landmarks: Landmarks) -> Any:
        """The driver flow's FlowReading (refined landmarks, surround field,
        camera motion), once there is a neutral driver frame to measure
        against; None before."""
        flow = self._ensure_flow()
        return None if flow is None else flow.measure(frame.image, landmarks.points)

    def _ensure_flow(self) -> Any:
        """The DriverFlow against the current neutral driver frame (None before one)."""
        with self._flow_lock:
            if self._driver_neutral is None:
                return None
            if self._flow is None or self._flow.reference is not self._driver_neutral:
                from vivicam.realtime.tracking.flow import DriverFlow

                self._flow = DriverFlow(self._driver_neutral)
            return self._flow

    def warm_up(self) -> None:
        """Import and build what the per-frame step would otherwise build on its
        first use, so a live loop's first frames do not hitch."""
        from vivicam.realtime.post import compose, fit_to  # noqa: F401
        from vivicam.xp import to_host  # noqa: F401

        if self.wants_driver_flow:
            from vivicam.realtime.tracking.flow import DriverFlow  # noqa: F401

            self._ensure_flow()

    def render(self, motion: Motion) -> np.ndarray:
        from vivicam.realtime.post import compose
        from vivicam.xp import to_host

        with self.stats.time("render"):
            crop = self.engine.render(self.state, motion)
        with self.stats.time("post"):
            shift = self.engine.frame_shift(self.state, motion)
            image = to_host(compose(self.state, crop, out_size=self.out_size, background=self.background, shift=shift))
        return image

    # -- whole steps ---------------------------------------------------------
    def step(self, frame: Frame, *, t_s: float | None = None) -> StepResult:
        """One captured frame → output image. ``t_s`` is the motion clock
        (defaults to the capture stamp; offline rendering passes video time)."""
        t = frame.t_capture_ns / 1e9 if t_s is None else t_s
        landmarks = None if frame.motion is not None else self.track(frame)
        motion = self.motion(frame, landmarks, t)
        return StepResult(self.render(motion), motion, landmarks)

    def step_without_frame(self, t_s: float) -> StepResult:
        """No camera frame arrived (camera lost or stalled): the estimator holds
        the last motion, then eases into idle motion."""
        motion = self.motion(None, None, t_s)
        return StepResult(self.render(motion), motion, None)

    def passthrough(self, frame: Frame) -> np.ndarray:
        """The camera frame itself, at the output size (hotkey space)."""
        from vivicam.realtime.post import fit_to

        with self.stats.time("post"):
            return fit_to(frame.image, self.out_size)

    def _note_calibration(self, frame: Frame | None, landmarks: Landmarks | None) -> None:
        """Keep the frame on which a neutral calibration completed."""
        calibrated = bool(getattr(self.estimator, "calibrated", False))
        just = getattr(self.estimator, "just_calibrated", None)
        if just is None:  # estimators without the flag: notice calibrated turning True
            just = calibrated and not self._was_calibrated
        self._was_calibrated = calibrated
        if just and frame is not None and landmarks is not None:
            neutral = getattr(self.estimator, "neutral", None)  # the window's median (Neutral.landmarks)
            if neutral is not None:
                landmarks = neutral.landmarks(landmarks.image_size)
            self._driver_neutral = DriverFrame(frame.image, landmarks)
            if self.wants_driver_flow:
                self._ensure_flow()  # now, at calibration, not on the next frame

    def _attach_driver(self, motion: Motion, frame: Frame | None, landmarks: Landmarks | None) -> Motion:
        """For engines that read the driver's face: the current frame, and the
        frame on which the neutral calibration completed."""
        current = DriverFrame(frame.image, landmarks) if frame is not None and landmarks is not None else None
        if current is None and motion.driver is None:
            return motion.with_(driver_neutral=self._driver_neutral)
        return motion.with_(driver=current or motion.driver, driver_neutral=self._driver_neutral)

    def set_driver_neutral(self, driver: DriverFrame | None, *, camera_from_first: bool = False) -> None:
        """The neutral driver frame when calibration happened elsewhere
        (offline pre-pass). ``camera_from_first``: the camera's motion counts
        from where it was on the first frame, not on ``driver`` — an offline
        render of a photo that is not one of the driver's frames, whose
        neutral frames lie later in a hand-held clip, starts at the photo's
        framing instead of a frame already shifted by the camera's travel
        until then (the head keeps its place in the image)."""
        self._driver_neutral = driver
        self._was_calibrated = True
        self._camera_from_first = camera_from_first
        self._camera_origin = None


class AvatarCache:
    """Prepared avatars by photo path (most recently used kept, ``max_items`` in all).

    A photo is prepared once; switching back to it is a dictionary look-up.
    The key includes the file's modification time so an edited photo is
    prepared again.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_items: int = 8,
        loader: Callable[[Path], np.ndarray] | None = None,
    ) -> None:
        self.engine = engine
        self.max_items = max_items
        self._loader = loader
        self._items: OrderedDict[tuple[str, int], AvatarState] = OrderedDict()
        self.prepare_ms: dict[str, float] = {}

    def _load(self, path: Path) -> np.ndarray:
        if self._loader is not None:
            return self._loader(path)
        from vivicam.realtime.sources.photo import load_photo

        return load_photo(path)

    def _prepare(self, photo: np.ndarray, path: Path) -> AvatarState:
        try:
            return self.engine.prepare(photo)
        except InputError as exc:  # name the photo (e.g. "b.jpg: no face found in the photo")
            if path.name in str(exc):
                raise
            raise type(exc)(f"{path.name}: {exc}") from exc

    def get(self, path: str | Path) -> AvatarState:
        """The prepared avatar for ``path`` (InputError / NoFaceError on a bad photo)."""
        p = Path(path)
        try:
            key = (str(p.resolve()), p.stat().st_mtime_ns)
        except OSError:
            key = (str(p), 0)  # the loader reports what is wrong with the path
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        t0 = time.perf_counter()
        state = self._prepare(self._load(p), p)
        self.prepare_ms[str(p)] = (time.perf_counter() - t0) * 1e3
        log.info("prepared avatar %s in %.0f ms", p, self.prepare_ms[str(p)])
        self._items[key] = state
        while len(self._items) > self.max_items:
            self._items.popitem(last=False)
        return state

    def use_engine(self, engine: Engine) -> None:
        """Prepare with ``engine`` from now on (e.g. the CPU fallback); what the
        old engine prepared is dropped."""
        self.engine = engine
        self._items.clear()

    def __contains__(self, path: str | Path) -> bool:
        p = Path(path)
        try:
            key = (str(p.resolve()), p.stat().st_mtime_ns)
        except OSError:
            return False
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
