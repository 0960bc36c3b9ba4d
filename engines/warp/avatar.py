"""The warp engine's prepared avatar (what ``WarpEngine.prepare`` returns)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vivicam.engines.base import AvatarState
from vivicam.engines.warp.draw import Sources
from vivicam.engines.warp.eyes import EyeModel
from vivicam.engines.warp.field import FieldRig
from vivicam.engines.warp.mesh_motion import MeshRig
from vivicam.engines.warp.mouth_geometry import MouthModel


@dataclass(frozen=True, eq=False)
class WarpAvatar(AvatarState):
    """Everything ``render`` needs, computed once per photo (a few MB).

    - ``crop``: n×n×3 uint8 RGB, the photo under ``crop_matrix``.
    - ``layer``: n×n×4 uint8, the crop plus the moving layer's alpha (person
      matte, face always included) in channel 3: what the warp resamples.
    - ``plate``: n×n×3 uint8 background with the person inpainted away.
    - ``landmarks``: (478,3) float32 face mesh in crop pixels.
    - ``rig`` / ``field`` / ``eyes`` / ``mouth``: the per-frame models.
    - ``sources``: the full-resolution layer and plate the output is drawn
      from (:mod:`vivicam.engines.warp.draw`); ``crop``, ``layer`` and
      ``plate`` are the analysis crop's (models and the tensor graph).
    - ``note``: a remark for the user (several faces found…), or None.
    """

    crop: np.ndarray = None  # type: ignore[assignment]
    layer: np.ndarray = None  # type: ignore[assignment]
    plate: np.ndarray = None  # type: ignore[assignment]
    landmarks: np.ndarray = None  # type: ignore[assignment]
    rig: MeshRig = None  # type: ignore[assignment]
    field: FieldRig = None  # type: ignore[assignment]
    eyes: tuple[EyeModel, EyeModel] = None  # type: ignore[assignment]
    mouth: MouthModel = None  # type: ignore[assignment]
    sources: Sources = None  # type: ignore[assignment]
    note: str | None = None
