"""Short gaps in a driver's tracks, bridged (offline, where the frames after
a gap are known before it is rendered).

A head that turns fast and far loses the tracker for a few frames (d12: four
frames at the peak of a 43° turn). Live, the motion stage can only hold the
last pose and catch up when the face is back; offline the pre-pass has
tracked the frames on both sides, so the missing ones are interpolated and
the avatar turns through the gap as the driver did.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from vivicam.types import Landmarks


def bridge_gaps(tracks: Sequence[Landmarks | None], max_frames: int) -> tuple[Landmarks | None, ...]:
    """``tracks`` with every run of at most ``max_frames`` missing frames
    between two tracked ones filled by linear interpolation of the points
    (confidence: the lower of the two ends). Longer gaps, and those at either
    end, stay missing (the face really left)."""
    out = list(tracks)
    last = None  # index of the last tracked frame
    for i, lm in enumerate(tracks):
        if lm is None:
            continue
        if last is not None and 1 < i - last <= max_frames + 1:
            a, b = tracks[last], lm
            pa, pb = np.asarray(a.points, np.float32), np.asarray(b.points, np.float32)
            confidence = min(a.confidence, b.confidence)
            for k in range(last + 1, i):
                w = (k - last) / (i - last)
                out[k] = Landmarks(((1.0 - w) * pa + w * pb).astype(np.float32), b.image_size, confidence)
        last = i
    return tuple(out)
