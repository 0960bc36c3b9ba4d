"""Procedural idle motion: what the avatar does with no driver (the demo, and
while the driver's face is lost). ``IdleMotion(seed).at(t_s)`` is a pure
function of the seed and the time: the same seed gives the same motion.

- Blinks every 2–6 s, each about 150 ms (fast close, short shut, slower open),
  with the lid shapes of real blinks in ``expression``.
- Head sway of a few degrees: a sum of slow sines per axis (0.04–0.25 Hz).
- Breathing at ~15 breaths a minute: a tiny rise of the head and scale change.
- Slow gaze drift.
- ``talk=True``: speech-like mouth motion: phrases of 1.5–4 s separated by
  pauses, made of syllables of 120–280 ms, with the lip and jaw shapes fitted
  on real talking clips (``patterns.py``) in ``expression``.
"""

from __future__ import annotations

import math

import numpy as np

# Reach of the slow gaze drift (share of Motion.gaze's ±1): enough for the
# iris to travel a visible pixel or two on a webcam-sized face, which the warp
# draws (the redrawn eye is faded in from 1 crop px of iris shift; at 0.12 it
# never got there and the drift was invisible)
IDLE_GAZE = 0.3

from vivicam.calibrate import patterns
from vivicam.types import Motion

PERIOD_S = 600.0  # the schedule of blinks and syllables repeats after this

BLINK_CLOSE_S = 0.05
BLINK_SHUT_S = 0.02
BLINK_OPEN_S = 0.09
BLINK_S = BLINK_CLOSE_S + BLINK_SHUT_S + BLINK_OPEN_S


def _smooth01(x: np.ndarray | float) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class IdleMotion:
    """Deterministic procedural motion (see the module docstring)."""

    def __init__(self, seed: int = 0, talk: bool = False) -> None:
        self.seed = int(seed)
        self.talk = bool(talk)
        rng = np.random.default_rng(self.seed)
        n = int(PERIOD_S / 2.0) + 2
        self._blinks = np.cumsum(rng.uniform(2.0, 6.0, n)) - rng.uniform(0.0, 2.0)
        # (axis, component): frequency Hz, amplitude degrees, phase
        self._sway_f = rng.uniform(0.04, 0.25, (3, 3))
        amplitude = np.array([2.0, 3.0, 1.5])[:, None] / 3.0 * rng.uniform(0.6, 1.4, (3, 3))
        self._sway_a = amplitude
        self._sway_p = rng.uniform(0, 2 * math.pi, (3, 3))
        self._breath_f = rng.uniform(0.22, 0.28)
        self._breath_p = rng.uniform(0, 2 * math.pi)
        self._gaze_f = rng.uniform(0.05, 0.2, (2, 2))
        self._gaze_p = rng.uniform(0, 2 * math.pi, (2, 2))
        self._syllables = self._speech_schedule(rng) if self.talk else None

    @staticmethod
    def _speech_schedule(rng: np.random.Generator) -> np.ndarray:
        """(N, 3) rows of syllable (start, duration, peak mouth_open)."""
        rows = []
        t = rng.uniform(0.2, 0.8)
        while t < PERIOD_S:
            end = min(t + rng.uniform(1.5, 4.0), PERIOD_S)
            while t < end:
                d = rng.uniform(0.12, 0.28)
                rows.append((t, d, rng.uniform(0.08, 0.35)))  # real talk: gap up to ~0.2 face sizes
                t += d
            t += rng.uniform(0.3, 1.2)  # a pause between phrases
        return np.array(rows)

    def eyes_closed(self, t_s: float) -> float:
        """0..1 closure of both eyes at ``t_s``."""
        t = t_s % PERIOD_S
        i = int(np.searchsorted(self._blinks, t, side="right")) - 1
        if i < 0:
            return 0.0
        s = t - self._blinks[i]
        if s < BLINK_CLOSE_S:
            return float(_smooth01(s / BLINK_CLOSE_S))
        if s < BLINK_CLOSE_S + BLINK_SHUT_S:
            return 1.0
        return float(1.0 - _smooth01((s - BLINK_CLOSE_S - BLINK_SHUT_S) / BLINK_OPEN_S))

    def mouth_open(self, t_s: float) -> float:
        """0..1 speech-like mouth opening (0 without ``talk``)."""
        if self._syllables is None:
            return 0.0
        t = t_s % PERIOD_S
        i = int(np.searchsorted(self._syllables[:, 0], t, side="right")) - 1
        if i < 0:
            return 0.0
        start, duration, peak = self._syllables[i]
        phase = (t - start) / duration
        if phase >= 1.0:
            return 0.0  # a pause between phrases
        return float(peak * math.sin(math.pi * phase) ** 2)

    def at(self, t_s: float) -> Motion:
        t = float(t_s)
        sway = (self._sway_a * np.sin(2 * math.pi * self._sway_f * t + self._sway_p)).sum(axis=1)
        breath = math.sin(2 * math.pi * self._breath_f * t + self._breath_p)
        gaze = IDLE_GAZE * np.sin(2 * math.pi * self._gaze_f * t + self._gaze_p).sum(axis=1) / 2
        closed = self.eyes_closed(t)
        mouth = self.mouth_open(t)
        expression = patterns.expression_for(mouth_open=mouth, eyes_closed=(closed, closed))
        return Motion(
            rotation=sway.astype(np.float32),
            translation=np.array([0.0, -0.006 * breath], np.float32),
            scale=1.0 + 0.004 * breath,
            expression=expression,
            eyes_closed=np.array([closed, closed], np.float32),
            gaze=gaze.astype(np.float32),
            mouth_open=mouth,
            confidence=1.0,
        )
