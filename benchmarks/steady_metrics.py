"""Pure measures for the steadiness benchmark (issue 17): fine detail, frame
to frame motion (DIS optical flow), flicker and colour difference, each a
function of images so tests can check it against known answers."""

from __future__ import annotations

import cv2
import numpy as np


def grey(image: np.ndarray) -> np.ndarray:
    """RGB uint8 → grey uint8 (BT.601 weights, OpenCV's)."""
    image = np.ascontiguousarray(image)
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the 3×3 Laplacian of the grey image: how much fine detail
    (edges, texture, grain) there is; blur lowers it, sharpening raises it."""
    lap = cv2.Laplacian(grey(image).astype(np.float32), cv2.CV_32F, ksize=3)
    return float(lap.var(dtype=np.float64))


def detail_ratio(image: np.ndarray, reference: np.ndarray) -> float:
    """Fine detail of ``image`` as a share of ``reference``'s (1 = as sharp)."""
    ref = laplacian_variance(reference)
    return float("nan") if ref <= 0 else laplacian_variance(image) / ref


# Two consecutive output frames "differ visibly" when at least VISIBLE_SHARE
# of their pixels differ by more than VISIBLE_GREY grey levels: above H.264's
# noise on a repeated frame (a few levels), below a head moving one pixel
# (its edges change by tens of levels over far more than 0.1 % of the frame).
VISIBLE_GREY = 8
VISIBLE_SHARE = 0.001


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels whose grey level differs by more than VISIBLE_GREY."""
    diff = cv2.absdiff(grey(a), grey(b))
    return float(np.count_nonzero(diff > VISIBLE_GREY)) / diff.size


def differs_visibly(a: np.ndarray, b: np.ndarray) -> bool:
    return changed_share(a, b) >= VISIBLE_SHARE


def distinct_share(images: list[np.ndarray]) -> float:
    """The share of consecutive pairs in ``images`` that differ visibly (NaN for fewer than two)."""
    pairs = [differs_visibly(a, b) for a, b in zip(images, images[1:])]
    return float(np.mean(pairs)) if pairs else float("nan")


class FlowMeter:
    """Mean DIS optical flow between consecutive images (px/frame): how far
    the picture moves as a whole, to a hundredth of a pixel."""

    def __init__(self, *, margin: float = 0.1) -> None:
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self._margin = margin  # share of each side left out (flow is least reliable at the border)
        self._prev: np.ndarray | None = None

    def step(self, image: np.ndarray) -> np.ndarray | None:
        """The mean (dx, dy) from the previous image to this one; None for the first."""
        current = grey(image)
        prev, self._prev = self._prev, current
        if prev is None or prev.shape != current.shape:
            return None
        flow = self._dis.calc(prev, current, None)
        h, w = current.shape
        my, mx = int(h * self._margin), int(w * self._margin)
        return flow[my : h - my or None, mx : w - mx or None].reshape(-1, 2).mean(axis=0).astype(np.float64)


def jitter(shifts: list[np.ndarray]) -> float:
    """Mean length of the per-frame shifts (px/frame); NaN without any."""
    return float(np.mean([np.hypot(*s) for s in shifts])) if shifts else float("nan")


def mean_grey(image: np.ndarray) -> float:
    return float(grey(image).mean(dtype=np.float64))


def flicker(levels: list[float] | np.ndarray) -> float:
    """Standard deviation over frames of the mean grey level (grey levels):
    an output that brightens and darkens (or follows the camera's exposure)
    scores high; a steady one near 0."""
    v = np.asarray(levels, np.float64)
    return float(v.std()) if v.size > 1 else float("nan")


def mean_lab(image: np.ndarray) -> np.ndarray:
    """Mean CIELAB colour (L 0..100, a, b; D65, sRGB input) of an RGB uint8 image."""
    rgb = np.ascontiguousarray(image).astype(np.float32) / 255.0
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3).mean(axis=0).astype(np.float64)


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> float:
    """CIE76 colour difference (≈ 1 is a just-noticeable difference side by side)."""
    return float(np.linalg.norm(np.asarray(lab_a, np.float64) - np.asarray(lab_b, np.float64)))
