"""The quality benchmark: its measures against known answers, its baselines,
its contact sheets, and a tiny end-to-end run on a real clip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vivicam.benchmarks import contact_sheet, cross, metrics, quality, quality_report, stages
from vivicam.benchmarks.baselines import PoseOnlyWarp, StaticPhoto, similarity_matrix
from vivicam.calibrate import geometry
from vivicam.types import Motion

RNG = np.random.default_rng(7)


def _image(h: int = 96, w: int = 96) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- image measures


def test_psnr_of_identical_images_is_infinite() -> None:
    a = _image()
    assert metrics.psnr(a, a.copy()) == float("inf")


def test_psnr_of_a_constant_offset_follows_the_formula() -> None:
    a = np.full((32, 32, 3), 100, np.uint8)
    b = a + 5  # MSE = 25 exactly
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / 25), abs=1e-9)


def test_psnr_of_gaussian_noise_matches_its_sigma() -> None:
    a = np.full((256, 256, 3), 128.0)
    sigma = 8.0
    b = a + RNG.normal(0, sigma, a.shape)
    assert metrics.psnr(a, b) == pytest.approx(20 * np.log10(255 / sigma), abs=0.1)


def test_ssim_is_one_for_identical_and_drops_with_noise() -> None:
    a = _image(64, 64)
    noisy = np.clip(a + RNG.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(a, a) == pytest.approx(1.0)
    assert metrics.ssim(a, noisy) < 0.9


def test_ssim_matches_scikit_image() -> None:
    from skimage.metrics import structural_similarity
    from skimage.data import astronaut

    a = astronaut()[100:260, 150:330]
    for b in (np.clip(a + RNG.normal(0, 15, a.shape), 0, 255).astype(np.uint8), a[::-1].copy(), a // 2):
        expected = structural_similarity(a, b, data_range=255, channel_axis=2)
        assert metrics.ssim(a, b) == pytest.approx(expected, abs=1e-5)
    gray = a[:, :, 0]
    assert metrics.ssim(gray, gray // 2) == pytest.approx(structural_similarity(gray, gray // 2, data_range=255), abs=1e-5)


def test_l1_is_a_fraction_of_full_scale() -> None:
    black, white = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)
    assert metrics.l1(black, white) == pytest.approx(1.0)
    assert metrics.l1(black, black) == 0.0
    assert metrics.l1(black, np.full_like(black, 51)) == pytest.approx(0.2)


def test_images_of_different_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics.psnr(_image(8, 8), _image(8, 9))


def test_face_box_is_square_scaled_and_clipped() -> None:
    pts = np.zeros((478, 3))
    pts[:, 0] = np.linspace(40, 60, 478)  # 20 wide
    pts[:, 1] = np.linspace(45, 55, 478)  # 10 high
    box = metrics.face_box(pts, (200, 200), scale=1.6)
    assert box.size == (32, 32)  # 1.6 × the longer side
    assert (box.x0, box.y0) == (34, 34)
    edge = metrics.face_box(pts - 40, (200, 200), scale=1.6)  # face at the corner
    assert edge.x0 == 0 and edge.y0 == 0 and edge.x1 <= 200


# --------------------------------------------------------------------------- signals


def test_pearson_of_linear_signals_is_plus_or_minus_one() -> None:
    x = RNG.normal(size=50)
    assert metrics.pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert metrics.pearson(x, -x) == pytest.approx(-1.0)


def test_pearson_of_independent_noise_is_near_zero() -> None:
    assert abs(metrics.pearson(RNG.normal(size=20000), RNG.normal(size=20000))) < 0.05


def test_pearson_skips_lost_frames_and_is_nan_for_a_flat_signal() -> None:
    x = np.array([0.0, 1.0, np.nan, 3.0, 4.0])
    y = np.array([0.0, 2.0, 99.0, 6.0, np.nan])
    assert metrics.pearson(x, y) == pytest.approx(1.0)
    assert np.isnan(metrics.pearson(np.arange(10.0), np.full(10, 3.0)))
    assert np.isnan(metrics.pearson([1.0, 2.0], [1.0, 2.0]))  # too few pairs


def _face() -> np.ndarray:
    """A 3-D point cloud standing in for a face (only relative motion matters)."""
    return RNG.uniform(-50, 50, (478, 3)) + np.array([200.0, 200.0, 0.0])


def _rotated(points: np.ndarray, pitch: float, yaw: float, roll: float) -> np.ndarray:
    center = points.mean(axis=0)
    return center + (points - center) @ geometry.matrix_from_euler(pitch, yaw, roll).T


def test_head_angles_are_relative_to_the_first_tracked_frame() -> None:
    face = _face()
    seq = metrics.stack_points([None, face, _rotated(face, 10, -5, 3), None])
    angles = metrics.head_angles(seq)
    assert np.isnan(angles[0]).all() and np.isnan(angles[3]).all()
    np.testing.assert_allclose(angles[1], 0, atol=1e-6)
    np.testing.assert_allclose(angles[2], [10, -5, 3], atol=1e-3)


def test_pose_error_is_the_mean_absolute_difference() -> None:
    driver = np.array([[0, 0, 0], [10, 0, 0], [np.nan] * 3, [0, 4, -2]], float)
    output = np.array([[0, 0, 0], [7, 0, 0], [1, 1, 1], [0, 1, 0]], float)
    err = metrics.pose_error(driver, output)
    assert err.frames == 3
    assert err.pitch_deg == pytest.approx(1.0) and err.yaw_deg == pytest.approx(1.0)
    assert err.roll_deg == pytest.approx(2 / 3)
    assert err.mean_deg == pytest.approx((3 + 3 + 2) / 9)


def test_jitter_measures_landmark_noise_in_face_sizes_on_still_runs() -> None:
    face = _face()
    size = float(metrics.face_sizes(face[None])[0])
    sigma = 0.5  # px per axis
    still = [face + np.append(RNG.normal(0, sigma, (478, 2)), np.zeros((478, 1)), axis=1) for _ in range(40)]
    moving = [face + np.array([3.0 * i, 0, 0]) for i in range(10)]
    points = metrics.stack_points(moving + still)
    speed = metrics.landmark_speed(points)
    assert np.isnan(speed[0]) and speed[1:10].min() > 0.02
    runs = metrics.still_runs(speed, threshold=0.02, min_length=8)
    assert runs == [(11, 50)]
    # per-landmark 2-D spread of isotropic noise = sigma·√2
    assert metrics.jitter(points, runs) == pytest.approx(sigma * np.sqrt(2) / size, rel=0.15)
    assert np.isnan(metrics.jitter(points, []))


def test_still_runs_need_the_minimum_length_and_break_on_lost_frames() -> None:
    speed = np.array([np.nan, 0, 0, 0, 1, 0, 0, 0, 0, np.nan, 0, 0])
    assert metrics.still_runs(speed, 0.5, min_length=3) == [(1, 4), (5, 9)]


# --------------------------------------------------------------------------- baselines


def _photo_and_face() -> tuple[np.ndarray, np.ndarray]:
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:, :, 1] = np.linspace(0, 255, 400)[None, :].astype(np.uint8)
    pts = _face() * np.array([1.0, 1.0, 0.2])
    return photo, pts


def test_static_baseline_pastes_back_to_the_photo_itself() -> None:
    photo, pts = _photo_and_face()
    base = StaticPhoto(crop_size=256)
    state = base.prepare(photo, pts)
    out = stages.paste_back(state, base.render(state, Motion.neutral()))
    assert out.shape == photo.shape
    assert np.abs(out.astype(int) - photo).max() <= 2


def test_pose_only_baseline_moves_the_face_by_the_motion_translation() -> None:
    photo, pts = _photo_and_face()
    photo[150:156, 200:206] = 255  # a bright marker near the face centre
    base = PoseOnlyWarp(crop_size=256)
    state = base.prepare(photo, pts)
    still = base.render(state, Motion.neutral())
    moved = base.render(state, Motion(translation=np.array([0.25, 0.0])))
    shift = 0.25 * state.face_size
    ys, xs = np.nonzero(still[:, :, 0] > 200)
    ys2, xs2 = np.nonzero(moved[:, :, 0] > 200)
    assert xs2.mean() - xs.mean() == pytest.approx(shift, abs=1.0)
    assert ys2.mean() == pytest.approx(ys.mean(), abs=1.0)


def test_positive_roll_turns_clockwise_in_the_image() -> None:
    m = similarity_matrix(Motion(rotation=np.array([0.0, 0.0, 10.0])), np.array([50.0, 50.0]), 20.0)
    right_of_center = m @ np.array([60.0, 50.0, 1.0])
    assert right_of_center[1] > 50.0  # y down: clockwise takes "right" towards "down"


# --------------------------------------------------------------------------- sheets, verdicts


def test_contact_sheet_layout_and_small_png() -> None:
    rows = [[_image(120, 100) for _ in range(4)] for _ in range(2)]
    sheet = contact_sheet.make_sheet(rows, row_labels=["driver", "out"], col_labels=list("abcd"), tile=64, title="t")
    assert sheet.dtype == np.uint8 and sheet.shape[1] == 92 + 4 * 64
    big_noise = RNG.integers(0, 256, (900, 900, 3), dtype=np.uint8)
    data = contact_sheet.png_bytes(big_noise, max_bytes=200_000)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) <= 200_000


def test_sample_indices_spread_over_the_clip_and_skip_the_avatar_frame() -> None:
    idx = contact_sheet.sample_indices(100, 8)
    assert len(idx) == 8 and idx[0] == 1 and idx[-1] == 99
    assert contact_sheet.sample_indices(5, 8) == [1, 2, 3, 4]


def _clip(engine: dict, static: dict, pose: dict) -> dict:
    return {"methods": {quality_report.ENGINE_KEY: engine, "static": static, "pose-only": pose}}


def test_verdicts_apply_the_issue_thresholds() -> None:
    good = {"psnr": 25.0, "ssim": 0.8, "mouth_corr": 0.95, "eye_corr": 0.85, "pose_err_deg": 2.0}
    static, pose = {"psnr": 21.0, "ssim": 0.7}, {"psnr": 24.0, "ssim": 0.75}
    assert all(quality_report.verdicts(_clip(good, static, pose)).values())
    bad = dict(good, psnr=23.9, eye_corr=float("nan"), pose_err_deg=3.5)
    v = quality_report.verdicts(_clip(bad, static, pose))
    assert not v["psnr>=static+3"] and not v["psnr>pose-only"]
    assert not v["eye_corr>=0.8"] and not v["pose_err<=3"] and v["mouth_corr>=0.9"]


# --------------------------------------------------------------------------- end to end


@pytest.mark.testdata
def test_benchmark_end_to_end_on_ten_frames(testdata, tmp_path) -> None:
    # The engine under test is the static baseline itself, so the harness must
    # report the baseline's numbers for it (up to the crop placement, which the
    # engine finds on its own): a check of the plumbing that does not depend on
    # any engine's quality.
    report = quality.run(
        clips=["d12"], frames=10, engine_name="static", out_dir=tmp_path, testdata=testdata,
        portraits=("s6",), cross_drivers=("d12",), save_signals=True,
    )
    saved = json.loads((tmp_path / "quality.json").read_text())
    clip = saved["clips"][0]
    assert clip["frames"] == 10 and clip["driver_tracked"] == 1.0
    eng, static, pose = (clip["methods"][k] for k in (quality_report.ENGINE_KEY, "static", "pose-only"))
    assert eng["psnr"] == pytest.approx(static["psnr"], abs=0.1)
    assert eng["ssim"] == pytest.approx(static["ssim"], abs=0.002)
    assert 10 < static["psnr"] < quality.metrics.PSNR_CAP_DB and 0 < pose["ssim"] < 1
    assert eng["output_tracked"] == 1.0
    assert static["psnr_mouth"] < quality.metrics.PSNR_CAP_DB and "psnr_eyes" in pose
    assert pose["pose_err_deg"] is not None and pose["pose_err_deg"] < 10
    assert saved["machine"]["cpu_count"] and report["cross_sheets"] == ["cross_s6_d12.png"]
    markdown = (tmp_path / "results.md").read_text()
    assert "| d12 | 10 |" in markdown and "(cross_s6_d12.png)" in markdown and "| s6 | d12 |" in markdown
    (crossed,) = saved["cross"]
    assert crossed["stride"] == cross.CROSS_STRIDE and crossed["output_tracked"] > 0.5
    signals = np.load(tmp_path / "signals_d12.npz")
    assert signals["driver_mouth"].shape == (10,) and signals["engine_angles"].shape == (10, 3)
    assert signals["static_psnr"].shape == (9,)  # frame 0 is the avatar itself: not measured
    for name in ("self_d12.png", "cross_s6_d12.png"):
        assert 0 < (tmp_path / name).stat().st_size <= 400_000


@pytest.mark.testdata
def test_unknown_clip_is_a_one_line_error(testdata, tmp_path, capsys) -> None:
    code = quality.main(["--clips", "nope", "--testdata", str(testdata), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: no clip 'nope'") and "\n" not in err
