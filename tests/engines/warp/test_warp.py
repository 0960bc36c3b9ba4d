"""The warp engine: preparation, failures, extreme motions, and that motions
do what they say (tracked back with MediaPipe on the output)."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.engines.base import crop_image  # noqa: E402
from vivicam.calibrate import features, mesh
from vivicam.calibrate.geometry import euler_from_matrix, face_pose
from vivicam.engines.registry import create_engine
from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.errors import InputError, NoFaceError
from vivicam.types import Motion

skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def engine():
    return create_engine("warp", backend="cpu")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


@pytest.fixture(scope="module")
def state(engine, astronaut) -> WarpAvatar:
    return engine.prepare(astronaut)


@pytest.fixture(scope="module")
def tracker():
    from vivicam.face.tracker import MediaPipeTracker

    with MediaPipeTracker(static_image=True) as t:
        yield t


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-9)))


def test_engine_contract(engine):
    assert engine.name == "warp"
    assert engine.backends == ("cpu", "onnxruntime", "tensorrt", "torch")
    assert engine.backend == "cpu"


def test_tensorrt_without_a_gpu_is_a_clear_error():
    from vivicam.engines.backends import probe
    from vivicam.errors import VivicamError

    if probe.probe_gpu().gpu is not None and probe.probe_tensorrt():
        pytest.skip("TensorRT and a GPU are here")
    with pytest.raises(VivicamError):
        create_engine("warp", backend="tensorrt")


def test_weights_are_refused():
    with pytest.raises(InputError, match="needs no weights"):
        create_engine("warp", weights="/some/dir")


def test_prepared_state(state, astronaut):
    n = state.crop_size
    assert n == 512
    m = state.crop_matrix
    assert m.shape == (2, 3) and m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == m[1, 1] > 0
    assert state.paste_mask.shape == (n, n) and 0 <= state.paste_mask.min() and state.paste_mask.max() == 1
    assert state.paste_mask[0, 0] < 0.1 and state.paste_mask[n // 2, n // 2] == 1
    assert state.person_mask.shape == astronaut.shape[:2]
    # the person mask covers the face and not the top corners of the photo
    assert state.person_mask[200, 220] > 0.5 and state.person_mask[5, 5] < 0.5
    # the crop really is the photo under crop_matrix
    s, tx, ty = float(m[0, 0]), float(m[0, 2]), float(m[1, 2])
    y, x = 250, 250
    src = astronaut[int(round((y - ty) / s)), int(round((x - tx) / s))].astype(int)
    assert np.abs(state.crop[y, x].astype(int) - src).max() < 40


def test_no_face_is_refused(engine):
    yy, xx = np.mgrid[0:300, 0:400]
    plain = np.stack([xx % 256, yy % 256, (xx + yy) % 256], -1).astype(np.uint8)
    with pytest.raises(NoFaceError, match="no face"):
        engine.prepare(plain)


@pytest.mark.parametrize("dx, dy", [(200, 0), (0, 100)])
def test_a_face_cut_by_the_edge_animates_within_the_photo(engine, astronaut, dx, dy):
    from vivicam.realtime.post import compose

    shifted = np.full_like(astronaut, 128)
    shifted[: 512 - dy, : 512 - dx] = astronaut[dy:, dx:]  # the face is cut by the edge
    state = engine.prepare(shifted)
    rest = compose(state, engine.render(state, Motion.neutral()))
    assert rest.shape == shifted.shape  # the output has the photo's size: nothing beyond it shows
    assert np.abs(rest.astype(int) - shifted).max() <= 1  # at rest the photo itself
    turned = compose(state, engine.render(state, Motion(rotation=np.array([0, 15, 0], np.float32))))
    assert np.abs(turned.astype(int) - shifted).mean() > 0.5


def test_a_face_mostly_outside_the_photo_is_refused(engine, astronaut):
    shifted = np.full_like(astronaut, 128)
    shifted[:, :150] = astronaut[:, 300:450]  # one cheek and an ear: no face to animate
    with pytest.raises(NoFaceError):
        engine.prepare(shifted)


def test_tiny_face_is_refused(engine, astronaut):
    import cv2

    canvas = np.full((900, 900, 3), 200, np.uint8)
    canvas[400:464, 400:464] = cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA)
    with pytest.raises(NoFaceError, match="px wide|no face"):
        engine.prepare(canvas)


def test_neutral_motion_gives_the_photo(engine, state):
    out = crop_image(engine.render(state, Motion.neutral()), state)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert psnr(out, state.crop) > 33


EXTREMES = {
    "eyes shut": Motion(eyes_closed=np.ones(2, np.float32)),
    "mouth wide open": Motion(mouth_open=1.0),
    "beyond wide open": Motion(mouth_open=3.0, eyes_closed=np.full(2, 2.0, np.float32)),
    "pose limit": Motion(rotation=np.array([20, 28, 40], np.float32)),
    "beyond the pose limit": Motion(rotation=np.array([-90, 120, -180], np.float32), scale=1.6),
    "far off": Motion(translation=np.array([3.0, -3.0], np.float32), scale=0.3),
    "wild expression": Motion(expression=np.random.default_rng(0).normal(0, 0.2, (478, 3)).astype(np.float32)),
    "gaze corners": Motion(gaze=np.array([5.0, -5.0], np.float32)),
    # the head left behind by a camera that flew off (translation is image motion)
    "camera flew off": Motion(camera=np.array([-40.0, 25.0], np.float32)),
}


@pytest.mark.parametrize("name", list(EXTREMES))
def test_extreme_motions_give_whole_images(engine, state, name):
    out = crop_image(engine.render(state, EXTREMES[name]), state)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    assert np.isfinite(out).all()
    # no holes: no new empty (pure black) areas beyond the photo's own black
    # (the astronaut's black collar stretches when the head turns, and further
    # when it travels "far off" and the shoulders follow; a hole would be a
    # black area of its own, well above this allowance)
    black = np.all(out == 0, axis=-1).sum()
    assert black <= np.all(state.crop == 0, axis=-1).sum() + 0.02 * out.shape[0] * out.shape[1]
    # the fixed border keeps the crop's edge where it was (seamless paste-back)
    assert np.abs(out[0].astype(int) - state.crop[0].astype(int)).mean() < 6
    # the whole-frame move for the camera stays within the soft limit
    shift = engine.frame_shift(state, EXTREMES[name])
    assert shift is None or np.abs(shift).max() <= 1.5 * state.rig.size0 / state.crop_matrix[0, 0] + 1e-3


def _track(tracker, image):
    found = tracker.track(image)
    assert found is not None, "MediaPipe lost the face on the output"
    return found.points


def test_yaw_turns_the_head(engine, state, tracker):
    ref = face_pose(_track(tracker, crop_image(engine.render(state, Motion.neutral()), state))).rotation
    for yaw in (-20.0, 20.0):
        out = crop_image(engine.render(state, Motion(rotation=np.array([0, yaw, 0], np.float32))), state)
        pts = _track(tracker, out)
        measured = euler_from_matrix(face_pose(pts).rotation @ ref.T)[1]
        assert np.sign(measured) == np.sign(yaw) and abs(measured) > 6, measured


def test_nod_moves_the_nose_down(engine, state, tracker):
    base = _track(tracker, crop_image(engine.render(state, Motion.neutral()), state))
    pts = _track(tracker, crop_image(engine.render(state, Motion(rotation=np.array([15, 0, 0], np.float32))), state))
    # nose tip moves down relative to the eyes
    drop = (pts[1, 1] - pts[[33, 263], 1].mean()) - (base[1, 1] - base[[33, 263], 1].mean())
    assert drop > 2


def test_blink_closes_the_eyes(engine, state, tracker):
    open_ = features.eye_openness(_track(tracker, crop_image(engine.render(state, Motion.neutral()), state)))
    shut = features.eye_openness(_track(tracker, crop_image(engine.render(state, Motion(eyes_closed=np.ones(2, np.float32))), state)))
    assert np.all(shut < 0.5 * open_), (open_, shut)


def test_mouth_opens_with_an_interior(engine, state, tracker):
    closed = _track(tracker, crop_image(engine.render(state, Motion.neutral()), state))
    out = crop_image(engine.render(state, Motion(mouth_open=0.6)), state)
    opened = _track(tracker, out)
    assert features.mouth_gap(opened) > features.mouth_gap(closed) + 0.15
    # the inside of the mouth is darker than the lips around it
    mid = ((opened[13, :2] + opened[14, :2]) / 2).astype(int)
    inside = out[mid[1] - 2 : mid[1] + 3, mid[0] - 2 : mid[0] + 3].mean()
    assert inside < 0.6 * state.crop[int(closed[0, 1]), int(closed[0, 0])].mean()


def test_gaze_moves_the_irises(engine, state, tracker):
    base = features.iris_offset(_track(tracker, crop_image(engine.render(state, Motion.neutral()), state)))
    right = features.iris_offset(_track(tracker, crop_image(engine.render(state, Motion(gaze=np.array([1, 0], np.float32))), state)))
    assert np.all(right[:, 0] > base[:, 0] + 0.1), (base, right)


def test_an_open_mouth_in_the_photo_can_close(engine, state, tracker):
    """The astronaut smiles with her teeth showing; an expression that brings
    the lips together closes the mouth (MediaPipe on the output agrees)."""
    from vivicam.calibrate.geometry import face_pose, to_canonical

    canon = to_canonical(state.landmarks, face_pose(state.landmarks))
    gap = canon[14, 1] - canon[13, 1]
    expr = np.zeros((478, 3), np.float32)
    expr[:, 1] = -gap * state.rig.jaw_weight[:478]
    before = features.mouth_gap(_track(tracker, crop_image(engine.render(state, Motion.neutral()), state)))
    after = features.mouth_gap(_track(tracker, crop_image(engine.render(state, Motion(expression=expr)), state)))
    assert before > 0.05 and after < 0.4 * before, (before, after)


def test_an_open_mouth_in_the_photo_keeps_its_teeth_as_it_opens(engine, state):
    """The astronaut's photo shows her upper teeth: opening the mouth further
    moves those teeth with the upper lip (bright, like in the photo) and opens
    a dark cavity only below them — no dark slab over her teeth."""
    from vivicam.engines.warp.mesh_motion import target_points

    assert state.mouth.own is not None and state.mouth.own_teeth
    gap0 = state.mouth.gap0
    photo_teeth = state.crop[int(state.landmarks[13, 1] + 0.3 * gap0), int(state.landmarks[13, 0])].mean()
    motion = Motion(mouth_open=0.4)
    out = crop_image(engine.render(state, motion), state)
    target = target_points(state.rig, motion)
    up, lo = target[13], target[14]
    assert lo[1] - up[1] > 2.0 * gap0  # the mouth did open
    teeth = out[int(up[1] + 0.3 * gap0) - 1 : int(up[1] + 0.3 * gap0) + 2, int(up[0]) - 1 : int(up[0]) + 2].mean()
    mid = ((up + lo) / 2).astype(int)
    cavity = out[mid[1] - 1 : mid[1] + 2, mid[0] - 1 : mid[0] + 2].mean()
    assert abs(teeth - photo_teeth) < 30, (teeth, photo_teeth)
    assert cavity < 0.4 * teeth, (cavity, teeth)


def test_a_hard_side_look_keeps_the_iris_off_the_eye_corner(state):
    """An eyeball turns the iris under the lids; it cannot slide it into the
    narrow angle of the corner. A photo whose irises already rest to one side
    (a three-quarter face, a sideways glance) looking further that way showed
    a black wedge in the corner (s8 driven by d11)."""
    from dataclasses import replace

    from vivicam.engines.warp.eyes import GAZE_REACH, IRIS_CORNER_CLEAR, render_eye

    target = state.rig.src
    for e, model in enumerate(state.eyes):
        a, b = (target[i].astype(np.float64) for i in model.corners)
        axis = (b - a) / np.linalg.norm(b - a)
        # the photo's iris resting a sixth of the eye's width towards corner b
        sideways = replace(model, iris=(model.iris + axis * np.linalg.norm(b - a) / 6).astype(np.float32))
        for gaze in (1.0, -1.0):
            patch = render_eye(sideways, target, np.array([gaze, 0.0], np.float32), state.crop.shape[0])
            lum = patch.rgb.mean(axis=-1)
            dark = (patch.alpha > 0.5) & (lum < 0.5 * (lum[patch.alpha > 0.5].max() + lum[patch.alpha > 0.5].min()))
            ys, xs = np.nonzero(dark)
            centre = np.array([xs.mean() + patch.x0, ys.mean() + patch.y0])
            along = float((centre - a) @ axis)
            corner = np.linalg.norm(b - a) if gaze > 0 else 0.0
            clear = abs(corner - along) / model.radius
            if gaze > 0:  # towards the corner it already rests near: stops short of it
                assert clear > 0.8 * IRIS_CORNER_CLEAR, (e, clear)
            else:  # the other way there is room: the gaze moves it as far as asked
                rest = float((sideways.iris - a) @ axis)
                assert rest - along > 0.5 * GAZE_REACH[0] * np.linalg.norm(b - a) / 2, (e, rest, along)


def test_the_hair_above_a_head_moved_down_goes_with_it(state):
    """The band rings reach only about a face size above the face centre;
    beyond them the hair followed the head at a half to a seventh of its move
    and the crop's fixed border held the rest, so a head moved a third of a
    face size down or up stretched its hair into a quiff (d12 driving s5, s1).
    Above the head the hair goes with it now; below, the shoulders still
    stay (they do not follow the head)."""
    from vivicam.engines.warp.field import coarse_displacement
    from vivicam.engines.warp.mesh_motion import target_points

    rig, field = state.rig, state.field
    centre, size = rig.center0[:2], rig.size0
    for down in (0.3, -0.3):
        target = target_points(rig, Motion(translation=np.array([0.0, down], np.float32)))
        moved = coarse_displacement(field, (target - rig.src)[rig.controls])[..., 1]
        head = float(target[mesh.NOSE_TIP, 1] - rig.src[mesh.NOSE_TIP, 1])

        def share(dy: float) -> float:
            x, y = centre + np.array([0.0, dy * size])
            return float(moved[int(y // field.cell), int(x // field.cell)]) / head

        for above in (1.3, 1.5):  # the crown of most hair
            assert share(-above) > 0.85, (down, above, share(-above))  # 0.63 and 0.48 before
        assert share(1.8) < 0.5  # the chest below the chin


def test_a_close_up_keeps_its_head_in_the_frame(engine, astronaut):
    """A close-up's hair and chin touch the photo's edges: a head moved as far
    as a lively driver moves (d12: half a face size aside, a third down) slid
    half out of the frame, and beyond the photo's edge a smear came in. The
    head travels at most as far as the photo reaches beyond it (plus a
    little); where the photo has room it follows the driver fully."""
    from vivicam.engines.warp.mesh_motion import CAMERA_SHARE, MOVE_SPARE, target_points

    wide = engine.prepare(astronaut)
    pts = wide.landmarks  # crop pixels of the wide photo
    box = np.linalg.inv(np.vstack([wide.crop_matrix, [0, 0, 1]]))[:2]
    face = pts[:, :2] @ box[:, :2].T + box[:, 2]  # photo pixels
    x0, y0 = np.floor(face.min(axis=0)).astype(int)
    x1, y1 = np.ceil(face.max(axis=0)).astype(int)
    close = engine.prepare(np.ascontiguousarray(astronaut[y0 + 15 : y1 - 5, x0 + 5 : x1 - 5]))  # chin and brow cut
    move = Motion(translation=np.array([0.5, 0.35], np.float32))
    for state, most in ((wide, None), (close, MOVE_SPARE[:, 0])):
        nose = mesh.NOSE_TIP
        moved = (target_points(state.rig, move)[nose] - state.rig.src[nose]) / state.rig.size0
        if most is None:
            assert moved[0] > 0.45 and moved[1] > 0.3, moved  # room around: the head goes where the driver's went
        else:
            assert (np.abs(moved) <= most + 1e-3).all(), moved
            assert (np.abs(moved) > 0.05).all(), moved  # it still moves
    # and the camera's whole-frame move stays a small share of the close-up
    pan = Motion(camera=np.array([1.2, 0.8], np.float32))
    shift = engine.frame_shift(close, pan)
    height, width = close.photo.shape[:2]
    assert abs(shift[0]) <= CAMERA_SHARE * width + 1e-3 and abs(shift[1]) <= CAMERA_SHARE * height + 1e-3


def test_a_face_cut_by_the_edge_does_not_move_its_missing_part_into_view(engine, astronaut):
    """A portrait cut through the cheek at its left edge (s4, driven by d12)
    moved its head right by a quarter of a face size and showed the missing
    cheek as a pale blur. Away from the cut the head moves only a little;
    towards it, and up and down, as before."""
    from vivicam.engines.warp.mesh_motion import FACE_SPARE, target_points

    wide = engine.prepare(astronaut)
    box = np.linalg.inv(np.vstack([wide.crop_matrix, [0, 0, 1]]))[:2]
    face = wide.landmarks[:, :2] @ box[:, :2].T + box[:, 2]  # photo pixels
    cut_at = int(face[:, 0].min() + 0.3 * np.ptp(face[:, 0]))  # through the image-left cheek
    cut = engine.prepare(np.ascontiguousarray(astronaut[:, cut_at:]))
    nose = mesh.NOSE_TIP

    def moved(state, x: float, y: float = 0.0) -> np.ndarray:
        motion = Motion(translation=np.array([x, y], np.float32))
        return (target_points(state.rig, motion)[nose] - state.rig.src[nose]) / state.rig.size0

    assert moved(cut, 0.4)[0] <= FACE_SPARE + 1e-3  # away from the cut: was 0.24
    assert moved(wide, 0.4)[0] > 0.35  # the whole face: as the driver
    assert moved(cut, -0.4)[0] < -0.3  # towards the cut, drawing in the room on the right
    assert moved(cut, 0.0, 0.3)[1] > 0.25  # down, as before


def test_hair_cut_by_the_photo_edge_stretches_instead_of_showing_what_is_beyond(engine, astronaut):
    """Big hair cut by the photo's side edge (s2 driven by d12): a head moving
    away from the edge drew the canvas beyond it into view, the hair ending
    in a straight line, then horizontal streaks and a grey smear. Now the
    hair between head and edge stretches: no output pixel inside the photo
    beside the hair is drawn from beyond its edge, and the head still moves.
    (Lower down, the spacesuit's shoulder, which the selfie model barely
    sees, may draw the carried-out edge in: a suit continues much as its
    edge does.)"""
    from vivicam.engines.warp.field import backward_field
    from vivicam.engines.warp.mesh_motion import EDGE_STRETCH, target_points

    wide = engine.prepare(astronaut)
    box = np.linalg.inv(np.vstack([wide.crop_matrix, [0, 0, 1]]))[:2]
    face = wide.landmarks[:, :2] @ box[:, :2].T + box[:, 2]  # photo pixels
    cut_at = int(face[:, 0].max() + 0.2 * np.ptp(face[:, 0]))  # through the hair right of the face
    assert (wide.person_mask[: int(face[:, 1].min()), cut_at] > 0.5).any()  # the hair reaches there
    close = engine.prepare(np.ascontiguousarray(astronaut[:, :cut_at]))
    rig, field = close.rig, close.field
    edge = float((close.crop_matrix @ np.array([cut_at, 0.0, 1.0]))[0])  # the cut, in crop pixels
    target = target_points(rig, Motion(translation=np.array([-0.4, 0.1], np.float32)))
    nose = mesh.NOSE_TIP
    assert (target[nose, 0] - rig.src[nose, 0]) / rig.size0 < -0.15  # the head moves away from the edge
    source = field.nodes() + backward_field(field, (target - rig.src)[rig.controls])
    inside = (field.nodes()[..., 0] < edge - field.cell) & (field.nodes()[..., 1] < rig.center0[1])  # the hair's side
    assert source[inside][:, 0].max() <= edge + 1.0, source[inside][:, 0].max()  # nothing from beyond
    # beside the edge the hair stretches at most 1 + EDGE_STRETCH times
    row = int(rig.center0[1] // field.cell) - int(0.5 * rig.size0 // field.cell)
    near = (field.nodes()[row, :, 0] > edge - 0.4 * rig.size0) & inside[row]
    dx = np.diff(source[row, near, 0]) / field.cell
    assert dx.min() >= 1.0 / (1.0 + EDGE_STRETCH) - 0.1, dx.min()
