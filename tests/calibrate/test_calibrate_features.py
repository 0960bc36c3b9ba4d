"""Face features (eye openness, mouth gap, iris offset, brows) on real landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate import features, geometry, mesh


@pytest.fixture(scope="module")
def points(face: np.ndarray) -> np.ndarray:
    return face


def _rotate(points: np.ndarray, pitch: float, yaw: float, roll: float, scale: float = 1.0) -> np.ndarray:
    centre = points.mean(axis=0)
    r = geometry.matrix_from_euler(pitch, yaw, roll)
    return centre + scale * (points - centre) @ r.T + np.array([40.0, -25.0, 7.0])


def test_features_of_a_relaxed_face_are_in_their_documented_ranges(points: np.ndarray) -> None:
    assert np.all((0.15 < features.eye_openness(points)) & (features.eye_openness(points) < 0.5))
    assert 0.0 <= features.mouth_gap(points) < 0.2  # a smile with parted lips
    assert 0.35 < features.mouth_width(points) < 0.85
    assert np.all(np.abs(features.iris_offset(points)) < 0.3)
    assert np.all((0.1 < features.brow_raise(points)) & (features.brow_raise(points) < 0.5))


def test_features_do_not_change_with_pose_scale_or_position(points: np.ndarray) -> None:
    moved = _rotate(points, 12.0, -18.0, 9.0, scale=1.7)
    np.testing.assert_allclose(features.eye_openness(moved), features.eye_openness(points), atol=1e-4)
    np.testing.assert_allclose(features.mouth_gap(moved), features.mouth_gap(points), atol=1e-5)
    np.testing.assert_allclose(features.iris_offset(moved), features.iris_offset(points), atol=1e-3)
    np.testing.assert_allclose(features.brow_raise(moved), features.brow_raise(points), atol=1e-3)


def test_closing_one_eye_lowers_only_its_openness(points: np.ndarray) -> None:
    shut = points.copy()
    upper, lower = np.array(mesh.UPPER_LID[1]), np.array(mesh.LOWER_LID[1])
    shut[upper] = shut[lower] = (points[upper] + points[lower]) / 2  # lids meet
    before, after = features.eye_openness(points), features.eye_openness(shut)
    assert after[1] < 0.2 * before[1]
    assert after[0] == pytest.approx(before[0])


def test_dropping_the_lower_lip_opens_the_mouth_in_face_sizes(points: np.ndarray) -> None:
    size = features.face_size(points)
    opened = points.copy()
    lower = [14, 178, 402, 87, 317, 88, 318, 95, 324]
    opened[lower, 1] += 0.3 * size  # 0.3 face sizes straight down
    gap = features.mouth_gap(opened) - features.mouth_gap(points)
    assert gap == pytest.approx(0.3, abs=0.03)


def test_moving_the_irises_moves_the_offset_the_same_way(points: np.ndarray) -> None:
    looked = points.copy()
    for eye, (ring, centre) in enumerate(zip(mesh.IRIS_RING, mesh.IRIS_CENTER)):
        a, b = mesh.EYE_CORNERS[eye]
        along = points[b] - points[a]  # towards the image-right corner
        half_width = np.linalg.norm(along) / 2
        along /= 2 * half_width
        up = np.array([along[1], -along[0], 0.0])  # in-image perpendicular, towards the brow
        idx = [centre, *ring]
        looked[idx] += (0.25 * along + 0.1 * up) * half_width
    delta = features.iris_offset(looked) - features.iris_offset(points)
    np.testing.assert_allclose(delta[:, 0], 0.25, atol=0.03)
    np.testing.assert_allclose(delta[:, 1], -0.1, atol=0.03)


def test_raising_the_brows_raises_brow_raise(points: np.ndarray) -> None:
    size = features.face_size(points)
    raised = points.copy()
    raised[[i for brow in mesh.BROWS for i in brow], 1] -= 0.05 * size
    delta = features.brow_raise(raised) - features.brow_raise(points)
    np.testing.assert_allclose(delta, 0.05, atol=0.01)
