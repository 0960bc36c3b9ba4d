"""The driver's camera motion (``Motion.camera``): read from the flow of the
driver's background, carried by the motion estimator, and reproduced by the
warp engine as a move of the whole picture (``camera_motion="follow"``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vivicam.calibrate import geometry
from vivicam.calibrate.motion import MotionEstimator, mirror_motion
from vivicam.calibrate.neutral import Neutral
from vivicam.engines.warp.engine import WarpEngine
from vivicam.engines.warp.mesh_motion import build_rig, target_points
from vivicam.errors import InputError
from vivicam.realtime.tracking.flow import DriverFlow
from vivicam.types import SURROUND_SHAPE, DriverFrame, Landmarks, Motion

SHIFT = np.array([3.0, -2.0])  # pixels


@pytest.fixture(scope="module")
def scene():
    """The astronaut as the driver's neutral frame, a person matte over her
    (head and shoulders), and her face size."""
    from vivicam.realtime.tracking.detect import find_avatar_face

    image = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    points = find_avatar_face(image).landmarks.points.astype(np.float32)
    person = np.zeros((512, 512), np.float32)
    cv2.ellipse(person, (230, 170), (95, 130), 0, 0, 360, 1.0, -1)  # head
    person[250:, 60:460] = 1.0  # shoulders
    size = geometry.face_pose(points.astype(np.float64)).size
    return image, points, person, size


def _shifted(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    matrix = np.array([[1, 0, shift[0]], [0, 1, shift[1]]], np.float64)
    return cv2.warpAffine(image, matrix, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def _reading(scene, frame: np.ndarray, person: np.ndarray | None = None):
    image, points, matte, _ = scene
    flow = DriverFlow(DriverFrame(image, Landmarks(points, (512, 512))), person=matte if person is None else person)
    return flow.measure(frame, points)


def test_a_moving_camera_is_read_from_the_background(scene) -> None:
    image, _, _, size = scene
    camera = _reading(scene, _shifted(image, SHIFT)).camera
    assert camera.shape == (2,)
    np.testing.assert_allclose(camera, SHIFT / size, atol=0.6 / size)


def test_a_person_moving_before_a_still_camera_is_not_camera_motion(scene) -> None:
    image, _, person, size = scene
    frame = image.copy()
    moved = _shifted(image, 3 * SHIFT)
    body = person > 0.5
    frame[body] = moved[body]
    reading = _reading(scene, frame)
    assert np.abs(reading.camera).max() < 0.5 / size
    on_person = reading.surround[..., 2] > 0.9
    assert np.abs(reading.surround[on_person, :2]).max() > 2.0 / size  # the person's motion is still seen


def test_no_background_in_view_reads_a_still_camera(scene) -> None:
    image, *_ = scene
    reading = _reading(scene, _shifted(image, SHIFT), person=np.ones((512, 512), np.float32))
    assert not reading.camera.any()


def test_estimator_smooths_mirrors_and_eases_the_camera_out(scene) -> None:
    _, points, _, _ = scene
    lm = Landmarks(points, (512, 512))
    estimator = MotionEstimator(neutral=Neutral.from_points(points, (512, 512)))
    assert not estimator.update(lm, 0.0).camera.any()  # not measured: a still camera
    np.testing.assert_allclose(estimator.update(lm, 1 / 30, camera=np.array([0.3, -0.1])).camera, [0.3, -0.1])
    jumped = estimator.update(lm, 2 / 30, camera=np.array([0.5, -0.1])).camera
    assert 0.3 < jumped[0] < 0.5  # a one-frame jump is damped
    estimator.update(None, 5.0)
    assert np.abs(estimator.update(None, 7.0).camera).max() < 1e-6  # lost face: eased back to still
    with pytest.raises(ValueError, match="camera"):
        Motion(camera=np.zeros(3, np.float32))
    np.testing.assert_allclose(Motion(camera=np.array([0.2, 0.4])).blend(Motion(), 0.5).camera, [0.1, 0.2])
    np.testing.assert_allclose(mirror_motion(Motion(camera=np.array([0.2, 0.4]))).camera, [-0.2, 0.4])


def test_mesh_moves_rigidly_when_head_and_scene_move_together(scene) -> None:
    """Translation is image motion: a head that moved only because the camera
    did is not pulled against a still border; every point, the crop's border
    included, moves by the camera's shift."""
    _, points, _, _ = scene
    rig = build_rig(points, 512)
    move = np.array([0.25, -0.15], np.float32)
    rigid = np.broadcast_to(move * rig.size0, rig.src.shape)
    target = target_points(rig, Motion(translation=move, camera=move))
    np.testing.assert_allclose(target - rig.src, rigid, atol=1e-3)
    # the driver's shoulders, read by the flow, moved with the scene too
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., :2], field[..., 2] = move, 1.0
    target = target_points(rig, Motion(translation=move, camera=move, surround=field))
    np.testing.assert_allclose(target - rig.src, rigid, atol=1e-3)
    # the camera alone (a head that kept its place in the image): the scene
    # moves, the head stays put
    still_head = target_points(rig, Motion(camera=move))
    np.testing.assert_allclose(still_head[:478], rig.src[:478], atol=1e-2)


def test_render_moves_the_whole_crop_with_the_camera(scene) -> None:
    image, *_ = scene
    engine = WarpEngine(backend="cpu")
    state = engine.prepare(image)
    px = 12  # whole pixels, so the comparison needs no resampling
    camera = np.array([px / state.rig.size0, 0.0], np.float32)
    base = engine.render(state, Motion()).astype(np.float32)
    panned = engine.render(state, Motion(translation=camera, camera=camera)).astype(np.float32)
    m = 40  # away from the crop's edges, which repeat edge pixels
    inner = np.abs(panned[m:-m, m + px : -m] - base[m:-m, m : -m - px])
    assert inner.mean() < 1.5, "the picture did not move as one piece"
    assert np.abs(panned - base).mean() > 5.0  # and it did move
    # "still": the camera is ignored, the same as no camera motion at all
    still = WarpEngine(backend="cpu", camera_motion="still")
    np.testing.assert_array_equal(
        still.render(state, Motion(translation=camera, camera=camera)), still.render(state, Motion(translation=camera))
    )


def test_unknown_camera_motion_is_an_input_error() -> None:
    with pytest.raises(InputError, match="camera motion"):
        WarpEngine(backend="cpu", camera_motion="shake")
