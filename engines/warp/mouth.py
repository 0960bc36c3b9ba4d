"""The mouth interior: a synthesised dark cavity with shading, an upper
teeth band following the upper lip, lower teeth and a tongue hint, drawn in
the *target* inner-lip polygon so it opens and moves with the lips.

Colours come from the photo (lip colour for the cavity and tongue, the face's
brightness and saturation for the teeth), so paintings and black-and-white
photos get a matching interior. Why synthesised rather than the driver's own
mouth: see docs/warp.md.
"""

from __future__ import annotations


import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.engines.warp.driver_mouth import render_driver_mouth
from vivicam.engines.warp.eyes import AA_SHIFT, Patch
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

TEETH_HEIGHT = 0.1  # upper teeth band, face sizes (at most UPPER_SHARE of the gap)
UPPER_SHARE = 0.45
LOWER_TEETH_HEIGHT = 0.05
LOWER_SHARE = 0.18
TOOTH_WIDTH = 0.075
CAVITY_TINT = np.array([1.0, 0.72, 0.72], np.float32)  # the mouth's inside is redder than the lips
# The cavity at the lips' edge, as a share of the lips' colour (darker inside).
# Little light gets into a mouth: at 0.5 a low-light portrait's small openings
# read back (MediaPipe) as lips pressed together; 0.3 with the teeth limit
# below: low-light mouth r 0.843 -> 0.869, face PSNR +0.04 dB.
CAVITY_SHADE = 0.3
OWN_MIN_GAP = 0.04  # photo inner-lip gap (face sizes) from which its own teeth are kept


def build_mouth(crop: np.ndarray, pts: np.ndarray, size: float) -> MouthModel:
    n = crop.shape[0]
    outer = np.zeros((n, n), np.uint8)
    inner = np.zeros((n, n), np.uint8)
    cv2.fillPoly(outer, [np.round(pts[list(mesh.LIPS_OUTER), :2]).astype(np.int32)], 1)
    cv2.fillPoly(inner, [np.round(pts[list(mesh.LIPS_INNER), :2]).astype(np.int32)], 1)
    lip_px = crop[(outer > 0) & (inner == 0)].astype(np.float32)
    lips = lip_px.mean(axis=0) if len(lip_px) else np.array([150, 80, 80], np.float32)
    oval = np.zeros((n, n), np.uint8)
    cv2.fillPoly(oval, [np.round(pts[list(mesh.FACE_OVAL), :2]).astype(np.int32)], 1)
    skin = crop[(oval > 0) & (outer == 0)].reshape(-1, 3).astype(np.float32)
    if len(skin) < 16:
        skin = crop.reshape(-1, 3).astype(np.float32)
    teeth = teeth_colour(skin)
    gap0 = float(np.linalg.norm(pts[mesh.LIP_INNER_LOWER_MID, :2] - pts[mesh.LIP_INNER_UPPER_MID, :2]))
    own, origin, inner0, own_teeth = None, (0, 0), None, False
    if gap0 >= max(OWN_MIN_GAP * size, 3.0):
        inner0 = pts[list(mesh.LIPS_INNER), :2].astype(np.float32)
        x0, y0 = np.floor(inner0.min(0)).astype(int) - 4
        x1, y1 = np.ceil(inner0.max(0)).astype(int) + 5
        x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), n), min(int(y1), n)
        own, origin = crop[y0:y1, x0:x1].astype(np.float32), (x0, y0)
        # teeth showing = the opening is brighter than the lips; a dark opening
        # (lips just parted) gets synthesised teeth as it opens further
        own_teeth = bool(crop[inner > 0].mean() > lips.mean()) if inner.any() else False
    return MouthModel(lips=lips.astype(np.float32), teeth=teeth.astype(np.float32), gap0=gap0,
                      own=own, own_origin=origin, inner0=inner0, own_teeth=own_teeth)


def render_mouth(model: MouthModel, target: np.ndarray, size: float, crop_size: int,
                 driver: "DriverFrame | None" = None) -> Patch | None:
    """The interior for target points ``target`` (M,2); ``size`` = target face
    size px. With a ``driver`` frame, the driver's own interior
    (:mod:`driver_mouth`) while their mouth is open, else the synthesised one."""
    poly = target[list(mesh.LIPS_INNER)].astype(np.float32)
    gap = float(np.linalg.norm(target[mesh.LIP_INNER_LOWER_MID] - target[mesh.LIP_INNER_UPPER_MID]))
    show = float(np.clip((gap - model.gap0 - 0.5) / max(3.0, 0.04 * size), 0.0, 1.0))
    if show <= 0.0:
        return _lip_seam(model, poly, gap, crop_size)
    if driver is not None:
        patch = render_driver_mouth(model, poly, driver, show, crop_size)
        if patch is not None:
            return patch
    if model.own is not None:
        return _split_mouth(model, poly, size, crop_size)
    box = polygon_box(poly, crop_size)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    local = poly - (x0, y0)
    mask = polygon_mask(poly, box)

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    upper_y, lower_y = _lip_curves(local, xs[0])
    corner_l, corner_r = local[0, 0], local[10, 0]
    half_w = max(0.5 * (corner_r - corner_l), 1.0)
    across = np.clip(np.abs(xs - 0.5 * (corner_l + corner_r)) / half_w, 0.0, 1.0)  # 0 centre, 1 corners

    inside = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3)
    depth = np.clip(inside / max(0.3 * gap, 1.0), 0.0, 1.0)
    # a dark, warm cavity: darkest in the lips' shadow at the edge, a little
    # lighter towards the middle, darker towards the corners
    # lit, reddish inside near the lips; dark towards the throat
    shade = (1.0 - 0.6 * depth) * (1.0 - 0.3 * across)
    rgb = model.lips * CAVITY_SHADE * shade[..., None]
    # the inner lip edge: lip colour in shadow, fading into the cavity over ~2 px
    rim = np.clip(1.0 - inside / 2.5, 0, 1)
    rgb = rgb * (1.0 - rim[..., None]) + (model.lips * 0.6) * rim[..., None]
    centre_x = 0.5 * (corner_l + corner_r)
    if gap > 0.1 * size:  # the tongue, resting behind the lower teeth
        tongue_c = (centre_x, float(np.max(lower_y)) - 0.05 * gap)
        r = ((xs - tongue_c[0]) / (0.75 * half_w)) ** 2 + ((ys - tongue_c[1]) / (0.4 * gap)) ** 2
        t_alpha = (np.clip((1.0 - r) * 2.0, 0.0, 1.0) * np.clip((gap / size - 0.1) * 8, 0, 0.8))[..., None]
        rgb = rgb * (1 - t_alpha) + (model.lips * 0.72) * t_alpha
    # talking mostly shows teeth; the dark cavity only shows in a wide-open mouth
    th = min(TEETH_HEIGHT * size, UPPER_SHARE * gap)
    rgb = _teeth(rgb, xs, ys, upper_y[None, :], th, 1.0, model, across, size, centre_x, down=True)
    if gap > 0.15 * size:  # lower teeth: a narrower, shaded band, only in front
        tl = min(LOWER_TEETH_HEIGHT * size, LOWER_SHARE * gap)
        front = np.minimum(1.0, across / 0.6)
        rgb = _teeth(rgb, xs, ys, lower_y[None, :], tl, 0.8, model, front, size, centre_x, down=False)
    rgb = cv2.GaussianBlur(rgb.astype(np.float32), (3, 3), 0)
    alpha = mask.astype(np.float32) / 255.0 * show
    return Patch(x0, y0, rgb.astype(np.float32), alpha)


def _lip_seam(model: MouthModel, poly: np.ndarray, gap: float, crop_size: int) -> Patch | None:
    """A photo with an open mouth, closed by the driver: the squeezed-together
    interior would show as a thin line of teeth, so draw the lips' seam over
    it as they meet."""
    if model.gap0 < 3.0 or gap >= 0.35 * model.gap0:
        return None
    strength = 0.9 * (1.0 - gap / (0.35 * model.gap0))
    box = polygon_box(poly, crop_size, pad=3)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    local = poly - (x0, y0)
    upper, lower = local[0:11], np.concatenate([local[10:], local[:1]])[::-1]
    seam = 0.5 * (upper + lower)
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    width = 1 + int(gap + 1.0)
    cv2.polylines(mask, [np.round(seam * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, AA_SHIFT)
    mask = cv2.GaussianBlur(mask, (3, 3), 0)
    rgb = np.broadcast_to(model.lips * 0.6, (*mask.shape, 3)).astype(np.float32)
    return Patch(x0, y0, rgb, mask.astype(np.float32) * (strength / 255.0))


def _lip_curves(local: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower inner-lip y for every column (patch coordinates)."""
    upper = local[0:11]
    lower = np.concatenate([local[10:], local[:1]])
    def along(curve: np.ndarray) -> np.ndarray:
        order = np.argsort(curve[:, 0])
        return np.interp(xs, curve[order, 0], curve[order, 1])
    return along(upper).astype(np.float32), along(lower).astype(np.float32)


def _teeth(rgb, xs, ys, edge_y, height, light, model, across, size, centre_x, *, down):
    """A teeth band of ``height`` px hanging from (or standing on) ``edge_y``."""
    if np.max(height) < 1.0:
        return rgb
    depth = (ys - edge_y) / height if down else (edge_y - ys) / height
    band = np.clip((depth + 0.1) * 5.0, 0.0, 1.0) * np.clip((1.0 - depth) * 4.0, 0.0, 1.0)
    band *= np.clip((1.0 - across) * 2.0, 0.0, 0.92)  # teeth recede into shadow at the corners
    tooth = max(TOOTH_WIDTH * size, 2.0)
    seams = np.abs(((xs - centre_x) / tooth) % 1.0 - 0.5) * 2.0  # 0 at a seam, 1 mid-tooth
    groove = 0.9 + 0.1 * np.clip(seams * 4.0, 0.0, 1.0)
    shade = (0.93 + 0.07 * np.clip(depth, 0.0, 1.0)) * groove * light * (1.0 - 0.25 * across)
    teeth = model.teeth * shade[..., None]
    a = band[..., None]
    return rgb * (1.0 - a) + teeth * a


def _split_mouth(model: MouthModel, poly: np.ndarray, size: float, crop_size: int) -> Patch | None:
    """A photo with an open mouth opening further: its own interior splits —
    the upper half (upper teeth) moves with the upper lip, the lower half with
    the lower lip, unstretched — and a synthesised cavity fills only the gap
    that opens between them, darker towards the back of the mouth."""
    box = polygon_box(poly, crop_size)
    if box is None:
        return None
    x0, y0, x1, y1 = box
    mask = polygon_mask(poly, box)

    tf = mouth_frame(poly.astype(np.float64))
    sf = mouth_frame(model.inner0.astype(np.float64))
    k = sf[3] / tf[3]  # source px per target px
    t_up, t_lo = curves_uv(poly, tf)
    s_up, s_lo = curves_uv(model.inner0, sf)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    rx, ry = xs - tf[0][0], ys - tf[0][1]
    u = np.clip((rx * tf[1][0] + ry * tf[1][1]) / tf[3], 0.0, 1.0)
    v = rx * tf[2][0] + ry * tf[2][1]
    up_t, lo_t = along_curve(t_up, u), along_curve(t_lo, u)
    up_s, lo_s = along_curve(s_up, u), along_curve(s_lo, u)
    half = np.maximum(lo_s - up_s, 0.0) * 0.5 / k  # each half of the photo's interior, target px
    d_up, d_lo = v - up_t, lo_t - v
    upper = d_up <= d_lo
    v_s = np.where(upper, up_s + d_up * k, lo_s - d_lo * k)
    sx = sf[0][0] + u * sf[3] * sf[1][0] + v_s * sf[2][0] - model.own_origin[0]
    sy = sf[0][1] + u * sf[3] * sf[1][1] + v_s * sf[2][1] - model.own_origin[1]
    own = cv2.remap(model.own, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)

    # the cavity between the two halves: soft-edged (~1.5 px), lit warm near
    # the teeth, darkest along its middle (the throat), darker at the corners
    open_ = np.minimum(d_up, d_lo) - half  # px into the newly opened gap
    cav_h = np.maximum(lo_t - up_t - 2.0 * half, 1e-3)
    cavity = np.clip(open_ / 1.5 + 0.5, 0.0, 1.0)
    depth = np.clip(open_ / np.maximum(0.35 * cav_h, 1.5), 0.0, 1.0)
    across = np.abs(2.0 * u - 1.0)
    shade = (0.62 - 0.4 * np.sqrt(depth)) * (1.0 - 0.45 * across ** 2)
    rgb = (model.lips * CAVITY_TINT)[None, None, :] * shade[..., None]
    # the tongue: a soft hump resting on the lower half, lit on top, shown as
    # soon as the new gap is a few percent of the face (talking shows it)
    cav_mid = float(np.median(lo_t - up_t - 2.0 * half))
    show_t = float(np.clip((cav_mid / size - 0.04) * 8.0, 0.0, 0.75))
    if show_t > 0.0:
        rise = (lo_t - half - v) / np.maximum(0.45 * cav_h, 1.0)  # 0 on the lower half, 1 at its top
        r = ((2.0 * u - 1.0) / 0.75) ** 2 + rise ** 2
        t_alpha = np.clip((1.0 - r) * 3.0, 0.0, 1.0) * show_t
        tongue = model.lips * CAVITY_TINT * (0.62 - 0.25 * np.clip(rise, 0.0, 1.0))[..., None]
        rgb = rgb * (1 - t_alpha[..., None]) + tongue * t_alpha[..., None]
    if not model.own_teeth:  # lips parted on a dark mouth: teeth hang from the upper half
        th = np.maximum(np.minimum(TEETH_HEIGHT * size, UPPER_SHARE * cav_h), 1e-3)
        rgb = _teeth(rgb, u * tf[3], v, up_t + half, th, 1.0, model, across, size, 0.5 * tf[3], down=True)
    rgb = own * (1.0 - cavity[..., None]) + rgb * cavity[..., None]
    return Patch(x0, y0, rgb.astype(np.float32), mask.astype(np.float32) / 255.0)
