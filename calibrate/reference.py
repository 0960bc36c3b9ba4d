"""Which driver frames are the reference ("no motion") for a portrait.

Motion is the driver's face relative to a reference; the portrait is shown
doing that motion relative to *its own* pose and expression. So the right
reference is where the driver looks as the portrait does: a frontal, calm
portrait is driven relative to the driver's calmest frontal moment, and a
portrait taken from the clip itself (a frame mid-turn) relative to that very
frame. Any other choice offsets the whole render by the difference.

Pure functions on face-mesh points (pixels, z in pixels — the tracker's and
``vivicam.face.detect``'s shared convention): :func:`face_state` measures a
face in terms comparable across images and people (absolute head angles,
mouth gap and eye openness relative to the face's size), :func:`choose_reference`
picks the window of driver frames closest to a target state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vivicam.calibrate import features, geometry

# How much of each quantity counts as one unit of difference: a 6° turn, a
# mouth opened by 0.05 face sizes (lips parted in speech) and eyes narrowed by
# 0.08 (a third of an open eye) are about equally far from "the same face".
ANGLE_UNIT_DEG = 6.0
MOUTH_UNIT = 0.05
EYES_UNIT = 0.08
WINDOW_S = 0.25  # the reference is a short run of frames (the median of them is the neutral)
MIN_WINDOW = 3


@dataclass(frozen=True)
class FaceState:
    """Where a face looks and what it does, comparable between images.

    ``angles``: (pitch, yaw, roll) degrees of the head in the camera's frame
    (a frontal, upright face ≈ 0, 0, 0 up to a per-person offset of a few
    degrees); ``mouth_gap``: inner-lip gap in face sizes; ``eye_openness``:
    lid distance over eye width, both eyes averaged.
    """

    angles: tuple[float, float, float]
    mouth_gap: float
    eye_openness: float

    def mirrored(self) -> "FaceState":
        """The same face seen in a mirror (yaw and roll change sign)."""
        pitch, yaw, roll = self.angles
        return FaceState((pitch, -yaw, -roll), self.mouth_gap, self.eye_openness)

    def describe(self) -> str:
        pitch, yaw, roll = self.angles
        return (f"yaw {yaw:+.0f}°, pitch {pitch:+.0f}°, roll {roll:+.0f}°, mouth {self.mouth_gap:.2f}, "
                f"eyes {self.eye_openness:.2f}")


def face_state(points: np.ndarray) -> FaceState:
    """The :class:`FaceState` of one set of 478 face-mesh points."""
    p = np.asarray(points, np.float64)
    angles = geometry.euler_from_matrix(geometry.face_pose(p).rotation)
    return FaceState(
        angles=tuple(float(a) for a in angles),
        mouth_gap=float(features.mouth_gap(p)),
        eye_openness=float(np.mean(features.eye_openness(p))),
    )


def distance(a: FaceState, b: FaceState) -> float:
    """How different two faces look, in the units above (0: the same)."""
    d_angles = (np.asarray(a.angles) - np.asarray(b.angles)) / ANGLE_UNIT_DEG
    d_mouth = (a.mouth_gap - b.mouth_gap) / MOUTH_UNIT
    d_eyes = (a.eye_openness - b.eye_openness) / EYES_UNIT
    return float(np.sqrt(np.sum(d_angles**2) + d_mouth**2 + d_eyes**2))


@dataclass(frozen=True)
class ReferenceChoice:
    """Driver frames ``start``..``stop - 1`` (indices into the sequence given
    to :func:`choose_reference`); ``best`` is the closest single frame among
    them, ``score`` the window's mean :func:`distance` to the target."""

    start: int
    stop: int
    best: int
    score: float


def window_frames(fps: float) -> int:
    """How many frames a reference window spans at ``fps``."""
    return max(MIN_WINDOW, int(round(WINDOW_S * max(fps, 1.0))))


def choose_reference(target: FaceState, states: Sequence[FaceState | None], window: int) -> ReferenceChoice | None:
    """The run of ``window`` consecutive tracked frames (``None`` = no face)
    whose mean distance to ``target`` is smallest; shorter runs only when no
    run that long exists. ``None`` when no frame has a face.

    A window, not one frame: a single frame can be a tracking glitch, and the
    mean over a window also prefers a moment the driver holds over one passed
    through at speed.
    """
    d = np.array([np.inf if s is None else distance(target, s) for s in states], np.float64)
    if not np.isfinite(d).any():
        return None
    for size in range(min(window, len(d)), 0, -1):
        if len(d) < size:
            continue
        sums = np.convolve(np.where(np.isfinite(d), d, 0.0), np.ones(size), mode="valid")
        complete = np.convolve(np.isfinite(d).astype(np.float64), np.ones(size), mode="valid") == size
        if not complete.any():
            continue
        means = np.where(complete, sums / size, np.inf)
        start = int(np.argmin(means))
        best = start + int(np.argmin(d[start : start + size]))
        return ReferenceChoice(start=start, stop=start + size, best=best, score=float(means[start]))
    return None
