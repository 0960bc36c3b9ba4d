"""Bilinear resampling along the two image axes, in any array module.

Paste-back and letterboxing only ever need *axis-aligned* sampling (scale +
translation per axis), so bilinear sampling is separable: gather two rows and
blend, then gather two columns and blend. The gather indices and weights depend
only on the sizes and the mapping, so they are computed once per mapping and
cached (:func:`axis_table`); per frame only the gathers and blends run.

Conventions follow OpenCV: integer coordinates are pixel centres, so resizing
``n`` pixels to ``m`` samples the source at ``(i + 0.5) * n / m - 0.5``, and
samples outside the image repeat the border pixel (``BORDER_REPLICATE``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from types import ModuleType
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)
class AxisTable:
    """Where each of ``n`` output samples reads along one source axis:
    ``out = src[i0] * (1 - w) + src[i1] * w``."""

    i0: Any  # (n,) indices into the source axis, in xp
    i1: Any  # (n,)
    w: Any  # (n,) float32 weight of i1
    identity: bool  # the table reads the axis unchanged (skip the pass)
    _interleaved: dict = field(default_factory=dict, repr=False)

    def interleaved(self, channels: int, xp: ModuleType) -> tuple[Any, Any, Any]:
        """The table for a row of ``channels``-interleaved pixels seen as one flat
        axis (gathering single elements along the last axis is several times
        faster than gathering pixel-sized chunks along a middle axis)."""
        cached = self._interleaved.get(channels)
        if cached is None:
            lanes = xp.arange(channels)
            cached = tuple(
                (idx[:, None] * channels + lanes).reshape(-1) for idx in (self.i0, self.i1)
            ) + (xp.repeat(self.w, channels),)
            self._interleaved[channels] = cached
        return cached


def axis_coords(n_out: int, scale: float, offset: float) -> np.ndarray:
    """Source coordinates ``scale * i + offset`` of output pixels ``i = 0..n_out-1``
    (float64, before clamping)."""
    return scale * np.arange(n_out, dtype=np.float64) + offset


def resize_coords(n_src: int, n_dst: int) -> tuple[float, float]:
    """``(scale, offset)`` that resizes ``n_src`` pixels to ``n_dst`` (OpenCV's
    pixel-centre convention)."""
    scale = n_src / n_dst
    return scale, 0.5 * scale - 0.5


@lru_cache(maxsize=256)
def _table_host(n_src: int, n_out: int, scale: float, offset: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    coords = np.clip(axis_coords(n_out, scale, offset), 0.0, n_src - 1)
    i0 = np.floor(coords).astype(np.int64)
    w = (coords - i0).astype(np.float32)
    i1 = np.minimum(i0 + 1, n_src - 1)
    identity = bool(n_out == n_src and np.all(w == 0) and np.array_equal(i0, np.arange(n_src)))
    return i0.astype(np.intp), i1.astype(np.intp), w, identity


_device_tables: dict[tuple, AxisTable] = {}


def axis_table(n_src: int, n_out: int, scale: float, offset: float, xp: ModuleType = np) -> AxisTable:
    """The cached gather table for one axis (rounded mapping keys, so float
    noise in a matrix does not defeat the cache)."""
    key = (n_src, n_out, round(float(scale), 9), round(float(offset), 6))
    i0, i1, w, identity = _table_host(*key)
    if xp is np:
        return AxisTable(i0, i1, w, identity)
    dkey = (xp.__name__, *key)
    table = _device_tables.get(dkey)
    if table is None:
        if len(_device_tables) > 256:
            _device_tables.clear()
        table = AxisTable(xp.asarray(i0), xp.asarray(i1), xp.asarray(w), identity)
        _device_tables[dkey] = table
    return table


_workspace = threading.local()


def scratch(xp: ModuleType, tag: str, shape: tuple[int, ...], dtype: Any) -> Any:
    """A reusable per-thread buffer. Fresh multi-MB NumPy arrays cost more in
    page faults than the arithmetic done on them, so the per-frame path writes
    into buffers it keeps; CuPy has its own memory pool and gets fresh ones."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    buffers = getattr(_workspace, "buffers", None)
    if buffers is None:
        buffers = _workspace.buffers = {}
    key = (tag, tuple(shape), np.dtype(dtype).str)
    buf = buffers.get(key)
    if buf is None:
        if len(buffers) > 64:
            buffers.clear()
        buf = buffers[key] = np.empty(shape, dtype=dtype)
    return buf


def _blend_into(out: Any, a: Any, b: Any, w: Any, xp: ModuleType) -> Any:
    """``out = a + w * (b - a)`` in float32 (``a``, ``b`` of any dtype)."""
    xp.subtract(b, a, out=out, dtype=xp.float32)
    xp.multiply(out, w, out=out)
    xp.add(out, a, out=out, dtype=xp.float32)
    return out


def _gather(src: Any, index: Any, axis: int, tag: str, xp: ModuleType) -> Any:
    shape = list(src.shape)
    shape[axis] = len(index)
    return xp.take(src, index, axis=axis, out=scratch(xp, tag, tuple(shape), src.dtype))


def _rows_pass(src: Any, table: AxisTable, out: Any, xp: ModuleType) -> Any:
    shape = (-1,) + (1,) * (src.ndim - 1)
    a = _gather(src, table.i0, 0, "r0", xp)
    b = _gather(src, table.i1, 0, "r1", xp)
    return _blend_into(out, a, b, table.w.reshape(shape), xp)


def _cols_pass(src: Any, table: AxisTable, out: Any, xp: ModuleType) -> Any:
    channels = src.shape[2] if src.ndim == 3 else 1
    i0, i1, w = table.interleaved(channels, xp)
    flat = src.reshape(src.shape[0], -1)
    a = _gather(flat, i0, 1, "c0", xp)
    b = _gather(flat, i1, 1, "c1", xp)
    _blend_into(out.reshape(src.shape[0], -1), a, b, w, xp)
    return out


def resample(src: Any, rows: AxisTable, cols: AxisTable, xp: ModuleType = np, *, reuse: bool = False) -> Any:
    """Bilinear sample ``src`` (H×W or H×W×C, any dtype) on the grid given by
    ``rows`` × ``cols``; float32 result of shape ``(len(rows), len(cols), ...)``.

    ``reuse=True`` returns a per-thread scratch buffer that the next
    ``reuse=True`` call of the same shape overwrites (the per-frame path);
    otherwise the result is a new array the caller owns.
    """
    n_rows, n_cols = len(rows.w), len(cols.w)
    h, w = src.shape[:2]
    rest = tuple(src.shape[2:])
    final = (n_rows, n_cols) + rest
    # Order the passes by cost: gathering along the columns moves single
    # elements and costs about four times a row gather (whole rows move).
    if n_rows * w + 4 * n_rows * n_cols <= 4 * h * n_cols + n_rows * n_cols:
        steps = [(rows, _rows_pass, (n_rows, w) + rest), (cols, _cols_pass, final)]
    else:
        steps = [(cols, _cols_pass, (h, n_cols) + rest), (rows, _rows_pass, final)]
    steps = [step for step in steps if not step[0].identity]
    out = src
    for i, (table, run, shape) in enumerate(steps):
        last = i == len(steps) - 1
        if last and not reuse:
            buf = xp.empty(shape, dtype=xp.float32)
        else:
            buf = scratch(xp, f"pass{i}", shape, xp.float32)
        out = run(out, table, buf, xp)
    if out is src:  # nothing to resample: still never hand back the caller's array
        if reuse:
            buf = scratch(xp, "pass0", final, xp.float32)
            buf[...] = src
            return buf
        return src.astype(xp.float32, copy=True)
    return out


def to_uint8(x: Any, xp: ModuleType = np, *, clamp: bool = True) -> Any:
    """Round float pixels to uint8, as OpenCV does. ``clamp=False`` is for
    values known to be convex blends of uint8 pixels (skips a slow clip)."""
    if x.dtype.kind != "f":
        return xp.clip(x, 0, 255).astype(xp.uint8) if clamp else x.astype(xp.uint8)
    out = xp.rint(x)
    if clamp:  # in place: much faster than np.clip on NumPy 1.x
        xp.maximum(out, 0, out=out)
        xp.minimum(out, 255, out=out)
    return out.astype(xp.uint8)


def resize(src: Any, size: tuple[int, int], xp: ModuleType | None = None) -> Any:
    """Bilinear resize of an H×W(×C) image to ``size = (width, height)``;
    same dtype out (uint8 rounded), matching ``cv2.resize(..., INTER_LINEAR)``
    to within one grey level."""
    if xp is None:
        from vivicam.xp import array_module

        xp = array_module(src)
    width, height = size
    h, w = src.shape[:2]
    rows = axis_table(h, height, *resize_coords(h, height), xp=xp)
    cols = axis_table(w, width, *resize_coords(w, width), xp=xp)
    out = resample(src, rows, cols, xp)
    if src.dtype == xp.uint8:
        return to_uint8(out, xp)
    return out.astype(src.dtype, copy=False)
