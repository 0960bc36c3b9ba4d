"""One-Euro filter (Casiez, Roussel, Vogel, CHI 2012): an adaptive low-pass
filter for live signals. Causal: it needs only the past, so it can run live.

Slow signals get a low cut-off (``min_cutoff``, Hz) and so little jitter; as
the signal's speed grows the cut-off rises (``beta`` × speed) so fast motion
is followed with little lag. ``beta`` is in Hz per (signal unit / second),
so it depends on the signal's unit: the defaults in ``MotionConfig`` are set
per channel (degrees, face sizes, 0..1 ratios).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class OneEuroParams:
    """The three knobs of a One-Euro filter."""

    min_cutoff: float = 1.0  # Hz, the cut-off while the signal is still
    beta: float = 0.0  # Hz per unit/s: how fast the cut-off rises with speed
    d_cutoff: float = 1.0  # Hz, cut-off of the speed estimate itself

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(f"One-Euro needs min_cutoff > 0, d_cutoff > 0, beta >= 0; got {self}")


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with this cut-off at step dt."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Element-wise One-Euro filter over arrays of any fixed shape.

    ``f(x, t_s)`` returns the filtered array (float64 copy of ``x``'s shape).
    The first call returns ``x`` unchanged; a call at the same time as the
    previous one returns the previous output; time going backwards (a looping
    video, a restarted clock) restarts the filter at ``x``; ``reset()``
    forgets the past.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0) -> None:
        self.params = OneEuroParams(min_cutoff, beta, d_cutoff)
        self.reset()

    @classmethod
    def from_params(cls, params: OneEuroParams) -> "OneEuroFilter":
        return cls(params.min_cutoff, params.beta, params.d_cutoff)

    def reset(self) -> None:
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t_s: float) -> np.ndarray:
        x = np.array(x, dtype=np.float64)  # a copy: callers may reuse their buffer
        if self._x is None or self._t is None or self._dx is None or float(t_s) < self._t:
            self._x, self._dx, self._t = x, np.zeros_like(x), float(t_s)
            return x.copy()
        if x.shape != self._x.shape:
            raise ValueError(f"OneEuroFilter got shape {x.shape} after {self._x.shape}; reset() it first")
        dt = float(t_s) - self._t
        if dt <= 0.0:
            return self._x.copy()
        p = self.params
        dx = (x - self._x) / dt
        dx_hat = self._dx + _alpha(p.d_cutoff, dt) * (dx - self._dx)
        cutoff = p.min_cutoff + p.beta * np.abs(dx_hat)
        x_hat = self._x + _alpha(cutoff, dt) * (x - self._x)
        self._x, self._dx, self._t = x_hat, dx_hat, float(t_s)
        return x_hat.copy()
