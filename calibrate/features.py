"""Face features measured on one set of 478 face-mesh points. Pure functions.

Every function takes ``points``: (478, 3) float, in any space where the three
axes share one unit (pixels with z in pixels, or canonical face space). All
results are ratios, so they do not depend on that unit, on the face's size or
(mostly) on its rotation: distances are 3-D.

"Face size" is the 3-D distance between the outer eye corners (as in
``vivicam.calibrate.geometry``); "left"/"right" are image sides (see
``vivicam.calibrate.mesh``): index 0 is the eye on the image left.
"""

from __future__ import annotations

import numpy as np

from vivicam.calibrate import mesh

# Upper/lower lid point pairs across each eye opening (inner third, middle,
# outer third), averaged so one noisy point does not decide a blink.
_LID_PAIRS = (
    ((160, 144), (159, 145), (158, 153)),
    ((385, 380), (386, 374), (387, 373)),
)
# Upper/lower inner-lip pairs: left of centre, centre, right of centre.
_INNER_LIP_PAIRS = ((81, 178), (13, 14), (311, 402))
# Points along the upper edge of each brow (image-left brow, image-right brow).
_BROW_UPPER = ((70, 63, 105, 66, 107), (336, 296, 334, 293, 300))


def _dist(points: np.ndarray, a, b) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return np.linalg.norm(p[np.asarray(a)] - p[np.asarray(b)], axis=-1)


def face_size(points: np.ndarray) -> float:
    """Outer-eye-corner distance (the unit "face size")."""
    return float(_dist(points, mesh.EYE_OUTER_LEFT, mesh.EYE_OUTER_RIGHT))


def eye_width(points: np.ndarray) -> np.ndarray:
    """(2,) corner-to-corner width of each eye, in the points' units."""
    corners = np.asarray(mesh.EYE_CORNERS)
    return _dist(points, corners[:, 0], corners[:, 1])


def eye_openness(points: np.ndarray) -> np.ndarray:
    """(2,) lid distance / eye width for (image-left, image-right) eye.

    Typically about 0.25–0.35 for an open eye and below ~0.1 when shut.
    """
    pairs = np.asarray(_LID_PAIRS)  # (2 eyes, 3 pairs, 2)
    lid = _dist(points, pairs[..., 0], pairs[..., 1]).mean(axis=1)
    return (lid / np.maximum(eye_width(points), 1e-9)).astype(np.float32)


def mouth_gap(points: np.ndarray) -> float:
    """Inner-lip gap in face sizes (0 when the lips touch, ~0.6 wide open)."""
    pairs = np.asarray(_INNER_LIP_PAIRS)
    gap = float(_dist(points, pairs[:, 0], pairs[:, 1]).mean())
    return gap / max(face_size(points), 1e-9)


def mouth_width(points: np.ndarray) -> float:
    """Mouth-corner distance in face sizes (grows with a smile, ~0.5 at rest)."""
    return float(_dist(points, *mesh.MOUTH_CORNERS)) / max(face_size(points), 1e-9)


def _eye_frames(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per eye: centre between the corners, unit x (towards the image-right
    corner), unit y (perpendicular, towards the chin), half eye width."""
    p = np.asarray(points, dtype=np.float64)
    corners = np.asarray(mesh.EYE_CORNERS)
    a, b = p[corners[:, 0]], p[corners[:, 1]]  # (2, 3) image-left / image-right corners
    centre = (a + b) / 2
    x = b - a
    half = np.linalg.norm(x, axis=1) / 2
    x = x / np.maximum(2 * half, 1e-9)[:, None]
    down = p[mesh.NOSE_BOTTOM] - p[mesh.FOREHEAD]
    y = down[None, :] - x * (x @ down)[:, None]
    y = y / np.maximum(np.linalg.norm(y, axis=1), 1e-9)[:, None]
    return centre, x, y, half


def iris_offset(points: np.ndarray) -> np.ndarray:
    """(2, 2) iris centre offset ``(x, y)`` per eye, in half eye widths, from
    the midpoint of the eye corners, along the eye's own axes (x towards the
    image-right corner, y towards the chin).

    Looking straight ahead gives about (0, 0.0–0.1); looking fully sideways
    moves x by about ±0.3–0.4.
    """
    p = np.asarray(points, dtype=np.float64)
    centre, x, y, half = _eye_frames(p)
    iris = p[np.asarray(mesh.IRIS_CENTER)] - centre
    off = np.stack([(iris * x).sum(axis=1), (iris * y).sum(axis=1)], axis=1)
    return (off / np.maximum(half, 1e-9)[:, None]).astype(np.float32)


def brow_raise(points: np.ndarray) -> np.ndarray:
    """(2,) height of each brow's upper edge above its eye's corner midpoint,
    in face sizes (~0.2–0.3 at rest; grows when the brows go up)."""
    p = np.asarray(points, dtype=np.float64)
    centre, _, y, _ = _eye_frames(p)
    brow = np.stack([p[list(idx)].mean(axis=0) for idx in _BROW_UPPER])
    height = -((brow - centre) * y).sum(axis=1)
    return (height / max(face_size(p), 1e-9)).astype(np.float32)
