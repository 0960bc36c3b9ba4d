"""The liveportrait engine with random weights in the official layout: the
pictures are noise, the plumbing is real (crop, per-avatar state, driver and
idle motion, stitching, retargeting, rendering, the CLI end to end)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vivicam.engines.liveportrait import keypoints as kpm  # noqa: E402
from vivicam.engines.liveportrait import pipeline as lp  # noqa: E402
from vivicam.engines.liveportrait.engine import LivePortraitAvatar, LivePortraitEngine  # noqa: E402
from vivicam.errors import InputError, WeightsError  # noqa: E402
from vivicam.types import DriverFrame, Motion  # noqa: E402


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def engine(lp_random_weights):
    return LivePortraitEngine(weights=lp_random_weights, backend="cpu")


@pytest.fixture(scope="module")
def avatar(engine, astronaut):
    return engine.prepare(astronaut)


@pytest.fixture(scope="module")
def astronaut_driver(astronaut):
    from vivicam.face.detect import find_avatar_face

    return DriverFrame(astronaut, find_avatar_face(astronaut).landmarks)


def _shifted_driver(image, dx, dy):
    """The astronaut moved (dx, dy) px, with landmarks tracked on it."""
    import cv2

    from vivicam.face.detect import find_avatar_face

    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)
    return DriverFrame(moved, find_avatar_face(moved).landmarks)


# ------------------------------------------------------------------ pure math

def test_pose_bins_rotation_and_keypoint_composition():
    from scipy.spatial.transform import Rotation

    assert kpm.headpose_degrees(np.zeros((1, 66)))[0] == pytest.approx(0.0, abs=1e-4)  # flat bins: centre
    peaked = np.full((1, 66), -50.0, np.float32)
    peaked[0, 40] = 50.0
    assert kpm.headpose_degrees(peaked)[0] == pytest.approx(40 * 3 - 97.5, abs=1e-3)
    pitch, yaw, roll = 12.0, -30.0, 7.0
    expected = Rotation.from_euler("ZYX", [roll, yaw, pitch], degrees=True).as_matrix().T  # (Rz·Ry·Rx)ᵀ
    np.testing.assert_allclose(kpm.rotation_matrix([pitch], [yaw], [roll])[0], expected, atol=1e-6)
    canonical = np.random.default_rng(0).uniform(-0.5, 0.5, (1, 21, 3)).astype(np.float32)
    r = kpm.rotation_matrix([pitch], [yaw], [roll])
    kp = kpm.compose_keypoints(canonical, r, np.zeros_like(canonical), np.array([[2.0]]), np.array([[0.1, -0.2, 5.0]]))
    np.testing.assert_allclose(kp, 2.0 * canonical @ r[0] + np.array([0.1, -0.2, 0.0]), atol=1e-6)  # t_z ignored


def test_stitching_output_moves_keypoints_and_shared_xy():
    kp = np.zeros((1, 21, 3), np.float32)
    delta = np.zeros((1, 65), np.float32)
    delta[0, :63] = 0.01
    delta[0, 63:] = (0.2, -0.1)
    out = kpm.apply_stitching(kp, delta)
    np.testing.assert_allclose(out[..., 0], 0.21, atol=1e-7)
    np.testing.assert_allclose(out[..., 1], -0.09, atol=1e-7)
    np.testing.assert_allclose(out[..., 2], 0.01, atol=1e-7)


def test_eye_and_lip_ratios_on_a_synthetic_face():
    from vivicam.calibrate import mesh

    points = np.zeros((478, 3), np.float32)
    for (upper, lower, a, b), x in zip(kpm.EYE_RATIO_POINTS, (100.0, 200.0)):
        points[a, :2], points[b, :2] = (x - 15, 100), (x + 15, 100)  # 30 px wide
        points[upper, :2], points[lower, :2] = (x, 95), (x, 104)  # 9 px tall
    points[mesh.MOUTH_CORNERS[0], :2], points[mesh.MOUTH_CORNERS[1], :2] = (120, 200), (180, 200)
    points[mesh.LIP_INNER_UPPER_MID, :2], points[mesh.LIP_INNER_LOWER_MID, :2] = (150, 195), (150, 210)
    np.testing.assert_allclose(kpm.eye_ratios(points), [0.3, 0.3], atol=1e-5)
    assert kpm.lip_ratio(points) == pytest.approx(0.25, abs=1e-5)


def test_crop_box_is_square_scaled_and_shifted_up():
    from vivicam.engines.liveportrait import crop

    points = np.zeros((478, 3), np.float32)
    points[:, 0], points[:, 1] = 300.0, 200.0
    sel = list(crop.CROP_POINTS)
    points[sel, 0] = np.linspace(250, 350, len(sel))  # 100 px wide
    points[sel, 1] = np.linspace(150, 230, len(sel))  # 80 px tall
    box = crop.face_box(points, scale=2.3, shift_up=0.125)
    assert box.side == pytest.approx(230.0)
    assert (box.cx, box.cy) == pytest.approx((300.0, 190.0 - 0.125 * 230.0))
    m = box.matrix(512)
    corner = m[:, :2] @ np.array([box.cx - box.side / 2, box.cy - box.side / 2]) + m[:, 2]
    np.testing.assert_allclose(corner, [0, 0], atol=1e-3)
    mask = crop.paste_mask(512)
    assert mask.min() >= 0 and mask.max() == 1.0
    assert np.allclose(mask, mask.T) and np.allclose(mask, mask[::-1])  # symmetric feather


# ------------------------------------------------------------------ errors

def test_weights_are_required():
    with pytest.raises(WeightsError) as err:
        LivePortraitEngine()
    assert str(err.value) == (
        "the liveportrait engine needs --weights DIR (the folder with the official LivePortrait checkpoints)"
    )


def test_missing_and_wrong_weights_folders_are_reported(tmp_path):
    with pytest.raises(WeightsError, match="does not exist"):
        LivePortraitEngine(weights=tmp_path / "nope")
    with pytest.raises(WeightsError, match="base_models"):
        LivePortraitEngine(weights=tmp_path)


def test_bad_options_are_input_errors(lp_random_weights):
    with pytest.raises(InputError, match="backend"):
        LivePortraitEngine(weights=lp_random_weights, backend="metal")
    with pytest.raises(InputError, match="precision"):
        LivePortraitEngine(weights=lp_random_weights, precision="int4")


def test_registered_under_its_name_and_wants_driver_frames(lp_random_weights):
    from vivicam.engines.registry import create_engine

    eng = create_engine("liveportrait", weights=lp_random_weights, backend="cpu")
    assert isinstance(eng, LivePortraitEngine)
    assert eng.name == "liveportrait" and eng.capabilities.driver_frames and eng.capabilities.needs_weights
    assert set(eng.backends) == {"cpu", "onnxruntime", "tensorrt", "torch"}


def test_photo_without_a_face_is_a_no_face_error(engine):
    from vivicam.errors import NoFaceError

    with pytest.raises(NoFaceError):
        engine.prepare(np.full((300, 300, 3), 120, np.uint8))


def test_avatar_of_another_engine_is_refused(engine):
    from vivicam.engines.base import AvatarState

    other = AvatarState(
        photo=np.zeros((64, 64, 3), np.uint8), crop_matrix=np.eye(2, 3, dtype=np.float32),
        crop_size=64, paste_mask=np.ones((64, 64), np.float32),
    )
    with pytest.raises(InputError, match="another engine"):
        engine.render(other, Motion.neutral())


# ------------------------------------------------------------------ prepare

def test_prepare_crops_the_face_axis_aligned(avatar, astronaut):
    from vivicam.face.detect import find_avatar_face

    assert isinstance(avatar, LivePortraitAvatar)
    m = avatar.crop_matrix
    assert m.shape == (2, 3) and m[0, 1] == 0 and m[1, 0] == 0 and m[0, 0] == pytest.approx(m[1, 1])
    points = find_avatar_face(astronaut).landmarks.points[:, :2]
    in_crop = points @ m[:, :2].T + m[:, 2]
    # The whole face is inside the crop, around its middle (2.3× the face size).
    assert in_crop.min() > 0.15 * avatar.crop_size and in_crop.max() < 0.85 * avatar.crop_size
    mask = avatar.paste_mask
    assert mask.shape == (512, 512) and mask.dtype == np.float32
    assert mask[256, 256] == 1.0 and mask[0, 256] < 0.01 and mask[256, 0] < 0.01
    src = avatar.source
    assert tuple(src.feature.shape) == (1, 32, 16, 64, 64)
    assert src.keypoints.shape == (1, 21, 3) and np.isfinite(src.keypoints).all()
    assert 0.1 < src.eye_ratios.min() and src.eye_ratios.max() < 0.6  # open eyes


def test_onnxruntime_backend_prepares_the_same_avatar(lp_random_weights, engine, avatar, astronaut, tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path))  # exported graphs go here
    eng = LivePortraitEngine(weights=lp_random_weights, backend="onnxruntime")
    state = eng.prepare(astronaut)  # exports and runs only the per-avatar graphs
    np.testing.assert_array_equal(state.crop_matrix, avatar.crop_matrix)
    np.testing.assert_allclose(state.source.keypoints, avatar.source.keypoints, atol=1e-4)
    np.testing.assert_allclose(np.asarray(state.source.feature), avatar.source.feature.numpy(), atol=1e-3)
    kp = lp.posed_keypoints(eng.networks, state.source, Motion(mouth_open=0.7))
    ref = lp.posed_keypoints(engine.networks, avatar.source, Motion(mouth_open=0.7))
    np.testing.assert_allclose(kp, ref, atol=1e-4)  # stitching + retargeting MLPs through ONNX Runtime


# ------------------------------------------------------------------ motion

def _plain(engine):
    return {"stitching": False, "retarget_eyes": False, "retarget_lips": False}


def _photo_keypoints(src):
    # With no motion the avatar stays as in its photo; an open source mouth
    # gets the original's "normalise lip" closing offset.
    return src.keypoints + (src.lip_close_delta if src.lip_close_delta is not None else 0)


def test_neutral_motion_keeps_the_photo_pose(engine, avatar):
    kp = lp.posed_keypoints(engine.networks, avatar.source, Motion.neutral(), **_plain(engine))
    np.testing.assert_allclose(kp, avatar.source.keypoints, atol=1e-5)


def test_driver_at_its_neutral_keeps_the_photo_pose(engine, avatar, astronaut_driver):
    reading = lp.read_driver(engine.networks, astronaut_driver.image, astronaut_driver.landmarks.points)
    kp = lp.driven_keypoints(engine.networks, avatar.source, reading, reading, **_plain(engine))
    np.testing.assert_allclose(kp, _photo_keypoints(avatar.source), atol=1e-5)


def test_head_motion_moves_the_keypoints_rigidly(engine, avatar):
    src = avatar.source
    turned = lp.posed_keypoints(engine.networks, src, Motion(rotation=np.array([0, 25, 0], np.float32)), **_plain(engine))
    moved = lp.posed_keypoints(engine.networks, src, Motion(translation=np.array([0.5, 0], np.float32)), **_plain(engine))
    # Translation by half a face size moves every keypoint right by the same amount.
    shift = moved - src.keypoints
    assert np.allclose(shift[..., 0], 0.5 * src.face_size, atol=1e-5) and np.allclose(shift[..., 1:], 0, atol=1e-5)
    # A yaw turn changes x and z but not y (the expression term is not rotated).
    expected = kpm.compose_keypoints(
        src.info.canonical, kpm.rotation_matrix([0], [25], [0]) @ src.info.rotation, src.info.exp, src.info.scale, src.info.t
    )
    np.testing.assert_allclose(turned, expected, atol=1e-5)
    assert np.abs(turned - src.keypoints).max() > 0.01


def test_eye_and_mouth_motion_drive_the_retargeting(engine, avatar):
    src = avatar.source
    flags = {"stitching": True, "retarget_eyes": True, "retarget_lips": True}
    rest = lp.posed_keypoints(engine.networks, src, Motion.neutral(), **flags)
    blink = lp.posed_keypoints(engine.networks, src, Motion(eyes_closed=np.ones(2, np.float32)), **flags)
    talk = lp.posed_keypoints(engine.networks, src, Motion(mouth_open=1.0), **flags)
    assert np.abs(blink - rest).max() > 1e-4 and np.abs(talk - rest).max() > 1e-4
    assert not np.allclose(blink, talk)
    again = lp.posed_keypoints(engine.networks, src, Motion(mouth_open=1.0), **flags)
    np.testing.assert_array_equal(again, talk)  # deterministic


def test_driver_motion_is_relative_to_the_cached_neutral(engine, avatar, astronaut, astronaut_driver, monkeypatch):
    moved = _shifted_driver(astronaut, 0, 0)  # same picture, another frame object
    calls = []
    original = lp.read_driver
    monkeypatch.setattr(lp, "read_driver", lambda *a: calls.append(1) or original(*a))
    m1 = engine.driving_keypoints(avatar.source, Motion(driver=moved, driver_neutral=astronaut_driver))
    m2 = engine.driving_keypoints(avatar.source, Motion(driver=moved, driver_neutral=astronaut_driver))
    assert len(calls) == 3  # the neutral is read once, each driver frame once
    np.testing.assert_array_equal(m1, m2)
    flipped = DriverFrame(np.ascontiguousarray(astronaut[:, ::-1]), astronaut_driver.landmarks)
    m3 = engine.driving_keypoints(avatar.source, Motion(driver=flipped, driver_neutral=astronaut_driver))
    assert np.abs(m3 - m1).max() > 1e-4  # another driver face, other keypoints


# ------------------------------------------------------------------ render

@pytest.mark.slow
def test_render_idle_and_driven_frames(engine, avatar, astronaut, astronaut_driver):
    idle = engine.render(avatar, Motion(rotation=np.array([3, 8, 0], np.float32), mouth_open=0.4))
    assert idle.shape == (512, 512, 3) and idle.dtype == np.uint8
    assert idle.std() > 1.0  # a picture, not a constant
    driven = engine.render(avatar, Motion(driver=_shifted_driver(astronaut, 12, -8), driver_neutral=astronaut_driver))
    assert driven.shape == (512, 512, 3) and driven.dtype == np.uint8
    assert not np.array_equal(idle, driven)
    # (each render costs ~10-40 s of CPU; determinism is checked on the keypoints above)


@pytest.mark.slow
def test_cli_render_end_to_end(lp_random_weights, astronaut, tmp_path):
    av = pytest.importorskip("av")
    from PIL import Image

    from vivicam.realtime.cli.main import main
    from vivicam.realtime.sources.video import probe_video

    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut).save(photo)
    clip = tmp_path / "driving.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 256, 256, "yuv420p"
        small = np.ascontiguousarray(astronaut[::2, ::2])
        for i in range(2):  # each frame costs ~10-40 s on a CPU
            frame = np.roll(small, 3 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = tmp_path / "out.mp4"
    code = main([
        "render", "--engine", "liveportrait", "--backend", "cpu", "--weights", str(lp_random_weights),
        "--avatar", str(photo), "--driving", str(clip), "-o", str(out), "--no-progress",
    ])
    assert code == 0
    assert probe_video(out).frame_count == 2


# ------------------------------------------------------------------ the original

def test_keypoint_math_matches_the_original():
    """Pose bins → degrees, rotation matrices, x_s and the relative-motion
    keypoints against the original's own functions (``src/utils/camera.py``
    of a KwaiVGI/LivePortrait checkout named by $LIVEPORTRAIT_ORIGINAL)."""
    import importlib.util
    import os
    from pathlib import Path

    root = os.environ.get("LIVEPORTRAIT_ORIGINAL")
    if not root or not (Path(root) / "src" / "utils" / "camera.py").is_file():
        pytest.skip("set $LIVEPORTRAIT_ORIGINAL to a LivePortrait checkout to compare with the original")
    spec = importlib.util.spec_from_file_location("_lp_camera", Path(root) / "src" / "utils" / "camera.py")
    camera = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(camera)

    rng = np.random.default_rng(3)

    def raw():
        shapes = {"pitch": (1, 66), "yaw": (1, 66), "roll": (1, 66), "t": (1, 3), "exp": (1, 63), "scale": (1, 1), "kp": (1, 63)}
        out = {k: rng.normal(0, 2 if k in ("pitch", "yaw", "roll") else 0.1, s).astype(np.float32) for k, s in shapes.items()}
        out["scale"] = np.abs(out["scale"]) + 1.0
        return out

    def theirs(r):
        d = {k: torch.from_numpy(v) for k, v in r.items()}
        for a in ("pitch", "yaw", "roll"):
            d[a] = camera.headpose_pred_to_degree(d[a])[:, None]
        d["R"] = camera.get_rotation_matrix(d["pitch"], d["yaw"], d["roll"])
        d["kp"], d["exp"] = d["kp"].reshape(1, -1, 3), d["exp"].reshape(1, -1, 3)
        return d

    for _ in range(10):
        rs, rd, r0 = raw(), raw(), raw()
        s, d, d0 = theirs(rs), theirs(rd), theirs(r0)
        ms, md, m0 = kpm.keypoint_info(rs), kpm.keypoint_info(rd), kpm.keypoint_info(r0)
        np.testing.assert_allclose(ms.yaw, s["yaw"].numpy()[:, 0], atol=1e-4)
        np.testing.assert_allclose(ms.rotation, s["R"].numpy(), atol=1e-6)
        x_s = (s["kp"] @ s["R"] + s["exp"]) * s["scale"][..., None]
        x_s[..., :2] += s["t"][:, None, :2]
        np.testing.assert_allclose(kpm.transform_keypoints(ms), x_s.numpy(), atol=1e-5)
        r_new = (d["R"] @ d0["R"].permute(0, 2, 1)) @ s["R"]
        t_new = s["t"] + (d["t"] - d0["t"])
        t_new[..., 2] = 0
        x_d = s["scale"] * (d["scale"] / d0["scale"]) * (s["kp"] @ r_new + s["exp"] + d["exp"] - d0["exp"]) + t_new
        np.testing.assert_allclose(kpm.relative_motion(ms, md, m0).keypoints(ms.canonical), x_d.numpy(), atol=1e-5)
