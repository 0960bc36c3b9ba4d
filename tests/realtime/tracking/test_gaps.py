"""Offline, a few frames where the tracker lost a fast-turning head are
interpolated from the frames on both sides (``realtime/tracking/gaps``)."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.realtime.tracking.gaps import bridge_gaps
from vivicam.types import Landmarks


def _lm(x: float, confidence: float = 1.0) -> Landmarks:
    points = np.zeros((478, 3), np.float32)
    points[:, 0] = x
    return Landmarks(points, (64, 64), confidence)


def test_a_short_gap_is_interpolated_a_long_one_and_the_ends_are_not() -> None:
    tracks = [None, _lm(0.0), None, None, None, _lm(8.0, 0.6), None, None, None, None, None, _lm(1.0), None]
    out = bridge_gaps(tracks, max_frames=3)
    assert out[0] is None and out[-1] is None  # before the first and after the last face: nothing to go on
    assert [out[k].points[0, 0] for k in (2, 3, 4)] == pytest.approx([2.0, 4.0, 6.0])  # the head moved through
    assert out[3].confidence == 0.6
    assert all(out[k] is None for k in range(6, 11))  # five frames: the face really left
    assert out[1] is tracks[1] and out[5] is tracks[5]  # tracked frames untouched
    assert bridge_gaps(tracks, max_frames=0) == tuple(tracks)
