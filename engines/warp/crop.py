"""Where the engine's square crop sits on the photo.

The crop is axis-aligned (scale + translation only) so paste-back is a plain
resize and blend. It is centred a little below the eyes and spans
``CROP_FACE_SIZES`` face sizes (outer-eye-corner distance) so hair, neck and
shoulders come along.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vivicam.calibrate.geometry import face_pose
from vivicam.errors import NoFaceError

CROP_FACE_SIZES = 4.2  # crop side in face sizes
CENTER_DROP = 0.35  # crop centre below the face centre, in face sizes
MIN_INSIDE = 0.55  # at least this share of the crop must lie on the photo
MAX_LANDMARKS_OUTSIDE = 0.1  # share of landmarks MediaPipe guessed beyond the edge


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
    """The crop box for a face; NoFaceError when the face is cut off by the
    photo's edge (so most of the area around it is missing)."""
    h, w = photo_shape[:2]
    pose = face_pose(points)
    side = int(round(CROP_FACE_SIZES * pose.size))
    cx = float(pose.center[0])
    cy = float(pose.center[1]) + CENTER_DROP * pose.size
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    outside = np.mean(
        (points[:, 0] < 0) | (points[:, 0] >= w) | (points[:, 1] < 0) | (points[:, 1] >= h)
    )
    inside_w = max(0, min(x0 + side, w) - max(x0, 0))
    inside_h = max(0, min(y0 + side, h) - max(y0, 0))
    inside = inside_w * inside_h / float(side * side)
    if outside > MAX_LANDMARKS_OUTSIDE:
        raise NoFaceError(
            f"the face is cut off by the edge of the photo ({outside:.0%} of it is outside); "
            "use a photo with the whole head in view"
        )
    if inside < MIN_INSIDE:
        raise NoFaceError(
            f"the face is too close to the edge of the photo (only {inside:.0%} of the area "
            "around it is inside); use a photo with the whole head in view"
        )
    return CropBox(x0, y0, side)


def cut_crop(photo: np.ndarray, box: CropBox, crop_size: int) -> np.ndarray:
    """The crop image; parts beyond the photo repeat its edge pixels."""
    h, w = photo.shape[:2]
    pad = max(0, -box.x0, -box.y0, box.x0 + box.side - w, box.y0 + box.side - h)
    src = photo
    if pad:
        src = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    roi = src[box.y0 + pad : box.y0 + pad + box.side, box.x0 + pad : box.x0 + pad + box.side]
    interp = cv2.INTER_AREA if box.side > crop_size else cv2.INTER_LINEAR
    return cv2.resize(roi, (crop_size, crop_size), interpolation=interp)


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
