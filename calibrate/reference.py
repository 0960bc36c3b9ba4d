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

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from vivicam.calibrate import features, geometry, mesh

# How much of each quantity counts as one unit of difference: a 6° turn, a
# mouth opened by 0.05 face sizes (lips parted in speech) and eyes narrowed by
# 0.08 (a third of an open eye) are about equally far from "the same face".
ANGLE_UNIT_DEG = 6.0
MOUTH_UNIT = 0.05
EYES_UNIT = 0.08
# The whole mesh in the face's own frame, mean point distance in face sizes:
# the same face with the same expression is ~0.005–0.01 apart (tracker
# noise), other expressions of it 0.03–0.05; another person adds a roughly
# constant 0.02–0.05, so the ranking of one driver's frames still follows
# their expression. It tells the very frame a portrait was taken from apart
# from ones that only share its angles, gap and eye opening.
SHAPE_UNIT = 0.02
# Where the face sits in the picture (centre and size over the image width):
# a hand-held driver's camera moves, and the warp follows the driver's
# camera relative to the reference frame, so a portrait cut from the clip is
# best matched by the frame the camera was where it was. It counts only for
# a portrait that may be one of the clip's frames (its mesh within
# SAME_FACE_SHAPE of the closest frame's): for another person's picture, where
# the driver's hand-held camera happened to put the face says nothing, and it
# outweighed the expression (a painting driven relative to a frame with the
# mouth open 0.13 face sizes because the camera had drifted there).
FRAMING_UNIT = 0.03
SAME_FACE_SHAPE = 0.02
WINDOW_S = 0.25  # the reference is at most this long a run of frames (their median is the neutral)
MIN_WINDOW = 3
SLACK = 0.5  # frames this much further than the closest one still join it


@dataclass(frozen=True)
class FaceState:
    """Where a face looks and what it does, comparable between images.

    ``angles``: (pitch, yaw, roll) degrees of the head in the camera's frame
    (a frontal, upright face ≈ 0, 0, 0 up to a per-person offset of a few
    degrees); ``mouth_gap``: inner-lip gap in face sizes; ``eye_openness``:
    lid distance over eye width, both eyes averaged; ``shape``: the (478, 3)
    mesh in canonical face space (``geometry.to_canonical``), or None;
    ``framing``: the face's centre x, y and size over the image width, or None.
    """

    angles: tuple[float, float, float]
    mouth_gap: float
    eye_openness: float
    shape: np.ndarray | None = field(default=None, compare=False, repr=False)
    framing: tuple[float, float, float] | None = None

    def mirrored(self) -> "FaceState":
        """The same face seen in a mirror (yaw and roll change sign, left and right swap)."""
        pitch, yaw, roll = self.angles
        shape = None if self.shape is None else self.shape[np.asarray(mesh.MIRROR)] * np.array([-1.0, 1.0, 1.0])
        framing = None if self.framing is None else (1.0 - self.framing[0], *self.framing[1:])
        return FaceState((pitch, -yaw, -roll), self.mouth_gap, self.eye_openness, shape, framing)

    def describe(self) -> str:
        pitch, yaw, roll = self.angles
        return (f"yaw {yaw:+.0f}°, pitch {pitch:+.0f}°, roll {roll:+.0f}°, mouth {self.mouth_gap:.2f}, "
                f"eyes {self.eye_openness:.2f}")


def face_state(points: np.ndarray, image_size: tuple[int, int] | None = None) -> FaceState:
    """The :class:`FaceState` of one set of 478 face-mesh points in an image
    of ``image_size`` = (width, height) (None: no framing)."""
    p = np.asarray(points, np.float64)
    pose = geometry.face_pose(p)
    framing = None
    if image_size is not None and image_size[0] > 0:
        width = float(image_size[0])
        framing = (float(pose.center[0]) / width, float(pose.center[1]) / width, pose.size / width)
    return FaceState(
        angles=tuple(float(a) for a in geometry.euler_from_matrix(pose.rotation)),
        mouth_gap=float(features.mouth_gap(p)),
        eye_openness=float(np.mean(features.eye_openness(p))),
        shape=geometry.to_canonical(p, pose),
        framing=framing,
    )


def shape_distance(a: FaceState, b: FaceState) -> float:
    """Mean distance of the meshes' points in face sizes (0 without shapes)."""
    if a.shape is None or b.shape is None:
        return 0.0
    return float(np.linalg.norm(np.asarray(a.shape) - np.asarray(b.shape), axis=1).mean())


def framing_distance(a: FaceState, b: FaceState) -> float:
    """How far the faces sit apart in their pictures (0 without framings)."""
    if a.framing is None or b.framing is None:
        return 0.0
    return float(np.linalg.norm(np.subtract(a.framing, b.framing)))


def distance(a: FaceState, b: FaceState, offsets: tuple[float, float] = (0.0, 0.0)) -> float:
    """How different two faces look, in the units above (0: the same); the
    shape and framing terms count only beyond ``offsets`` (see :func:`distances`)."""
    d_angles = (np.asarray(a.angles) - np.asarray(b.angles)) / ANGLE_UNIT_DEG
    d_mouth = (a.mouth_gap - b.mouth_gap) / MOUTH_UNIT
    d_eyes = (a.eye_openness - b.eye_openness) / EYES_UNIT
    d_shape = max(shape_distance(a, b) - offsets[0], 0.0) / SHAPE_UNIT
    d_framing = max(framing_distance(a, b) - offsets[1], 0.0) / FRAMING_UNIT
    return float(np.sqrt(np.sum(d_angles**2) + d_mouth**2 + d_eyes**2 + d_shape**2 + d_framing**2))


def distances(target: FaceState, states: Sequence[FaceState | None]) -> np.ndarray:
    """:func:`distance` from ``target`` to each state (inf for None). The
    shape and framing terms are measured from the closest frame's: another
    person's mesh or picture differs from every frame of the driver by about
    the same amount, which says nothing about which frame is the better
    reference; the framing counts only when the target's mesh is within
    :data:`SAME_FACE_SHAPE` of some frame's (it may be a frame of this clip)."""
    seen = [s for s in states if s is not None]
    offsets = (min((shape_distance(target, s) for s in seen), default=0.0),
               min((framing_distance(target, s) for s in seen), default=0.0))
    if offsets[0] > SAME_FACE_SHAPE:
        offsets = (offsets[0], np.inf)
    return np.array([np.inf if s is None else distance(target, s, offsets) for s in states], np.float64)


@dataclass(frozen=True)
class ReferenceChoice:
    """Driver frames ``start``..``stop - 1`` (indices into the sequence given
    to :func:`choose_reference`) around ``best``, the closest frame; ``score``
    is ``best``'s :func:`distance` to the target."""

    start: int
    stop: int
    best: int
    score: float


def window_frames(fps: float) -> int:
    """At most how many frames a reference spans at ``fps``."""
    return max(MIN_WINDOW, int(round(WINDOW_S * max(fps, 1.0))))


def choose_reference(target: FaceState, states: Sequence[FaceState | None], window: int) -> ReferenceChoice | None:
    """The tracked frame (``None`` = no face) closest to ``target``, with its
    neighbours that are nearly as close (within ``SLACK``), up to ``window``
    frames in all: several frames when the driver holds that look (their
    median is a steadier neutral), the one frame when they only pass through
    it (a median over a turn would be a look the portrait does not have).
    ``None`` when no frame has a face."""
    d = distances(target, states)
    if not np.isfinite(d).any():
        return None
    best = int(np.argmin(d))
    limit = d[best] + SLACK
    start, stop = best, best + 1
    while stop - start < window:
        before = d[start - 1] if start > 0 else np.inf
        after = d[stop] if stop < len(d) else np.inf
        if min(before, after) > limit:
            break
        if before <= after:
            start -= 1
        else:
            stop += 1
    return ReferenceChoice(start=start, stop=stop, best=best, score=float(d[best]))
