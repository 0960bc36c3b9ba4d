"""The default tracker: MediaPipe face mesh with refined irises (478 points).

The face-mesh model ships inside the ``mediapipe==0.10.21`` wheel, so this
works offline. In tracking mode (``static_image=False``) MediaPipe runs its
face detector only until it has a face and then follows it from the previous
frame's landmarks, which is what makes it fast (a few ms at 640×480).
"""

from __future__ import annotations

import logging
from types import TracebackType

import numpy as np

from vivicam.types import NUM_LANDMARKS, Landmarks

log = logging.getLogger(__name__)

MIN_SIDE = 16  # px; smaller images are answered "no face" without asking MediaPipe


def landmarks_from_result(face, width: int, height: int) -> np.ndarray:
    """One MediaPipe ``NormalizedLandmarkList`` → (478, 3) float32 pixels.

    x, y are scaled by the image width/height; z (normalised roughly like x)
    by the width, so all three axes share pixel units (see ``vivicam.types``).
    """
    pts = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float32)
    pts *= np.array([width, height, width], dtype=np.float32)
    return pts


def inside_share(points: np.ndarray, width: int, height: int) -> float:
    """Share of the points that lie inside the image (0..1).

    The face-mesh solution API does not expose MediaPipe's face-presence
    score (it only drops faces below ``min_confidence``), so a found face's
    confidence is how much of it is actually in view: a face half out of the
    frame gives worse landmarks for the part outside.
    """
    x, y = points[:, 0], points[:, 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return float(inside.mean())


def face_width(points: np.ndarray) -> float:
    """Width of the landmark bounding box in pixels (used to pick the largest face)."""
    return float(points[:, 0].max() - points[:, 0].min())


class MediaPipeTracker:
    """``Tracker`` (see ``vivicam.realtime.protocols``) on MediaPipe face mesh.

    ``track(image_rgb)`` returns the largest face's 478 landmarks in pixels of
    that image, or ``None`` when no face is found. With ``max_faces=1``
    (the default, and the fastest: MediaPipe re-runs its detector every
    frame while it tracks fewer faces than ``max_faces``) the tracked face is
    the one MediaPipe locked on to.
    """

    def __init__(self, *, static_image: bool = False, max_faces: int = 1, min_confidence: float = 0.5) -> None:
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in 0..1, got {min_confidence}")
        self.static_image = static_image
        self.max_faces = max_faces
        self.min_confidence = min_confidence
        self._mesh = self._new_graph()

    def _new_graph(self):
        from mediapipe.python.solutions import face_mesh

        return face_mesh.FaceMesh(
            static_image_mode=self.static_image,
            max_num_faces=self.max_faces,
            refine_landmarks=True,
            min_detection_confidence=self.min_confidence,
            min_tracking_confidence=self.min_confidence,
        )

    def track_all(self, image: np.ndarray) -> list[Landmarks]:
        """All faces found, largest first."""
        if self._mesh is None:
            raise RuntimeError("tracker is closed")
        image = _as_rgb_uint8(image)
        height, width = image.shape[:2]
        if min(height, width) < MIN_SIDE:
            return []  # nothing a face could be found in (and MediaPipe's graph fails on it)
        try:
            result = self._mesh.process(image)
        except RuntimeError as exc:
            # A failed MediaPipe graph stays failed: start a fresh one so a
            # live loop keeps tracking on the next frame.
            log.warning("face tracker failed (%s); restarting it", str(exc).splitlines()[0])
            self._restart()
            return []
        faces = result.multi_face_landmarks or []
        found = []
        for face in faces:
            if len(face.landmark) != NUM_LANDMARKS:  # never with refine_landmarks=True
                continue
            pts = landmarks_from_result(face, width, height)
            found.append(Landmarks(pts, (width, height), inside_share(pts, width, height)))
        found.sort(key=lambda lm: face_width(lm.points), reverse=True)
        return found

    def track(self, image: np.ndarray) -> Landmarks | None:
        faces = self.track_all(image)
        return faces[0] if faces else None

    def _restart(self) -> None:
        self.close()
        self._mesh = self._new_graph()

    def close(self) -> None:
        if self._mesh is not None:
            mesh, self._mesh = self._mesh, None
            try:
                mesh.close()
            except RuntimeError:  # a graph that failed earlier reports it again on close
                pass

    def __enter__(self) -> "MediaPipeTracker":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}")
    # MediaPipe needs a C-contiguous buffer (a cropped view is not).
    return np.ascontiguousarray(image)
