"""Text and a camera inset drawn on the preview (never on what the sinks get)."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np


def draw_text(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with ``lines`` in the top-left corner on a dark band."""
    out = image.copy()
    if not lines:
        return out
    scale = max(0.4, min(out.shape[1], out.shape[0]) / 900)
    step = int(22 * scale / 0.5)
    width = int(max(len(line) for line in lines) * 10 * scale / 0.5)
    band_h = step * len(lines) + 8
    out[:band_h, : min(width, out.shape[1])] //= 3
    for i, line in enumerate(lines):
        cv2.putText(
            out, line, (6, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return out


def draw_inset(image: np.ndarray, inset: np.ndarray, *, fraction: float = 0.25) -> np.ndarray:
    """``image`` (modified in place and returned) with ``inset`` scaled to
    ``fraction`` of its width in the bottom-right corner, framed."""
    h, w = image.shape[:2]
    iw = max(8, int(w * fraction))
    ih = max(8, int(inset.shape[0] * iw / max(inset.shape[1], 1)))
    if ih >= h or iw >= w:
        return image
    small = cv2.resize(inset, (iw, ih), interpolation=cv2.INTER_AREA)
    y0, x0 = h - ih - 4, w - iw - 4
    image[y0 - 1 : y0 + ih + 1, x0 - 1 : x0 + iw + 1] = 255
    image[y0 : y0 + ih, x0 : x0 + iw] = small
    return image
