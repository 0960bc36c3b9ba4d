"""The photo's pixels under the crop box, at the photo's own resolution, with
what the photo lacks filled in.

A close-up (hair or chin at the edge) or a face near the photo's border puts
part of the crop box outside the photo. The warp still needs pixels there —
a head moving down pulls hair in from above the photo's top edge — so the
canvas extends the photo: the edge's own pixels carried straight out,
fading within about a per cent of the crop into an inpainted continuation
of the edge's colours, with the photo's own grain on top so the fill does
not read as a smooth patch. The output is pasted back within the photo's
bounds only, so the fill shows only where the head moves into it.

A reflection about the edge (as before) continued a wall's texture, but it
flipped everything oriented: hair strands met their mirror images in a row
of chevrons, with diamonds at a corner, wherever a close-up's head moved
away from the edge (s1 cut to the head, driven by d12); the edge carried out
continues each strand's colour and fades, and no part of the photo, the face
least of all, is repeated.
"""

from __future__ import annotations

import cv2
import numpy as np

from vivicam.engines.warp.crop import CropBox

FILL_RES = 96  # the smooth fill is inpainted at this resolution (it is smooth anyway)
EDGE_REACH = 0.012  # crop sides over which the edge carried out fades into the smooth fill
FACE_GROW = 1.1  # the face oval, grown about its centre, whose edge is not carried out
FACE_FEATHER = 0.015  # crop sides: the feather between the edge carried out and the smooth fill there
GRAIN_SEED = 7  # fixed: the grain is part of the avatar, never a per-frame flicker


def grain_level(image: np.ndarray, valid: np.ndarray | None = None) -> float:
    """The photo's noise level (grey levels, σ): the median absolute
    high-pass response, robust to edges (most pixels are not on an edge)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    high = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    values = np.abs(high[valid > 0]) if valid is not None else np.abs(high).ravel()
    if values.size < 64:
        return 0.0
    # a Gaussian's median absolute value is 0.674 σ; a blur of σ 1 keeps ~0.77 of white noise's σ
    return float(np.median(values) / 0.674 / 0.77)


def grain(shape: tuple[int, int], sigma: float, seed: int = GRAIN_SEED) -> np.ndarray:
    """A fixed (H, W, 1) float32 noise texture of standard deviation ``sigma``."""
    if sigma <= 0.0:
        return np.zeros((*shape, 1), np.float32)
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((*shape, 1)) * sigma).astype(np.float32)


def extend(photo: np.ndarray, box: CropBox, face: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(canvas, inside)``: the box's ``side × side`` pixels of ``photo``
    (H×W×C uint8 or float32), the part beyond the photo filled as the module
    says, and a uint8 mask that is 1 where the canvas is the photo's own pixel.

    ``face``: (K, 2) photo pixels outlining the face (its oval), whose
    edge is not carried out (with the photo's edge through the eyes, streaks
    of iris and lash): there the smooth fill stands instead."""
    h, w = photo.shape[:2]
    side = box.side
    ys = np.arange(box.y0, box.y0 + side)
    xs = np.arange(box.x0, box.x0 + side)
    inside = ((ys >= 0) & (ys < h))[:, None] & ((xs >= 0) & (xs < w))[None, :]
    carried = photo[_clamp(ys, h)][:, _clamp(xs, w)]
    if inside.all():
        return np.ascontiguousarray(carried), inside.astype(np.uint8)
    smooth = _smooth_fill(carried, inside)
    # distance from the photo's edge, in crop sides: 0 on the photo
    dy = np.maximum(np.maximum(-ys, ys - (h - 1)), 0)
    dx = np.maximum(np.maximum(-xs, xs - (w - 1)), 0)
    dist = np.hypot(dy[:, None], dx[None, :]) / float(side)
    keep = np.exp(-((dist / EDGE_REACH) ** 2)).astype(np.float32)
    if face is not None:
        keep *= 1.0 - _carried_face(face, (h, w), ys, xs)
    if photo.ndim == 3:
        keep = keep[..., None]
    filled = keep * carried.astype(np.float32) + (1.0 - keep) * smooth
    if photo.dtype == np.uint8:
        sigma = grain_level(photo)
        noise = grain((side, side), sigma)
        filled = np.clip(filled + (1.0 - keep) * noise + 0.5, 0, 255)
    out = np.where(inside[..., None] if photo.ndim == 3 else inside, carried, filled.astype(photo.dtype))
    return np.ascontiguousarray(out), inside.astype(np.uint8)


def _carried_face(outline: np.ndarray, shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(len(ys), len(xs)) float32, 1 where the edge carried out would be the
    face's (its outline grown by FACE_GROW, the edge feathered)."""
    hull = cv2.convexHull(np.asarray(outline, np.float32).reshape(-1, 2))[:, 0]
    centre = hull.mean(axis=0)
    hull = centre + FACE_GROW * (hull - centre)
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    face = mask[_clamp(ys, shape[0])][:, _clamp(xs, shape[1])].astype(np.float32)
    return cv2.GaussianBlur(face, (0, 0), FACE_FEATHER * len(ys))


def _clamp(index: np.ndarray, n: int) -> np.ndarray:
    """Indices into ``[0, n)``, those beyond taking the nearest edge's (like BORDER_REPLICATE)."""
    return np.clip(index, 0, n - 1)


def _smooth_fill(carried: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """What lies beyond the photo's edge, smoothly: the photo inpainted
    outwards at low resolution."""
    side = carried.shape[0]
    res = min(FILL_RES, side)
    small = cv2.resize(carried.astype(np.float32), (res, res), interpolation=cv2.INTER_AREA)
    hole = cv2.resize((~inside).astype(np.uint8), (res, res), interpolation=cv2.INTER_NEAREST)
    if hole.all():
        return np.full(carried.shape, float(np.mean(carried)), np.float32)
    mask = carried.dtype != np.uint8  # a 0..1 map (the person mask): inpainted on 0..255
    small8 = np.clip(small * (255.0 if mask else 1.0) + 0.5, 0, 255).astype(np.uint8)
    filled = cv2.inpaint(small8, hole, 5, cv2.INPAINT_TELEA).astype(np.float32)
    if mask:
        filled = filled / 255.0
    filled = cv2.GaussianBlur(filled, (0, 0), 1.5)
    up = cv2.resize(filled, (side, side), interpolation=cv2.INTER_LINEAR)
    return up.reshape(carried.shape).astype(np.float32)

