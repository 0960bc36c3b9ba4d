"""The ``warp`` engine: animates a photo by warping it with the face mesh.

No weights, no GPU needed. ``backend="cpu"`` (and ``"auto"`` without a GPU) is
the OpenCV/NumPy reference; ``"onnxruntime"``/``"tensorrt"``/``"torch"`` run
the same per-frame math as a tensor graph (:mod:`vivicam.engines.warp.graph`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS, BackendName, Capabilities
from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.mesh_motion import CAMERA_LIMIT, CAMERA_SHARE, knee_limit
from vivicam.engines.warp.prepare import prepare_avatar
from vivicam.engines.warp.render import StepTimes, render_cpu
from vivicam.errors import InputError
from vivicam.types import Motion

_BACKENDS = ("auto", "cpu", "onnxruntime", "tensorrt", "torch")
MOUTHS = ("synth", "driver")
CAMERA_MOTIONS = ("follow", "still")


class WarpEngine:
    """Mesh-warp engine (see docs/warp.md)."""

    name: ClassVar[str] = "warp"
    backends: ClassVar[tuple[BackendName, ...]] = ("cpu", "onnxruntime", "tensorrt", "torch")

    def __init__(
        self,
        *,
        backend: str = "auto",
        weights: Any = None,
        precision: str = DEFAULT_PRECISION,
        crop_size: int = 512,
        mouth: str = "driver",
        camera_motion: str = "follow",
    ) -> None:
        if weights is not None:
            raise InputError("the warp engine needs no weights")
        if backend not in _BACKENDS:
            raise InputError(f"unknown backend '{backend}'; choose one of: {', '.join(_BACKENDS)}")
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision '{precision}'; choose one of: {', '.join(PRECISIONS)}")
        if mouth not in MOUTHS:
            raise InputError(f"unknown mouth '{mouth}'; choose one of: {', '.join(MOUTHS)}")
        if camera_motion not in CAMERA_MOTIONS:
            raise InputError(f"unknown camera motion '{camera_motion}'; choose one of: {', '.join(CAMERA_MOTIONS)}")
        if crop_size < 128 or crop_size % 8:
            raise InputError(f"crop_size must be a multiple of 8 and at least 128, got {crop_size}")
        self.crop_size = int(crop_size)
        self.precision = precision
        # "driver": an opening mouth shows the driver's own interior (docs/warp.md),
        # so the pipeline hands this engine the driver's frames
        self.mouth = mouth
        # hair, neck and shoulders follow the driver's optical flow (Motion.surround)
        self.capabilities = Capabilities(
            backends=self.backends, driver_frames=mouth == "driver", driver_flow=True,
            mouth_modes=MOUTHS, camera_motions=CAMERA_MOTIONS,
        )
        # "follow": when the driver's camera moves (hand-held, panning), the
        # whole picture moves with it (frame_shift) and the head only as it
        # moved within the driver's scene; "still" keeps the avatar's
        # background still and moves the head by all its image motion,
        # within the head's soft limits
        self.camera_motion = camera_motion
        self.backend = self._choose_backend(backend)
        self.last_times = StepTimes()
        self._graph = None
        if self.backend != "cpu":
            from vivicam.engines.warp.graph_runner import GraphRenderer

            self._graph = GraphRenderer(self.backend, precision, self.crop_size)

    def _choose_backend(self, requested: str) -> str:
        if requested == "cpu":
            return "cpu"
        from vivicam.engines.backends import select_backend

        return select_backend(requested, self.backends).name

    def prepare(self, photo: np.ndarray) -> WarpAvatar:
        return prepare_avatar(photo, self.crop_size)

    def frame_shift(self, state: WarpAvatar, motion: Motion) -> np.ndarray | None:
        """(dx, dy) photo pixels the whole output frame moves by: the driver's
        camera motion on the avatar's scale, softly limited (CAMERA_LIMIT face
        sizes, CAMERA_SHARE of the photo); None when still."""
        if self.camera_motion == "still" or not motion.camera.any():
            return None
        face_px = state.rig.size0 / float(state.crop_matrix[0, 0])  # the avatar's face size in photo pixels
        height, width = state.photo.shape[:2]
        limit = np.minimum(CAMERA_LIMIT, CAMERA_SHARE * np.array([width, height], np.float32) / face_px)
        return knee_limit(motion.camera, limit) * np.float32(face_px)

    def render(self, state: WarpAvatar, motion: Motion) -> np.ndarray:
        if self.camera_motion == "follow":
            motion = motion.within_scene()  # the camera's share moves the frame (frame_shift)
        if self.backend == "cpu":
            return render_cpu(state, motion, self.last_times, self.mouth)
        return self._graph.render(state, motion, self.mouth)
