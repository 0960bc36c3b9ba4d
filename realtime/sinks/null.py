"""A sink that keeps nothing: for benchmarks and headless runs."""

from __future__ import annotations

import time

import numpy as np

from vivicam.types import Frame

from .base import SinkBase


class NullSink(SinkBase):
    """Counts frames and remembers the latest capture-to-sink latency."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.last_latency_ns: int | None = None
        self.closed = False

    def write(self, image: np.ndarray, frame: Frame) -> None:
        self.frames_written += 1
        self.last_latency_ns = time.perf_counter_ns() - frame.t_capture_ns

    def close(self) -> None:
        self.closed = True
