"""A steady output rate from a camera of any rate: when the next frame is due,
and the motion of a frame made between two camera frames.

One implementation for the live loop (``realtime/loop_stages.py``) and the
``serve`` sessions (``realtime/serve/session.py``). A camera slower than the
output (a dim room's 15 fps webcam under a 30 fps virtual camera) gets
in-between frames whose motion is predicted forward from the filtered track
(``MotionEstimator.predict``): causal, so nothing waits for the next camera
frame and the camera frames' latency is unchanged. The output runs on a grid
of ticks (:class:`Pacer`): camera frames take the ticks nearest them,
in-between frames fill the others, so a camera at the output's rate gets
none and one at any slower rate (10, 15, 24 fps) gets the output's rate.
Times are seconds on the caller's clock.
"""

from __future__ import annotations

import math
from typing import Any

from vivicam.realtime.loop_state import MAX_OUT_FPS
from vivicam.types import Motion

# A camera frame interval counts as the camera's rate below this (or below
# three times the rate known so far); longer is a stall, not a rate.
RATE_MAX_INTERVAL_S = 0.25
# How far the output's tick grid moves toward each camera frame's moment (of
# the distance to the tick it took), following a camera clock's slow drift.
# A camera whose period is within PHASE_EASE × half an output period of the
# output's drags the grid along (its rate is the output's): kept small so
# that only happens within 0.5 fps of it (29.5–30.5 fps under 30).
PHASE_EASE = 0.03


def output_period(out_fps: float | None, camera_fps: float | None) -> float:
    """Seconds between output frames: ``out_fps``, else the camera's rate
    (a file played as fast as it decodes "runs" at 1000 fps: capped)."""
    rate = out_fps or camera_fps or 30.0
    return 1.0 / min(max(float(rate), 1.0), MAX_OUT_FPS)


class Pacer:
    """The output's schedule, a grid of ticks one output period apart.

    A camera frame goes out as soon as it is ready (no added latency) and
    takes the tick nearest to it; a tick no camera frame takes gets an
    in-between frame. So a 15 fps camera fills every other tick, a 24 fps one
    four ticks in five (the fifth an in-between frame), and the output keeps
    ``1 / period_s`` frames a second whatever the camera does. The grid eases
    toward the camera's phase (``PHASE_EASE``) and starts on it (first frame,
    rate first known, back from a stall), so a camera at a rate that divides
    the output's gets evenly spaced in-between frames.

    :attr:`due_s` is when the next in-between frame is due if no camera
    frame came by then: the next free tick, or, when the camera's next frame
    is expected to take that tick, ``late_periods`` after it is expected.
    Call :meth:`camera_frame` for each camera frame and :meth:`in_between`
    for each frame made without one."""

    def __init__(self, period_s: float, camera_fps: float | None, now_s: float, *,
                 late_periods: float = 0.5) -> None:
        self.period_s = period_s
        self.late_periods = late_periods
        # what the camera says (a webcam asked for 30 fps says 30 in a dim room
        # that gives 15): replaced by the first interval measured, then smoothed
        self.camera_period_s = 1.0 / max(float(camera_fps or 1.0 / period_s), 1.0)
        self._camera_frames = 0
        self._measured = False
        self.last_camera_s = now_s  # when the last camera frame went to the render
        self.last_capture_s = now_s  # its capture stamp
        self.tick_s = now_s + period_s  # the next tick no frame has taken
        self.due_s = self._due()

    def _due(self) -> float:
        expected = self.last_camera_s + self.camera_period_s
        if abs(expected - self.tick_s) <= self.period_s / 2:  # the camera's next frame takes this tick
            return max(self.tick_s, expected + self.late_periods * self.period_s)
        return self.tick_s

    def camera_frame(self, now_s: float, t_capture_s: float) -> None:
        """A camera frame (captured at ``t_capture_s``) goes to the render at
        ``now_s``: it takes the nearest free tick (none when it is nearer one
        already taken: a camera faster than the output)."""
        interval = t_capture_s - self.last_capture_s  # the camera's own timing, not our delays
        a_rate = self._camera_frames > 0 and 0 < interval < max(3 * self.camera_period_s, RATE_MAX_INTERVAL_S)
        # the grid starts on the camera: at its first frame, when its rate is
        # first known, and when it comes back after a stall
        anchor = not a_rate or not self._measured
        if a_rate:
            step = 0.1 if self._measured else 1.0
            self.camera_period_s += step * (interval - self.camera_period_s)
            self._measured = True
        self._camera_frames += 1
        self.last_camera_s = now_s
        self.last_capture_s = t_capture_s
        ahead = math.floor((now_s - self.tick_s) / self.period_s + 0.5)
        if anchor:
            self.tick_s = now_s + self.period_s
        elif ahead >= 0:
            taken = self.tick_s + ahead * self.period_s
            self.tick_s = taken + self.period_s + PHASE_EASE * (now_s - taken)
        self.due_s = self._due()

    def in_between(self, now_s: float) -> float:
        """An in-between frame is made now: it takes the next free tick, and
        the next tick is a period after it (made late, waiting for a late
        camera frame or on a busy machine: a period after now, no burst).
        Returns the capture moment it stands for."""
        self.tick_s = max(self.tick_s, now_s) + self.period_s
        self.due_s = self._due()
        return self.stands_for(now_s)

    def stands_for(self, now_s: float) -> float:
        """The capture moment a frame made ``now_s`` without a camera frame
        stands for: as long after the last camera frame's capture as we are
        after it went to the render (camera and in-between frames then reach
        the output with the same delay, so their motion is evenly spaced)."""
        return self.last_capture_s + now_s - self.last_camera_s

    def since_camera(self, now_s: float) -> float:
        return now_s - self.last_camera_s

    def missed_at(self) -> float:
        """The capture moment of the first camera frame that did not come."""
        return self.last_capture_s + self.camera_period_s


def gap_motion(pipeline: Any, t_s: float, stalled: bool) -> Motion | None:
    """Motion for a frame made without a camera frame, standing for ``t_s``:
    the estimator's held/idle motion once the camera stalled; before that its
    prediction when it has one, else None (the last image again)."""
    if stalled or pipeline.estimator is None:
        return pipeline.motion(None, None, t_s)
    predict = getattr(pipeline.estimator, "predict", None)
    return None if predict is None else predict(t_s)
