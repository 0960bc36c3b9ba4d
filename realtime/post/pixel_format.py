"""RGB frames to the pixel format a sink wants (virtual cameras like YUYV/NV12/I420).

YUV is BT.601 limited range ("studio swing", Y 16..235), as
``cv2.cvtColor(..., COLOR_RGB2YUV_I420)`` computes it; chroma is the mean over each 2×2 (4:2:0) or 1×2 (4:2:2) block rather
than OpenCV's top-left sample, which aliases less on fine detail.
Written against the array module of the input (NumPy or CuPy).
"""

from __future__ import annotations

from typing import Any

from vivicam.realtime.post.resample import scratch
from vivicam.xp import array_module

PIXEL_FORMATS = ("RGB", "BGR", "RGBA", "YUYV", "NV12", "I420")


# BT.601 limited-range coefficients (the ones OpenCV and most webcams use): rows R, G, B.
_Y = (0.257, 0.504, 0.098)
_UV = ((-0.148, 0.439), (-0.291, -0.368), (0.439, -0.071))


def _as_float(img: Any, xp: Any) -> Any:
    buf = scratch(xp, "yuv-rgb", img.shape, xp.float32)
    buf[...] = img
    return buf


def _luma(rgbf: Any, xp: Any) -> Any:
    """Y plane (float, integral values 16..235) from H×W×3 float RGB."""
    h, w = rgbf.shape[:2]
    y = scratch(xp, "yuv-y", (h * w,), xp.float32)
    xp.matmul(rgbf.reshape(-1, 3), xp.asarray(_Y, dtype=xp.float32), out=y)
    y += 16.5  # offset + round half up
    xp.floor(y, out=y)
    return y.reshape(h, w)


def _chroma(rgbf: Any, block_rows: int, xp: Any) -> tuple[Any, Any]:
    """U and V planes (float, integral 16..240) averaged over ``block_rows``×2 blocks.

    Rows are summed first (contiguous adds); then each row of the result is read
    as pairs of horizontally adjacent pixels, six values, and one (6, 2) matrix
    both sums the pair and applies the colour coefficients (small strided adds
    are what NumPy does slowest)."""
    h, w = rgbf.shape[:2]
    if block_rows == 2:
        pairs = rgbf.reshape(h // 2, 2, w * 3)
        rows = scratch(xp, "yuv-rows", (h // 2, w * 3), xp.float32)
        xp.add(pairs[:, 0], pairs[:, 1], out=rows)
    else:
        rows = rgbf.reshape(h, w * 3)
    coeffs = xp.asarray(_UV, dtype=xp.float32) / (2 * block_rows)
    uv = scratch(xp, "yuv-uv", ((h // block_rows) * (w // 2), 2), xp.float32)
    xp.matmul(rows.reshape(-1, 6), xp.concatenate([coeffs, coeffs]), out=uv)
    uv += 128.5
    xp.floor(uv, out=uv)
    xp.clip(uv, 0.0, 255.0, out=uv)
    shape = (h // block_rows, w // 2)
    return uv[:, 0].reshape(shape), uv[:, 1].reshape(shape)


def to_pixel_format(img: Any, fmt: str = "RGB") -> Any:
    """Convert an H×W×3 uint8 RGB frame (NumPy or CuPy) to ``fmt``.

    Shapes: RGB/BGR H×W×3, RGBA H×W×4 (opaque), YUYV H×W×2 (Y, then U/V
    alternating per pixel pair), NV12 and I420 (H·3/2)×W (Y plane, then
    interleaved UV / U plane then V plane), as OpenCV and pyvirtualcam lay them out.
    The 4:2:x formats need even width (and even height for NV12/I420).
    """
    xp = array_module(img)
    fmt = fmt.upper()
    if fmt == "RGB":
        return img
    if fmt in ("BGR", "RGBA"):
        # channel by channel: a reversed-stride copy is ~4x slower in NumPy
        out = xp.empty(img.shape[:2] + (3 if fmt == "BGR" else 4,), dtype=xp.uint8)
        order = (2, 1, 0) if fmt == "BGR" else (0, 1, 2)
        for dst, src in enumerate(order):
            out[..., dst] = img[..., src]
        if fmt == "RGBA":
            out[..., 3] = 255
        return out
    if fmt not in PIXEL_FORMATS:
        raise ValueError(f"unknown pixel format '{fmt}'; choose one of: {', '.join(PIXEL_FORMATS)}")
    h, w = img.shape[:2]
    rows = 1 if fmt == "YUYV" else 2
    if w % 2 or h % rows:
        raise ValueError(f"{fmt} needs even frame sides, got {w}x{h}")
    rgbf = _as_float(img, xp)
    y = _luma(rgbf, xp)
    u, v = _chroma(rgbf, rows, xp)
    if fmt == "YUYV":
        out = xp.empty((h, w, 2), dtype=xp.uint8)
        out[..., 0] = y
        out[:, 0::2, 1] = u
        out[:, 1::2, 1] = v
        return out
    out = xp.empty((h * 3 // 2, w), dtype=xp.uint8)
    out[:h] = y
    if fmt == "NV12":
        uv = out[h:].reshape(h // 2, w // 2, 2)
        uv[..., 0] = u
        uv[..., 1] = v
    else:  # I420
        chroma = out[h:].reshape(-1)
        n = (h // 2) * (w // 2)
        chroma[:n] = u.reshape(-1)
        chroma[n:] = v.reshape(-1)
    return out
