"""LivePortrait's networks, written for vivicam and loadable from the official
checkpoints with strict key matching.

Tensor-in / tensor-out modules (shapes in each class docstring); the pipeline
around them lives in :mod:`vivicam.engines.liveportrait`. Importing the
network modules needs torch; this package's ``__init__`` does not import them
eagerly, so ``import vivicam.engines.liveportrait.nets`` works without it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AppearanceFeatureExtractor": "appearance",
    "MotionExtractor": "motion",
    "MOTION_OUTPUTS": "motion",
    "WarpingNetwork": "warping",
    "DenseMotionNetwork": "dense_motion",
    "SPADEGenerator": "generator",
    "RetargetingMLP": "retargeting",
    "build_retargeting": "retargeting",
    "STITCHING_FILE_KEYS": "retargeting",
    "LivePortraitConfig": "config",
    "OFFICIAL": "config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
