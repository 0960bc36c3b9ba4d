"""The procedural driver as a source: blank frames that already carry their
``Motion`` (blinks, head sway, breathing, optional talking), so the pipeline
skips tracking. Used by ``vivicam demo`` and anywhere no camera is wanted."""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import numpy as np

from vivicam.types import Frame, Motion

MotionFn = Callable[[float], Motion]


class IdleSource:
    """Frames at ``fps`` for ``seconds`` (forever when None).

    The motion of frame ``i`` is ``motion_fn(i / fps)`` — by default
    ``IdleMotion(seed, talk).at`` — so a render is the same on every run and
    every machine, whether paced in real time (``realtime=True``, like a
    camera) or produced as fast as consumed (``realtime=False``, for files).
    ``image_size`` is the (width, height) of the blank grey frame that stands
    in for a camera picture.
    """

    def __init__(self, fps: float = 30, seconds: float | None = None, seed: int = 0,
                 talk: bool = True, *, realtime: bool = True,
                 image_size: tuple[int, int] = (64, 64),
                 motion_fn: MotionFn | None = None) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if seconds is not None and seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        self.fps = float(fps)
        self.seconds = seconds
        self.realtime = realtime
        if motion_fn is None:
            # Imported here: the motion model belongs to vivicam.calibrate and
            # the sources package should import without it.
            from vivicam.calibrate.idle import IdleMotion

            motion_fn = IdleMotion(seed=seed, talk=talk).at
        self._motion_fn = motion_fn
        width, height = image_size
        self._image = np.full((height, width, 3), 128, np.uint8)
        self._closed = threading.Event()

    @property
    def frame_count(self) -> int | None:
        return None if self.seconds is None else int(round(self.seconds * self.fps))

    def __len__(self) -> int:
        if self.frame_count is None:
            raise TypeError("an endless IdleSource has no length")
        return self.frame_count

    def frames(self) -> Iterator[Frame]:
        total = self.frame_count
        start = time.perf_counter()
        index = 0
        while not self._closed.is_set() and (total is None or index < total):
            t_s = index / self.fps
            if self.realtime:
                delay = start + t_s - time.perf_counter()
                if delay > 0 and self._closed.wait(delay):
                    return
            motion = self._motion_fn(t_s)
            yield Frame(image=self._image.copy(), t_capture_ns=time.perf_counter_ns(), index=index,
                        motion=motion)
            index += 1

    def close(self) -> None:
        self._closed.set()

    def __enter__(self) -> "IdleSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
