"""MotionEstimator: pose conventions, expression, eyes, mouth, gains, limits,
mirror, calibration and lost-face behaviour, on synthetic moves of a real
face mesh (the astronaut's, rotated and moved with ``geometry``)."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate import features, geometry, mesh
from vivicam.calibrate.config import GAZE_RANGE
from vivicam.calibrate.idle import IdleMotion
from vivicam.calibrate.motion import MotionConfig, MotionEstimator, soft_limit
from vivicam.calibrate.neutral import Neutral
from vivicam.types import Landmarks, Motion

FPS = 30.0


def posed(points: np.ndarray, pitch=0.0, yaw=0.0, roll=0.0, shift=(0.0, 0.0), scale=1.0) -> Landmarks:
    """The mesh turned by (pitch, yaw, roll) about its own centre, moved, scaled."""
    centre = geometry.face_pose(points).center
    r = geometry.matrix_from_euler(pitch, yaw, roll)
    moved = centre + scale * (points - centre) @ r.T + np.array([shift[0], shift[1], 0.0])
    return Landmarks(moved.astype(np.float32), (512, 512))


def _neutral(points: np.ndarray) -> Neutral:
    return Neutral.from_points(points, (512, 512))


def _steady(est: MotionEstimator, lm: Landmarks, seconds: float = 1.0, t0: float = 0.0) -> Motion:
    """Feed the same landmarks for a while (the filters settle) and return the last motion."""
    m = None
    for i in range(int(seconds * FPS)):
        m = est.update(lm, t0 + i / FPS)
    assert m is not None
    return m


def test_neutral_face_gives_no_motion(face: np.ndarray) -> None:
    est = MotionEstimator(neutral=_neutral(face))
    m = est.update(posed(face), 0.0)
    np.testing.assert_allclose(m.rotation, 0.0, atol=1e-3)
    np.testing.assert_allclose(m.translation, 0.0, atol=1e-6)
    assert m.scale == pytest.approx(1.0)
    assert np.abs(m.expression).max() < 1e-5
    np.testing.assert_allclose(m.eyes_closed, 0.0, atol=1e-6)
    np.testing.assert_allclose(m.gaze, 0.0, atol=1e-6)
    assert m.mouth_open == 0.0 and m.confidence == 1.0


@pytest.mark.parametrize(
    "angles",
    [(0, 20, 0), (0, -20, 0), (15, 0, 0), (-15, 0, 0), (0, 0, 18), (0, 0, -18), (10, -15, 8)],
)
def test_head_rotation_comes_out_as_it_went_in(face: np.ndarray, angles: tuple[float, float, float]) -> None:
    est = MotionEstimator(neutral=_neutral(face))
    m = est.update(posed(face, *angles), 0.0)
    np.testing.assert_allclose(m.rotation, angles, atol=0.05)
    # Turning the head is not an expression.
    assert np.abs(m.expression).max() < 1e-3


def test_rotation_signs_match_what_the_image_shows(face: np.ndarray) -> None:
    nose, chin = mesh.NOSE_TIP, mesh.CHIN
    centre = geometry.face_pose(face).center
    est = MotionEstimator(neutral=_neutral(face))
    yawed = posed(face, yaw=20).points
    assert yawed[nose, 0] < face[nose, 0]  # yaw > 0: the nose goes towards image left
    assert est.update(Landmarks(yawed, (512, 512)), 0.0).rotation[1] > 15
    est = MotionEstimator(neutral=_neutral(face))
    nodded = posed(face, pitch=15).points
    assert nodded[nose, 1] > face[nose, 1]  # pitch > 0: the nose goes down
    assert est.update(Landmarks(nodded, (512, 512)), 0.0).rotation[0] > 10
    est = MotionEstimator(neutral=_neutral(face))
    rolled = posed(face, roll=20).points
    # roll > 0: clockwise in the image (y down), so the chin swings to the image left
    assert rolled[chin, 0] < face[chin, 0] - 0.1 * (face[chin, 1] - centre[1])
    assert est.update(Landmarks(rolled, (512, 512)), 0.0).rotation[2] > 15


def test_translation_is_in_face_sizes_and_scale_is_relative(face: np.ndarray) -> None:
    neutral = _neutral(face)
    est = MotionEstimator(neutral=neutral)
    m = est.update(posed(face, shift=(neutral.size * 0.5, -neutral.size * 0.25), scale=1.2), 0.0)
    np.testing.assert_allclose(m.translation, (0.5, -0.25), atol=1e-3)
    assert m.scale == pytest.approx(1.2, abs=1e-3)


def _open_mouth(points: np.ndarray, gap_face_sizes: float) -> np.ndarray:
    size = features.face_size(points)
    out = points.copy()
    lower_lips = set(mesh.LIPS_INNER[11:]) | set(mesh.LIPS_OUTER[11:])
    below = {p for p in range(478) if points[p, 1] > points[17, 1]}  # under the lower lip
    out[sorted(lower_lips | below), 1] += gap_face_sizes * size  # the jaw drops
    return out


def test_mouth_opening_maps_to_mouth_open_and_lower_face_expression(face: np.ndarray) -> None:
    neutral = _neutral(face)
    est = MotionEstimator(neutral=neutral)
    opened = _open_mouth(face, 0.3)
    m = est.update(posed(opened, yaw=10), 0.0)  # also turned: expression is pose-free
    assert m.mouth_open == pytest.approx(0.5, abs=0.05)  # 0.3 of 0.6 face sizes
    chin_dy = m.expression[mesh.CHIN, 1]
    assert chin_dy == pytest.approx(0.3, abs=0.05)  # canonical units are face sizes, y down
    assert np.abs(m.expression[list(mesh.BROWS[0])]).max() < 0.02  # brows did not move


def _close_eye(points: np.ndarray, eye: int, amount: float) -> np.ndarray:
    out = points.copy()
    upper, lower = np.array(mesh.UPPER_LID[eye]), np.array(mesh.LOWER_LID[eye])
    middle = (points[upper] + points[lower]) / 2
    out[upper] = points[upper] + amount * (middle - points[upper])
    out[lower] = points[lower] + amount * (middle - points[lower])
    return out


def test_closing_one_eye_closes_only_that_eye(face: np.ndarray) -> None:
    est = MotionEstimator(neutral=_neutral(face))
    m = est.update(posed(_close_eye(face, 0, 1.0)), 0.0)
    assert m.eyes_closed[0] == pytest.approx(1.0) and m.eyes_closed[1] == pytest.approx(0.0)
    est = MotionEstimator(neutral=_neutral(face))
    half = est.update(posed(_close_eye(face, 1, 0.4)), 0.0)
    assert 0.3 < half.eyes_closed[1] < 0.8 and half.eyes_closed[0] == pytest.approx(0.0)


def test_irises_looking_right_give_positive_gaze_x(face: np.ndarray) -> None:
    looked = face.copy()
    for eye, (ring, centre) in enumerate(zip(mesh.IRIS_RING, mesh.IRIS_CENTER)):
        a, b = mesh.EYE_CORNERS[eye]
        looked[[centre, *ring]] += 0.15 * (face[b] - face[a])  # 0.3 half eye widths to the right
    est = MotionEstimator(neutral=_neutral(face))
    m = est.update(posed(looked), 0.0)
    assert m.gaze[0] == pytest.approx(0.3 / GAZE_RANGE[0], abs=0.05)
    assert abs(m.gaze[1]) < 0.1
    # a hard look to the side (d10: 0.47 half eye widths) is not clipped short
    hard = face.copy()
    for eye, (ring, centre) in enumerate(zip(mesh.IRIS_RING, mesh.IRIS_CENTER)):
        a, b = mesh.EYE_CORNERS[eye]
        hard[[centre, *ring]] += 0.235 * (face[b] - face[a])
    gaze = MotionEstimator(neutral=_neutral(face)).update(posed(hard), 0.0).gaze[0]
    assert 0.85 < gaze < 1.0, gaze


def test_gains_scale_each_region(face: np.ndarray) -> None:
    lm = posed(_open_mouth(_close_eye(face, 0, 0.5), 0.2), yaw=10)
    full = MotionEstimator(neutral=_neutral(face)).update(lm, 0.0)
    config = MotionConfig(head_gain=0.5, mouth_gain=0.0, eyes_gain=2.0)
    gained = MotionEstimator(config, neutral=_neutral(face)).update(lm, 0.0)
    assert gained.rotation[1] == pytest.approx(0.5 * full.rotation[1], abs=0.01)
    assert gained.mouth_open == 0.0 and full.mouth_open > 0.2
    assert abs(gained.expression[mesh.CHIN, 1]) < 1e-3 < abs(full.expression[mesh.CHIN, 1])
    assert gained.eyes_closed[0] == pytest.approx(min(1.0, 2 * full.eyes_closed[0]), abs=1e-3)
    upper_lid = mesh.LID_UPPER[0]
    assert gained.expression[upper_lid, 1] == pytest.approx(2 * full.expression[upper_lid, 1], rel=0.05)


def test_pose_limits_are_soft_and_never_exceeded(face: np.ndarray) -> None:
    config = MotionConfig(yaw_limit=35.0)
    small = MotionEstimator(config, neutral=_neutral(face)).update(posed(face, yaw=20), 0.0)
    assert small.rotation[1] == pytest.approx(20, abs=0.1)  # below 70 % of the limit: untouched
    big = MotionEstimator(config, neutral=_neutral(face)).update(posed(face, yaw=60), 0.0)
    assert 30 < big.rotation[1] < 35
    x = np.linspace(-200, 200, 2001)
    y = soft_limit(x, 30.0)
    assert np.all(np.abs(y) <= 30.0) and np.all(np.diff(y) >= 0)  # bounded and monotonic
    assert soft_limit(40.0, 30.0) < 30.0


def test_mirror_swaps_left_and_right(face: np.ndarray) -> None:
    lm = posed(_close_eye(face, 0, 1.0), pitch=5, yaw=15, roll=10, shift=(30, 10))
    plain = MotionEstimator(neutral=_neutral(face)).update(lm, 0.0)
    mirrored = MotionEstimator(MotionConfig(mirror=True), neutral=_neutral(face)).update(lm, 0.0)
    np.testing.assert_allclose(mirrored.rotation, plain.rotation * [1, -1, -1], atol=1e-4)
    np.testing.assert_allclose(mirrored.translation, plain.translation * [-1, 1], atol=1e-6)
    np.testing.assert_allclose(mirrored.eyes_closed, plain.eyes_closed[::-1])
    # the closed image-left eye now shows on the image-right eye's lid points, x flipped
    left_lid, right_lid = mesh.LID_UPPER
    np.testing.assert_allclose(mirrored.expression[right_lid], plain.expression[left_lid] * [-1, 1, 1], atol=1e-6)


def test_calibrates_over_the_first_second_then_measures_against_it(face: np.ndarray) -> None:
    seen = []
    est = MotionEstimator(on_calibrated=seen.append)
    assert not est.calibrated and est.calibrating
    turned = posed(face, yaw=10)  # the user's neutral happens to be turned a little
    for i in range(40):
        m = est.update(turned, i / FPS)
        if not est.calibrated:
            np.testing.assert_allclose(m.rotation, 0.0)  # neutral motion while calibrating
    assert est.calibrated and not est.calibrating and len(seen) == 1
    assert est.neutral_t_s is not None and 0.9 <= est.neutral_t_s <= 1.1
    m = _steady(est, posed(face, yaw=30), 1.0, t0=2.0)
    assert m.rotation[1] == pytest.approx(20, abs=0.5)  # relative to the neutral
    assert not est.just_calibrated


def test_just_calibrated_is_true_on_exactly_one_update(face: np.ndarray) -> None:
    est = MotionEstimator()
    flags = [est.update(posed(face), i / FPS) is not None and est.just_calibrated for i in range(60)]
    assert sum(flags) == 1


def test_recalibrate_keeps_the_old_neutral_until_the_new_one_is_ready(face: np.ndarray) -> None:
    est = MotionEstimator(neutral=_neutral(face))
    est.recalibrate()
    assert est.calibrated and est.calibrating
    m = est.update(posed(face, yaw=12), 0.0)
    assert m.rotation[1] == pytest.approx(12, abs=0.1)  # still against the old neutral
    yaws = []
    for i in range(1, 60):
        yaws.append(est.update(posed(face, yaw=12), i / FPS).rotation[1])
        if est.just_calibrated:
            done_at = len(yaws) - 1
    assert not est.calibrating
    # The switch to the new reference (the turned head) is a glide, not a jump.
    assert np.abs(np.diff(yaws)).max() < 4.0
    assert yaws[done_at - 1] == pytest.approx(12, abs=0.1) and abs(yaws[-1]) < 0.1


def test_lost_face_holds_then_eases_into_idle_then_back(face: np.ndarray) -> None:
    idle = IdleMotion(seed=3)
    config = MotionConfig(hold_s=0.5, ease_s=1.0, return_s=0.3)
    est = MotionEstimator(config, neutral=_neutral(face), idle=idle)
    tracked = _steady(est, posed(face, yaw=25), 1.0)
    assert tracked.rotation[1] == pytest.approx(25, abs=0.5)
    t_lost = 1.0  # the first frame without a face
    est.update(None, t_lost)
    held = est.update(None, t_lost + 0.3)
    np.testing.assert_allclose(held.rotation, tracked.rotation, atol=1e-4)  # held
    assert 0 < held.confidence < 1
    mid = est.update(None, t_lost + 1.0)  # half-way through the ease
    assert 1.0 < mid.rotation[1] < 24.0
    gone = est.update(None, t_lost + 1.6)
    np.testing.assert_allclose(gone.rotation, idle.at(t_lost + 1.6).rotation, atol=1e-4)
    assert gone.confidence == 0.0
    # The face returns: no jump, then fully tracked again after return_s.
    back = est.update(posed(face, yaw=25), t_lost + 2.0)
    assert abs(back.rotation[1] - gone.rotation[1]) < 5.0
    after = est.update(posed(face, yaw=25), t_lost + 2.4)
    assert after.rotation[1] == pytest.approx(25, abs=0.5) and after.confidence == 1.0


def test_a_face_lost_for_a_few_frames_of_a_fast_turn_catches_up_as_fast(face: np.ndarray) -> None:
    config = MotionConfig(return_s=0.3)
    est = MotionEstimator(config, neutral=_neutral(face))
    _steady(est, posed(face, yaw=-8), 1.0)
    for k in range(4):  # the head whips round, the tracker loses it for 4 frames at 25 fps
        est.update(None, 1.0 + 0.04 * (k + 1))
    yaws = [est.update(posed(face, yaw=-30), 1.2 + 0.04 * k).rotation[1] for k in range(6)]
    assert yaws[0] == pytest.approx(-8, abs=1.0)  # no jump on the frame it returns
    assert yaws[4] == pytest.approx(-30, abs=1.5)  # caught up within the 0.16 s it was gone (a 0.3 s glide: ~-22°)
    assert np.all(np.diff(yaws) <= 0.1)  # one way, no overshoot


def test_a_face_never_seen_gives_idle_motion() -> None:
    idle = IdleMotion(seed=1)
    est = MotionEstimator(idle=idle)
    m = est.update(None, 2.0)
    np.testing.assert_allclose(m.rotation, idle.at(2.0).rotation)
    assert m.confidence == 0.0


def test_tracker_noise_on_a_still_head_is_smoothed(face: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    neutral = _neutral(face)
    raw_yaw, smooth_yaw = [], []
    est = MotionEstimator(neutral=neutral)
    for i in range(90):
        noisy = face + rng.normal(0.0, 0.4, face.shape)  # ~0.4 px landmark noise
        lm = Landmarks(noisy.astype(np.float32), (512, 512))
        smooth_yaw.append(est.update(lm, i / FPS).rotation[1])
        raw_yaw.append(MotionEstimator(neutral=neutral).update(lm, 0.0).rotation[1])
    assert np.std(smooth_yaw[30:]) < 0.5 * np.std(raw_yaw[30:])


def test_a_tracking_glitch_cannot_throw_points_across_the_face(face: np.ndarray) -> None:
    glitch = face.copy()
    size = features.face_size(face)
    glitch[mesh.LIPS_OUTER[:5], 1] += 3.0 * size  # a few points flung three face sizes away
    m = MotionEstimator(neutral=_neutral(face)).update(posed(glitch), 0.0)
    assert np.linalg.norm(m.expression, axis=1).max() <= 0.6 + 1e-6
    assert np.isfinite(m.expression).all()


def test_a_talking_jaw_is_not_read_as_a_nod(face: np.ndarray) -> None:
    """When the mouth opens, the cheek outline and the lower nose shift with
    the jaw (as measured on d12's driver: per face size of lip gap the outline
    beside the cheekbones rises 0.12 and comes 0.2 forward, the nose's base
    0.05 forward). Those are rigid points of the pose fit, and fitted with
    them the head reads as nodding while it only talks."""
    size = features.face_size(face)
    talking = _open_mouth(face, 0.3)
    talking[[234, 454, 127, 356], 1] -= 0.12 * 0.3 * size
    talking[[234, 454, 127, 356], 2] -= 0.2 * 0.3 * size
    talking[[1, 2, 4, 5], 2] -= 0.05 * 0.3 * size
    for pitch in (0.0, 12.0):
        est = MotionEstimator(neutral=_neutral(face))
        m = est.update(posed(talking, pitch=pitch), 0.0)
        assert m.rotation[0] == pytest.approx(pitch, abs=0.5), "the jaw moved the nod"
        assert m.mouth_open > 0.4
