"""Mouth geometry shared by the synthesised (:mod:`mouth`) and the driver's
(:mod:`driver_mouth`) interiors: the per-avatar mouth model, the inner-lip
polygon's box and mask, and the corner-to-corner frame its curves are read in."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vivicam.engines.warp.eyes import AA_SHIFT

@dataclass(frozen=True, eq=False)
class MouthModel:
    lips: np.ndarray  # (3,) float32 mean lip colour
    teeth: np.ndarray  # (3,) float32 teeth colour
    gap0: float  # inner-lip gap of the photo, crop pixels
    # a photo whose mouth is already open (teeth showing): its own interior
    # and inner-lip contour, so the opening mouth keeps the photo's teeth
    own: np.ndarray | None = None  # (h,w,3) float32 crop pixels around the mouth
    own_origin: tuple[int, int] = (0, 0)  # (x0, y0) of ``own`` in the crop
    inner0: np.ndarray | None = None  # (20,2) float32 photo inner-lip polygon, crop px
    own_teeth: bool = False  # the photo's open mouth shows teeth


def polygon_box(poly: np.ndarray, crop_size: int, pad: int = 2) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the polygon's box in the crop with ``pad`` pixels
    around it, clipped; None when nothing of it is left to draw."""
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), crop_size), min(int(y1), crop_size)
    return None if x1 - x0 < 2 or y1 - y0 < 2 else (x0, y0, x1, y1)


def polygon_mask(poly: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The anti-aliased polygon as a uint8 0..255 mask over ``box``."""
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, AA_SHIFT)
    return mask


def mouth_frame(poly: np.ndarray):
    """Corner-to-corner axis of an inner-lip polygon: (origin, along, down, width)."""
    left, right = poly[0].astype(np.float64), poly[10].astype(np.float64)
    width = max(float(np.linalg.norm(right - left)), 1.0)
    along = (right - left) / width
    return left, along, np.array([-along[1], along[0]]), width


def curves_uv(poly: np.ndarray, frame) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower inner-lip curves as (u 0..1 along the mouth, v px down)."""
    origin, along, down, width = frame
    rel = poly.astype(np.float64) - origin
    uv = np.stack([rel @ along / width, rel @ down], axis=1)
    return uv[0:11], np.concatenate([uv[10:], uv[:1]])


def along_curve(curve: np.ndarray, u: np.ndarray) -> np.ndarray:
    order = np.argsort(curve[:, 0])
    return np.interp(u, curve[order, 0], curve[order, 1])


TEETH_OVER_SKIN = 2.5


def teeth_colour(skin: np.ndarray) -> np.ndarray:
    """(3,) float32 the teeth colour that goes with a face's skin (N×3 RGB
    pixels): near-white, a little brighter than the skin, with a hint of its
    colour cast (a grey photo gets grey teeth)."""
    skin = np.asarray(skin, np.float32).reshape(-1, 3)
    lum = float(np.median(skin.mean(axis=1)))
    sat = float(np.median(skin.max(axis=1) - skin.min(axis=1)))
    cast = np.median(skin, axis=0) / max(float(np.median(skin, axis=0).mean()), 1.0)
    level = float(np.clip(0.4 * lum + 160.0, 120.0, 248.0))
    # and no more than TEETH_OVER_SKIN × the skin's brightness: in a dark photo
    # near-white teeth glowed (a low-light portrait's skin at grey 30 got teeth
    # at 172) and read as lips pressed together, not parted
    level = min(level, TEETH_OVER_SKIN * lum)
    base = level * (0.85 + 0.15 * cast) * np.array([1.0, 0.99, 0.95])
    grey = np.full(3, base.mean(), np.float32)
    mix = float(np.clip(sat / 30.0, 0.0, 1.0))
    return np.clip(grey + (base - grey) * mix, 0, 250).astype(np.float32)
