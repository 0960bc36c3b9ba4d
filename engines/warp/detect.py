"""Find the avatar's face on the photo (T's static-image face finder)."""

from __future__ import annotations

import numpy as np

from vivicam.realtime.tracking.detect import find_avatar_face
from vivicam.types import Landmarks

MIN_FACE_PX = 40


def find_face(photo: np.ndarray, *, min_face_px: int = MIN_FACE_PX) -> tuple[Landmarks, str | None]:
    """The largest face's 478 landmarks in photo pixels and a note for the
    user (several faces…) or None. Raises NoFaceError (no face, tiny face)."""
    found = find_avatar_face(photo, min_face_px=min_face_px)
    return found.landmarks, found.note
