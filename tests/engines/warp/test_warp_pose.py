"""The rendered head turns as far as it is told (read back with MediaPipe,
as the quality benchmark reads the output's pose)."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate.geometry import euler_from_matrix, face_pose
from vivicam.engines.base import crop_image
from vivicam.engines.registry import create_engine
from vivicam.types import Motion

skdata = pytest.importorskip("skimage.data")


def _read_angles(tracker, engine, state, rotation) -> np.ndarray:
    found = tracker.track(crop_image(engine.render(state, Motion(rotation=np.array(rotation, np.float32))), state))
    assert found is not None, "MediaPipe lost the face on the output"
    return face_pose(found.points).rotation


@pytest.mark.slow
def test_rendered_turns_and_nods_read_back_at_gain_near_one():
    """Gain = read-back angle per commanded degree, over ±15° yaw and ±10°
    pitch on the astronaut. A 3-D rotation with the tracker's depth alone
    reads back at ~0.7 of its yaw (a 2-D warp shows no occlusion or shading),
    a 2-D stretch lower still."""
    from vivicam.face.tracker import MediaPipeTracker

    engine = create_engine("warp")
    state = engine.prepare(skdata.astronaut())
    with MediaPipeTracker(static_image=True) as tracker:
        ref = _read_angles(tracker, engine, state, (0, 0, 0))
        for axis, angle in ((1, 15.0), (0, 10.0)):
            read = []
            for sign in (-1.0, 1.0):
                rotation = [0.0, 0.0, 0.0]
                rotation[axis] = sign * angle
                read.append(euler_from_matrix(_read_angles(tracker, engine, state, rotation) @ ref.T)[axis])
            gain = (read[1] - read[0]) / (2 * angle)
            assert 0.8 <= gain <= 1.25, ("pitch", "yaw")[axis] + f" gain {gain:.2f}"
