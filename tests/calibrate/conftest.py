"""What the calibrate tests share: one real face, tracked once."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vivicam.face.tracker import MediaPipeTracker


@pytest.fixture(scope="session")
def face() -> np.ndarray:
    """The astronaut's 478 landmarks (pixels, float64), as MediaPipe tracks a still photo."""
    with MediaPipeTracker(static_image=True) as tracker:
        found = tracker.track(skimage.data.astronaut())
    assert found is not None
    return found.points.astype(np.float64)
