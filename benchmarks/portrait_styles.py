"""Portraits restyled on the fly for cross-reenactment: the test data has
photos, paintings and a statue but no cartoon, so a cartoon-style face is
made from a photo here (``s1+cartoon``) instead of being stored anywhere.

A style is a pure function ``RGB uint8 image → RGB uint8 image``.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

LEVELS = 6  # colour levels per channel: flat fills, as a cartoon's
INK_BLOCK = 9  # neighbourhood (px) of the adaptive threshold that draws the ink lines
INK_OFFSET = 5  # how much darker than its neighbourhood a pixel must be to be ink


def cartoon(image: np.ndarray) -> np.ndarray:
    """Flat colours (edge-preserving smoothing, then a few levels per
    channel) and dark ink lines along the edges."""
    smooth = np.ascontiguousarray(image)
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, 9, 60, 9)
    step = 256 // LEVELS
    flat = np.minimum((smooth // step) * step + step // 2, 255).astype(np.uint8)
    gray = cv2.medianBlur(cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY), 5)
    paper = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, INK_BLOCK, INK_OFFSET)
    return np.where(paper[..., None] > 0, flat, np.uint8(25))


STYLES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"cartoon": cartoon}


def split_name(name: str) -> tuple[str, str | None]:
    """``"s1+cartoon"`` → ``("s1", "cartoon")``; ``"s1"`` → ``("s1", None)``.
    ValueError for an unknown style."""
    base, _, style = name.partition("+")
    if style and style not in STYLES:
        raise ValueError(f"unknown portrait style '{style}'; choose one of: {', '.join(STYLES)}")
    return base, style or None
