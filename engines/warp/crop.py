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


def place_crop(points: np.ndarray, photo_shape: tuple[int, ...]) -> CropBox:
    """The crop box for a face, wherever it lies (beyond the photo's edge the
    canvas is filled in); NoFaceError only when most of the face itself is
    outside the photo."""
    h, w = photo_shape[:2]
    pose = face_pose(points)
    side = int(round(CROP_FACE_SIZES * pose.size))
    cx = float(pose.center[0])
    cy = float(pose.center[1]) + CENTER_DROP * pose.size
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
