"""Pure measures for the quality benchmark: image similarity on the face crop,
correlation of motion signals, head-pose error, and landmark jitter.

Everything here is a function of arrays (no I/O, no trackers), so the numbers
the benchmark reports can be checked against known answers in tests.
Missing values (a frame where the tracker lost the face) are NaN and are left
out pairwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vivicam.calibrate import geometry, mesh


# --------------------------------------------------------------------------- images

# Per-frame PSNR is capped before averaging: a clip's duplicated opening frames
# would otherwise give the static baseline an infinite mean.
PSNR_CAP_DB = 60.0


def psnr(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images (the
    benchmark caps per-frame values at :data:`PSNR_CAP_DB` before averaging)."""
    d = _difference(a, b)
    mse = float(np.mean(d * d))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(data_range**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0, win_size: int = 7) -> float:
    """Structural similarity, 1 for identical images: scikit-image's
    ``structural_similarity`` with its defaults (7×7 uniform window, sample
    covariance, K1 = 0.01, K2 = 0.03, border of half a window left out,
    colour channels averaged), computed with OpenCV box filters in float32 —
    the same numbers (to ~1e-7) about four times faster, which matters at
    three methods × thousands of frames."""
    import cv2

    if np.shape(a) != np.shape(b):
        raise ValueError(f"images differ in shape: {np.shape(a)} vs {np.shape(b)}")
    x = np.asarray(a, np.float32)
    y = np.asarray(b, np.float32)
    pad = (win_size - 1) // 2
    if min(x.shape[:2]) <= 2 * pad:
        raise ValueError(f"images must be larger than {win_size}×{win_size} for SSIM")
    n = win_size * win_size
    cov = n / (n - 1.0)  # sample covariance, as scikit-image's default
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def mean(v: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(v, cv2.CV_32F, (win_size, win_size), borderType=cv2.BORDER_REFLECT)

    ux, uy = mean(x), mean(y)
    vx = cov * (mean(x * x) - ux * ux)
    vy = cov * (mean(y * y) - uy * uy)
    vxy = cov * (mean(x * y) - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s[pad:-pad, pad:-pad].mean(dtype=np.float64))


def l1(a: np.ndarray, b: np.ndarray, *, data_range: float = 255.0) -> float:
    """Mean absolute difference as a fraction of the full scale (0 = identical, 1 = opposite)."""
    return float(np.mean(np.abs(_difference(a, b))) / data_range)


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.dtype == np.uint8 and b.dtype == np.uint8:  # exact and cheap
        return a.astype(np.int32) - b
    return a.astype(np.float64) - b


@dataclass(frozen=True)
class Box:
    """An axis-aligned pixel box, ``x0 <= x < x1``, ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        return image[self.y0 : self.y1, self.x0 : self.x1]

    @property
    def size(self) -> tuple[int, int]:
        return self.x1 - self.x0, self.y1 - self.y0


def face_box(points: np.ndarray, image_size: tuple[int, int], *, scale: float = 1.6) -> Box:
    """A square box ``scale`` times the landmarks' bounding box (its longer
    side), centred on it and clipped to the image ``(width, height)``."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    lo, hi = p.min(axis=0), p.max(axis=0)
    center = (lo + hi) / 2.0
    half = float((hi - lo).max()) * scale / 2.0
    width, height = image_size
    x0 = int(np.clip(np.floor(center[0] - half), 0, width - 1))
    y0 = int(np.clip(np.floor(center[1] - half), 0, height - 1))
    x1 = int(np.clip(np.ceil(center[0] + half), x0 + 1, width))
    y1 = int(np.clip(np.ceil(center[1] + half), y0 + 1, height))
    return Box(x0, y0, x1, y1)


# --------------------------------------------------------------------------- signals


def pearson(x: np.ndarray, y: np.ndarray, *, min_pairs: int = 3) -> float:
    """Pearson correlation over the pairs where both are finite; NaN when
    fewer than ``min_pairs`` pairs or either side does not vary."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"signals differ in length: {x.shape} vs {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    if int(ok.sum()) < min_pairs:
        return float("nan")
    xc = x[ok] - x[ok].mean()
    yc = y[ok] - y[ok].mean()
    # A flat signal has no correlation to speak of (e.g. a static output).
    for centred, raw in ((xc, x[ok]), (yc, y[ok])):
        if centred.std() <= 1e-9 * (1.0 + float(np.abs(raw).mean())):
            return float("nan")
    denom = float(np.sqrt((xc * xc).sum() * (yc * yc).sum()))
    return float(np.clip((xc * yc).sum() / denom, -1.0, 1.0))


def stack_points(sequence: list[np.ndarray | None]) -> np.ndarray:
    """A list of (478, 3) landmark arrays or None → (N, 478, 3) with NaN for None."""
    out = np.full((len(sequence), 478, 3), np.nan, dtype=np.float64)
    for i, pts in enumerate(sequence):
        if pts is not None:
            out[i] = pts
    return out


def head_angles(points: np.ndarray) -> np.ndarray:
    """(N, 478, 3) landmarks (NaN rows = lost) → (N, 3) (pitch, yaw, roll)
    degrees of each frame's head relative to the first tracked frame's head,
    in the convention of :class:`vivicam.types.Motion`."""
    n = points.shape[0]
    angles = np.full((n, 3), np.nan)
    reference = None
    for i in range(n):
        if not np.isfinite(points[i]).all():
            continue
        rotation = geometry.face_pose(points[i]).rotation
        if reference is None:
            reference = rotation
        angles[i] = geometry.euler_from_matrix(geometry.relative_rotation(rotation, reference))
    return angles


@dataclass(frozen=True)
class PoseError:
    mean_deg: float  # mean over frames and the three axes of |driver - output|
    pitch_deg: float
    yaw_deg: float
    roll_deg: float
    frames: int  # frames where both faces were tracked


def pose_error(driver_angles: np.ndarray, output_angles: np.ndarray) -> PoseError:
    """Mean absolute difference of two (N, 3) angle sequences (degrees)."""
    d = np.asarray(driver_angles, dtype=np.float64)
    o = np.asarray(output_angles, dtype=np.float64)
    ok = np.isfinite(d).all(axis=1) & np.isfinite(o).all(axis=1)
    if not ok.any():
        nan = float("nan")
        return PoseError(nan, nan, nan, nan, 0)
    err = np.abs(d[ok] - o[ok])
    per_axis = err.mean(axis=0)
    return PoseError(float(err.mean()), *map(float, per_axis), int(ok.sum()))


@dataclass(frozen=True)
class Gain:
    slope: float  # least-squares slope of output on driver (1 = follows exactly)
    corr: float  # Pearson correlation of the two
    driver_range: float  # p95 - p5 of the driver's values: below a few degrees the slope means little
    pairs: int


def gain(driver: np.ndarray, output: np.ndarray, *, min_pairs: int = 5, smooth: float = 0.0) -> Gain:
    """How much the output moves per unit of driver motion (e.g. degrees of
    yaw per driver degree): the least-squares line ``output ≈ slope · driver
    + c`` over the pairs where both are finite; NaN when the driver does not
    vary or there are fewer than ``min_pairs`` pairs.

    ``smooth``: σ in samples of a Gaussian applied to both series alike
    first (:func:`smooth_series`). A least-squares slope on a driver measured
    with frame-to-frame noise is biased towards 0 by var(signal) /
    (var(signal) + var(noise)) — on a dark, noisy driver the tracker's pitch
    noise alone takes ~15 % off a 6° nod's slope. The same linear filter on
    both sides leaves the slope of a true ``output = k · driver`` unchanged
    and removes most of that noise."""
    x = np.asarray(driver, dtype=np.float64).ravel()
    y = np.asarray(output, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"signals differ in length: {x.shape} vs {y.shape}")
    if smooth > 0:
        x, y = smooth_series(x, smooth), smooth_series(y, smooth)
    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    nan = float("nan")
    if n < min_pairs:
        return Gain(nan, nan, nan, n)
    xc = x[ok] - x[ok].mean()
    spread = float(np.percentile(x[ok], 95) - np.percentile(x[ok], 5))
    var = float((xc * xc).sum())
    if var <= 1e-12:
        return Gain(nan, nan, spread, n)
    slope = float((xc * (y[ok] - y[ok].mean())).sum() / var)
    return Gain(slope, pearson(x, y), spread, n)


def smooth_series(values: np.ndarray, sigma: float) -> np.ndarray:
    """A 1-D series under a centred (zero-phase) Gaussian of ``sigma``
    samples; NaN samples are left out (normalised convolution) and stay NaN."""
    v = np.asarray(values, dtype=np.float64).ravel()
    ok = np.isfinite(v)
    radius = max(1, int(np.ceil(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    pad = np.zeros(radius)  # explicit: "same" returns the taps' length for a shorter series
    num = np.convolve(np.concatenate([pad, np.where(ok, v, 0.0), pad]), taps, mode="valid")
    den = np.convolve(np.concatenate([pad, ok.astype(np.float64), pad]), taps, mode="valid")
    out = np.full_like(v, np.nan)
    out[ok] = num[ok] / den[ok]
    return out


# --------------------------------------------------------------------------- jitter


def face_sizes(points: np.ndarray) -> np.ndarray:
    """(N, 478, 3) → (N,) image-plane outer-eye-corner distance in pixels."""
    d = points[:, mesh.EYE_OUTER_RIGHT, :2] - points[:, mesh.EYE_OUTER_LEFT, :2]
    return np.linalg.norm(d, axis=1)


def landmark_speed(points: np.ndarray) -> np.ndarray:
    """(N, 478, 3) → (N,) mean 2-D displacement of the landmarks from the
    previous frame, in face sizes per frame; NaN for the first frame and
    wherever either frame is lost."""
    speed = np.full(points.shape[0], np.nan)
    if points.shape[0] < 2:
        return speed
    step = np.linalg.norm(np.diff(points[:, :, :2], axis=0), axis=2).mean(axis=1)
    speed[1:] = step / face_sizes(points)[1:]
    return speed


def still_runs(speed: np.ndarray, threshold: float, *, min_length: int = 8) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of at least ``min_length`` consecutive frames whose
    speed is below ``threshold`` (NaN breaks a run)."""
    still = np.nan_to_num(np.asarray(speed, dtype=np.float64), nan=np.inf) < threshold
    runs, start = [], None
    for i, s in enumerate(np.append(still, False)):
        if s and start is None:
            start = i
        elif not s and start is not None:
            if i - start >= min_length:
                runs.append((start, i))
            start = None
    return runs


def jitter(points: np.ndarray, runs: list[tuple[int, int]]) -> float:
    """Landmark noise within still runs: the per-landmark standard deviation
    of 2-D position (face sizes), averaged over landmarks, then over runs
    weighted by their length. NaN when there are no usable runs."""
    total, weight = 0.0, 0
    for start, stop in runs:
        seg = points[start:stop]
        seg = seg[np.isfinite(seg).all(axis=(1, 2))]
        if seg.shape[0] < 2:
            continue
        size = float(np.median(face_sizes(seg)))
        spread = np.sqrt(seg[:, :, :2].var(axis=0).sum(axis=1)).mean() / size
        total += spread * seg.shape[0]
        weight += seg.shape[0]
    return total / weight if weight else float("nan")


def summary(values: list[float] | np.ndarray) -> dict[str, float]:
    """Mean, median and p95 of the finite values (NaN when there are none)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        nan = float("nan")
        return {"mean": nan, "median": nan, "p95": nan}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "p95": float(np.percentile(v, 95))}
