"""Where the engine's square crop sits on the photo.

The crop is axis-aligned (scale + translation only) so paste-back is a plain
resize and blend. It is centred a little below the eyes and spans
``CROP_FACE_SIZES`` face sizes (outer-eye-corner distance) so hair, neck and
shoulders come along.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vivicam.calibrate.geometry import face_pose
from vivicam.errors import NoFaceError

CROP_FACE_SIZES = 4.2  # crop side in face sizes
# crop centre below the face centre, in face sizes. The crop's border stays
# put, so what lies between the head and it stretches as the head moves: at
# 0.35 the top border ran 1.75 face sizes above the face centre, through the
# hair of most close-ups (s5's crown touched it), and a head moved a third of
# a face size down pulled the hair up into a tall quiff (d12 driving s5, s1).
# At 0.1 the border is as far above the face centre (2.0) as below it
# (2.2, about a face size below the chin): the hair follows the head and the
# still background above it takes the stretch (generalization and
# self-reenactment suites within ±0.1 dB).
CENTER_DROP = 0.1
# ... or less (down to CENTER_DROP_MIN, the crop moved up) where the person
# reaches higher above the face centre than the crop's top border less
# HAIR_ROOM: big hair near the border stayed behind a head that moved down
# (its finest strands as faint tips on s2; s0's crown in a quiff).
HAIR_ROOM = 0.4
CENTER_DROP_MIN = -0.2
PERSON_MIN = 0.5  # segmentation share that counts as the person
# share of the face's landmarks (MediaPipe's guesses beyond the edge) that may
# lie outside the photo: a chin or forehead cut off still animates (the canvas
# extends the photo, see canvas.py), a face mostly outside does not
MAX_LANDMARKS_OUTSIDE = 0.4


@dataclass(frozen=True)
class CropBox:
    """Integer square ``[x0, x0+side) × [y0, y0+side)`` in photo pixels."""

    x0: int
    y0: int
    side: int

    def matrix(self, crop_size: int) -> np.ndarray:
        s = crop_size / self.side
        return np.array([[s, 0.0, -s * self.x0], [0.0, s, -s * self.y0]], np.float32)


def place_crop(points: np.ndarray, photo_shape: tuple[int, ...], person: np.ndarray | None = None) -> CropBox:
    """The crop box for a face, wherever it lies (beyond the photo's edge the
    canvas is filled in); NoFaceError only when most of the face itself is
    outside the photo. ``person``: the photo's segmentation (H×W, 0..1), to
    leave room above the hair (see HAIR_ROOM)."""
    h, w = photo_shape[:2]
    pose = face_pose(points)
    side = int(round(CROP_FACE_SIZES * pose.size))
    cx = float(pose.center[0])
    cy = float(pose.center[1]) + centre_drop(pose, person) * pose.size
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    outside = np.mean(
        (points[:, 0] < 0) | (points[:, 0] >= w) | (points[:, 1] < 0) | (points[:, 1] >= h)
    )
    if outside > MAX_LANDMARKS_OUTSIDE:
        raise NoFaceError(
            f"most of the face is outside the photo ({outside:.0%} of it); "
            "use a photo with at least the eyes, nose and mouth in view"
        )
    return CropBox(x0, y0, side)


def centre_drop(pose, person: np.ndarray | None) -> float:
    """How far below the face centre the crop is centred, in face sizes:
    CENTER_DROP, or less, so that the crop's top border lies HAIR_ROOM above
    the top of the person (``person`` > PERSON_MIN over the head's width),
    but never less than CENTER_DROP_MIN."""
    if person is None:
        return CENTER_DROP
    size = float(pose.size)
    cx, cy = float(pose.center[0]), float(pose.center[1])
    x0, x1 = max(int(cx - size), 0), min(int(cx + size) + 1, person.shape[1])
    y1 = min(max(int(cy), 0), person.shape[0])
    if x1 <= x0 or y1 <= 0:
        return CENTER_DROP
    rows = np.flatnonzero(person[:y1, x0:x1].max(axis=1) > PERSON_MIN)
    if rows.size == 0:
        return CENTER_DROP
    reach = (cy - float(rows[0])) / size  # face sizes above the face centre
    return float(np.clip(CROP_FACE_SIZES / 2.0 - HAIR_ROOM - reach, CENTER_DROP_MIN, CENTER_DROP))


def points_to_crop(points: np.ndarray, box: CropBox, crop_size: int) -> np.ndarray:
    """Photo landmarks (N,3) → crop pixels (z scaled like x)."""
    s = crop_size / box.side
    out = np.asarray(points, np.float32).copy()
    out[:, 0] = (out[:, 0] - box.x0) * s
    out[:, 1] = (out[:, 1] - box.y0) * s
    out[:, 2] *= s
    return out


def paste_mask(crop_size: int) -> np.ndarray:
    """Feathered 0..1 weight: 1 inside, fading to 0 over the outer 6% of the
    crop (the warp keeps the border fixed, so the fade hides nothing that moves)."""
    feather = max(2.0, 0.06 * crop_size)
    r = np.arange(crop_size, dtype=np.float32) + 0.5
    edge = np.minimum(r, crop_size - r)
    ramp = np.clip(edge / feather, 0.0, 1.0)
    return np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
