"""Driver optical flow: flow-refined landmarks and the surround motion field
(``Motion.surround``), from the estimator and pipeline through to the warp
engine's mesh."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import skimage.data
from loop_fakes import FakeEngine, FakeEstimator, FakeTracker, camera_image, photo

from vivicam.calibrate import geometry, mesh
from vivicam.calibrate.motion import MotionEstimator, mirror_motion
from vivicam.calibrate.neutral import Neutral
from vivicam.engines.warp.mesh_motion import SURROUND_REACH, build_rig, target_points
from vivicam.realtime.pipeline import Pipeline
from vivicam.realtime.tracking.flow import KEEP_TRACKED, DriverFlow
from vivicam.types import SURROUND_SHAPE, DriverFrame, Frame, Landmarks, Motion

SHIFT = np.array([2.5, -1.5])  # pixels the whole picture moves between neutral and "now"


@pytest.fixture(scope="module")
def scene():
    """The astronaut as the driver's neutral frame, and the same picture moved by SHIFT."""
    from vivicam.face.detect import find_avatar_face

    image = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    points = find_avatar_face(image).landmarks.points.astype(np.float32)
    matrix = np.array([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]], np.float64)
    moved = cv2.warpAffine(image, matrix, (512, 512), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return image, points, moved


def _flow(scene, person=None) -> DriverFlow:
    image, points, _ = scene
    return DriverFlow(DriverFrame(image, Landmarks(points, (512, 512))), person=person)


def test_refinement_removes_tracker_noise(scene) -> None:
    image, points, moved = scene
    truth = points[:, :2] + SHIFT
    rng = np.random.default_rng(0)
    noisy = points.copy()
    noisy[:, :2] = truth + rng.normal(0.0, 1.5, (len(points), 2))  # MediaPipe's slide on a still face
    refined = _flow(scene, person=np.ones((512, 512), np.float32)).measure(moved, noisy).points
    free = np.setdiff1d(np.arange(len(points)), KEEP_TRACKED)
    before = np.linalg.norm(noisy[free, :2] - truth[free], axis=1).mean()
    after = np.linalg.norm(refined[free, :2] - truth[free], axis=1).mean()
    assert after < 0.4 * before
    # lids, irises and lips keep the tracker's positions (a blink or an open
    # mouth shows texture the neutral frame did not have)
    np.testing.assert_array_equal(refined[KEEP_TRACKED], noisy[KEEP_TRACKED])
    np.testing.assert_array_equal(refined[:, 2], noisy[:, 2])


def test_refinement_ignores_the_flow_where_it_disagrees_with_the_tracker(scene) -> None:
    """A landmark the tracker puts far from where the flow carries it (a hand
    in front of the face, a fast move the flow missed) keeps the tracker's position."""
    _, points, moved = scene
    size = geometry.face_pose(points.astype(np.float64)).size
    jumped = points.copy()
    jumped[:, :2] += SHIFT
    jumped[mesh.NOSE_TIP, 0] += 0.5 * size
    refined = _flow(scene, person=np.ones((512, 512), np.float32)).measure(moved, jumped).points
    np.testing.assert_allclose(refined[mesh.NOSE_TIP], jumped[mesh.NOSE_TIP])


def test_a_degenerate_face_changes_nothing_and_does_not_raise(scene) -> None:
    _, points, moved = scene
    collapsed = np.repeat(points[:1], len(points), axis=0)  # every landmark on one spot
    reading = _flow(scene, person=np.ones((512, 512), np.float32)).measure(moved, collapsed)
    np.testing.assert_array_equal(reading.points, collapsed)
    assert not reading.surround.any()


def test_surround_field_reads_the_motion_where_the_driver_is(scene) -> None:
    _, points, moved = scene
    person = np.zeros((512, 512), np.float32)
    person[230:] = 1.0  # "shoulders" in the lower part of the picture
    reading = _flow(scene, person=person).measure(moved, points + np.array([*SHIFT, 0.0], np.float32))
    field = reading.surround
    assert field.shape == SURROUND_SHAPE and np.isfinite(field).all()
    size = geometry.face_pose(points.astype(np.float64)).size
    # nodes on the person, well inside the picture (the shifted test image
    # repeats itself mirrored at its edge, which no flow can follow): the
    # picture's shift, in face sizes
    pose = geometry.face_pose(points.astype(np.float64))
    g = SURROUND_SHAPE[0]
    u = ((np.arange(g) + 0.5) / g - 0.5) * 8.0 * size
    xs, ys = pose.center[0] + u, pose.center[1] + u
    inside = (ys[:, None] > 265) & (ys[:, None] < 470) & (xs[None] > 40) & (xs[None] < 420)
    assert inside.sum() >= 4
    np.testing.assert_allclose(field[inside][:, :2].mean(axis=0), SHIFT / size, atol=0.25 / size)
    assert (field[inside][:, 2] > 0.9).all()
    above = (ys[:, None] < 150) & np.ones((1, g), bool)
    assert (field[above][:, 2] == 0.0).all()  # background: no weight, the engine ignores the flow there


def test_estimator_smooths_surround_and_hands_back_to_the_head_when_lost(scene) -> None:
    _, points, _ = scene
    estimator = MotionEstimator(neutral=Neutral.from_points(points, (512, 512)))
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., 0], field[..., 2] = 0.2, 1.0
    lm = Landmarks(points, (512, 512))
    assert estimator.update(lm, 0.0).surround is None  # not measured: engines use the head pose
    first = estimator.update(lm, 1 / 30, surround=field).surround
    np.testing.assert_allclose(first, field)
    noisy = field.copy()
    noisy[..., 0] += 0.05
    smoothed = estimator.update(lm, 2 / 30, surround=noisy).surround
    assert 0.2 < smoothed[0, 0, 0] < 0.25  # a one-frame jump is damped
    assert (smoothed[..., 2] == 1.0).all()
    estimator.update(None, 5.0)  # lost: held a moment...
    late = estimator.update(None, 7.0)  # ...then eased into idle motion
    assert late.surround is not None and np.abs(late.surround).max() < 1e-6


def test_motion_surround_is_checked_blended_and_mirrored() -> None:
    with pytest.raises(ValueError, match="surround"):
        Motion(surround=np.zeros((3, 3, 3), np.float32))
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[:, 0, 0], field[..., 2] = 0.3, 1.0
    half = Motion(surround=field).blend(Motion(), 0.5).surround
    np.testing.assert_allclose(half, field * 0.5)
    assert Motion().blend(Motion(), 0.5).surround is None
    mirrored = mirror_motion(Motion(surround=field)).surround
    np.testing.assert_allclose(mirrored[:, -1, 0], -0.3)  # the left column moved right → right column moves left
    np.testing.assert_allclose(mirrored[:, 0, 0], 0.0)


def test_warp_mesh_moves_surroundings_with_the_field_and_leaves_the_face(scene) -> None:
    _, points, _ = scene
    rig = build_rig(points, 512)
    follows = rig.follows_surround
    assert not follows[:478].any()  # the face moves by its landmarks only
    assert follows.sum() > 60  # hair/neck band plus surround points
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., 0], field[..., 2] = 0.05, 1.0
    still = target_points(rig, Motion(surround=field))
    np.testing.assert_allclose(still[:478], rig.src[:478], atol=1e-2)
    np.testing.assert_allclose(still[follows, 0] - rig.src[follows, 0], 0.05 * rig.size0, rtol=1e-3)
    np.testing.assert_allclose(still[follows, 1], rig.src[follows, 1], atol=1e-3)
    # zero weight (the driver's background there): the head-pose guess stands
    turned = Motion(rotation=np.array([0.0, 15.0, 0.0], np.float32))
    base = target_points(rig, turned)
    field[..., 2] = 0.0
    np.testing.assert_allclose(target_points(rig, turned.with_(surround=field)), base, atol=1e-5)
    # however far the driver's hair flew, the avatar's strays at most
    # SURROUND_REACH face sizes from the head-pose guess (no tearing)
    field[..., 0], field[..., 2] = 2.0, 1.0
    flung = target_points(rig, turned.with_(surround=field))
    np.testing.assert_allclose(flung[:478], base[:478])
    assert np.abs(flung - base).max() <= SURROUND_REACH * rig.size0 + 1e-3


def test_pipeline_measures_flow_for_engines_that_want_it() -> None:
    def FlowEngine() -> FakeEngine:  # noqa: N802 - reads like the class it stands for
        return FakeEngine(wants_driver_flow=True)

    seen, cameras = [], []

    class Recording(FakeEstimator):
        def update(self, lm, t_s, surround=None, camera=None):
            seen.append(surround)
            cameras.append(camera)
            return super().update(lm, t_s)

    engine = FlowEngine()
    tracker = FakeTracker()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=tracker, estimator=Recording(calibrate_after=2))
    for i in range(4):
        pipeline.step(Frame(camera_image(i), time.perf_counter_ns(), i))
    # no neutral frame before calibration; measured against it afterwards
    assert [s is None for s in seen] == [True, True, False, False]
    assert seen[-1].shape == SURROUND_SHAPE
    assert [c is None for c in cameras] == [True, True, False, False]
    assert cameras[-1].shape == (2,)
    assert "flow" in pipeline.stats.summary()["stages_ms"]

    seen.clear()  # the user turned it off (--no-flow): never measured
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(), estimator=Recording(calibrate_after=2),
                        driver_flow=False)
    for i in range(4):
        pipeline.step(Frame(camera_image(i), time.perf_counter_ns(), i))
    assert all(s is None for s in seen) and "flow" not in pipeline.stats.summary()["stages_ms"]

    plain = FakeEngine()
    seen.clear()
    pipeline = Pipeline(plain, plain.prepare(photo()), tracker=FakeTracker(), estimator=Recording(calibrate_after=2))
    for i in range(4):
        pipeline.step(Frame(camera_image(i), time.perf_counter_ns(), i))
    assert all(s is None for s in seen)


def test_the_driver_flow_is_built_when_calibration_completes_not_on_the_next_frame(monkeypatch) -> None:
    from vivicam.realtime.tracking import flow as flow_module

    built: list[int] = []
    real = flow_module.DriverFlow

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kw) -> None:
            built.append(len(steps))
            super().__init__(*args, **kw)

    class Estimator(FakeEstimator):
        def update(self, lm, t_s, surround=None, camera=None):
            return super().update(lm, t_s)

    monkeypatch.setattr(flow_module, "DriverFlow", Counting)
    engine = FakeEngine(wants_driver_flow=True)
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(),
                        estimator=Estimator(calibrate_after=2))
    pipeline.warm_up()  # what the live loop calls before its threads start
    steps: list[int] = []
    for i in range(4):
        landmarks = pipeline.track(Frame(camera_image(i), time.perf_counter_ns(), i))
        pipeline.motion(Frame(camera_image(i), time.perf_counter_ns(), i), landmarks, i / 30)
        steps.append(i)
    assert built == [1]  # during the step that completed calibration (the 2nd), once


@pytest.mark.parametrize("gain", [0.6, 0.8, 1.2])
def test_the_cameras_exposure_is_not_read_as_motion(scene, gain) -> None:
    """An auto-exposure step brightens or darkens a still scene: the flow must
    not move the landmarks, the hair and shoulders, or the camera."""
    image, points, _ = scene
    exposed = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    reading = _flow(scene, person=np.ones((512, 512), np.float32)).measure(exposed, points)
    free = np.setdiff1d(np.arange(len(points)), KEEP_TRACKED)
    # measured 0.01-0.06 px (unmatched brightness: 0.12-0.32 px)
    assert np.linalg.norm(reading.points[free, :2] - points[free, :2], axis=1).mean() < 0.08
    assert np.abs(reading.surround[..., :2]).max() < 0.05  # face sizes (unmatched: up to 0.13)
    assert np.abs(reading.camera).max() < 0.01
