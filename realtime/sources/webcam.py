"""A webcam (OpenCV VideoCapture) as a source that survives being unplugged.

Opening is strict: a camera that does not open, or opens but sends no picture,
raises ``DeviceError`` naming the cameras that do open. Running is forgiving:
when reads keep failing (cable pulled, another app grabbed it, laptop lid),
the capture is released and re-opened in a background thread while
``frames()`` simply waits; when the camera is back, frames flow again. A lost
camera never raises out of ``frames()``.
"""

from __future__ import annotations

import enum
import glob
import logging
import re
import sys
import threading
import time
from typing import Any, Callable, Iterator, Protocol

import cv2
import numpy as np

from vivicam.errors import DeviceError
from vivicam.types import Frame

log = logging.getLogger(__name__)


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` we use (fakes implement this in tests)."""

    def isOpened(self) -> bool: ...  # noqa: N802 (OpenCV's name)

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def set(self, prop: int, value: float) -> bool: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[["int | str"], Capture]


class CameraState(enum.Enum):
    STREAMING = "streaming"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


def open_capture(device: int | str) -> Capture:
    """The real capture. V4L2 on Linux (the default there can pick GStreamer,
    which ignores the MJPG request); the platform default elsewhere."""
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    return cv2.VideoCapture(device, api)


def parse_device(device: int | str) -> int | str:
    """"0" → 0 (an index); "/dev/video2" and other names stay strings."""
    if isinstance(device, str) and device.strip().isdigit():
        return int(device.strip())
    return device


def candidate_indices(limit: int = 4) -> list[int]:
    """Camera indices worth probing: on Linux those with a /dev/videoN node
    (instant, and no warnings for absent devices), elsewhere 0..limit-1."""
    if sys.platform.startswith("linux"):
        found = sorted(
            int(m.group(1))
            for m in (re.fullmatch(r"/dev/video(\d+)", p) for p in glob.glob("/dev/video*"))
            if m
        )
        return found[:limit]
    return list(range(limit))


def cameras_that_open(factory: CaptureFactory, *, skip: int | str | None = None,
                      indices: list[int] | None = None) -> list[int]:
    """Indices among a few candidates that open (each is released at once)."""
    opened = []
    with _quiet_opencv():
        for index in candidate_indices() if indices is None else indices:
            if index == skip:
                continue
            try:
                capture = factory(index)
                ok = bool(capture.isOpened())
                capture.release()
            except Exception:  # any failure just means: this one does not open
                ok = False
            if ok:
                opened.append(index)
    return opened


class _quiet_opencv:
    """Silence OpenCV's own 'can't open camera by index' warnings while probing."""

    def __enter__(self) -> None:
        self._level = None
        try:
            self._level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        except Exception:  # older/other builds without the logging module
            self._level = None

    def __exit__(self, *exc: object) -> None:
        if self._level is not None:
            cv2.utils.logging.setLogLevel(self._level)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class WebcamSource:
    """Live frames from a camera index (0, 1, …) or a device path (/dev/video2).

    ``width``/``height``/``fps`` are requests (the camera picks the nearest mode
    it has; ``self.size`` and ``self.fps`` are what it granted); MJPG is asked
    for first, since most USB cameras only reach 30 fps at 720p in MJPG.
    ``capture_factory`` replaces OpenCV (tests use fakes).
    """

    def __init__(self, device: int | str = 0, *, width: int = 640, height: int = 480,
                 fps: float = 30, capture_factory: CaptureFactory | None = None,
                 reopen_interval_s: float = 1.0, lost_after_failures: int = 5,
                 first_frame_timeout_s: float = 3.0) -> None:
        self.device = parse_device(device)
        self.requested = (int(width), int(height), float(fps))
        self.reopen_interval_s = reopen_interval_s
        self.lost_after_failures = lost_after_failures
        self.reconnects = 0
        self._factory = capture_factory or open_capture
        self._closed = threading.Event()
        self._lock = threading.Lock()  # guards _capture / _pending / state
        self._read_lock = threading.Lock()  # held while a read is in flight
        self._reopener: threading.Thread | None = None
        self._failures = 0
        capture, first = self._open_or_raise(first_frame_timeout_s)
        self._capture: Capture | None = capture
        self._pending: np.ndarray | None = first
        self.state = CameraState.STREAMING
        granted_fps = _get(capture, cv2.CAP_PROP_FPS)
        self.fps = granted_fps if 1.0 <= granted_fps <= 240.0 else float(fps)
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.fourcc = _fourcc_text(_get(capture, cv2.CAP_PROP_FOURCC))
        log.info("%s: %s", self.name, self.mode)

    @property
    def mode(self) -> str:
        """What the camera granted, e.g. "1280×720 @ 30 fps MJPG"."""
        text = f"{self.size[0]}×{self.size[1]} @ {self.fps:g} fps"
        return f"{text} {self.fourcc}" if self.fourcc else text

    @property
    def name(self) -> str:
        return f"camera {self.device}"

    # --- opening ---------------------------------------------------------------

    def _configure(self, capture: Capture) -> None:
        width, height, fps = self.requested
        # The order matters on V4L2: pixel format, then size, then rate.
        capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_FPS, fps)
        # A one-frame driver queue: stale frames are latency.
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _open_or_raise(self, timeout_s: float) -> tuple[Capture, np.ndarray]:
        try:
            with _quiet_opencv():
                capture = self._factory(self.device)
            opened = bool(capture.isOpened())
        except Exception as e:  # OpenCV raises cv2.error for some bad paths
            log.debug("opening %s failed: %s", self.name, e)
            capture, opened = None, False
        if not opened:
            if capture is not None:
                capture.release()
            others = cameras_that_open(self._factory, skip=self.device)
            listed = ", ".join(str(i) for i in others) if others else "none"
            raise DeviceError(f"{self.name} not found; cameras that opened: {listed}")
        self._configure(capture)
        first = self._first_frame(capture, timeout_s)
        if first is None:
            capture.release()
            raise DeviceError(
                f"{self.name} opened but sent no picture within {timeout_s:g} s "
                "(is another app using it?)"
            )
        return capture, first

    def _first_frame(self, capture: Capture, timeout_s: float) -> np.ndarray | None:
        deadline = time.monotonic() + timeout_s
        while True:
            ok, image = _safe_read(capture)
            if ok:
                return _to_rgb(image)
            if time.monotonic() >= deadline or self._closed.is_set():
                return None
            time.sleep(0.05)  # cameras often need a moment after opening

    # --- streaming -------------------------------------------------------------

    def frames(self) -> Iterator[Frame]:
        """Frames until ``close()``; waits (does not raise) while the camera is lost."""
        index = 0
        while not self._closed.is_set():
            image = self._next_image()
            if image is None:
                continue
            yield Frame(image=image, t_capture_ns=time.perf_counter_ns(), index=index)
            index += 1

    def _next_image(self) -> np.ndarray | None:
        with self._lock:
            capture, pending, self._pending = self._capture, self._pending, None
        if pending is not None:
            return pending
        if capture is None:  # re-opening in the background
            self._closed.wait(0.05)
            return None
        with self._read_lock:
            if self._closed.is_set():
                return None
            ok, image = _safe_read(capture)
        if ok:
            self._failures = 0
            return _to_rgb(image)
        self._failures += 1
        if self._failures >= self.lost_after_failures:
            self._lose(capture)
        else:
            self._closed.wait(0.02)
        return None

    def _lose(self, capture: Capture) -> None:
        log.warning("%s stopped sending frames; re-opening it in the background", self.name)
        with self._lock:
            if self._capture is capture:
                self._capture = None
                self.state = CameraState.RECONNECTING
        _safe_release(capture)
        self._failures = 0
        with self._lock:  # close() reads _reopener under the same lock
            if self._closed.is_set():
                return
            self._reopener = threading.Thread(
                target=self._reopen_loop, name="vivicam-webcam-reopen", daemon=True
            )
            self._reopener.start()

    def _reopen_loop(self) -> None:
        while not self._closed.wait(self.reopen_interval_s):
            try:
                with _quiet_opencv():
                    capture = self._factory(self.device)
                if not capture.isOpened():
                    _safe_release(capture)
                    continue
                self._configure(capture)
                ok, image = _safe_read(capture)
            except Exception as e:  # keep trying: the loop must never die here
                log.debug("re-opening %s failed: %s", self.name, e)
                continue
            if not ok:
                _safe_release(capture)
                continue
            with self._lock:
                if self._closed.is_set():
                    _safe_release(capture)
                    return
                self._capture, self._pending = capture, _to_rgb(image)
                self.size = (int(image.shape[1]), int(image.shape[0]))
                self.state = CameraState.STREAMING
                self.reconnects += 1
            log.warning("%s is back", self.name)
            return

    # --- closing ---------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            reopener = self._reopener
        if reopener is not None:
            reopener.join(timeout=2.0)
        # Never release while another thread is inside read().
        got_it = self._read_lock.acquire(timeout=2.0)
        try:
            with self._lock:
                capture, self._capture = self._capture, None
                self.state = CameraState.CLOSED
            if capture is not None:
                _safe_release(capture)
        finally:
            if got_it:
                self._read_lock.release()

    def __enter__(self) -> "WebcamSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _safe_read(capture: Capture) -> tuple[bool, Any]:
    try:
        ok, image = capture.read()
    except Exception as e:  # cv2.error when the device vanished mid-read
        log.debug("camera read failed: %s", e)
        return False, None
    if not ok or image is None or getattr(image, "size", 0) == 0:
        return False, None
    return True, image


def _safe_release(capture: Capture) -> None:
    try:
        capture.release()
    except Exception as e:  # releasing a vanished device can fail; nothing to do
        log.debug("camera release failed: %s", e)


def _fourcc_text(value: float) -> str:
    """OpenCV's numeric FOURCC as text ("MJPG", "YUYV"); "" when unknown."""
    code = int(value)
    text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return text if code > 0 and text.isprintable() and text.strip() else ""


def _get(capture: Capture, prop: int) -> float:
    try:
        return float(capture.get(prop))
    except Exception:
        return 0.0
