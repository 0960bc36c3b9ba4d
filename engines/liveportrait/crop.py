"""Square face crops for LivePortrait, from the tracker's 478 landmarks.

The original crops around its 203-point landmarks (face contour from temple to
temple through the chin, brows, eyes, nose, lips): the crop side is 2.3× the
larger side of their bounding box, shifted up by 0.125 of the side to include
the forehead (the driver: 2.2× and 0.1). Here the same numbers are applied to
the MediaPipe points that cover the same region (``CROP_POINTS``).

One deliberate difference: the original rotates the crop so the eyes are level;
vivicam's crops are axis-aligned (scale + translation only), because the
pipeline pastes the engine's crop back with a resize and a blend
(``AvatarState.crop_matrix``). A tilted head stays tilted in the crop, which
the networks handle (they see tilted faces in training as head roll).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vivicam.calibrate import mesh

AVATAR_SCALE = 2.3
AVATAR_SHIFT_UP = 0.125  # fraction of the crop side (the original's vy_ratio = -0.125)
DRIVER_SCALE = 2.2
DRIVER_SHIFT_UP = 0.1
NETWORK_SIZE = 256  # the networks read 256×256 crops


def _lower_face_oval() -> tuple[int, ...]:
    oval = mesh.FACE_OVAL
    start, end = oval.index(356), oval.index(127)  # temple to temple through the chin
    return oval[start : end + 1]


# The MediaPipe points standing in for the original's 203-point landmark set.
CROP_POINTS: tuple[int, ...] = tuple(
    sorted(
        set(_lower_face_oval())
        | set(mesh.BROWS[0] + mesh.BROWS[1])
        | set(mesh.EYE_CONTOUR[0] + mesh.EYE_CONTOUR[1])
        | set(mesh.LIPS_OUTER + mesh.LIPS_INNER)
        | {mesh.NOSE_BRIDGE, mesh.NOSE_TIP, mesh.NOSE_BOTTOM}
    )
)


@dataclass(frozen=True)
class CropBox:
    """An axis-aligned square in image pixels: centre and side."""

    cx: float
    cy: float
    side: float

    def matrix(self, size: int) -> np.ndarray:
        """(2, 3) float32 affine taking image pixels to pixels of a size×size crop."""
        s = size / self.side
        return np.array(
            [[s, 0.0, size / 2 - s * self.cx], [0.0, s, size / 2 - s * self.cy]], np.float32
        )


def face_box(points: np.ndarray, *, scale: float, shift_up: float) -> CropBox:
    """The crop square around the face: ``scale`` × the larger side of the
    landmarks' bounding box, centred on it and moved up by ``shift_up`` × side."""
    xy = np.asarray(points, np.float64)[list(CROP_POINTS), :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    side = float(max(hi - lo)) * scale
    if not side > 0:
        raise ValueError("degenerate landmarks: the face has no extent")
    cx, cy = (lo + hi) / 2
    return CropBox(cx=float(cx), cy=float(cy - shift_up * side), side=side)


def warp_to_crop(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """The size×size crop of ``image`` (uint8 RGB); outside the photo the edge
    pixels are repeated, so the networks never see a black band they could
    drag into the face."""
    return cv2.warpAffine(
        image, box.matrix(size), (size, size), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def crop_points(points: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Landmarks (N, 3) in crop pixels of a size×size crop (z scaled alike)."""
    m = box.matrix(size)
    out = np.asarray(points, np.float32).copy()
    out[:, :2] = out[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] *= m[0, 0]
    return out


def network_input(crop: np.ndarray) -> np.ndarray:
    """A uint8 RGB crop → 1×3×256×256 float32 0..1 (INTER_AREA resize, as the original)."""
    if crop.shape[:2] != (NETWORK_SIZE, NETWORK_SIZE):
        crop = cv2.resize(crop, (NETWORK_SIZE, NETWORK_SIZE), interpolation=cv2.INTER_AREA)
    x = crop.astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def to_uint8_image(out: Any) -> Any:
    """The generator's 1×3×H×W float 0..1 → H×W×3 uint8 (clipped, truncated as
    the original), where ``out`` lives: NumPy, CuPy, or a torch tensor (CPU
    or CUDA; the frame stays on the GPU until the final host copy)."""
    if hasattr(out, "permute"):  # torch
        import torch

        img = out[0].float().permute(1, 2, 0).clamp(0.0, 1.0)
        return (img * 255.0).to(torch.uint8)
    from vivicam.xp import array_module

    xp = array_module(out)
    img = xp.clip(xp.asarray(out, dtype=xp.float32)[0].transpose(1, 2, 0), 0.0, 1.0)
    return (img * xp.float32(255.0)).astype(xp.uint8)


def resize_image(image: Any, size: int) -> Any:
    """A square H×W×3 uint8 image resized to size×size where it lives: OpenCV
    (INTER_AREA to shrink, linear to grow) on NumPy, torch on tensors
    (antialiased bilinear to shrink), CuPy through torch by DLPack."""
    if image.shape[0] == size:
        return image
    shrink = size < image.shape[0]
    if isinstance(image, np.ndarray):
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        return cv2.resize(image, (size, size), interpolation=interpolation)
    import torch

    cupy_in = not hasattr(image, "permute")
    t = torch.from_dlpack(image) if cupy_in else image
    x = t.permute(2, 0, 1)[None].float()
    y = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    out = y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).contiguous()
    if cupy_in:
        import cupy

        return cupy.from_dlpack(out)
    return out


def paste_mask(size: int, *, feather: float = 0.12) -> np.ndarray:
    """size×size float32: 1 inside, falling smoothly (cosine) to 0 at the crop
    border over ``feather`` × size, with rounded corners, so the pasted crop
    shows no seam."""
    ramp = max(2.0, feather * size)
    centres = np.arange(size, dtype=np.float32) + 0.5
    edge = np.minimum(centres, size - centres)  # distance to the nearest border, 1-D
    dx, dy = np.meshgrid(edge, edge)
    # Rounded corners: distance to the inner square of side size - 2·ramp.
    inside_x = np.clip(ramp - dx, 0, None)
    inside_y = np.clip(ramp - dy, 0, None)
    dist = ramp - np.sqrt(inside_x**2 + inside_y**2)  # ramp = fully inside, 0 = at border
    t = np.clip(dist / ramp, 0.0, 1.0)
    return (0.5 - 0.5 * np.cos(np.pi * t)).astype(np.float32)
