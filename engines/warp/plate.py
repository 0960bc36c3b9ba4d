"""The moving layer's matte and the background plate.

The plate is the crop with the person painted out (inpainted at low
resolution), so background uncovered by a turning head shows plausible
background instead of stretched hair, and the background never swims: the
render composites the warped person over this still plate.
"""

from __future__ import annotations

import cv2
import numpy as np

from vivicam.engines.warp.canvas import grain

PLATE_RES = 128  # inpainting resolution (cheap, and background is smooth)
# The moving layer takes a band of background around the person: solid over
# MARGIN face sizes beyond the segmentation, fading out over as much again.
# The hair's soft edge and the fringe the segmentation misses are then inside
# the layer and move with the head, and the plate under them is inpainted;
# without the band they stayed on the plate and a head that moved away left
# its outline behind (a dark crack along the old hair edge of a close-up). It
# costs a little where the real background stays put (the band moves with the
# head): d12's self-reenactment −0.16 dB at 0.03, −0.4 at 0.06.
MARGIN = 0.03


def sharpen_alpha(mask: np.ndarray) -> np.ndarray:
    """The moving layer's alpha from the segmentation: 0 below 0.08 (pixels
    that show the plate, which equals the photo there, so a still avatar is
    exact), 1 above 0.5 (so hair fringes move with the head, not ghost)."""
    return np.clip((mask - 0.08) / 0.42, 0.0, 1.0).astype(np.float32)


def person_matte(person: np.ndarray, face_hull: np.ndarray, feather: float, margin: float = 0.0) -> np.ndarray:
    """The alpha of the moving layer: the sharpened segmentation, plus the
    face hull whatever the segmentation says (paintings and statues are often
    missed by a selfie model, and their face must still move), plus a band
    of background ``margin`` pixels wide (solid; then fading over as many)."""
    n = person.shape[0]
    hull = np.zeros((n, n), np.uint8)
    cv2.fillConvexPoly(hull, face_hull.astype(np.int32), 255)
    k = max(3, int(feather) | 1)
    hull = cv2.GaussianBlur(hull, (k, k), 0).astype(np.float32) / 255.0
    core = np.maximum(sharpen_alpha(person), np.clip(hull * 2.0 - 0.5, 0.0, 1.0))
    if margin <= 0.0 or not (core > 0.0).any():
        return core
    away = cv2.distanceTransform((core <= 0.0).astype(np.uint8), cv2.DIST_L2, 5)
    band = np.clip(2.0 - away / margin, 0.0, 1.0)
    return np.maximum(core, band).astype(np.float32)


def background_plate(crop: np.ndarray, matte: np.ndarray, grain_sigma: float = 0.0) -> np.ndarray:
    """``crop`` with the moving layer (``matte`` > 0) inpainted away; equal to
    the crop wherever the matte is 0. ``grain_sigma``: the photo's noise,
    added (as a fixed texture) to what is inpainted, so background that a
    moving head uncovers is as grainy as the photo around it."""
    n = crop.shape[0]
    hard = (matte > 0.0).astype(np.uint8)
    small = cv2.resize(crop, (PLATE_RES, PLATE_RES), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(hard, (PLATE_RES, PLATE_RES), interpolation=cv2.INTER_AREA)
    small_mask = cv2.dilate((small_mask > 0).astype(np.uint8), np.ones((5, 5), np.uint8))
    if small_mask.all():  # nothing to learn the background from: a flat plate
        filled = np.full_like(small, np.median(small.reshape(-1, 3), axis=0).astype(np.uint8))
    else:
        filled = cv2.inpaint(small, small_mask, 6, cv2.INPAINT_TELEA)
        filled = cv2.GaussianBlur(filled, (5, 5), 0)
    up = cv2.resize(filled, (n, n), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    up += _seam(crop, hard, up)
    if grain_sigma > 0.0:
        up = np.clip(up + grain((n, n), grain_sigma), 0, 255)
    return np.where(hard[..., None] > 0, np.round(up), crop).astype(np.uint8)


# The rim of photo whose mismatch with the fill is carried into the hole, in
# plate pixels (at least SEAM_MIN): wide enough to average the photo's grain.
SEAM_SHARE, SEAM_MIN = 1.0 / 160.0, 2


def _seam(crop: np.ndarray, hard: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """What to add to ``fill`` (inside ``hard``) so it meets the photo round
    the hole without a step: the mismatch on a thin rim of photo outside the
    hole, spread smoothly inwards (a membrane, as in seamless cloning).

    The low-resolution fill learns from background a few pixels further out,
    and the background next to a person is rarely that: hair fringes the
    segmentation misses and shading make it darker, a painter's halo lighter.
    Without this the hole's outline stayed in the plate as a ring (7 grey
    levels round a dark-haired head on a pale wall) wherever the head moved
    off it."""
    n = crop.shape[0]
    width = max(SEAM_MIN, int(round(n * SEAM_SHARE)))
    outside = (hard == 0).astype(np.float32)
    k = 2 * width + 1
    rim = cv2.dilate(hard, np.ones((k, k), np.uint8)).astype(np.float32) * outside
    if not rim.any() or not outside.any():
        return np.zeros_like(fill)
    # the photo's local mean over background pixels only: no person in it
    photo = cv2.blur(crop.astype(np.float32) * outside[..., None], (k, k))
    photo /= np.maximum(cv2.blur(outside, (k, k)), 1e-6)[..., None]
    return membrane((photo - fill) * rim[..., None], rim) * hard[..., None].astype(np.float32)


def membrane(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``values`` (H×W×C, zero where unknown) with the pixels where ``known``
    is 0 filled smoothly from the known ones around them (push–pull over a
    Gaussian pyramid: each level fills its gaps from the coarser one)."""
    v = [values.astype(np.float32)]
    w = [known.astype(np.float32)]
    while min(v[-1].shape[:2]) > 4:
        v.append(cv2.pyrDown(v[-1]))
        w.append(cv2.pyrDown(w[-1]))
    out = v[-1] / np.maximum(w[-1], 1e-6)[..., None]
    for level in range(len(v) - 1, -1, -1):
        h, wd = v[level].shape[:2]
        coarse = out if level == len(v) - 1 else cv2.pyrUp(out, dstsize=(wd, h))
        if coarse.ndim == 2:
            coarse = coarse[..., None]
        here = v[level] / np.maximum(w[level], 1e-6)[..., None]
        t = np.clip(w[level] * 2.0, 0.0, 1.0)[..., None]
        out = t * here + (1.0 - t) * coarse
    return out.astype(np.float32)
