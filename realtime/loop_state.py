"""The live loop's settings, its states and its commands (hotkeys)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


MAX_OUT_FPS = 120.0  # the fastest steady output rate (and in-between frame rate) the loop makes


class LoopState(enum.Enum):
    """Where the loop is; ``LiveLoop.state`` (read any time, from any thread)."""

    STARTING = "starting"  # threads starting, no frame out yet
    CALIBRATING = "calibrating"  # frames out, the driver's neutral face not known yet
    RUNNING = "running"  # camera frames drive the avatar
    STALLED = "stalled"  # no camera frame for stall_s: the avatar keeps moving without one
    STOPPING = "stopping"  # asked to stop (quit, end of input, limit or a fatal error)


class Command(enum.Enum):
    RECALIBRATE = "recalibrate"
    NEXT_AVATAR = "next avatar"
    PREVIOUS_AVATAR = "previous avatar"
    TOGGLE_PASSTHROUGH = "pause / passthrough"
    TOGGLE_STATS = "toggle stats overlay"
    QUIT = "quit"


# What the preview window's keys do (README's hotkey table is written from this).
HOTKEYS: dict[str, Command] = {
    "c": Command.RECALIBRATE,
    "n": Command.NEXT_AVATAR,
    "p": Command.PREVIOUS_AVATAR,
    " ": Command.TOGGLE_PASSTHROUGH,
    "space": Command.TOGGLE_PASSTHROUGH,
    "s": Command.TOGGLE_STATS,
    "q": Command.QUIT,
    "esc": Command.QUIT,
    "escape": Command.QUIT,
    "\x1b": Command.QUIT,
    "closed": Command.QUIT,  # the preview window was closed
}


@dataclass(frozen=True)
class LoopConfig:
    """How the loop trades completeness for latency, and when it gives up.

    - ``capture_queue`` / ``motion_queue`` / ``output_queue``: how many items
      may wait between stages (newest kept, older dropped and counted).
    - ``out_fps``: the output's steady rate (None: the source's rate). A
      camera slower than this gets in-between frames rendered from motion
      predicted forward (when the estimator can predict), so the virtual
      camera and the recording run at ``out_fps`` whatever the camera does.
    - ``late_periods``: a camera frame expected at the next output tick is
      waited for up to this many output periods after it was expected; one
      later than that is not: an in-between frame goes out first, so the
      output keeps its rate from the first missed frame (``pacing.Pacer``).
    - ``stall_s``: no camera frame for this long counts as a stalled camera
      (state STALLED, one notice); the avatar keeps moving (held, then idle).
    - ``give_up_s``: a sink that stays down, or an engine that fails every
      frame, this long ends the run with its reason.
    - ``engine_fallback_after``: consecutive engine failures before a GPU
      engine is swapped for its CPU fallback (when the loop was given one).
    - ``source_backoff_s`` / ``source_max_backoff_s``: the wait before
      re-reading a source that raised, doubling up to the cap.
    - ``stats_every_s``: period of the ``--stats`` status line (None: off).
    - ``overlay``: start with the stats overlay shown in the preview.
    - ``opencv_threads``: OpenCV's worker threads while the loop runs (None:
      the process's thread policy, :mod:`vivicam.threads`). The loop's stages
      already run in parallel; OpenCV pooling on top oversubscribes a laptop's
      few cores (on the 2-core build machine one OpenCV thread raised the top
      speed from 28–30 to 35–39 fps).
    """

    capture_queue: int = 1
    motion_queue: int = 1
    output_queue: int = 2
    out_fps: float | None = None
    late_periods: float = 0.5
    stall_s: float = 0.5
    give_up_s: float = 3.0
    engine_fallback_after: int = 5
    source_backoff_s: float = 0.05
    source_max_backoff_s: float = 0.25
    stats_every_s: float | None = None
    overlay: bool = False
    opencv_threads: int | None = None

    def __post_init__(self) -> None:
        if not all(1 <= n <= 8 for n in (self.capture_queue, self.motion_queue, self.output_queue)):
            raise ValueError("queue sizes must be 1..8")
        if self.stall_s <= 0 or self.give_up_s <= 0:
            raise ValueError("stall_s and give_up_s must be positive")
        if self.out_fps is not None and not (0 < self.out_fps <= MAX_OUT_FPS):
            raise ValueError(f"out_fps must be in (0, {MAX_OUT_FPS:g}]")
        if not 0 < self.late_periods <= 2:
            raise ValueError("late_periods must be in (0, 2]")
        if self.engine_fallback_after < 1:
            raise ValueError("engine_fallback_after must be at least 1")
        if not 0 < self.source_backoff_s <= self.source_max_backoff_s:
            raise ValueError("source back-off must be positive and at most its cap")
        if self.opencv_threads is not None and self.opencv_threads < 1:
            raise ValueError("opencv_threads must be at least 1")

    def threads_for_opencv(self) -> int:
        if self.opencv_threads is not None:
            return self.opencv_threads
        from vivicam.threads import current

        return current().pool
