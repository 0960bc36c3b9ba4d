"""The engine seam: ``prepare(photo) → AvatarState`` once per avatar,
``render(state, motion) → crop`` every frame.

An engine renders only the square crop around the face; post-processing
(``vivicam.realtime.post``) pastes that crop back into the full photo using the
crop placement and feathered mask every ``AvatarState`` carries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np

from vivicam.types import Motion

BackendName = Literal["cpu", "onnxruntime", "tensorrt"]


@dataclass(frozen=True, eq=False)
class AvatarState:
    """What every engine's prepared avatar provides to the pipeline.

    Engines subclass it (frozen dataclasses) to add their own per-avatar data.

    - ``photo``: the full photo, H×W×3 uint8 RGB, as decoded (EXIF-rotated, alpha
      flattened, possibly downscaled to a working size).
    - ``crop_matrix``: (2, 3) float32 affine taking full-photo pixel coordinates
      to crop pixel coordinates.
    - ``crop_size``: side of the square crop the engine renders, in pixels.
    - ``paste_mask``: crop_size×crop_size float32 0..1, how much of the rendered
      crop replaces the photo (feathered at the edge so no seam shows).
    - ``person_mask``: H×W float32 0..1 on the full photo (1 = person), for the
      background modes (keep, blur, replace, key colour); None when unknown.
    """

    photo: np.ndarray
    crop_matrix: np.ndarray
    crop_size: int
    paste_mask: np.ndarray
    person_mask: np.ndarray | None = None


@runtime_checkable
class Engine(Protocol):
    """A generator engine. Implementations are registered by name in
    :mod:`vivicam.engines.registry`."""

    name: ClassVar[str]
    backends: ClassVar[tuple[BackendName, ...]]

    def prepare(self, photo: np.ndarray) -> AvatarState:
        """Analyse one avatar photo (H×W×3 uint8 RGB). Raises NoFaceError when
        the photo has no usable face."""
        ...

    def render(self, state: AvatarState, motion: Motion) -> Any:
        """The crop for this motion: crop_size×crop_size×3 uint8 RGB. On a GPU
        backend it may be a device array (CuPy / torch) to keep the frame on
        the GPU; ``vivicam.realtime.post`` accepts either."""
        ...


# Optional engine capabilities, looked up with getattr by the pipeline (an
# engine without them simply does not get the feature):
# - ``wants_driver_frames`` / ``wants_driver_flow`` (bool): attach the driver's
#   frames to Motion / measure the driver's optical flow (Motion.surround,
#   Motion.camera, refined landmarks).
# - ``frame_shift(state, motion) -> (dx, dy) | None``: photo pixels the whole
#   output frame moves by (the driver's camera motion, Motion.camera), applied
#   by the paste-back; such an engine animates ``motion.within_scene()``.
