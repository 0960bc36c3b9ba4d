"""The plain data that crosses stages and queues.

Conventions, used everywhere in vivicam:
- Images are RGB ``uint8`` arrays of shape ``H×W×3`` (OpenCV's BGR stays inside
  the modules that talk to OpenCV I/O).
- Landmark coordinates are in pixels of the image they were found in:
  ``x`` right, ``y`` down, ``z`` depth in the same pixel units as ``x``
  (MediaPipe's normalised z multiplied by the image width), smaller z = closer
  to the camera.
- Time stamps are ``time.perf_counter_ns()`` integers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

NUM_LANDMARKS = 478  # MediaPipe face mesh with refined irises
# Layout of ``Motion.surround``: a SURROUND_GRID × SURROUND_GRID grid of nodes
# on a square SURROUND_SPAN face sizes wide, centred on the driver's neutral
# face centre (node (r, c) at ``((c + 0.5) / G − 0.5) · span`` across,
# likewise down, in face sizes). Wide enough for hair, ears, neck and
# shoulders (and background to read the camera's motion from); the nodes
# 0.13 face sizes apart, fine enough that a collar and the hair above it
# move each their own way (21 nodes, 0.38 apart, cost d19 1 dB).
SURROUND_GRID = 61
SURROUND_SPAN = 8.0
SURROUND_SHAPE = (SURROUND_GRID, SURROUND_GRID, 3)


def surround_node_offsets() -> np.ndarray:
    """(SURROUND_GRID,) float64 node positions along either axis of the
    ``Motion.surround`` grid, in face sizes from the neutral face centre."""
    return ((np.arange(SURROUND_GRID) + 0.5) / SURROUND_GRID - 0.5) * SURROUND_SPAN


@dataclass(frozen=True, eq=False)
class Frame:
    """One captured image.

    ``motion`` is set by sources that already know the motion they want
    (the procedural idle driver); the tracking stage then skips tracking.
    """

    image: np.ndarray  # H×W×3 uint8 RGB
    t_capture_ns: int
    index: int = 0
    motion: "Motion | None" = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True, eq=False)
class Landmarks:
    """478 face-mesh points of one face in one image (see module conventions)."""

    points: np.ndarray  # (478, 3) float32 pixels
    image_size: tuple[int, int]  # (width, height) of the image they belong to
    confidence: float = 1.0  # 0..1, the tracker's presence score

    def __post_init__(self) -> None:
        if self.points.shape != (NUM_LANDMARKS, 3):
            raise ValueError(f"landmarks must be ({NUM_LANDMARKS}, 3), got {self.points.shape}")


@dataclass(frozen=True, eq=False)
class DriverFrame:
    """The driver's own image and landmarks, for engines that read the driving
    face directly (LivePortrait's motion extractor) rather than only ``Motion``.
    The pipeline attaches it only for engines whose ``capabilities.driver_frames`` is
    True, so other engines pay nothing for it."""

    image: np.ndarray  # H×W×3 uint8 RGB, the full captured frame
    landmarks: Landmarks


@dataclass(frozen=True, eq=False)
class Motion:
    """What the avatar should do this frame, relative to the driver's neutral face.

    All zeros (``Motion.neutral()``) means: the avatar as in its photo.

    - ``rotation``: (3,) float32 degrees ``(pitch, yaw, roll)`` of the head relative
      to neutral, right-handed rotations about the camera axes (x right, y down,
      z away from the camera), composed as ``Rz(roll) @ Ry(yaw) @ Rx(pitch)``:
      pitch > 0 nose moves down (nod); yaw > 0 nose moves towards image left;
      roll > 0 head tilts clockwise in the image.
    - ``translation``: (2,) float32 head offset in units of the face size
      (outer-eye-corner distance), x right, y down.
    - ``scale``: head size relative to neutral (1.0 = same; >1 closer to camera).
    - ``expression``: (478, 3) float32 per-landmark offsets in canonical face space
      (pose removed, unit = face size; see ``vivicam.calibrate.geometry``),
      relative to the neutral face. Engines add it to the avatar's canonical mesh.
    - ``eyes_closed``: (2,) float32 ``(image-left eye, image-right eye)``,
      0 = as open as at neutral, 1 = fully shut.
    - ``gaze``: (2,) float32 ``(x, y)`` iris offset within the eye opening,
      -1..1, x right, y down; 0 = looking as at neutral.
    - ``mouth_open``: 0 = closed as at neutral, 1 = wide open (inner lip gap of
      about 0.6 face sizes).
    - ``confidence``: 1 for tracked motion, lower while tracking is lost and the
      motion is held or eased into idle motion.
    - ``surround``: (SURROUND_GRID, SURROUND_GRID, 3) float32 or None: how the
      driver's surroundings (hair, ears, neck, shoulders) moved since the
      neutral frame, measured by optical flow on the grid described at
      ``SURROUND_GRID``: ``[..., :2]`` displacement (x, y) in face sizes,
      ``[..., 2]`` how much of the driver's person is at that node (0 =
      background, where the flow says nothing about a body). None = not
      measured (engines then move the surroundings with the head alone).
    - ``camera``: (2,) float32 how far the driver's background moved since the
      neutral frame (x, y, face sizes): the driver's camera panning or shaking.
      0 = a still camera, or not measured. ``translation`` and ``surround``
      include it (they are image motion); an engine that reproduces the
      camera moves the whole output frame by it and animates
      :meth:`within_scene` (the motion with the camera's share taken out).
    - ``driver`` / ``driver_neutral``: the current driver frame and the one the
      neutral calibration ended on; set by the pipeline only for engines that
      want them (``capabilities.driver_frames``), None otherwise (idle motion, demo).
    """

    rotation: np.ndarray = field(default_factory=lambda: np.zeros(3, np.float32))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    scale: float = 1.0
    expression: np.ndarray = field(
        default_factory=lambda: np.zeros((NUM_LANDMARKS, 3), np.float32)
    )
    eyes_closed: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    gaze: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    mouth_open: float = 0.0
    confidence: float = 1.0
    surround: np.ndarray | None = None
    camera: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    driver: DriverFrame | None = None
    driver_neutral: DriverFrame | None = None

    def __post_init__(self) -> None:
        expected = {
            "rotation": (3,),
            "translation": (2,),
            "expression": (NUM_LANDMARKS, 3),
            "eyes_closed": (2,),
            "gaze": (2,),
            "camera": (2,),
        }
        for name, shape in expected.items():
            value = np.asarray(getattr(self, name), dtype=np.float32)
            if value.shape != shape:
                raise ValueError(f"Motion.{name} must have shape {shape}, got {value.shape}")
            object.__setattr__(self, name, value)
        if not np.isfinite(self.scale) or self.scale <= 0:
            raise ValueError(f"Motion.scale must be a positive number, got {self.scale}")
        if self.surround is not None:
            value = np.asarray(self.surround, dtype=np.float32)
            if value.shape != SURROUND_SHAPE:
                raise ValueError(f"Motion.surround must have shape {SURROUND_SHAPE}, got {value.shape}")
            object.__setattr__(self, "surround", value)

    @classmethod
    def neutral(cls) -> "Motion":
        return cls()

    def with_(self, **changes: Any) -> "Motion":
        """A copy with some fields replaced (the dataclass is frozen)."""
        return replace(self, **changes)

    def within_scene(self) -> "Motion":
        """The head's and surroundings' motion relative to the driver's scene:
        ``camera`` taken out of ``translation`` and ``surround`` (and zeroed)."""
        if not self.camera.any():
            return self
        surround = None
        if self.surround is not None:
            surround = self.surround.copy()
            surround[..., :2] -= self.camera
        return replace(
            self, translation=self.translation - self.camera, surround=surround, camera=np.zeros(2, np.float32)
        )

    def blend(self, other: "Motion", weight: float) -> "Motion":
        """Linear blend: ``weight`` 0 gives self, 1 gives ``other``."""
        w = float(np.clip(weight, 0.0, 1.0))

        def mix(a: Any, b: Any) -> Any:
            return (1.0 - w) * np.asarray(a, np.float32) + w * np.asarray(b, np.float32)

        return Motion(
            rotation=mix(self.rotation, other.rotation),
            translation=mix(self.translation, other.translation),
            scale=float(mix(self.scale, other.scale)),
            expression=mix(self.expression, other.expression),
            eyes_closed=mix(self.eyes_closed, other.eyes_closed),
            gaze=mix(self.gaze, other.gaze),
            mouth_open=float(mix(self.mouth_open, other.mouth_open)),
            confidence=float(mix(self.confidence, other.confidence)),
            surround=_blend_surround(self.surround, other.surround, w),
            camera=mix(self.camera, other.camera),
            driver=other.driver if w >= 0.5 else self.driver,
            driver_neutral=other.driver_neutral if w >= 0.5 else self.driver_neutral,
        )


def _blend_surround(a: np.ndarray | None, b: np.ndarray | None, w: float) -> np.ndarray | None:
    """Blend two surround fields; a missing one counts as all zeros (no
    displacement, no weight: "move the surroundings with the head"), so easing
    into idle motion hands the shoulders back to the head smoothly."""
    if a is None and b is None:
        return None
    a = np.zeros(SURROUND_SHAPE, np.float32) if a is None else a
    b = np.zeros(SURROUND_SHAPE, np.float32) if b is None else b
    return ((1.0 - w) * a + w * b).astype(np.float32)
