"""The warp draws the photo's own pixels at the output's resolution: exact at
rest, as sharp as the photo in motion, no ring where head meets plate."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vivicam.engines.warp.draw import settle, split_layer
from vivicam.engines.warp.engine import WarpEngine
from vivicam.realtime.post import compose, fit_to
from vivicam.types import Motion


@pytest.fixture(scope="module")
def engine() -> WarpEngine:
    return WarpEngine(backend="cpu")


@pytest.fixture(scope="module")
def sharp_photo() -> np.ndarray:
    """A 1024² photo with fine grain (skin texture, canvas): detail that a
    512-px crop scaled back up would wipe out."""
    from skimage import data

    big = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    grain = np.random.default_rng(3).normal(0.0, 7.0, big.shape[:2])[..., None]
    return np.clip(big + grain, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sharp_state(engine, sharp_photo):
    return engine.prepare(sharp_photo)


def _face_box(state) -> tuple[slice, slice]:
    m = state.crop_matrix
    pts = (state.landmarks[:, :2] - m[:, 2]) / np.diag(m)[:2]
    (x0, y0), (x1, y1) = pts.min(0).astype(int), pts.max(0).astype(int)
    return slice(y0, y1), slice(x0, x1)


def _detail(image: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())


def test_at_rest_the_output_is_the_photo(engine, sharp_state, sharp_photo):
    rest = compose(sharp_state, engine.render(sharp_state, Motion.neutral()))
    assert rest.shape == sharp_photo.shape
    assert np.abs(rest.astype(int) - sharp_photo).max() <= 1


def test_at_rest_a_smaller_output_is_the_letterboxed_photo(engine, sharp_state, sharp_photo):
    rest = compose(sharp_state, engine.render(sharp_state, Motion.neutral()), out_size=(640, 480)).astype(int)
    plain = fit_to(sharp_photo, (640, 480)).astype(int)
    assert np.abs(rest - plain).mean() < 1.0


def test_the_face_keeps_the_photos_detail_while_turning(engine, sharp_state, sharp_photo):
    box = _face_box(sharp_state)
    moved = compose(sharp_state, engine.render(sharp_state, Motion(rotation=np.array([4, 10, 0], np.float32))))
    assert np.abs(moved[box].astype(int) - sharp_photo[box]).mean() > 3  # it did move
    ratio = _detail(moved[box]) / _detail(sharp_photo[box])
    # per-pixel white grain is the hardest case for any resampling: cubic at the
    # photo's resolution keeps ~0.65 of it, bilinear ~0.38, a 512-px crop scaled
    # back up far less; at most a little above 1: no sharpening either
    assert 0.55 < ratio <= 1.1


def test_sub_pixel_motion_settles_to_the_photo():
    back = np.zeros((8, 8, 2), np.float32)
    back[..., 0] = 0.2  # a fifth of an output pixel: tracker noise
    assert np.abs(settle(back, 1.0)).max() < 0.03
    back[..., 0] = 3.0  # a real motion passes unchanged
    np.testing.assert_array_equal(settle(back, 1.0), back)
    sizes = np.linspace(0.0, 1.5, 61, dtype=np.float32)
    eased = settle(np.stack([sizes, np.zeros_like(sizes)], -1)[None], 1.0)[0, :, 0]
    assert np.all(np.diff(eased) >= 0)  # monotonic: a growing motion never steps back


def test_the_layer_over_the_plate_is_the_photo_in_the_soft_edge():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)
    plate = rng.integers(0, 256, (64, 64, 3)).astype(np.uint8)  # an inpainting guess, far off
    matte = rng.uniform(0.0, 1.0, (64, 64)).astype(np.float32)
    layer, back = split_layer(image, matte, plate)
    a = layer[..., 3:].astype(np.float32) / 255.0
    again = a * layer[..., :3] + (1.0 - a) * back
    # no grey ring at rest: within rounding of the photo everywhere
    assert np.abs(again - image).max() <= 1.5


def test_the_device_draw_matches_the_host_draw(engine, sharp_state, sharp_photo):
    """The array-module path (CuPy on a GPU) checked with NumPy standing in:
    the photo at rest, and within a couple of grey levels of the cubic host
    path in motion."""
    from vivicam.engines.base import View

    h, w = sharp_photo.shape[:2]
    m = sharp_state.crop_matrix
    view = View((0, h, 0, w), (float(m[0, 0]), float(m[0, 2])), (float(m[1, 1]), float(m[1, 2])))
    rest = engine.render(sharp_state, Motion.neutral())
    box = _face_box(sharp_state)
    np.testing.assert_allclose(rest.draw_on(view, np)[box], rest.draw(view, np)[box], atol=1.0)
    moving = engine.render(sharp_state, Motion(rotation=np.array([3, 8, 0], np.float32), mouth_open=0.4))
    diff = np.abs(moving.draw_on(view, np) - moving.draw(view, np))[box]
    assert diff.mean() < 3.0 and np.abs(moving.draw(view, np) - rest.draw(view, np))[box].mean() > 3.0
