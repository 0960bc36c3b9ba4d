"""A sink inside the loop's guard: a failed write is survived, the sink is
re-opened with back-off, and a sink that stays down past ``give_up_s`` ends
the run with its reason (exit 3, a device failure)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vivicam.errors import DeviceError
from vivicam.realtime.guard import LoopGuard, describe
from vivicam.types import Frame

log = logging.getLogger(__name__)


def sink_name(sink: Any) -> str:
    device = getattr(sink, "device_name", None)
    name = type(sink).__name__
    return f"{name} {device}" if device else name


class GuardedSink:
    """Writes to ``sink``; ``write`` returns whether the frame reached it.

    While the sink is down, frames are not sent (and not counted as output);
    a re-open (``sink.reopen()`` when it has one, else simply the next write)
    is tried after ``backoff_s``, doubling up to ``max_backoff_s``.
    """

    def __init__(self, sink: Any, guard: LoopGuard, *, give_up_s: float = 3.0,
                 backoff_s: float = 0.1, max_backoff_s: float = 1.0) -> None:
        self.sink, self.guard = sink, guard
        self.name = sink_name(sink)
        self.give_up_s, self.backoff_s, self.max_backoff_s = give_up_s, backoff_s, max_backoff_s
        self.reopens = 0
        self._down_since_ns: int | None = None
        self._retry_at_ns = 0
        self._backoff = backoff_s
        self._last_error = ""

    def write(self, image: np.ndarray, frame: Frame) -> bool:
        now = self.guard.clock.now_ns()
        if self._down_since_ns is not None:
            if now - self._down_since_ns >= self.give_up_s * 1e9:
                self._give_up(now)
                return False
            if now < self._retry_at_ns or not self._reopen():
                return False
        try:
            self.sink.write(image, frame)
        except Exception as exc:  # e.g. the virtual camera was taken away
            self._failed(exc, now)
            return False
        if self._down_since_ns is not None:
            log.warning("%s is back after %.1f s", self.name, (now - self._down_since_ns) / 1e9)
        self._down_since_ns, self._backoff = None, self.backoff_s
        return True

    def _reopen(self) -> bool:
        reopen = getattr(self.sink, "reopen", None)
        if reopen is None:
            return True  # nothing to re-open: the next write is the retry
        try:
            reopen()
        except Exception as exc:  # still down: try again later
            self._failed(exc, self.guard.clock.now_ns(), kind="re-open")
            return False
        self.reopens += 1
        return True

    def _failed(self, exc: BaseException, now: int, *, kind: str = "write") -> None:
        self.guard.survive(f"sink {self.name} {kind}", exc)
        self._last_error = describe(exc)
        if self._down_since_ns is None:
            self._down_since_ns = now
            self._backoff = self.backoff_s
        self._retry_at_ns = now + int(self._backoff * 1e9)
        self._backoff = min(self._backoff * 2, self.max_backoff_s)

    def _give_up(self, now: int) -> None:
        assert self._down_since_ns is not None
        down_s = (now - self._down_since_ns) / 1e9
        self.guard.fail(
            "sink",
            f"{self.name} stayed down for {down_s:.1f} s despite {self.reopens} re-opens "
            f"(last error: {self._last_error})",
            exit_code=DeviceError.exit_code,
        )
