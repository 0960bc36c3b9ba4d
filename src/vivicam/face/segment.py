"""Person/background segmentation of a photo (MediaPipe selfie segmentation,
whose model ships in the mediapipe wheel). Every engine's avatar carries the
resulting mask so the background modes (blur, replace, key colour) work the
same whatever engine rendered the face."""

from __future__ import annotations

import numpy as np


def segment_person(photo: np.ndarray) -> np.ndarray:
    """H×W float32 0..1 person probability."""
    import mediapipe as mp

    with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0) as seg:
        mask = seg.process(np.ascontiguousarray(photo)).segmentation_mask
    if mask is None:  # pragma: no cover - mediapipe returns a mask for any image
        return np.ones(photo.shape[:2], np.float32)
    return np.clip(mask, 0.0, 1.0).astype(np.float32)
