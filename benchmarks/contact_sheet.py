"""Contact sheets: rows of labelled tiles (driver | output, every Nth frame) for
people to look at, saved as PNGs small enough to commit."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

_LABEL_H = 18  # pixels of caption strip above each tile
_ROW_LABEL_W = 92  # pixels of the row-name column
_BG = (24, 24, 24)
_FG = (235, 235, 235)


def fit_tile(image: np.ndarray, tile: int) -> np.ndarray:
    """``image`` resized (aspect kept) and centred on a tile×tile dark square."""
    h, w = image.shape[:2]
    s = tile / max(h, w)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    small = cv2.resize(np.ascontiguousarray(image), (nw, nh), interpolation=interp)
    out = np.full((tile, tile, 3), _BG, np.uint8)
    y, x = (tile - nh) // 2, (tile - nw) // 2
    out[y : y + nh, x : x + nw] = small
    return out


def _text(canvas: np.ndarray, text: str, x: int, y: int, scale: float = 0.42) -> None:
    cv2.putText(canvas, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _FG, 1, cv2.LINE_AA)


def make_sheet(
    rows: list[list[np.ndarray]],
    *,
    row_labels: list[str],
    col_labels: list[str],
    title: str = "",
    tile: int = 160,
) -> np.ndarray:
    """A grid image: one row per entry of ``rows`` (all the same length), a
    caption over each column and a name left of each row; RGB uint8."""
    if not rows or len(rows) != len(row_labels):
        raise ValueError("need one label per row and at least one row")
    cols = len(rows[0])
    if any(len(r) != cols for r in rows) or len(col_labels) != cols:
        raise ValueError("every row needs the same number of tiles as column labels")
    title_h = 24 if title else 0
    width = _ROW_LABEL_W + cols * tile
    height = title_h + len(rows) * (tile + _LABEL_H)
    sheet = np.full((height, width, 3), _BG, np.uint8)
    if title:
        _text(sheet, title, 6, 17, 0.5)
    for r, (row, name) in enumerate(zip(rows, row_labels)):
        y = title_h + r * (tile + _LABEL_H)
        _text(sheet, name, 6, y + _LABEL_H + tile // 2)
        for c, image in enumerate(row):
            x = _ROW_LABEL_W + c * tile
            if r == 0 or col_labels[c]:
                _text(sheet, col_labels[c], x + 4, y + 13)
            sheet[y + _LABEL_H : y + _LABEL_H + tile, x : x + tile] = fit_tile(image, tile)
    return sheet


def png_bytes(image: np.ndarray, *, max_bytes: int = 400_000) -> bytes:
    """PNG bytes of an RGB image, at most ``max_bytes``: full colour when it
    fits, else a 256-colour palette, else the palette image downscaled in 15 %
    steps (a contact sheet is for looking, not for measuring)."""
    from PIL import Image

    original = Image.fromarray(np.ascontiguousarray(image))
    scale = 1.0
    while True:
        size = (max(1, int(original.width * scale)), max(1, int(original.height * scale)))
        picture = original if scale == 1.0 else original.resize(size, Image.Resampling.LANCZOS)
        data = _encode(picture)
        if len(data) <= max_bytes:
            return data
        data = _encode(picture.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        if len(data) <= max_bytes or min(size) < 64:
            return data
        scale *= 0.85


def _encode(picture) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def save_sheet(image: np.ndarray, path: str | Path, *, max_bytes: int = 400_000) -> Path:
    """Write ``image`` as a PNG of at most ``max_bytes`` (see :func:`png_bytes`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(image, max_bytes=max_bytes))
    return path


def sample_indices(count: int, columns: int, *, skip_first: bool = True) -> list[int]:
    """``columns`` frame indices spread evenly over ``count`` frames (every
    Nth frame); the first frame, the avatar itself, is skipped by default."""
    start = 1 if skip_first and count > 1 else 0
    if count - start <= columns:
        return list(range(start, count))
    step = (count - 1 - start) / (columns - 1) if columns > 1 else 0
    return sorted({start + round(i * step) for i in range(columns)})
