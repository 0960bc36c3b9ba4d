"""The two baselines the quality benchmark measures an engine against, as small
Engine-like objects (``prepare(photo) → AvatarState``, ``render(state, motion)
→ crop``) so they go through the same paste-back and the same metrics:

- :class:`StaticPhoto`: the photo, unchanged, whatever the motion.
- :class:`PoseOnlyWarp`: the photo's face crop moved as a rigid 2-D similarity
  (roll, translation, scale from the motion), no expression at all. An engine
  that cannot beat this is not animating the face, only moving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from vivicam.calibrate import geometry
from vivicam.engines.base import AvatarState, Capabilities
from vivicam.types import Motion


@dataclass(frozen=True, eq=False)
class BaselineAvatar(AvatarState):
    """A square, axis-aligned crop around the face plus where the face is in it."""

    # Defaults only because AvatarState ends with a defaulted field; prepare() sets all three.
    crop: np.ndarray | None = None  # crop_size×crop_size×3 uint8, the photo's crop
    face_center: np.ndarray | None = None  # (2,) crop pixels, centre of the rigid landmarks
    face_size: float = 1.0  # crop pixels, outer-eye-corner distance


def crop_matrix_around(points: np.ndarray, crop_size: int, *, margin: float = 2.2) -> np.ndarray:
    """Axis-aligned (2, 3) affine from photo pixels to a square crop whose side
    is ``margin`` times the landmarks' longer bounding-box side (hair, neck)."""
    p = np.asarray(points, dtype=np.float64)[:, :2]
    lo, hi = p.min(axis=0), p.max(axis=0)
    center = (lo + hi) / 2.0
    side = float((hi - lo).max()) * margin
    s = crop_size / side
    return np.array(
        [[s, 0.0, crop_size / 2.0 - s * center[0]], [0.0, s, crop_size / 2.0 - s * center[1]]],
        dtype=np.float32,
    )


def feather_mask(size: int, *, feather: float = 0.12) -> np.ndarray:
    """size×size float32: 1 in the middle, falling smoothly to 0 over the
    outer ``feather`` share of each side, so a moved crop leaves no seam."""
    ramp = np.clip(np.minimum(np.arange(size), np.arange(size)[::-1]) / (feather * size), 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep
    return np.outer(ramp, ramp).astype(np.float32)


def detect_landmarks(photo: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks of the largest face in a still photo (NoFaceError without one)."""
    from vivicam.face.detect import find_avatar_face

    return find_avatar_face(photo).landmarks.points


class _Baseline:
    backends: ClassVar[tuple[str, ...]] = ("cpu",)
    capabilities: ClassVar[Capabilities] = Capabilities(backends=("cpu",))

    def frame_shift(self, state: AvatarState, motion: Motion) -> None:
        return None

    def __init__(self, *, crop_size: int = 512, margin: float = 2.2) -> None:
        self.crop_size = crop_size
        self.margin = margin

    def prepare(self, photo: np.ndarray, landmarks: np.ndarray | None = None) -> BaselineAvatar:
        """``landmarks`` (478, 3) of the photo's face when already known."""
        points = detect_landmarks(photo) if landmarks is None else np.asarray(landmarks, np.float64)
        matrix = crop_matrix_around(points, self.crop_size, margin=self.margin)
        crop = cv2.warpAffine(
            photo, matrix, (self.crop_size, self.crop_size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        pose = geometry.face_pose(points)
        scale = float(matrix[0, 0])
        center = matrix[:, :2] @ pose.center[:2] + matrix[:, 2]
        return BaselineAvatar(
            photo=photo,
            crop_matrix=matrix,
            crop_size=self.crop_size,
            paste_mask=feather_mask(self.crop_size),
            crop=crop,
            face_center=center.astype(np.float32),
            face_size=pose.size * scale,
        )


class StaticPhoto(_Baseline):
    """The photo as it is, every frame."""

    name: ClassVar[str] = "static"

    def render(self, state: BaselineAvatar, motion: Motion) -> np.ndarray:
        return state.crop


def similarity_matrix(motion: Motion, center: np.ndarray, face_size: float) -> np.ndarray:
    """(2, 3) affine: rotate by the motion's roll and scale about ``center``,
    then shift by its translation (face sizes → pixels via ``face_size``)."""
    # Motion: roll > 0 tilts the head clockwise in the image (y down). OpenCV's
    # positive angle turns counter-clockwise as displayed, hence the minus.
    matrix = cv2.getRotationMatrix2D(
        (float(center[0]), float(center[1])), -float(motion.rotation[2]), float(motion.scale)
    )
    matrix[:, 2] += np.asarray(motion.translation, np.float64) * face_size
    return matrix


class PoseOnlyWarp(_Baseline):
    """The face crop moved rigidly with the head: roll + translation + scale."""

    name: ClassVar[str] = "pose-only"

    def render(self, state: BaselineAvatar, motion: Motion) -> np.ndarray:
        matrix = similarity_matrix(motion, state.face_center, state.face_size)
        return cv2.warpAffine(
            state.crop, matrix, (state.crop_size, state.crop_size), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )


BASELINES: dict[str, type[_Baseline]] = {StaticPhoto.name: StaticPhoto, PoseOnlyWarp.name: PoseOnlyWarp}
