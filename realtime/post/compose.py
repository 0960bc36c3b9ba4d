"""Paste the engine's crop back into the full photo, apply the background mode,
and fit the result into the output size (letterbox), in one pass per frame.

Everything that depends only on the avatar, the output size and the background
(the letterboxed photo, the background plate, the feathered alpha, the gather
tables) is computed once and cached per avatar state (:class:`Layout`). Per
frame only the crop's box in the output is touched::

    out[box] = base[box] + alpha * (resampled_crop - photo[box])

where ``base`` is the photo already composited over the background and
``alpha`` the paste mask times the person mask. The crop is resampled straight
into output coordinates (photo → output and crop → photo are both axis-aligned),
so it is resized once, not twice.
"""

from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from vivicam.engines.base import AvatarState, Drawable, View
from vivicam.realtime.post.background import BackgroundSpec, background_plate, harmonize_gain, parse_background
from vivicam.realtime.post.resample import AxisTable, axis_table, resample, resize_coords, scratch, to_uint8
from vivicam.xp import array_module, as_array, xp_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Fit:
    """Where a W×H image lands in the output: content ``(x, y, w, h)`` inside
    ``out_size = (width, height)``; the rest is letterbox padding."""

    out_size: tuple[int, int]
    x: int
    y: int
    w: int
    h: int

    @classmethod
    def letterbox(cls, src_size: tuple[int, int], out_size: tuple[int, int] | None) -> "Fit":
        sw, sh = src_size
        if out_size is None or tuple(out_size) == (sw, sh):
            return cls((sw, sh), 0, 0, sw, sh)
        ow, oh = int(out_size[0]), int(out_size[1])
        scale = min(ow / sw, oh / sh)
        w, h = max(1, min(ow, round(sw * scale))), max(1, min(oh, round(sh * scale)))
        return cls((ow, oh), (ow - w) // 2, (oh - h) // 2, w, h)

    def source_mapping(self, src_size: tuple[int, int]) -> tuple[tuple[float, float], tuple[float, float]]:
        """Per axis ``(scale, offset)``: source pixel ``= scale * out_pixel + offset``."""
        (sx, ox), (sy, oy) = resize_coords(src_size[0], self.w), resize_coords(src_size[1], self.h)
        return (sx, ox - sx * self.x), (sy, oy - sy * self.y)


@dataclass(frozen=True, eq=False)
class Layout:
    """Cached per (avatar, output size, background, array module)."""

    base: Any  # out H×W×3 uint8: photo over background, letterboxed
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 of the crop's footprint in the output
    rows: AxisTable | None  # crop rows per box row
    cols: AxisTable | None
    base_box: Any  # box h×w×3 float32 (base inside the box)
    photo_box: Any  # box h×w×3 float32 (letterboxed photo inside the box)
    alpha: Any  # box h×w×3 float32: paste mask × person mask
    fit: Fit  # where the photo lies in the output
    out_per_photo: float  # output pixels per photo pixel
    view: View | None = None  # the box and its crop coordinates, for engines that draw themselves


def _check_axis_aligned(matrix: np.ndarray) -> None:
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3) or abs(m[0, 1]) > 1e-6 or abs(m[1, 0]) > 1e-6 or m[0, 0] <= 0 or m[1, 1] <= 0:
        raise ValueError(
            "AvatarState.crop_matrix must be axis-aligned (positive scale + translation), "
            f"got {m.round(4).tolist()}"
        )


def _box_axis(scale: float, offset: float, crop_size: int, lo: int, hi: int) -> tuple[int, int]:
    """Output pixels ``[start, stop)`` within ``[lo, hi)`` whose crop coordinate
    ``scale * o + offset`` lies on the crop (``-0.5 .. crop_size - 0.5``)."""
    first = np.ceil((-0.5 - offset) / scale)
    last = np.floor((crop_size - 0.5 - offset) / scale)
    start, stop = max(lo, int(first)), min(hi, int(last) + 1)
    return start, max(start, stop)


def _fit_image(img: Any, fit: Fit, xp: ModuleType, pad: Any) -> Any:
    """``img`` (H×W×C) resized into ``fit`` with ``pad`` around it (float32 or uint8 as given)."""
    h, w = img.shape[:2]
    ow, oh = fit.out_size
    if (fit.w, fit.h) == (w, h) and (ow, oh) == (w, h):
        return img
    rows = axis_table(h, fit.h, *resize_coords(h, fit.h), xp=xp)
    cols = axis_table(w, fit.w, *resize_coords(w, fit.w), xp=xp)
    inner = resample(img, rows, cols, xp)
    out = xp.empty((oh, ow) + img.shape[2:], dtype=xp.float32)
    out[...] = xp.asarray(pad, dtype=xp.float32)
    out[fit.y : fit.y + fit.h, fit.x : fit.x + fit.w] = inner
    return to_uint8(out, xp) if img.dtype == xp.uint8 else out


def _build_layout(state: AvatarState, out_size: tuple[int, int] | None, background: Any, xp: ModuleType) -> Layout:
    _check_axis_aligned(state.crop_matrix)
    photo = xp.asarray(state.photo)
    h, w = photo.shape[:2]
    fit = Fit.letterbox((w, h), out_size)
    bg_spec = parse_background(background)
    person = state.person_mask
    if bg_spec.kind != "keep" and person is None:
        log.warning("background '%s' needs a person mask and this engine gives none; keeping the photo's", background)
        bg_spec = parse_background("keep")
    photo_f = photo.astype(xp.float32)
    tone = None  # per-pixel gain of the person's harmonized tone (None: unchanged)
    if bg_spec.kind == "keep":
        base_photo = photo
    else:
        p = xp.asarray(person, dtype=xp.float32)[..., None]
        plate = background_plate(bg_spec, photo, xp, person).astype(xp.float32)
        gain = harmonize_gain(bg_spec, photo, person, plate, xp)
        tone = 1.0 + p * (gain - 1.0)
        base_photo = to_uint8(plate + p * (photo_f * tone - plate), xp)
    pad = bg_spec.pad_rgb
    base = xp.ascontiguousarray(_fit_image(base_photo, fit, xp, pad))
    photo_out = _fit_image(photo, fit, xp, pad)

    # output pixel -> photo pixel -> crop pixel, per axis (all axis-aligned)
    (sx, ox), (sy, oy) = fit.source_mapping((w, h))
    m = np.asarray(state.crop_matrix, dtype=np.float64)
    cx_scale, cx_off = m[0, 0] * sx, m[0, 0] * ox + m[0, 2]
    cy_scale, cy_off = m[1, 1] * sy, m[1, 1] * oy + m[1, 2]
    size = int(state.crop_size)
    x0, x1 = _box_axis(cx_scale, cx_off, size, fit.x, fit.x + fit.w)
    y0, y1 = _box_axis(cy_scale, cy_off, size, fit.y, fit.y + fit.h)
    if x1 <= x0 or y1 <= y0:  # the crop lies outside the picture: nothing to paste
        empty = xp.zeros((0, 0, 3), xp.float32)
        return Layout(base, (y0, y0, x0, x0), None, None, empty, empty, empty, fit, fit.w / w)
    rows = axis_table(size, y1 - y0, cy_scale, cy_scale * y0 + cy_off, xp=xp)
    cols = axis_table(size, x1 - x0, cx_scale, cx_scale * x0 + cx_off, xp=xp)
    alpha = resample(xp.asarray(state.paste_mask, dtype=xp.float32), rows, cols, xp)
    if bg_spec.kind != "keep":
        p_out = _fit_image(xp.asarray(person, dtype=xp.float32), fit, xp, 0.0)
        alpha = alpha * p_out[y0:y1, x0:x1]
    alpha = xp.repeat(xp.clip(alpha, 0.0, 1.0)[..., None], 3, axis=2)
    if tone is not None:  # what moves gets the person's harmonized tone too
        alpha = alpha * _fit_image(tone, fit, xp, 1.0)[y0:y1, x0:x1]
    return Layout(
        base=base,
        box=(y0, y1, x0, x1),
        rows=rows,
        cols=cols,
        base_box=base[y0:y1, x0:x1].astype(xp.float32),
        photo_box=photo_out[y0:y1, x0:x1].astype(xp.float32),
        # expanded to 3 channels: a broadcast over a length-3 last axis is ~10x slower in NumPy
        alpha=xp.ascontiguousarray(alpha.astype(xp.float32)),
        fit=fit,
        out_per_photo=fit.w / w,
        view=View((y0, y1, x0, x1), (float(cx_scale), float(cx_off)), (float(cy_scale), float(cy_off))),
    )


# avatar state -> {(out_size, background key, xp): Layout}; dropped with the state.
_layouts: "weakref.WeakKeyDictionary[AvatarState, dict[tuple, Layout]]" = weakref.WeakKeyDictionary()


def _background_key(background: Any) -> Any:
    if isinstance(background, str):
        return background
    if isinstance(background, BackgroundSpec):
        return background.key
    return ("image", id(background), getattr(background, "shape", None))


def layout_for(state: AvatarState, out_size: tuple[int, int] | None, background: Any, xp: ModuleType) -> Layout:
    """The cached :class:`Layout` (built on first use; a handful kept per avatar)."""
    try:
        per_state = _layouts.setdefault(state, {})
    except TypeError:  # a state class with __slots__ cannot be weakly referenced: no caching
        return _build_layout(state, out_size, background, xp)
    key = (tuple(out_size) if out_size is not None else None, _background_key(background), xp_name(xp))
    layout = per_state.get(key)
    if layout is None:
        if len(per_state) >= 8:
            per_state.clear()
        layout = _build_layout(state, out_size, background, xp)
        per_state[key] = layout
    return layout


def compose(
    state: AvatarState,
    crop: Any,
    *,
    out_size: tuple[int, int] | None = None,
    background: Any = "keep",
    shift: Any = None,
    xp: ModuleType | None = None,
) -> Any:
    """The output frame: ``crop`` pasted into the avatar photo, background applied,
    letterboxed into ``out_size = (width, height)`` (default: the photo's size),
    then moved by ``shift`` = (dx, dy) photo pixels when given (the driver's
    camera motion; edge pixels repeat into what the move uncovers).

    ``crop`` is the engine's crop_size×crop_size×3 RGB (uint8, or float 0..255)
    as a NumPy/CuPy array or torch tensor (CUDA tensors are shared via DLPack),
    or a :class:`~vivicam.engines.base.Drawable` that draws the box itself at
    the output's resolution (the warp engine).
    ``background``: ``"keep"``, ``"blur"``, ``"color"`` / ``"color:#00ff00"``
    (solid key colour, default green), or an RGB image (NumPy/CuPy).
    Returns H×W×3 uint8 RGB in ``xp`` (default: the crop's array module).
    """
    drawable = isinstance(crop, Drawable)
    if drawable:
        xp = xp or crop.array_module
    else:
        xp = xp or array_module(crop)
        crop = _checked_crop(as_array(crop, xp), int(state.crop_size), xp)
    layout = layout_for(state, out_size, background, xp)
    out = layout.base.copy()
    if layout.rows is None:
        return _shifted(out, layout, shift, xp)
    y0, y1, x0, x1 = layout.box
    if drawable:  # the engine resamples its own full-resolution sources into the box
        pasted = xp.asarray(crop.draw(layout.view, xp), dtype=xp.float32)
    else:
        pasted = resample(crop, layout.rows, layout.cols, xp, reuse=True)
    xp.subtract(pasted, layout.photo_box, out=pasted)
    xp.multiply(pasted, layout.alpha, out=pasted)
    xp.add(pasted, layout.base_box, out=pasted)
    xp.rint(pasted, out=pasted)
    xp.clip(pasted, 0, 255, out=pasted)  # a harmonized tone may carry a moving pixel past 255
    out[y0:y1, x0:x1] = pasted  # float -> uint8 cast on assignment
    return _shifted(out, layout, shift, xp)


def _checked_crop(crop: Any, size: int, xp: ModuleType) -> Any:
    if crop.shape != (size, size, 3):
        raise ValueError(f"engine crop must be {size}x{size}x3, got {tuple(crop.shape)}")
    if crop.dtype != xp.uint8:  # float engine output may overshoot; clamp before blending
        crop = xp.clip(crop, 0, 255)
    return crop


def _shifted(out: Any, layout: Layout, shift: Any, xp: ModuleType) -> Any:
    """``out``'s picture (inside the letterbox) moved by ``shift`` photo
    pixels, rounded to whole output pixels: a camera's shake or pan needs no
    finer steps, and whole pixels move by slicing (a fraction of a full-frame
    resample's cost on the CPU)."""
    if shift is None:
        return out
    dx, dy = (int(round(float(v) * layout.out_per_photo)) for v in shift)
    fit = layout.fit
    dx, dy = max(-fit.w + 1, min(fit.w - 1, dx)), max(-fit.h + 1, min(fit.h - 1, dy))
    if dx == 0 and dy == 0:
        return out
    picture = out[fit.y : fit.y + fit.h, fit.x : fit.x + fit.w]
    moved = scratch(xp, "shift", picture.shape, picture.dtype)
    moved[max(dy, 0) : fit.h + min(dy, 0), max(dx, 0) : fit.w + min(dx, 0)] = picture[
        max(-dy, 0) : fit.h + min(-dy, 0), max(-dx, 0) : fit.w + min(-dx, 0)
    ]
    # what the move uncovers continues the picture's edge, blurred more the
    # further out (_edge_band): repeated edge pixels drew hard streaks (a
    # shirt's stripes over a quarter of the face box under a hand-held
    # driver); mirroring drew a second, upside-down collar and cost d20 1.1 dB
    # (rows first, over the columns that hold picture: the columns the move
    # uncovered are still last frame's scratch, and the blur would spread them)
    c0, c1 = max(dx, 0), fit.w + min(dx, 0)
    if dy > 0:
        moved[:dy, c0:c1] = _edge_band(moved[dy, c0:c1], dy, xp)[::-1]
    elif dy < 0:
        moved[fit.h + dy:, c0:c1] = _edge_band(moved[fit.h + dy - 1, c0:c1], -dy, xp)
    if dx > 0:
        moved[:, :dx] = _edge_band(moved[:, dx], dx, xp).transpose(1, 0, 2)[:, ::-1]
    elif dx < 0:
        moved[:, fit.w + dx:] = _edge_band(moved[:, fit.w + dx - 1], -dx, xp).transpose(1, 0, 2)
    picture[...] = moved
    return out


def _edge_band(line: Any, n: int, xp: ModuleType) -> Any:
    """(n, L, C) uint8: ``line`` (L, C), the picture's edge, continued ``n``
    pixels outwards; the row d pixels out is the line box-blurred over about
    ±d pixels (blurs at radii in powers of two, each row blended between the
    two either side of it), so the edge's detail fades smoothly with
    distance, as a defocused continuation would. (Rows that took the nearest
    power of two drew visible bands where the blur stepped: 100 rows and
    more under a hand-held driver's pan on a 2048² photo.)"""
    f = line.astype(xp.float32)
    length = f.shape[0]
    levels = []
    radius = 1
    while True:
        r = min(radius, length)
        padded = xp.concatenate([xp.repeat(f[:1], r + 1, axis=0), f, xp.repeat(f[-1:], r, axis=0)])
        sums = xp.cumsum(padded, axis=0)
        levels.append((sums[2 * r + 1:] - sums[: -2 * r - 1]) / (2 * r + 1))
        if radius >= n:
            break
        radius *= 2
    stack = xp.stack(levels)  # (K, L, C): blur at radius 2**k
    at = xp.log2(xp.arange(1, n + 1, dtype=xp.float32))  # row d's place between the radii
    lo = xp.minimum(xp.floor(at).astype(xp.int64), len(levels) - 1)
    hi = xp.minimum(lo + 1, len(levels) - 1)
    w = (at - lo.astype(xp.float32))[:, None, None]
    band = stack[lo] * (1.0 - w) + stack[hi] * w
    return xp.rint(band).astype(line.dtype)


def paste_crop(state: AvatarState, crop: Any, *, xp: ModuleType | None = None) -> Any:
    """The crop pasted into the photo at the photo's size (background kept)."""
    return compose(state, crop, xp=xp)


def fit_to(image: Any, out_size: tuple[int, int] | None, *, pad: tuple[int, int, int] = (0, 0, 0)) -> Any:
    """Letterbox any H×W×3 uint8 frame into ``out_size`` (e.g. a passthrough
    camera frame); the image itself when the size already matches."""
    xp = array_module(image)
    h, w = image.shape[:2]
    return _fit_image(image, Fit.letterbox((w, h), out_size), xp, pad)
