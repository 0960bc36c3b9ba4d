"""Post-processing on NumPy (the same code runs on CuPy on the GPU): paste-back,
letterbox, background modes and pixel formats, checked against OpenCV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from vivicam.engines.base import AvatarState
from vivicam.errors import InputError
from vivicam.realtime.post import compose, fit_to, to_pixel_format
from vivicam.realtime.post.resample import resize


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def feather_mask(size: int, feather: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    dist = np.minimum.reduce([xx, yy, size - 1 - xx, size - 1 - yy]).astype(np.float32)
    return np.clip(dist / feather, 0.0, 1.0)


def make_state(photo: np.ndarray, box: tuple[float, float, float], crop_size: int, **kw) -> AvatarState:
    """Crop of side ``box[2]`` photo pixels at ``(box[0], box[1])`` rendered at ``crop_size``."""
    x, y, side = box
    s = crop_size / side
    matrix = np.array([[s, 0, -x * s], [0, s, -y * s]], np.float32)
    mask = kw.pop("mask", None)
    if mask is None:
        mask = feather_mask(crop_size, crop_size // 10)
    return AvatarState(photo=photo, crop_matrix=matrix, crop_size=crop_size, paste_mask=mask, **kw)


@pytest.mark.parametrize("size", [(400, 400), (640, 480), (1000, 300), (97, 61), (512, 512)])
def test_resize_matches_opencv_within_one_level(astronaut: np.ndarray, size: tuple[int, int]) -> None:
    ours = resize(astronaut, size)
    ref = cv2.resize(astronaut, size, interpolation=cv2.INTER_LINEAR)
    assert ours.shape == ref.shape and ours.dtype == np.uint8
    diff = np.abs(ours.astype(int) - ref)
    assert diff.max() <= 1 and diff.mean() < 0.2


def test_resize_of_a_float_single_channel_image() -> None:
    img = np.random.default_rng(0).random((37, 53)).astype(np.float32)
    ours = resize(img, (80, 20))
    ref = cv2.resize(img, (80, 20), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(ours, ref, atol=2e-3)


def test_identity_paste_gives_the_crop(astronaut: np.ndarray) -> None:
    photo = np.zeros_like(astronaut)
    state = make_state(photo, (0, 0, 512), 512, mask=np.ones((512, 512), np.float32))
    np.testing.assert_array_equal(compose(state, astronaut), astronaut)


def test_unscaled_paste_lands_at_the_crop_box_and_leaves_the_rest(astronaut: np.ndarray) -> None:
    photo = astronaut.copy()
    crop = np.full((128, 128, 3), 200, np.uint8)
    state = make_state(photo, (50, 70, 128), 128, mask=np.ones((128, 128), np.float32))
    out = compose(state, crop)
    np.testing.assert_array_equal(out[70:198, 50:178], crop)
    outside = np.ones(photo.shape[:2], bool)
    outside[70:198, 50:178] = False
    np.testing.assert_array_equal(out[outside], photo[outside])


def test_scaled_paste_matches_an_opencv_warp_and_blend(astronaut: np.ndarray) -> None:
    photo = cv2.resize(astronaut, (640, 480))
    crop = cv2.GaussianBlur(np.roll(astronaut, 40, axis=1), (5, 5), 0)  # a different image
    state = make_state(photo, (150.5, 60.25, 380), 512)
    out = compose(state, crop)
    inverse = cv2.invertAffineTransform(state.crop_matrix)
    warped = cv2.warpAffine(crop, inverse, (640, 480), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(state.paste_mask, inverse, (640, 480), flags=cv2.INTER_LINEAR)[..., None]
    ref = np.rint(photo + alpha * (warped.astype(np.float32) - photo)).astype(np.uint8)
    diff = np.abs(out.astype(int) - ref)
    # OpenCV's warp quantises coordinates to 1/32 pixel; ours are exact
    assert diff.max() <= 3 and diff.mean() < 0.1


def test_feathered_mask_leaves_no_seam(astronaut: np.ndarray) -> None:
    photo = cv2.resize(astronaut, (400, 400))
    state = make_state(photo, (100, 90, 200), 256)  # feather: 25 crop px ≈ 20 photo px
    dark, light = (np.full((256, 256, 3), v, np.uint8) for v in (60, 160))

    def worst_step(st: AvatarState) -> float:
        change = compose(st, light).astype(np.float32) - compose(st, dark)
        return float(max(np.abs(np.diff(change, axis=0)).max(), np.abs(np.diff(change, axis=1)).max()))

    hard = make_state(photo, (100, 90, 200), 256, mask=np.ones((256, 256), np.float32))
    assert worst_step(hard) == 100  # the test sees a seam when there is one
    assert worst_step(state) <= 100 / 20 + 2


def test_crop_outside_the_photo_leaves_the_photo(astronaut: np.ndarray) -> None:
    state = make_state(astronaut, (900, 900, 100), 64)
    out = compose(state, np.zeros((64, 64, 3), np.uint8))
    np.testing.assert_array_equal(out, astronaut)


def test_letterbox_into_a_wider_output(astronaut: np.ndarray) -> None:
    photo = astronaut[:256, :256].copy()
    state = make_state(photo, (64, 64, 128), 128, mask=np.zeros((128, 128), np.float32))
    out = compose(state, np.zeros((128, 128, 3), np.uint8), out_size=(320, 240))
    assert out.shape == (240, 320, 3)
    assert not out[:, :40].any() and not out[:, 280:].any()  # black bars
    ref = cv2.resize(photo, (240, 240), interpolation=cv2.INTER_LINEAR)
    assert np.abs(out[:, 40:280].astype(int) - ref).max() <= 1


def test_letterboxed_paste_matches_paste_then_resize(astronaut: np.ndarray) -> None:
    photo = cv2.resize(astronaut, (480, 360))
    state = make_state(photo, (120, 40, 240), 256)
    crop = np.roll(astronaut, 100, axis=0)[::2, ::2].copy()
    direct = compose(state, crop, out_size=(1280, 720)).astype(int)
    two_step = cv2.resize(compose(state, crop), (960, 720), interpolation=cv2.INTER_LINEAR)
    inner = direct[:, 160:1120]
    assert np.abs(inner - two_step).mean() < 1.5  # one resample instead of two: close, not equal


def test_color_background_keys_out_everything_but_the_person(astronaut: np.ndarray) -> None:
    photo = astronaut[:256, :256].copy()
    person = np.zeros((256, 256), np.float32)
    person[:, 128:] = 1.0
    state = make_state(photo, (160, 100, 64), 64, person_mask=person)
    crop = np.full((64, 64, 3), 7, np.uint8)
    out = compose(state, crop, background="color:#00ff00", out_size=(320, 256))
    np.testing.assert_array_equal(out[:, :32], np.broadcast_to([0, 255, 0], (256, 32, 3)))  # bars keyed too
    np.testing.assert_array_equal(out[:, 32:32 + 120], np.broadcast_to([0, 255, 0], (256, 120, 3)))
    np.testing.assert_array_equal(out[:100, 32 + 140 : 288], photo[:100, 140:])  # person kept
    np.testing.assert_array_equal(out[132, 32 + 192], [7, 7, 7])  # the crop's centre is pasted


def test_blur_background_blurs_only_outside_the_person(astronaut: np.ndarray) -> None:
    photo = astronaut.copy()
    person = np.zeros((512, 512), np.float32)
    person[:, 256:] = 1.0
    state = make_state(photo, (300, 300, 100), 100, person_mask=person)
    out = compose(state, np.zeros((100, 100, 3), np.uint8), background="blur")
    np.testing.assert_array_equal(out[:250, 256:], photo[:250, 256:])
    left, orig = out[:, :200].astype(float), photo[:, :200].astype(float)
    assert np.abs(np.diff(left, axis=1)).mean() < 0.3 * np.abs(np.diff(orig, axis=1)).mean()


def test_image_background_covers_the_frame(astronaut: np.ndarray) -> None:
    photo = astronaut[:200, :300].copy()
    state = make_state(photo, (0, 0, 50), 50, person_mask=np.zeros((200, 300), np.float32))
    plate = np.zeros((100, 100, 3), np.uint8)
    plate[:, :, 2] = 255
    out = compose(state, np.zeros((50, 50, 3), np.uint8), background=plate)
    np.testing.assert_array_equal(out, np.broadcast_to([0, 0, 255], (200, 300, 3)))


def test_bad_background_and_bad_state_are_reported(astronaut: np.ndarray) -> None:
    state = make_state(astronaut, (0, 0, 64), 64)
    crop = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InputError, match="unknown background"):
        compose(state, crop, background="sparkles")
    with pytest.raises(InputError, match="#00ff00"):
        compose(state, crop, background="color:#zzz")
    with pytest.raises(ValueError, match="64x64x3"):
        compose(state, np.zeros((32, 32, 3), np.uint8))
    rotated = AvatarState(astronaut, np.array([[1, 0.2, 0], [-0.2, 1, 0]], np.float32), 64, state.paste_mask)
    with pytest.raises(ValueError, match="axis-aligned"):
        compose(rotated, crop)


def test_background_without_person_mask_keeps_the_photo(astronaut: np.ndarray) -> None:
    state = make_state(astronaut, (0, 0, 64), 64, mask=np.zeros((64, 64), np.float32))
    out = compose(state, np.zeros((64, 64, 3), np.uint8), background="blur")
    np.testing.assert_array_equal(out, astronaut)


def test_float_and_torch_crops_are_accepted(astronaut: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    photo = cv2.resize(astronaut, (300, 300))
    state = make_state(photo, (40, 40, 200), 128)
    crop = cv2.resize(astronaut, (128, 128))
    ref = compose(state, crop)
    np.testing.assert_array_equal(compose(state, torch.from_numpy(crop)), ref)
    wild = crop.astype(np.float32) * 1.5 - 60  # out-of-range values are clamped, not wrapped
    out = compose(state, wild)
    expected = compose(state, np.clip(wild, 0, 255).round().astype(np.uint8)).astype(int)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_caller_float_crop_is_not_modified() -> None:
    photo = np.zeros((64, 64, 3), np.uint8)
    state = make_state(photo, (0, 0, 64), 64)
    crop = np.full((64, 64, 3), 100.0, np.float32)
    compose(state, crop)
    assert np.all(crop == 100.0)


def test_fit_to_letterboxes_any_frame(astronaut: np.ndarray) -> None:
    out = fit_to(astronaut[:100, :200], (100, 100))
    assert out.shape == (100, 100, 3)
    assert not out[:25].any() and not out[75:].any()
    assert fit_to(astronaut, None) is astronaut


# ---- pixel formats ---------------------------------------------------------


def blocky(img: np.ndarray, rows: int) -> np.ndarray:
    """Every rows×2 block one colour (its top-left pixel): OpenCV samples chroma
    at the top-left, we average, so on such images both must agree exactly."""
    h, w = img.shape[:2]
    return np.repeat(np.repeat(img[::rows, ::2], rows, axis=0), 2, axis=1)[:h, :w].copy()


def assert_same_up_to_rounding(ours: np.ndarray, ref: np.ndarray, rare: float = 0.005) -> None:
    """Equal but for rare off-by-one rounding ties (OpenCV rounds in fixed point)."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype == np.uint8
    diff = np.abs(ours.astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() < rare


def test_i420_matches_opencv(astronaut: np.ndarray) -> None:
    img = blocky(astronaut[:480, :320], 2)
    ours = to_pixel_format(img, "I420")
    assert ours.shape == (720, 320)
    assert_same_up_to_rounding(ours, cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420))


def test_luma_matches_opencv_on_any_image(astronaut: np.ndarray) -> None:
    ours = to_pixel_format(astronaut, "I420")[:512]
    assert_same_up_to_rounding(ours, cv2.cvtColor(astronaut, cv2.COLOR_RGB2YUV_I420)[:512])


def test_chroma_is_the_block_average(astronaut: np.ndarray) -> None:
    img = astronaut[:64, :64].astype(np.float64)
    u_ref = 128 - 0.148 * img[..., 0] - 0.291 * img[..., 1] + 0.439 * img[..., 2]
    u_ref = u_ref.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    u = to_pixel_format(astronaut[:64, :64], "I420")[64:].reshape(-1)[: 32 * 32].reshape(32, 32)
    assert np.abs(u - u_ref).max() <= 0.5 + 1e-3


def test_nv12_decodes_back_with_opencv(astronaut: np.ndarray) -> None:
    img = blocky(astronaut[:240, :320], 2)
    nv12 = to_pixel_format(img, "NV12")
    i420 = to_pixel_format(img, "I420")
    np.testing.assert_array_equal(nv12[:240], i420[:240])
    back = cv2.cvtColor(nv12, cv2.COLOR_YUV2RGB_NV12)
    assert np.abs(back.astype(int) - img).mean() < 2.0


def test_yuyv_matches_opencv(astronaut: np.ndarray) -> None:
    img = blocky(astronaut[:100, :200], 1)
    ours = to_pixel_format(img, "YUYV")
    assert ours.shape == (100, 200, 2)
    # OpenCV's packed 4:2:2 encoder uses coarser fixed point: ~1 % of values differ by one
    assert_same_up_to_rounding(ours, cv2.cvtColor(img, cv2.COLOR_RGB2YUV_YUY2), rare=0.02)


def test_rgb_bgr_rgba(astronaut: np.ndarray) -> None:
    assert to_pixel_format(astronaut, "RGB") is astronaut
    np.testing.assert_array_equal(to_pixel_format(astronaut, "BGR"), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    rgba = to_pixel_format(astronaut, "rgba")
    np.testing.assert_array_equal(rgba[..., :3], astronaut)
    assert (rgba[..., 3] == 255).all()


def test_pixel_format_errors(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="even"):
        to_pixel_format(astronaut[:99, :100], "NV12")
    with pytest.raises(ValueError, match="unknown pixel format"):
        to_pixel_format(astronaut, "P010")
