"""The driver's camera motion (``Motion.camera``): read from the flow of the
driver's background, carried by the motion estimator, and reproduced by the
warp engine as a move of the whole output frame (``camera_motion="follow"``)
while it animates the motion within the driver's scene."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vivicam.engines.base import crop_image
from vivicam.calibrate import geometry
from vivicam.calibrate.motion import MotionEstimator, mirror_motion
from vivicam.calibrate.neutral import Neutral
from vivicam.engines.warp.engine import WarpEngine
from vivicam.engines.warp.mesh_motion import build_rig, target_points
from vivicam.errors import InputError
from vivicam.realtime.pipeline import Pipeline
from vivicam.realtime.post import compose
from vivicam.realtime.tracking.flow import DriverFlow
from vivicam.types import SURROUND_SHAPE, DriverFrame, Frame, Landmarks, Motion

SHIFT = np.array([3.0, -2.0])  # pixels


@pytest.fixture(scope="module")
def scene():
    """The astronaut as the driver's neutral frame, a person matte over her
    (head and shoulders), and her face size."""
    from vivicam.face.detect import find_avatar_face

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


def test_within_scene_takes_the_camera_out_of_image_motion() -> None:
    still = Motion(translation=np.array([0.1, 0.2], np.float32))
    assert still.within_scene() is still  # no camera motion: nothing to take out
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., 0], field[..., 1], field[..., 2] = 0.3, -0.2, 1.0
    move = np.array([0.25, -0.15], np.float32)
    scene = Motion(translation=move, surround=field, camera=move).within_scene()
    np.testing.assert_allclose(scene.translation, 0.0)  # the head moved only because the camera did
    np.testing.assert_allclose(scene.surround[..., :2], field[..., :2] - move)
    np.testing.assert_allclose(scene.surround[..., 2], 1.0)
    assert not scene.camera.any()


def test_head_and_shoulders_that_moved_with_the_camera_keep_their_place_in_the_picture(scene) -> None:
    """What the warp engine animates for a camera move: nothing moves within
    the picture (the frame shift moves it all), so nothing is pulled against
    the crop's fixed border."""
    _, points, _, _ = scene
    rig = build_rig(points, 512)
    move = np.array([0.25, -0.15], np.float32)
    field = np.zeros(SURROUND_SHAPE, np.float32)
    field[..., :2], field[..., 2] = move, 1.0
    target = target_points(rig, Motion(translation=move, camera=move, surround=field).within_scene())
    np.testing.assert_allclose(target, rig.src, atol=1e-3)


def test_the_whole_frame_moves_with_the_camera(scene) -> None:
    image, *_ = scene
    engine = WarpEngine(backend="cpu")
    state = engine.prepare(image)
    face_px = state.rig.size0 / float(state.crop_matrix[0, 0])
    assert engine.frame_shift(state, Motion()) is None
    px = 12  # whole pixels, so the comparison needs no resampling
    move = np.array([px / face_px, 0.0], np.float32)
    motion = Motion(translation=move, camera=move)
    np.testing.assert_allclose(engine.frame_shift(state, motion), [px, 0.0], atol=1e-3)
    pipeline = Pipeline(engine, state)
    base = pipeline.render(Motion()).astype(np.float32)
    panned = pipeline.render(motion).astype(np.float32)
    # the picture moved as one piece: face, hair and background alike
    np.testing.assert_allclose(panned[:, px:], base[:, :-px], atol=1.0)
    # what the move uncovers continues the edge, blurred more the further
    # out: no hard streaks of one column repeated
    edge, outer = base[:, 0], panned[:, 0]
    np.testing.assert_allclose(panned[:, px - 1], cv2.blur(base[:, :1], (1, 3), borderType=cv2.BORDER_REPLICATE)[:, 0], atol=1.0)
    assert abs(outer.mean() - edge.mean()) < 2.0
    assert np.abs(np.diff(outer, 2, axis=0)).mean() < 0.3 * np.abs(np.diff(edge, 2, axis=0)).mean()  # the edge's fine detail gone
    # "still": no frame shift; the head moves by its whole image motion instead
    still = WarpEngine(backend="cpu", camera_motion="still")
    assert still.frame_shift(state, motion) is None
    np.testing.assert_array_equal(crop_image(still.render(state, motion), state), crop_image(still.render(state, Motion(translation=move)), state))


def test_an_offline_render_counts_the_camera_from_the_first_frame(scene) -> None:
    """The neutral frames of a render can lie late in a hand-held clip: the
    camera's travel until then must not shift the first output frame."""
    image, points, _, size = scene
    engine = WarpEngine(backend="cpu")
    lm = Landmarks(points, (512, 512))

    def cameras(from_first: bool) -> list[np.ndarray]:
        pipeline = Pipeline(engine, None, estimator=MotionEstimator(neutral=Neutral.from_points(points, (512, 512))))
        pipeline.set_driver_neutral(DriverFrame(image, lm), camera_from_first=from_first)
        out = []
        # the camera 4 shifts away at the start, then back to 1, then to the
        # neutral frame's place (that frame itself: its reading is exactly 0)
        for i, k in enumerate((4, 4, 1, 0, 0)):
            frame = _shifted(image, k * SHIFT) if k else image
            out.append(pipeline.motion(Frame(frame, 0, i), lm, i / 30).camera)
        return out

    from_neutral, from_first = cameras(False), cameras(True)
    np.testing.assert_allclose(from_neutral[0], 4 * SHIFT / size, atol=1.0 / size)  # the live default
    assert not from_first[0].any() and not from_first[1].any()  # the first frame is the photo's framing
    # then it moves as the camera did, a frame later (flow.CAMERA_MEDIAN)
    assert np.sign(from_first[3]).tolist() == np.sign(-SHIFT).tolist()
    # on the neutral frame's place the camera is 4 shifts from the first frame,
    # not "unread": the picture went on moving (it jumped back to the first
    # frame's framing for a frame or two, a --neutral first render of d20)
    assert np.linalg.norm(from_first[4]) > np.linalg.norm(from_first[3])
    # a still camera's reading noise on the first frame is no origin: that would shift every frame
    pipeline = Pipeline(engine, None, estimator=MotionEstimator(neutral=Neutral.from_points(points, (512, 512))))
    pipeline.set_driver_neutral(DriverFrame(image, lm), camera_from_first=True)
    jiggle = pipeline.motion(Frame(_shifted(image, 0.3 * SHIFT), 0, 0), lm, 0.0).camera
    np.testing.assert_allclose(jiggle, 0.3 * SHIFT / size, atol=0.3 / size)  # read as it is, not made the origin


def test_what_a_long_pan_uncovers_fades_without_bands(scene) -> None:
    """A hand-held driver's pan uncovers a strip 100 px and more on a large
    photo: its blur grows row by row, with no steps between rows (blurs
    rounded to powers of two drew horizontal bands across the strip)."""
    image, *_ = scene
    engine = WarpEngine(backend="cpu")
    state = engine.prepare(image)
    moved = compose(state, engine.render(state, Motion()), shift=(0.0, -160.0)).astype(np.float32)
    strip = moved[-160:]  # rows 1..160 px beyond the picture's bottom edge
    steps = np.abs(np.diff(strip, axis=0)).mean(axis=(1, 2))
    assert steps[16:].max() < 1.5, steps[16:].max()  # stepped blurs: 4-6 grey levels every power of two
    detail = lambda row: np.abs(np.diff(row, axis=0)).mean()  # noqa: E731
    assert detail(strip[-1]) < 0.2 * detail(strip[0])  # the edge's fine detail still fades with distance


def test_compose_moves_the_picture_inside_the_letterbox(scene) -> None:
    image, *_ = scene
    engine = WarpEngine(backend="cpu")
    state = engine.prepare(image)
    crop = engine.render(state, Motion())
    size = (1024, 512)  # the 512² photo letterboxed into 1024×512: bars left and right
    base = compose(state, crop, out_size=size).astype(np.float32)
    moved = compose(state, crop, out_size=size, shift=(0.0, -10.0)).astype(np.float32)
    np.testing.assert_array_equal(moved[:, :256], base[:, :256])  # the bars stay
    np.testing.assert_allclose(moved[:-10, 256:768], base[10:, 256:768], atol=1.0)


def test_unknown_camera_motion_is_an_input_error() -> None:
    with pytest.raises(InputError, match="camera motion"):
        WarpEngine(backend="cpu", camera_motion="shake")




def test_a_head_moving_over_the_background_is_not_camera_motion(testdata) -> None:
    """The background is picked on the reference frame; a head that moves
    far over it (d12 leaning aside before a plain wall that never moves)
    covered half of it, and the median read the head's move as the camera's:
    the whole avatar picture jumped by up to half a face size for as long.
    With the head's current place left out, the still camera stays still."""
    from vivicam.benchmarks.clips import read_frames
    from vivicam.face.tracker import MediaPipeTracker

    frames = list(read_frames(testdata / "clips" / "d12.mp4", 181))
    with MediaPipeTracker() as tracker:
        found = {i: tracker.track(f) for i, f in enumerate(frames)}
    flow = DriverFlow(DriverFrame(frames[0], found[0]))
    size = geometry.face_pose(found[0].points.astype(np.float64)).size
    moves, cameras = [], []
    for i in range(1, 181):
        reading = flow.measure(frames[i], found[i].points)
        moves.append(np.linalg.norm(geometry.face_pose(found[i].points.astype(np.float64)).center[:2]
                                    - geometry.face_pose(found[0].points.astype(np.float64)).center[:2]) / size)
        cameras.append(np.abs(reading.camera).max())
    assert max(moves) > 0.5  # the head does travel over the wall
    assert max(cameras) < 0.05, max(cameras)


def _dark_noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A dim room on a webcam: gamma 2.2 at 45 % exposure, sensor noise σ 12."""
    dim = (image.astype(np.float32) / 255.0) ** 2.2 * 255.0 * 0.45
    return np.clip(dim + rng.normal(0.0, 12.0, image.shape), 0, 255).astype(np.uint8)


def test_a_dark_noisy_still_camera_is_read_as_still(scene) -> None:
    """Sensor noise is not camera motion. Sampled as they were, without
    averaging the ~5 image pixels under each pixel of the flow's region, a
    dark 512 px driver's noise moved the whole avatar picture by up to 0.6
    face sizes between frames; here (a 1024 px frame before a faint wall) it
    read up to 0.035 face sizes (0.012 averaged)."""
    image, points, matte, _ = scene
    # a plain wall behind her: faint texture, as a painted wall or wood panels in a dim room
    wall = cv2.GaussianBlur(np.random.default_rng(3).normal(0.0, 1.0, (512, 512)).astype(np.float32), (0, 0), 6.0)
    wall = 150.0 + 3.0 * wall / wall.std()
    plain = np.where(matte[..., None] > 0, image, wall[..., None]).astype(np.uint8)
    big = cv2.resize(plain, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big_points = points * np.float32(2.0)
    rng = np.random.default_rng(7)
    flow = DriverFlow(DriverFrame(_dark_noisy(big, rng), Landmarks(big_points, (1024, 1024))),
                      person=cv2.resize(matte, (1024, 1024), interpolation=cv2.INTER_LINEAR))
    cameras = np.array([flow.measure(_dark_noisy(big, rng), big_points).camera for _ in range(12)])
    assert np.abs(cameras).max() < 0.02  # face sizes


def test_a_single_frame_jolt_is_not_followed_but_a_camera_move_is(scene) -> None:
    """A reading thrown out for one frame and back (a dark driver's noise,
    a flash) does not jolt the picture; a real move arrives a frame later."""
    image, points, matte, size = scene
    flow = DriverFlow(DriverFrame(image, Landmarks(points, (512, 512))), person=matte)
    moved = _shifted(image, SHIFT)
    frames = [image, image, moved, image, image, moved, moved, moved]
    cameras = np.array([flow.measure(frame, points).camera for frame in frames]) * size
    assert np.abs(cameras[:5]).max() < 0.6  # the jolt at frame 2: not followed
    assert np.abs(cameras[5]).max() < 0.6  # the move starting at frame 5: a frame later...
    np.testing.assert_allclose(cameras[6:], [SHIFT, SHIFT], atol=0.6)  # ...then in full
