"""Eye models: a clean eyeball (iris painted out) and an iris sprite per eye.

Per frame each eye is redrawn inside the *target* eye opening: the eyeball
follows the eye corners (similarity), the iris sprite sits at the eyeball
position plus the gaze offset, and the target lid contour clips both, so
irises never leave the opening and a closing lid (moved by the warp, see
``mesh_motion``) hides them. At neutral it reproduces the photo's eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.calibrate.config import GAZE_RANGE

AA_SHIFT = 4  # sub-pixel bits for anti-aliased polygon edges
# iris travel at gaze ±1 along the eye's own axes, in half eye widths (the
# tracker's gaze range: Motion.gaze ±1 is an iris offset of that much)
GAZE_REACH = GAZE_RANGE
# A gaze moves the iris no nearer an eye corner than this many iris radii
# (centre to corner) unless the photo's iris sits nearer already: an eyeball
# turns the iris under the lids, it cannot slide it into the corner's angle.
# With the reach alone, a hard side look filled the narrow far eye of a
# three-quarter face to its corner, a black wedge (s8 by d11).
IRIS_CORNER_CLEAR = 1.25


@dataclass(frozen=True, eq=False)
class EyeModel:
    contour: tuple[int, ...]  # landmark indices of the eye opening
    corners: tuple[int, int]
    corner_src: np.ndarray  # (2,2) float32 source positions of the two corners
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 of the source region (crop pixels)
    eyeball: np.ndarray  # (h,w,3) float32 source region with the iris painted out
    sprite: np.ndarray  # (s,s,4) float32 iris RGB + alpha (0..1)
    iris: np.ndarray  # (2,) float32 iris centre, crop pixels
    radius: float
    area: float  # eye-opening area in the photo, square pixels
    lash: np.ndarray  # (3,) float32 colour of the upper lid's lash line


@dataclass(frozen=True, eq=False)
class Patch:
    """A small RGB layer with alpha at ``(x0, y0)`` in the crop."""

    x0: int
    y0: int
    rgb: np.ndarray  # (h,w,3) float32
    alpha: np.ndarray  # (h,w) float32 0..1


def build_eyes(crop: np.ndarray, pts: np.ndarray) -> tuple[EyeModel, EyeModel]:
    return tuple(_build_eye(crop, pts, e) for e in range(2))  # type: ignore[return-value]


def _build_eye(crop: np.ndarray, pts: np.ndarray, e: int) -> EyeModel:
    n = crop.shape[0]
    contour = mesh.EYE_CONTOUR[e]
    poly = pts[list(contour), :2]
    iris = pts[mesh.IRIS_CENTER[e], :2].astype(np.float32)
    radius = float(np.mean(np.linalg.norm(pts[list(mesh.IRIS_RING[e]), :2] - iris, axis=1)))
    radius = max(radius, 1.0)
    width = float(np.linalg.norm(poly[0] - poly[8]))
    pad = int(np.ceil(max(radius * 1.5, 0.35 * width))) + 2
    x0, y0 = (np.floor(poly.min(0)).astype(int) - pad).clip(0, n - 1)
    x1, y1 = (np.ceil(poly.max(0)).astype(int) + pad + 1).clip(1, n)
    region = crop[y0:y1, x0:x1].astype(np.uint8)
    opening = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, AA_SHIFT)
    disc = np.zeros_like(opening)
    cv2.circle(disc, _fix(iris - (x0, y0)), int(round(radius * 1.15 * 16)), 255, -1, cv2.LINE_AA, AA_SHIFT)

    visible_white = (opening > 200) & (disc == 0)
    white = _sclera_colour(region[visible_white]) if visible_white.sum() > 4 else _fallback_white(crop, pts)
    # paint the iris out using only sclera colour around it (not lid skin);
    # beyond the photo's opening the eyeball is sclera too,
    # so eyes opened wider than in the photo show white, not lid skin
    shade = np.clip(np.asarray(white, np.float32), 0, 255).astype(np.uint8)
    guide = np.where((opening > 0)[..., None], region, shade).astype(np.uint8)
    eyeball = cv2.inpaint(guide, (disc > 0).astype(np.uint8), 3, cv2.INPAINT_TELEA).astype(np.float32)
    return EyeModel(
        contour=contour,
        corners=mesh.EYE_CORNERS[e],
        corner_src=pts[list(mesh.EYE_CORNERS[e]), :2].astype(np.float32),
        box=(int(x0), int(y0), int(x1), int(y1)),
        eyeball=eyeball,
        sprite=_iris_sprite(crop, iris, radius, opening, (x0, y0)),
        iris=iris,
        radius=radius,
        area=abs(_area(poly.astype(np.float64))),
        lash=_lash_colour(crop, pts, e),
    )


def _lash_colour(crop: np.ndarray, pts: np.ndarray, e: int) -> np.ndarray:
    """The darkest tenth of the pixels along the upper lid margin."""
    lid = pts[list(mesh.UPPER_LID[e]), :2]
    samples = []
    for a, b in zip(lid[:-1], lid[1:]):
        for t in np.linspace(0.0, 1.0, 5):
            x, y = a + (b - a) * t
            xi, yi = int(round(x)), int(round(y - 1))
            if 0 <= xi < crop.shape[1] and 0 <= yi < crop.shape[0]:
                samples.append(crop[yi, xi])
    if not samples:
        return np.array([40.0, 30.0, 30.0], np.float32)
    px = np.array(samples, np.float32)
    dark = px[np.argsort(px.mean(axis=1))[: max(1, len(px) // 10)]]
    return dark.mean(axis=0).astype(np.float32)


def _fix(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]) * 16)), int(round(float(p[1]) * 16))


def _sclera_colour(px: np.ndarray) -> np.ndarray:
    """The brighter quarter of the visible eye white (lashes, iris edge and
    shadow pull a plain median towards grey)."""
    lum = px.astype(np.float32).mean(axis=1)
    bright = px[lum >= np.percentile(lum, 75)]
    return np.median(bright, axis=0).astype(np.float32)


def _fallback_white(crop: np.ndarray, pts: np.ndarray) -> np.ndarray:
    face = crop[int(pts[:, 1].min()) : int(pts[:, 1].max()), int(pts[:, 0].min()) : int(pts[:, 0].max())]
    return np.clip(np.median(face.reshape(-1, 3), axis=0) * 1.3 + 20, 0, 235)


def _iris_sprite(crop, iris, radius, opening, origin) -> np.ndarray:
    """The iris disc as RGBA; parts hidden under the lids in the photo are
    filled from the mirrored visible side (an iris is round)."""
    half = int(np.ceil(radius)) + 2
    side = 2 * half + 1
    cx, cy = float(iris[0]), float(iris[1])
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    px, py = xs - half + cx, ys - half + cy
    rgb = cv2.remap(crop, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    vis = cv2.remap(opening, px - origin[0], py - origin[1], cv2.INTER_LINEAR).astype(np.float32) / 255.0
    vis = (vis > 0.9).astype(np.float32)
    dist = np.hypot(xs - half, ys - half)
    disc = np.clip(radius + 0.5 - dist, 0.0, 1.0)
    mirror_rows = side - 1 - np.arange(side)
    mrgb, mvis = rgb[mirror_rows], vis[mirror_rows]
    inside = disc > 0
    seen = inside & (vis > 0)
    mean = rgb[seen].mean(axis=0) if seen.any() else rgb[inside].mean(axis=0)
    fill = np.where((mvis > 0)[..., None], mrgb, mean)
    rgb = np.where((vis > 0)[..., None], rgb, fill)
    return np.concatenate([rgb, disc[..., None]], axis=-1).astype(np.float32)


def render_eye(model: EyeModel, target: np.ndarray, gaze: np.ndarray, crop_size: int) -> Patch | None:
    """The eye drawn for target points ``target`` (M,2) and ``gaze`` (2,)."""
    a, b = model.corners
    src_a = complex(*map(float, model.corner_src[0]))
    src_b = complex(*map(float, model.corner_src[1]))
    dst_a, dst_b = complex(*map(float, target[a])), complex(*map(float, target[b]))
    alpha = (dst_b - dst_a) / (src_b - src_a) if src_b != src_a else 1.0
    beta = dst_a - alpha * src_a
    poly = target[list(model.contour)].astype(np.float32)
    pad = 2
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad + 1
    x0, y0 = max(int(x0), 0), max(int(y0), 0)
    x1, y1 = min(int(x1), crop_size), min(int(y1), crop_size)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    w, h = x1 - x0, y1 - y0
    inv = 1.0 / alpha
    # target (u,v) in the patch → source crop pixel: z = (z' + origin - beta)/alpha
    m_src = _affine(inv, (complex(x0, y0) - beta) * inv)
    bx0, by0 = model.box[0], model.box[1]
    m_ball = m_src.copy()
    m_ball[:, 2] -= (bx0, by0)
    ball = cv2.warpAffine(
        model.eyeball, m_ball, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    width = abs(dst_b - dst_a)
    g = np.clip(np.asarray(gaze, np.float32), -1.0, 1.0)
    rest = alpha * complex(*map(float, model.iris)) + beta
    along = alpha / abs(alpha) if abs(alpha) > 0 else 1.0  # the eye's own axes (roll)
    at = (rest - dst_a) / along  # the iris at rest, in the eye's axes from corner a
    travel = complex(g[0] * GAZE_REACH[0], g[1] * GAZE_REACH[1]) * (width * 0.5)
    x = iris_along(at.real, travel.real, (dst_b - dst_a) / along, model.radius * abs(alpha))
    centre = dst_a + along * complex(x, at.imag + travel.imag)
    half = (model.sprite.shape[0] - 1) / 2.0
    m_iris = _affine(inv, (complex(x0, y0) - centre) * inv + complex(half, half))
    sprite = cv2.warpAffine(model.sprite, m_iris, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
    s_alpha = sprite[..., 3:4]
    rgb = ball * (1.0 - s_alpha) + sprite[..., :3] * s_alpha
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, AA_SHIFT)
    # an anti-aliased polygon of (nearly) no area still draws its outline:
    # fade the eyeball out as the lids meet so a shut eye shows no white line
    area = abs(_area(poly)) / max(abs(alpha) ** 2 * model.area, 1e-6)
    fade = float(np.clip((area - 0.04) / 0.16, 0.0, 1.0))
    a = mask.astype(np.float32) * (fade * _need(g, width, area) / 255.0)
    if fade < 1.0:
        # the lids meet: a lash line along the closure (it also hides the thin
        # seam where the warp's inverse is least exact)
        lash = np.zeros((h, w), np.uint8)
        lower = poly[: len(poly) // 2 + 1] - (x0, y0)
        width = 2 if abs(dst_b - dst_a) > 20 else 1  # lash line, px
        cv2.polylines(lash, [np.round(lower * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, AA_SHIFT)
        la = lash.astype(np.float32) * ((1.0 - fade) * 0.7 / 255.0)
        rgb = rgb * (a / np.maximum(a + la, 1e-6))[..., None] + model.lash * (la / np.maximum(a + la, 1e-6))[..., None]
        a = np.maximum(a, la)
    return Patch(x0, y0, rgb, a)


# The redrawn eye is drawn from the analysis crop, softer than the photo's own
# eye that the warp carries at full resolution: it is faded in only as the eye
# needs it — the iris moved off its place, or the opening grew past the
# photo's (there is nothing in the photo to show there). A closing eye needs
# none: the warp's eye-interior points slide the lid over it. Drawn for every
# lid change and for an iris shift from 0.3 px (the tracker's gaze noise
# reaches that), it flattened the lids' motion: d20's eye r 0.48, without it
# 0.80 (d19 0.86 -> 0.88, d6 and d10 unchanged).
NEED_SHIFT_PX = (1.0, 2.0)  # iris shift (crop px) from which the eye fades in, and by which it is full
NEED_AREA = (0.06, 0.2)  # growth of the opening's area (share) from which it fades in, and by which it is full


def iris_along(rest: float, travel: float, corner_b: complex, radius: float) -> float:
    """The iris centre's place along the eye (from corner a, in the eye's
    axes, where corner b is ``corner_b``) for a gaze ``travel`` from ``rest``:
    kept IRIS_CORNER_CLEAR radii from either corner, or where it rests if that
    is nearer one already."""
    clear = IRIS_CORNER_CLEAR * radius
    lo, hi = sorted((0.0, float(corner_b.real)))
    lo, hi = min(rest, lo + clear), max(rest, hi - clear)
    return float(np.clip(rest + travel, lo, hi))  # lo <= rest <= hi


def _need(gaze: np.ndarray, width: float, area: float) -> float:
    """0 at rest (the warped photo's eye is exact there), 1 once the gaze has
    moved visibly or the lids have opened wider than in the photo."""
    shift = float(np.hypot(gaze[0] * GAZE_REACH[0], gaze[1] * GAZE_REACH[1])) * width * 0.5
    by_shift = (shift - NEED_SHIFT_PX[0]) / (NEED_SHIFT_PX[1] - NEED_SHIFT_PX[0])
    by_area = (area - 1.0 - NEED_AREA[0]) / (NEED_AREA[1] - NEED_AREA[0])
    return float(np.clip(max(by_shift, by_area), 0.0, 1.0))


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _affine(a: complex, t: complex) -> np.ndarray:
    """2×3 matrix of z ↦ a·z + t (a similarity)."""
    return np.array([[a.real, -a.imag, t.real], [a.imag, a.real, t.imag]], np.float32)
