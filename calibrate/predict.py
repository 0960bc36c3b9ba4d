"""Motion predicted a moment ahead of the last tracked frame.

The live loop renders in-between frames when the camera is slower than the
output (a 15 fps webcam feeding a 30 fps virtual camera). Their motion is
extrapolated from the last two filtered motions — causal, so nothing waits for
the next camera frame — over at most ``MAX_AHEAD_S``: beyond that a guess
would overshoot, so the motion holds.
"""

from __future__ import annotations

import numpy as np

from vivicam.types import Motion

MAX_AHEAD_S = 0.1


def extrapolate(prev: Motion, last: Motion, k: float) -> Motion:
    """``last + k · (last − prev)`` for every continuous part of the motion
    (k = 0: ``last``; k = 1: one more step of the same size), kept in range.
    The driver frames, surround field and confidence are ``last``'s."""

    def ahead(a: object, b: object) -> np.ndarray:
        a32, b32 = np.asarray(a, np.float32), np.asarray(b, np.float32)
        return b32 + np.float32(k) * (b32 - a32)

    return last.with_(
        rotation=ahead(prev.rotation, last.rotation),
        translation=ahead(prev.translation, last.translation),
        scale=float(max(ahead(prev.scale, last.scale), 0.1)),
        expression=ahead(prev.expression, last.expression),
        eyes_closed=np.clip(ahead(prev.eyes_closed, last.eyes_closed), 0.0, 1.0),
        gaze=np.clip(ahead(prev.gaze, last.gaze), -1.0, 1.0),
        mouth_open=float(np.clip(ahead(prev.mouth_open, last.mouth_open), 0.0, 1.0)),
        camera=ahead(prev.camera, last.camera),
    )


def predict_at(history: tuple[tuple[float, Motion], ...], t_s: float) -> Motion | None:
    """Motion at ``t_s`` from the last two ``(time, motion)`` samples (oldest
    first); None without any sample, the last one without two."""
    if not history:
        return None
    t_last, last = history[-1]
    if len(history) < 2:
        return last
    t_prev, prev = history[-2]
    step = t_last - t_prev
    if step <= 0:
        return last
    ahead = min(max(t_s - t_last, 0.0), MAX_AHEAD_S)
    return extrapolate(prev, last, ahead / step)
