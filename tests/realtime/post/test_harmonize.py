"""A new background's light tints the person a little (on by default), with
no fringe at the mask's edge, and not at all when switched off."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from vivicam.engines.base import AvatarState
from vivicam.realtime.post import compose
from vivicam.realtime.post.background import HARMONIZE_RANGE, parse_background


def _scene() -> tuple[AvatarState, np.ndarray]:
    photo = np.full((120, 160, 3), 128, np.uint8)  # a grey person on a grey wall
    yy, xx = np.mgrid[0:120, 0:160]
    dist = np.hypot(yy - 60, xx - 80)
    person = np.clip((40.0 - dist) / 6.0, 0.0, 1.0).astype(np.float32)  # soft round edge
    state = AvatarState(photo, np.array([[1, 0, -48], [0, 1, -28]], np.float32), 64, np.ones((64, 64), np.float32), person)
    warm = np.zeros((120, 160, 3), np.uint8)
    warm[...] = (230, 140, 60)  # a sunset
    return state, warm


def test_the_person_takes_a_little_of_the_new_light():
    state, warm = _scene()
    out = compose(state, np.full((64, 64, 3), 128, np.uint8), background=warm).astype(float)
    centre = out[55:65, 75:85].reshape(-1, 3).mean(0)
    assert centre[0] > 128 + 5 and centre[2] < 128 - 5  # warmer than the grey photo...
    assert HARMONIZE_RANGE[0] * 128 - 1 <= centre.min() and centre.max() <= HARMONIZE_RANGE[1] * 128 + 1  # ...restrained


def test_switched_off_the_person_keeps_the_photos_colours():
    state, warm = _scene()
    spec = replace(parse_background(warm), harmonize=False)
    out = compose(state, np.full((64, 64, 3), 128, np.uint8), background=spec)
    np.testing.assert_array_equal(out[55:65, 75:85], 128)


def test_no_fringe_at_the_mask_edge():
    state, warm = _scene()
    out = compose(state, np.full((64, 64, 3), 128, np.uint8), background=warm).astype(float)
    row = out[60, 20:80]  # from the background across the soft edge into the person
    for c in range(3):
        lo, hi = min(row[0, c], row[-1, c]), max(row[0, c], row[-1, c])
        assert lo - 1 <= row[:, c].min() and row[:, c].max() <= hi + 1  # no halo beyond either side
        steps = np.diff(row[:, c])
        assert np.all(steps >= -1) or np.all(steps <= 1)  # one smooth ramp, no ring
