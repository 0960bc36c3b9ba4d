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
# The hair's soft edge and the fringe the segmentation misses are then all
# inside the layer and move with the head, and the plate under them is
# inpainted; without the band they stayed on the plate and a moving head left
# its outline behind (a ghost of the hair edge, a light ring round a painted
# head, a dark crack along the old silhouette).
MARGIN = 0.06


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


def smooth_fill(image: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """``image`` with the ``unknown`` (non-zero) pixels filled by push-pull:
    each pyramid level averages the known pixels below it, and every unknown
    pixel takes the finest level that has something there. A smooth
    continuation of the whole surrounding background; inpainting that walks
    in from the boundary (Telea) instead smears the row of pixels at the
    boundary inwards, which drew a light rim round a painted head and dark
    streaks from the clothes."""
    weight = (unknown == 0).astype(np.float32)
    colour = image.astype(np.float32) * weight[..., None]
    levels = [(colour, weight)]
    while min(levels[-1][1].shape) > 2:
        c, w = levels[-1]
        levels.append((cv2.pyrDown(c), cv2.pyrDown(w)))
    c, w = levels[-1]
    filled = c.reshape(-1, 3).sum(axis=0) / max(float(w.sum()), 1e-6) * np.ones_like(c)
    for c, w in reversed(levels[:-1]):
        coarse = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        share = np.clip(w, 0.0, 1.0)[..., None]
        mean = c / np.maximum(w, 1e-6)[..., None]
        filled = share * mean + (1.0 - share) * coarse
    return np.where(unknown[..., None] > 0, np.clip(filled, 0, 255), image).astype(image.dtype)


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
        filled = smooth_fill(small, small_mask)
    up = cv2.resize(filled, (n, n), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    if grain_sigma > 0.0:
        up = np.clip(up + grain((n, n), grain_sigma), 0, 255)
    return np.where(hard[..., None] > 0, np.round(up), crop).astype(np.uint8)
