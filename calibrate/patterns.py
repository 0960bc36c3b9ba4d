"""Expression delta patterns of real faces, for procedural motion.

``expression_for(mouth_open, eyes_closed)`` gives canonical-mesh deltas
(478×3, face sizes, see ``vivicam.types.Motion``) for a mouth opened by
``mouth_open`` (0..1, 1 = inner-lip gap of 0.6 face sizes) and eyes closed by
``eyes_closed`` (image-left, image-right; 0..1). The patterns were fitted on
real talking-head clips by ``make_patterns.py`` and are stored in
``patterns_data.py``.
"""

from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np

from vivicam.types import NUM_LANDMARKS

MOUTH_OPEN_GAP = 0.6  # inner-lip gap (face sizes) of mouth_open = 1, as in Motion


def _decode(text: str) -> np.ndarray:
    raw = np.frombuffer(base64.b64decode(text), dtype="<f2")
    return raw.astype(np.float32).reshape(NUM_LANDMARKS, 3)


@lru_cache(maxsize=1)
def _patterns() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from vivicam.calibrate import patterns_data as d

    return _decode(d.MOUTH_PER_GAP), _decode(d.BLINK_LEFT), _decode(d.BLINK_RIGHT)


def expression_for(mouth_open: float = 0.0, eyes_closed: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    mouth, left, right = _patterns()
    out = (mouth_open * MOUTH_OPEN_GAP) * mouth + eyes_closed[0] * left + eyes_closed[1] * right
    return out.astype(np.float32)
