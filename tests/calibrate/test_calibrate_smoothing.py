"""One-Euro filter: less jitter when still, little lag when moving."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate.smoothing import OneEuroFilter, OneEuroParams

FPS = 30.0


def _run(f: OneEuroFilter, signal: np.ndarray) -> np.ndarray:
    return np.array([f(x, i / FPS) for i, x in enumerate(signal)])


def test_noise_on_a_still_signal_shrinks_several_fold() -> None:
    rng = np.random.default_rng(1)
    noisy = 5.0 + rng.normal(0.0, 0.05, (300, 478, 3))  # e.g. a still head with tracker noise
    out = _run(OneEuroFilter(min_cutoff=1.0, beta=0.5), noisy)
    assert out.shape == noisy.shape
    settled = out[30:]
    assert settled.std(axis=0).mean() < 0.45 * noisy.std(axis=0).mean()
    assert abs(settled.mean() - 5.0) < 0.05


def test_a_fast_move_is_followed_with_little_lag_when_beta_is_set() -> None:
    t = np.arange(90) / FPS
    ramp = np.where(t < 1.0, 0.0, np.minimum((t - 1.0) * 60.0, 30.0))  # 60°/s turn to 30°
    slow = _run(OneEuroFilter(min_cutoff=0.7, beta=0.0), ramp)
    adaptive = _run(OneEuroFilter(min_cutoff=0.7, beta=0.4, d_cutoff=5.0), ramp)
    at_half_way = int(1.25 * FPS)
    # Without beta the filter trails the turn by many degrees; with it, by little.
    assert ramp[at_half_way] - slow[at_half_way] > 8.0
    assert ramp[at_half_way] - adaptive[at_half_way] < 4.0
    assert abs(adaptive[-1] - 30.0) < 0.5  # and it settles on the target


def test_first_call_passes_through_and_the_clock_is_handled() -> None:
    f = OneEuroFilter()
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(x, 0.0), x)
    y = f(np.array([3.0, 3.0]), 0.1)
    np.testing.assert_array_equal(f(np.array([100.0, 100.0]), 0.1), y)
    # a clock that jumps back (a looping video) restarts the filter instead of freezing it
    np.testing.assert_array_equal(f(np.array([5.0, 6.0]), 0.0), [5.0, 6.0])
    assert np.all(f(np.array([6.0, 7.0]), 1 / FPS) > [5.0, 6.0])


def test_output_is_a_copy_and_reset_forgets() -> None:
    f = OneEuroFilter()
    buf = np.zeros(3)
    out = f(buf, 0.0)
    out[:] = 7.0
    buf[:] = 10.0
    assert np.all(f(buf, 0.1) < 10.0)  # still smoothing from 0, not from the caller's 7
    f.reset()
    np.testing.assert_array_equal(f(buf, 0.2), buf)


def test_shape_change_and_bad_parameters_are_refused() -> None:
    f = OneEuroFilter()
    f(np.zeros(3), 0.0)
    with pytest.raises(ValueError):
        f(np.zeros(4), 0.1)
    with pytest.raises(ValueError):
        OneEuroParams(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroFilter(beta=-1.0)
