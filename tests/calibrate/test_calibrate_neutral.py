"""Neutral-face calibration and the JSON profile."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vivicam.calibrate import features, geometry, mesh
from vivicam.calibrate.motion import MotionConfig
from vivicam.calibrate.neutral import (
    CALIBRATION_PROMPT,
    PROFILE_VERSION,
    Neutral,
    NeutralCalibrator,
    load_profile,
    save_profile,
)
from vivicam.calibrate.smoothing import OneEuroParams
from vivicam.errors import InputError
from vivicam.types import Landmarks

FPS = 30.0


def _lm(points: np.ndarray, yaw: float = 0.0) -> Landmarks:
    centre = geometry.face_pose(points).center
    moved = centre + (points - centre) @ geometry.matrix_from_euler(0.0, yaw, 0.0).T
    return Landmarks(moved.astype(np.float32), (512, 512))


def _blink(points: np.ndarray) -> np.ndarray:
    out = points.copy()
    for eye in (0, 1):
        upper, lower = np.array(mesh.UPPER_LID[eye]), np.array(mesh.LOWER_LID[eye])
        out[upper] = out[lower] = (points[upper] + points[lower]) / 2
    return out


def test_calibration_takes_about_a_second_and_ignores_a_blink(face: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    cal = NeutralCalibrator(seconds=1.0)
    result = None
    for i in range(60):
        pts = _blink(face) if i in (10, 11, 12) else face  # a blink during calibration
        pts = pts + rng.normal(0.0, 0.3, face.shape)
        result = cal.add(Landmarks(pts.astype(np.float32), (512, 512)), i / FPS)
        if result is not None:
            break
    assert result is not None and cal.done
    assert 0.9 <= i / FPS <= 1.1
    np.testing.assert_allclose(result.eye_openness, features.eye_openness(face), rtol=0.05)
    assert result.size == pytest.approx(features.face_size(face), rel=0.02)
    assert result.image_size == (512, 512)
    # The same neutral keeps coming back once done.
    assert cal.add(_lm(face, yaw=30), 5.0) is result


def test_frames_with_fast_head_motion_are_rejected(face: np.ndarray) -> None:
    cal = NeutralCalibrator(seconds=1.0)
    result = None
    for i in range(45):
        # every 5th frame the head jerks 15° (450°/s) and back
        result = cal.add(_lm(face, yaw=15.0 if i % 5 == 4 else 0.0), i / FPS)
        if result is not None:
            break
    assert result is not None
    assert cal.rejected >= 10
    yaw = geometry.euler_from_matrix(result.rotation)[1] - geometry.euler_from_matrix(geometry.face_pose(face).rotation)[1]
    assert abs(yaw) < 1.0


def test_a_driver_who_never_holds_still_is_calibrated_anyway(face: np.ndarray) -> None:
    cal = NeutralCalibrator(seconds=1.0, give_up_factor=2.0)
    result = None
    for i in range(200):
        result = cal.add(_lm(face, yaw=20.0 * np.sin(i * 1.3)), i / FPS)  # constant shaking
        if result is not None:
            break
    assert result is not None and 1.9 <= i / FPS <= 2.2


def test_profile_round_trip_keeps_neutral_and_settings(tmp_path, face: np.ndarray) -> None:
    neutral = Neutral.from_points(face, (640, 480))
    config = MotionConfig(mirror=True, mouth_gain=1.5, yaw_limit=20.0, smooth_eyes=OneEuroParams(2.0, 3.0, 4.0))
    path = save_profile(tmp_path / "me.json", neutral, config)
    loaded, loaded_config = load_profile(path)
    assert loaded_config == config
    np.testing.assert_allclose(loaded.canonical, neutral.canonical, atol=1e-6)
    np.testing.assert_allclose(loaded.rotation, neutral.rotation)
    assert loaded.size == neutral.size and loaded.image_size == (640, 480)
    np.testing.assert_allclose(loaded.iris_offset, neutral.iris_offset)
    assert json.loads(path.read_text())["version"] == PROFILE_VERSION
    # without settings
    _, none = load_profile(save_profile(tmp_path / "plain.json", neutral))
    assert none is None


def test_bad_profiles_get_one_line_input_errors(tmp_path, face: np.ndarray) -> None:
    good = json.loads(save_profile(tmp_path / "good.json", Neutral.from_points(face)).read_text())
    cases = {
        "missing.json": None,
        "garbage.json": "not json {",
        "other.json": json.dumps({"hello": 1}),
        "future.json": json.dumps({**good, "version": 99}),
        "short.json": json.dumps({**good, "neutral": {**good["neutral"], "canonical": [[0, 0, 0]]}}),
        "nokey.json": json.dumps({**good, "neutral": {k: v for k, v in good["neutral"].items() if k != "size"}}),
        "nan.json": json.dumps({**good, "neutral": {**good["neutral"], "size": float("nan")}}),
        "badcfg.json": json.dumps({**good, "config": {"warp_speed": 9}}),
    }
    expected = {
        "missing.json": "does not exist",
        "garbage.json": "not a readable JSON file",
        "other.json": "is not a vivicam profile",
        "future.json": "has version 99",
        "short.json": "is damaged",
        "nokey.json": "'size' is missing",
        "nan.json": "is damaged",
        "badcfg.json": "unknown motion settings: warp_speed",
    }
    for name, text in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(InputError) as info:
            load_profile(path)
        message = str(info.value)
        assert expected[name] in message and str(path) in message and "\n" not in message, message
    with pytest.raises(InputError, match="is a directory"):
        load_profile(tmp_path)


def test_saving_where_it_cannot_be_written_is_an_input_error(tmp_path, face: np.ndarray) -> None:
    with pytest.raises(InputError, match="cannot write the profile"):
        save_profile(tmp_path / "no" / "such" / "dir.json", Neutral.from_points(face))


def test_motion_config_rejects_nonsense() -> None:
    for bad in ({"yaw_limit": 0.0}, {"head_gain": -1.0}, {"hold_s": -0.1}, {"eye_shut_ratio": 1.5}, {"gaze_range": (0.0, 1.0)}):
        with pytest.raises(ValueError):
            MotionConfig(**bad)


def _open_mouth(points: np.ndarray, face_sizes: float) -> np.ndarray:
    """The face with its jaw dropped by ``face_sizes`` (everything below the
    upper inner lip moves down)."""
    out = points.copy()
    below = points[:, 1] > points[mesh.LIP_INNER_UPPER_MID, 1] + 0.5
    out[below, 1] += face_sizes * features.face_size(points)
    return out


def test_calibration_waits_for_a_closed_mouth_and_says_so(face: np.ndarray) -> None:
    """Talking for 1.5 s, then a relaxed face: the neutral comes from the
    relaxed second, and meanwhile the prompt asks for it."""
    cal = NeutralCalibrator(seconds=1.0)
    prompts = []
    result = None
    for i in range(150):
        talking = i < 45 and (i // 4) % 2 == 0  # mouth open half the time, in bursts
        result = cal.add(Landmarks(_open_mouth(face, 0.15 if talking else 0.0).astype(np.float32), (512, 512)), i / FPS)
        prompts.append(cal.prompt)
        if result is not None:
            break
    assert result is not None and cal.warning is None
    assert i / FPS >= 2.4  # not before a whole calm second after the talking
    assert result.mouth_gap == pytest.approx(features.mouth_gap(face), abs=0.01)
    assert any(p and p.startswith(CALIBRATION_PROMPT) and "close your mouth" in p for p in prompts[:45])
    assert cal.prompt is None


def test_a_driver_who_never_calms_down_is_calibrated_with_a_warning(face: np.ndarray, caplog) -> None:
    cal = NeutralCalibrator(seconds=1.0)
    result = None
    with caplog.at_level("WARNING"):
        for i in range(200):
            talking = i % 15 < 10  # a third of a second open, a sixth closed, ...
            result = cal.add(Landmarks(_open_mouth(face, 0.15 if talking else 0.0).astype(np.float32), (512, 512)),
                             i / FPS)
            if result is not None:
                break
    assert result is not None and 2.9 <= i / FPS <= 3.1
    assert cal.warning and "recalibrate" in cal.warning
    assert any(cal.warning in r.getMessage() for r in caplog.records)


def test_the_estimator_shows_the_prompt_only_while_calibrating(face: np.ndarray) -> None:
    from vivicam.calibrate.motion import MotionEstimator

    estimator = MotionEstimator()
    assert estimator.calibration_prompt == CALIBRATION_PROMPT
    for i in range(40):
        estimator.update(Landmarks(face.astype(np.float32), (512, 512)), i / FPS)
    assert estimator.calibrated and estimator.calibration_prompt is None
    estimator.recalibrate()
    assert estimator.calibration_prompt == CALIBRATION_PROMPT
