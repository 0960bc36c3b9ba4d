"""One resample of the photo, at its own resolution, straight into the output.

The warp's motion is computed where it is cheap — a backward displacement on
the coarse grid of the analysis crop (:mod:`field`) — and the pixels come from
the full-resolution canvas (:mod:`canvas`), mapped into the output frame in a
single ``remap``. Nothing is rendered into a fixed crop and scaled back up, so
at rest every output pixel is the photo's own (up to the output's scale), and
skin texture, hair strands and canvas grain survive any motion.

The moving layer is stored un-premultiplied (colour ``F`` and matte ``α``)
over the still background plate ``B`` with ``α·F + (1 − α)·B`` equal to the
photo at rest (see :func:`split_layer`), so the soft edge between the head and
the plate shows no ring when nothing moves and the plate's own pixels when the
head uncovers them.

A :class:`WarpFrame` is what ``WarpEngine.render`` returns; the paste-back
(:func:`vivicam.realtime.post.compose`) asks it to :meth:`~WarpFrame.draw`
itself over the output pixels a :class:`~vivicam.engines.base.View` names.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from vivicam.engines.base import View
from vivicam.engines.warp.canvas import grain
from vivicam.engines.warp.eyes import Patch
from vivicam.xp import array_module, as_array, to_host, xp_name

# below this many output pixels per canvas pixel the canvas is first reduced
# (area-averaged) to the output's scale: bilinear sampling alone would alias
FULL_RES_FROM = 0.75


@dataclass(frozen=True, eq=False)
class Sources:
    """The full-resolution pixels the warp samples, side × side canvas pixels.

    - ``layer``: side×side×4 uint8, the moving layer's colour ``F`` + matte ``α``.
    - ``plate``: side×side×3 uint8, the still background ``B``.
    - ``grain``: the photo's noise σ (grey levels), given to invented pixels.
    - ``crop_size``: the analysis crop's side (what the field's coordinates use).
    - ``face_px``: the face's size (outer eye corners) in analysis-crop pixels.
    """

    def settle_scale(self, view: View) -> float:
        """:func:`settle`'s scale for ``view``: output pixels per crop pixel over
        the output pixels below which motion settles — one pixel, or a small
        share of the face on a large output (a tracker's noise is a share of the
        face, so a 2048-px portrait sees it as several pixels)."""
        out_per_crop = 1.0 / view.x[0]
        return out_per_crop / max(SETTLE_PX, SETTLE_FACE * self.face_px * out_per_crop)

    layer: np.ndarray
    plate: np.ndarray
    grain: float
    crop_size: int
    face_px: float = 0.0  # the face's size in analysis-crop pixels
    _views: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def side(self) -> int:
        return int(self.layer.shape[0])


def split_layer(canvas: np.ndarray, matte: np.ndarray, plate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(layer, plate)`` with ``α·F + (1 − α)·B = canvas`` wherever it can hold.

    In the matte's soft edge the inpainted plate is only a guess of what lies
    behind the person; it is moved (per pixel, per channel) just far enough
    towards the photo that the colour ``F = (I − (1 − α)·B) / α`` stays within
    0..255 — so at rest the composite is the photo, up to rounding."""
    a = matte.astype(np.float32)[..., None]
    image = canvas.astype(np.float32)
    back = plate.astype(np.float32)
    soft = (a > 0.0) & (a < 1.0)
    one_minus = np.maximum(1.0 - a, 1e-6)
    lo, hi = (image - 255.0 * a) / one_minus, image / one_minus
    back = np.where(soft, np.clip(back, lo, hi), back)
    colour = np.where(a > 0.0, (image - (1.0 - a) * back) / np.maximum(a, 1e-6), image)
    layer = np.concatenate([np.clip(colour + 0.5, 0, 255), np.round(a * 255.0)], axis=-1).astype(np.uint8)
    return np.ascontiguousarray(layer), np.clip(back + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True, eq=False)
class _ViewCache:
    """What one output view needs every frame, computed once."""

    level: np.ndarray  # the layer at the view's scale (uint8 ×4)
    base: np.ndarray  # (h, w, 2) float32 level coordinates of each output pixel at rest
    plate: np.ndarray  # (h, w, 3) float32 the plate in output pixels
    to_grid: np.ndarray  # (2, 3) float32 output pixel -> coarse-grid coordinate
    k: float  # level pixels per crop pixel
    noise: np.ndarray  # (h, w, 1) float32 the photo's grain at the output's scale


def view_cache(src: Sources, view: View, grid_cell: int, xp: ModuleType = np) -> _ViewCache:
    """The view's cache, built on the host once and copied to ``xp``'s device once."""
    key = (view, grid_cell, xp_name(xp))
    with src._lock:
        cached = src._views.get(key)
        if cached is None:
            if len(src._views) >= 8:
                src._views.clear()
            cached = _build_view(src, view, grid_cell)
            if xp is not np:
                cached = _ViewCache(**{
                    f: (xp.asarray(getattr(cached, f)) if isinstance(getattr(cached, f), np.ndarray) else getattr(cached, f))
                    for f in ("level", "base", "plate", "to_grid", "k", "noise")
                })
            src._views[key] = cached
        return cached


def _build_view(src: Sources, view: View, cell: int) -> _ViewCache:
    y0, y1, x0, x1 = view.box
    h, w = y1 - y0, x1 - x0
    side, n = src.side, src.crop_size
    out_per_canvas = 1.0 / (view.x[0] * side / n)
    if out_per_canvas >= FULL_RES_FROM:
        level, plate_level = src.layer, src.plate
    else:
        size = max(2, int(round(side * out_per_canvas)))
        level = cv2.resize(src.layer, (size, size), interpolation=cv2.INTER_AREA)
        plate_level = cv2.resize(src.plate, (size, size), interpolation=cv2.INTER_AREA)
    lsize = level.shape[0]
    k = lsize / n  # level px per crop px
    cx = view.x[0] * np.arange(x0, x1, dtype=np.float64) + view.x[1]
    cy = view.y[0] * np.arange(y0, y1, dtype=np.float64) + view.y[1]
    # level coordinate of a crop coordinate c: canvas px = c * side / n, then
    # the area-reduced level's pixel-centre convention
    mx = (cx * (side / n) + 0.5) * (lsize / side) - 0.5
    my = (cy * (side / n) + 0.5) * (lsize / side) - 0.5
    base = np.empty((h, w, 2), np.float32)
    base[..., 0] = mx[None, :]
    base[..., 1] = my[:, None]
    m1, m2 = cv2.convertMaps(base, None, cv2.CV_16SC2)
    plate = cv2.remap(plate_level, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    off = (cell - 1) / 2.0
    to_grid = np.array(
        [
            [view.x[0] / cell, 0.0, (view.x[0] * x0 + view.x[1] - off) / cell],
            [0.0, view.y[0] / cell, (view.y[0] * y0 + view.y[1] - off) / cell],
        ],
        np.float32,
    )
    # the photo's grain, at the output's scale (finer output pixels see less of it)
    noise = grain((h, w), src.grain * min(1.0, out_per_canvas))
    return _ViewCache(level=level, base=base, plate=plate, to_grid=to_grid, k=k, noise=noise)


@dataclass(frozen=True, eq=False)
class WarpFrame:
    """One rendered moment of the warp engine, resolution-free.

    - ``back``: (G, G, 2) float32, on the coarse grid of the analysis crop, the
      source position minus the node position (crop pixels) — where each
      output point takes its pixel from.
    - ``patches``: eye and mouth overlays drawn in analysis-crop pixels.
    """

    sources: Sources
    back: np.ndarray
    patches: tuple[Patch, ...]
    cell: int

    @property
    def array_module(self) -> ModuleType:
        return array_module(self.back)

    def draw(self, view: View, xp: ModuleType = np) -> Any:
        """The output pixels of ``view.box``: (h, w, 3) float32 0..255 in ``xp``
        (NumPy: OpenCV; a device array module: the same steps on the device,
        so a GPU frame is copied to the host once, at the end)."""
        if xp is not np:
            return self.draw_on(view, xp)
        cache = view_cache(self.sources, view, self.cell)
        back = to_host(self.back)  # 128² × 2: a field computed on a device, drawn here
        y0, y1, x0, x1 = view.box
        h, w = y1 - y0, x1 - x0
        disp = cv2.warpAffine(
            settle(back, self.sources.settle_scale(view)), cache.to_grid, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        maps = cv2.scaleAdd(disp.reshape(h, -1), cache.k, cache.base.reshape(h, -1)).reshape(h, w, 2)
        m1, m2 = cv2.convertMaps(maps, None, cv2.CV_16SC2)  # fixed-point maps remap much faster
        # cubic: exact at whole pixels like bilinear, but a fractional shift keeps
        # the photo's fine texture (a half-pixel bilinear shift halves a painting's
        # craquelure: s8 detail 0.36 -> 0.70 of the photo's; s1 0.72 -> 1.00)
        warped = cv2.remap(cache.level, m1, m2, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        out = _composite(warped, cache.plate)
        for patch in self.patches:
            _paste_patch(out, patch, view, cache.noise)
        np.clip(out, 0.0, 255.0, out=out)  # the grain may overshoot
        return out

    def draw_on(self, view: View, xp: ModuleType) -> Any:
        """:meth:`draw` written against the array module alone (gathers, no
        OpenCV): CuPy on a GPU. Bilinear where the host path is cubic (within
        a couple of grey levels; the same at whole pixels)."""
        cache = view_cache(self.sources, view, self.cell, xp)
        y0, y1, x0, x1 = view.box
        h, w = y1 - y0, x1 - x0
        back = settle(as_array(self.back, xp).astype(xp.float32), self.sources.settle_scale(view), xp)
        m = cache.to_grid
        gx = m[0, 0] * xp.arange(w, dtype=xp.float32) + m[0, 2]
        gy = m[1, 1] * xp.arange(h, dtype=xp.float32) + m[1, 2]
        disp = _sample(back, xp.broadcast_to(gx[None, :], (h, w)), xp.broadcast_to(gy[:, None], (h, w)), xp)
        maps = cache.base + cache.k * disp
        warped = _sample(cache.level.astype(xp.float32), maps[..., 0], maps[..., 1], xp)
        a = warped[..., 3:4] * (1.0 / 255.0)
        out = cache.plate + a * (warped[..., :3] - cache.plate)
        for patch in self.patches:
            _paste_patch(out, patch, view, cache.noise, xp)
        return xp.clip(out, 0.0, 255.0)


# Motions smaller than this many output pixels settle (:func:`settle`): a
# resample shifted by a fraction of a pixel blurs the photo and stirs its
# grain, so the tracker's noise on a still face would cost detail everywhere
# for nothing a viewer could see move.
SETTLE_PX = 1.0
SETTLE_FACE = 0.01  # ... or this share of the face, when that is more pixels


def settle(back: Any, scale: float, xp: ModuleType = np) -> Any:
    """``back`` (crop pixels) with small displacements settled: with
    ``m = |d| · scale``, nothing moves below ``m = ½`` (the photo's own
    pixels, exactly), then ``d · s(2m − 1)`` with the smoothstep ``s`` up to
    ``m = 1`` (continuous, monotonic, slope 1 where it meets the identity),
    unchanged above."""
    m = xp.sqrt((back * back).sum(axis=-1, keepdims=True)) * scale
    u = xp.clip(2.0 * m - 1.0, 0.0, 1.0)
    ease = (u * u * (3.0 - 2.0 * u)).astype(xp.float32)
    return back * ease


def _composite(warped: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """``α·F + (1 − α)·B`` in float32 (RGBA uint8 ``warped``, float ``plate``)."""
    a = warped[..., 3:4].astype(np.float32) * (1.0 / 255.0)
    out = warped[..., :3].astype(np.float32)
    out -= plate
    out *= a
    out += plate
    return out


def _patch_in_output(patch: Patch, view: View) -> tuple[int, int, int, int, np.ndarray] | None:
    """``(oy0, oy1, ox0, ox1, rgba)``: an analysis-crop patch resampled onto the
    output pixels it covers (absolute output indices); None when it covers none."""
    ph, pw = patch.alpha.shape
    y0, y1, x0, x1 = view.box
    ox0, ox1 = _span(view.x, patch.x0, pw, x0, x1)
    oy0, oy1 = _span(view.y, patch.y0, ph, y0, y1)
    if ox1 <= ox0 or oy1 <= oy0:
        return None
    m = np.array(
        [
            [view.x[0], 0.0, view.x[0] * ox0 + view.x[1] - patch.x0],
            [0.0, view.y[0], view.y[0] * oy0 + view.y[1] - patch.y0],
        ],
        np.float32,
    )
    rgba = np.concatenate([patch.rgb, patch.alpha[..., None]], axis=-1).astype(np.float32)
    size = (ox1 - ox0, oy1 - oy0)
    drawn = cv2.warpAffine(rgba, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT)
    return oy0, oy1, ox0, ox1, drawn


def _paste_patch(out: Any, patch: Patch, view: View, noise: Any, xp: ModuleType = np) -> None:
    """Blend an analysis-crop patch into the output pixels it covers, with the
    photo's grain on what it invents (a smooth mouth or eye would show as a
    patch on a grainy photo). The patch is drawn on the host (anti-aliased
    polygons are cheap there) and uploaded when ``out`` is on a device."""
    placed = _patch_in_output(patch, view)
    if placed is None:
        return
    oy0, oy1, ox0, ox1, drawn = placed
    y0, x0 = view.box[0], view.box[2]
    drawn = xp.asarray(drawn)
    sub = out[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]
    rgb = drawn[..., :3] + noise[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0]
    sub += drawn[..., 3:4] * (rgb - sub)


def _span(axis: tuple[float, float], start: int, length: int, lo: int, hi: int) -> tuple[int, int]:
    """Output pixels in ``[lo, hi)`` whose crop coordinate lies within a patch
    spanning ``[start - 0.5, start + length - 0.5]``."""
    scale, offset = axis
    first = int(np.ceil((start - 1.0 - offset) / scale))
    last = int(np.floor((start + length - offset) / scale))
    return max(lo, first), min(hi, last + 1)


def _sample(img: Any, mx: Any, my: Any, xp: ModuleType) -> Any:
    """Bilinear samples of ``img`` (H×W×C float) at pixel coordinates
    ``(mx, my)`` (h×w each), edges repeated: (h, w, C)."""
    hh, ww = img.shape[:2]
    mx = xp.clip(mx, 0.0, ww - 1.0)
    my = xp.clip(my, 0.0, hh - 1.0)
    x0 = xp.floor(mx).astype(xp.int32)
    y0 = xp.floor(my).astype(xp.int32)
    x1 = xp.minimum(x0 + 1, ww - 1)
    y1 = xp.minimum(y0 + 1, hh - 1)
    fx = (mx - x0)[..., None]
    fy = (my - y0)[..., None]
    top = img[y0, x0] + fx * (img[y0, x1] - img[y0, x0])
    bottom = img[y1, x0] + fx * (img[y1, x1] - img[y1, x0])
    return top + fy * (bottom - top)
