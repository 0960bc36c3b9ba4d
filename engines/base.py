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

BackendName = Literal["cpu", "onnxruntime", "tensorrt", "torch"]
PRECISIONS = ("fp16", "fp32")
DEFAULT_PRECISION = "fp16"  # compiled engines on a GPU; the CPU reference is float32 whatever is asked


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do and what it needs, declared in one place (the
    pipeline, the CLI and the benchmarks read this instead of probing).

    - ``backends``: where it can run; ``precisions``: compiled-engine precisions.
    - ``needs_weights``: a ``--weights`` folder is required.
    - ``driver_frames``: attach the driver's frames to ``Motion`` (the engine
      reads the driver's image: LivePortrait, the warp's driver mouth).
    - ``driver_flow``: measure the driver's optical flow (``Motion.surround``,
      ``Motion.camera``, refined landmarks).
    - ``mouth_modes`` / ``camera_motions``: the values its ``mouth`` and
      ``camera_motion`` options take (empty: it has no such option).
    """

    backends: tuple[BackendName, ...]
    precisions: tuple[str, ...] = PRECISIONS
    needs_weights: bool = False
    driver_frames: bool = False
    driver_flow: bool = False
    mouth_modes: tuple[str, ...] = ()
    camera_motions: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class View:
    """Which output pixels look at the engine's crop, and where: for output
    rows ``y0 ≤ r < y1`` and columns ``x0 ≤ c < x1`` (``box``), the crop
    coordinate is ``scale * index + offset`` per axis (``x``, ``y``; pixel
    centres are integers, as in OpenCV). Paste-back and letterboxing are
    axis-aligned, so two numbers per axis say it all."""

    box: tuple[int, int, int, int]  # y0, y1, x0, x1
    x: tuple[float, float]  # (scale, offset)
    y: tuple[float, float]


@runtime_checkable
class Drawable(Protocol):
    """An engine's render result that draws itself at the output's resolution
    (the warp engine resamples the full-resolution photo once, straight into
    the output) instead of handing over a fixed-size crop to be scaled."""

    @property
    def array_module(self) -> Any:
        """Where its data lives (NumPy, or CuPy on a GPU): the paste-back works there."""
        ...

    def draw(self, view: View, xp: Any = np) -> Any:
        """(h, w, 3) float32 0..255 pixels for ``view.box``, in array module ``xp``."""
        ...


def crop_view(crop_size: int) -> View:
    """The view whose output is the crop itself (crop_size², 1:1)."""
    return View((0, crop_size, 0, crop_size), (1.0, 0.0), (1.0, 0.0))


def crop_image(rendered: Any, state: AvatarState) -> Any:
    """A render result as the crop_size²×3 uint8 crop (what a Drawable shows
    at the crop's own resolution; an array result as it is)."""
    if isinstance(rendered, Drawable):
        out = rendered.draw(crop_view(int(state.crop_size)))
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    return rendered


@runtime_checkable
class Engine(Protocol):
    """A generator engine. Implementations are registered by name in
    :mod:`vivicam.engines.registry`."""

    name: ClassVar[str]
    backends: ClassVar[tuple[BackendName, ...]]
    capabilities: Capabilities

    def prepare(self, photo: np.ndarray) -> AvatarState:
        """Analyse one avatar photo (H×W×3 uint8 RGB). Raises NoFaceError when
        the photo has no usable face."""
        ...

    def render(self, state: AvatarState, motion: Motion) -> Any:
        """The crop for this motion: crop_size×crop_size×3 uint8 RGB, or a
        :class:`Drawable` that draws itself at the output's resolution. On a
        GPU backend it may be a device array (CuPy / torch) to keep the frame
        on the GPU; ``vivicam.realtime.post`` accepts any of these
        (:func:`crop_image` turns any into the plain crop)."""
        ...


    def frame_shift(self, state: AvatarState, motion: Motion) -> Any:
        """(dx, dy) photo pixels the whole output frame moves by (the driver's
        camera motion, ``Motion.camera``), applied by the paste-back; None when
        the frame stays. An engine that moves the frame animates
        ``motion.within_scene()``."""
        ...
