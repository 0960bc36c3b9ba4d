"""Motion predicted between camera frames: linear in time from the last two
filtered motions, causal, capped a moment ahead, held when the face is lost."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate import geometry
from vivicam.calibrate.motion import MotionEstimator
from vivicam.calibrate.neutral import Neutral
from vivicam.calibrate.predict import MAX_AHEAD_S, extrapolate, predict_at
from vivicam.types import Landmarks, Motion


def test_extrapolate_continues_the_last_step_and_keeps_ranges() -> None:
    prev = Motion(rotation=np.array([0, 10, 0], np.float32), mouth_open=0.6, gaze=np.array([0.9, 0], np.float32))
    last = Motion(rotation=np.array([0, 12, 0], np.float32), mouth_open=0.9, gaze=np.array([0.95, 0], np.float32))
    half = extrapolate(prev, last, 0.5)
    assert half.rotation[1] == pytest.approx(13.0)
    assert half.mouth_open == pytest.approx(1.0)  # 1.05 kept in 0..1
    assert extrapolate(prev, last, 4.0).gaze[0] == pytest.approx(1.0)
    assert extrapolate(prev, last, 0.0).rotation[1] == pytest.approx(12.0)


def test_predict_at_is_linear_in_time_and_capped() -> None:
    history = ((0.0, Motion(rotation=np.zeros(3, np.float32))),
               (1 / 15, Motion(rotation=np.array([0, 2, 0], np.float32))))
    mid = predict_at(history, 1 / 15 + 1 / 30)  # one 30 fps frame after a 15 fps frame
    assert mid is not None and mid.rotation[1] == pytest.approx(3.0)
    far = predict_at(history, 10.0)
    assert far is not None and far.rotation[1] == pytest.approx(2 + 2 * MAX_AHEAD_S * 15)
    assert predict_at(history[:1], 5.0) is history[0][1]
    assert predict_at((), 5.0) is None


def _turned(points: np.ndarray, yaw: float) -> Landmarks:
    centre = geometry.face_pose(points).center
    moved = centre + (points - centre) @ geometry.matrix_from_euler(0.0, yaw, 0.0).T
    return Landmarks(moved.astype(np.float32), (512, 512))


def test_estimator_predicts_a_turn_between_frames_without_changing_state(face: np.ndarray) -> None:
    est = MotionEstimator(neutral=Neutral.from_points(face, (512, 512)))
    motions = [est.update(_turned(face, 2.0 * i), i / 15) for i in range(12)]  # a steady turn at 15 fps
    t_last = 11 / 15
    between = est.predict(t_last + 1 / 30)
    assert between is not None
    step = motions[-1].rotation[1] - motions[-2].rotation[1]
    assert abs(step) > 0.5  # the head is turning
    assert between.rotation[1] == pytest.approx(motions[-1].rotation[1] + step / 2, abs=1e-3)
    again = est.update(_turned(face, 24.0), 12 / 15)  # prediction left the filters alone
    fresh = MotionEstimator(neutral=Neutral.from_points(face, (512, 512)))
    for i in range(12):
        fresh.update(_turned(face, 2.0 * i), i / 15)
    np.testing.assert_allclose(again.rotation, fresh.update(_turned(face, 24.0), 12 / 15).rotation)
    est.update(None, 13 / 15)
    assert est.predict(14 / 15) is None  # face lost: the estimator's own hold/idle motion instead
