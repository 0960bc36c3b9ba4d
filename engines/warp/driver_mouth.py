"""The driver's own mouth interior in the avatar's opening (``mouth="driver"``).

The alternative to the synthesised interior of :mod:`mouth`: the inside of
the driver's mouth (teeth, tongue, the dark of the throat, as the camera sees
them this frame), mapped lip to lip into the avatar's target inner-lip
polygon and colour-matched through the two faces' lip colours. Each target
pixel is placed by its fraction along the mouth (corner to corner) and its
fraction of the way from the upper to the lower inner lip there, and takes the
driver's pixel at the same two fractions — so the driver's upper teeth hang
from the avatar's upper lip however differently the two mouths are shaped.
"""

from __future__ import annotations

import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.calibrate.geometry import face_pose
from vivicam.engines.warp.canvas import grain_level
from vivicam.engines.warp.eyes import Patch
from vivicam.engines.warp.mouth_geometry import (
    MouthModel,
    along_curve,
    curves_uv,
    mouth_frame,
    polygon_box,
    polygon_mask,
    teeth_colour,
)
from vivicam.types import DriverFrame

# brightness gain limits: a dark painting may darken the driver's interior, but
# not turn it into something no mouth looks like
GAIN_RANGE = (0.4, 2.5)
CHROMA_SCALE_MAX = 1.5  # the most the lips' colourfulness may scale the interior's
WHITE_SAMPLES = 1500  # skin pixels round the driver's mouth its white is read from
MIN_DRIVER_GAP = 1.0
# skipped inside each of the driver's inner lips (face sizes): the tracked
# contour sits on the lip's edge, and lip-coloured pixels drawn in the avatar's
# opening make it read (and look) narrower than it is (d20: mouth r 0.87 → 0.92)
LIP_INSET = 0.025  # driver inner-lip gap (px) below which the mouth counts as shut
# The driver's interior is used only where it shows more than the camera's
# noise: its spread (grey σ) and its difference from the lips' grey, together,
# at least this many times the noise σ around the mouth. Well-lit clips (d10, d12, d18, d19) measure 16–40 (10th
# percentiles), the same clips in low light (×0.45, gamma 1.5, sensor noise)
# 1.4–4: a dark, noisy interior pasted into the avatar reads as parted lips
# (MediaPipe on the output: mouth r 0.55–0.70 against 0.87 with the
# synthesised interior), so those frames get the synthesised one.
MIN_INTERIOR_SNR = 6.0


def _round_mouth(image: np.ndarray, points: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the square of the image round the driver's
    mouth, as wide as twice the mouth (lips, skin, chin); None when under 8 px."""
    outer = points[list(mesh.LIPS_OUTER), :2]
    centre, half = outer.mean(axis=0), np.ptp(outer, axis=0).max()
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(centre - half).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(centre + half).astype(int), (w, h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def white_round_mouth(image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(3,) the teeth colour that goes with the driver's skin round the mouth
    (:func:`teeth_colour`, as the avatar's is made from its skin), or None
    when too little of it is in view."""
    box = _round_mouth(image, points)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    outer = points[list(mesh.LIPS_OUTER), :2]
    skin = np.ones((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(skin, [np.round(outer - (x0, y0)).astype(np.int32)], 0)
    # every step-th pixel: a colour's medians need no more than WHITE_SAMPLES
    # (all of a close-up's mouth box cost 3 ms a frame, the whole render's budget)
    step = max(1, int(np.ceil(np.sqrt(skin.size / WHITE_SAMPLES))))
    pixels = image[y0:y1:step, x0:x1:step][skin[::step, ::step] > 0]
    return teeth_colour(pixels) if len(pixels) >= 16 else None


def driver_lip_colour(image: np.ndarray, points: np.ndarray) -> np.ndarray | None:
    """(3,) mean colour of the driver's lips (between the outer and inner lip
    contours) around their mouth, or None when the lips are out of view."""
    outer = points[list(mesh.LIPS_OUTER), :2]
    x0, y0 = np.floor(outer.min(0)).astype(int) - 1
    x1, y1 = np.ceil(outer.max(0)).astype(int) + 2
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    ring = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(ring, [np.round(outer - (x0, y0)).astype(np.int32)], 1)
    cv2.fillPoly(ring, [np.round(points[list(mesh.LIPS_INNER), :2] - (x0, y0)).astype(np.int32)], 0)
    pixels = image[y0:y1, x0:x1][ring > 0]
    return pixels.astype(np.float32).mean(axis=0) if len(pixels) >= 8 else None


def match_colours(rgb: np.ndarray, driver_lips: np.ndarray, avatar_lips: np.ndarray,
                  driver_white: np.ndarray | None = None, avatar_white: np.ndarray | None = None) -> np.ndarray:
    """The driver's interior in the avatar's colours, in YCrCb: brightness
    scaled by the ratio of the lips' brightness; chroma through the plane's
    similarity (turn and scale, then shift) that takes the driver's white to
    the avatar's (the teeth colours that go with each one's skin,
    :func:`teeth_colour`; no chroma when not given) and the driver's lips to
    the avatar's. White teeth land on the avatar's white, the lips on its
    lips, a grey photo gets a grey mouth (a plain per-channel gain would turn
    the teeth blue in a black-and-white photo), the same face maps onto
    itself. Shifting every chroma by the lips' difference instead turned
    white teeth lime where the avatar's lips were more orange than the
    driver's pink (d18 on s5 and s6)."""
    ycc = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.float32) / 255.0, cv2.COLOR_RGB2YCrCb)
    d, a = _ycc(driver_lips), _ycc(avatar_lips)
    dw = 0j if driver_white is None else _chroma(_ycc(driver_white))
    aw = 0j if avatar_white is None else _chroma(_ycc(avatar_white))
    luma = float(np.clip(a[0] / max(d[0], 1e-3), *GAIN_RANGE))
    ycc[..., 0] *= luma
    # chroma as complex numbers: z -> aw + k·(z - dw), k taking the driver's
    # lips (seen from its white) to the avatar's
    dz, az = _chroma(d) - dw, _chroma(a) - aw
    k = az / dz if abs(dz) > 1e-3 else 0j
    if abs(k) > CHROMA_SCALE_MAX:  # a faint driver lip colour would blow every hue up
        k *= CHROMA_SCALE_MAX / abs(k)
    cr, cb = ycc[..., 1] - 0.5 - dw.real, ycc[..., 2] - 0.5 - dw.imag
    ycc[..., 1] = 0.5 + aw.real + k.real * cr - k.imag * cb
    ycc[..., 2] = 0.5 + aw.imag + k.imag * cr + k.real * cb
    out = cv2.cvtColor(np.clip(ycc, 0.0, 1.0), cv2.COLOR_YCrCb2RGB) * 255.0
    return np.clip(out, 0.0, 255.0)


def _ycc(colour: np.ndarray) -> np.ndarray:
    """(3,) Y, Cr, Cb (0..1) of one RGB colour (0..255)."""
    return cv2.cvtColor(np.asarray(colour, np.float32).reshape(1, 1, 3) / 255.0, cv2.COLOR_RGB2YCrCb)[0, 0]


def _chroma(ycc: np.ndarray) -> complex:
    """A YCrCb colour's chroma as Cr + i·Cb about the grey axis."""
    return complex(float(ycc[1]) - 0.5, float(ycc[2]) - 0.5)


def shows_more_than_noise(rgb: np.ndarray, mask: np.ndarray, image: np.ndarray, points: np.ndarray,
                          lips: np.ndarray) -> bool:
    """Whether the sampled interior ``rgb`` (within ``mask``) stands out — its
    own spread and its difference from the lips (``lips``: their mean RGB)
    together — by more than MIN_INTERIOR_SNR × the driver camera's noise
    around the mouth."""
    inside = mask > 127
    if inside.sum() < 16:
        return True  # too small to judge, and too small to matter
    grey = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)[inside]
    box = _round_mouth(image, points)
    if box is None:
        return True
    x0, y0, x1, y1 = box
    noise = grain_level(np.ascontiguousarray(image[y0:y1, x0:x1]))
    lips_grey = float(np.dot(lips, (0.299, 0.587, 0.114)))
    signal = float(np.hypot(grey.std(), grey.mean() - lips_grey))
    return signal >= MIN_INTERIOR_SNR * noise


def render_driver_mouth(model: MouthModel, poly: np.ndarray, driver: DriverFrame, show: float,
                        crop_size: int) -> Patch | None:
    """The driver's interior in target inner-lip polygon ``poly`` (20, 2) crop
    px, at opacity ``show``; None when the driver's mouth is shut or out of view
    (the caller then draws the synthesised interior)."""
    points = np.asarray(driver.landmarks.points, np.float64)
    source = points[list(mesh.LIPS_INNER), :2]
    image = driver.image
    gap = np.linalg.norm(points[mesh.LIP_INNER_LOWER_MID, :2] - points[mesh.LIP_INNER_UPPER_MID, :2])
    lips = driver_lip_colour(image, points)
    if gap < MIN_DRIVER_GAP or lips is None:
        return None
    box = polygon_box(poly, crop_size)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mask = polygon_mask(poly, box)

    tf, sf = mouth_frame(poly.astype(np.float64)), mouth_frame(source)
    t_up, t_lo = curves_uv(poly, tf)
    s_up, s_lo = curves_uv(source, sf)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rx, ry = xs - tf[0][0], ys - tf[0][1]
    u = np.clip((rx * tf[1][0] + ry * tf[1][1]) / tf[3], 0.0, 1.0)
    v = rx * tf[2][0] + ry * tf[2][1]
    up_t, lo_t = along_curve(t_up, u), along_curve(t_lo, u)
    share = np.clip((v - up_t) / np.maximum(lo_t - up_t, 1e-3), 0.0, 1.0)
    up_s, lo_s = along_curve(s_up, u), along_curve(s_lo, u)
    inset = np.minimum(LIP_INSET * face_pose(points).size, 0.25 * np.maximum(lo_s - up_s, 0.0))
    v_s = up_s + inset + share * (lo_s - up_s - 2.0 * inset)
    sx = sf[0][0] + u * sf[3] * sf[1][0] + v_s * sf[2][0]
    sy = sf[0][1] + u * sf[3] * sf[1][1] + v_s * sf[2][1]
    rgb = cv2.remap(image, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    if not shows_more_than_noise(rgb, mask, image, points, lips):
        return None
    rgb = match_colours(rgb, lips, model.lips, white_round_mouth(image, points), model.teeth)
    return Patch(x0, y0, rgb.astype(np.float32), mask.astype(np.float32) / 255.0 * show)
