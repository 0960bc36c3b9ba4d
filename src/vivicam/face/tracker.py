"""The default tracker: MediaPipe face mesh with refined irises (478 points).

The face-mesh model ships inside the ``mediapipe==0.10.21`` wheel, so this
works offline. In tracking mode (``static_image=False``) MediaPipe runs its
face detector only until it has a face and then follows it from the previous
frame's landmarks, which is what makes it fast (a few ms at 640×480).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from types import TracebackType

import numpy as np

from vivicam.types import NUM_LANDMARKS, Landmarks

log = logging.getLogger(__name__)

MIN_SIDE = 16  # px; smaller images are answered "no face" without asking MediaPipe
# Faces a tracking graph follows at once. With one, MediaPipe locks on to
# the face its detector scores highest, which is not always the user: a
# driver with an 80 px picture-in-picture face in a corner scored it 0.97
# against the 200 px speaker's 0.92, and the avatar copied the inset (mouth
# r 0.98 with the inset, 0.33 with the speaker); a poster or a TV behind a
# user does the same. With two, MediaPipe runs its detector on every frame
# while it sees only one face (about 3 ms more a frame at 640×480 on the
# build machine), and ``track`` picks among what it finds (``follow_face``).
DRIVER_FACES = 2
# The face followed is kept while it is found near where it was; a face
# SWITCH_WIDTH times wider takes over after SWITCH_FRAMES frames in a row (the
# user sitting down in front of a poster that was followed while the chair
# was empty). While it is not found, only a face about as wide stands in for
# it: a much smaller one (the inset, while the speaker turns away for half a
# second) is taken only after SWITCH_FRAMES frames without the followed face.
SWITCH_WIDTH = 1.5
SWITCH_FRAMES = 15
NEAR = 0.5  # face widths: how far the followed face's centre may move between frames


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


@dataclass(frozen=True)
class Followed:
    """The face ``track`` follows: where it was last seen, for how many
    frames in a row a much wider face has been in view, and for how many it
    has not been found."""

    centre: np.ndarray  # (2,) pixels
    width: float  # pixels
    image_size: tuple[int, int]  # (width, height) of the images followed in
    challenged: int = 0
    missing: int = 0


def follow_face(faces: list[Landmarks], followed: Followed | None) -> tuple[int | None, Followed | None]:
    """Which of ``faces`` (largest first, as ``track_all`` gives them) is
    the user's this frame (None: not found), and what to remember for the
    next one. The face near the one followed (within NEAR of its width)
    stays chosen, so a second face never makes the motion jump from person to
    person; the widest is chosen when none is followed, when the followed one
    is gone and the widest is about as wide, or after SWITCH_FRAMES frames
    either without the followed face or with one SWITCH_WIDTH times wider."""
    if followed is not None and faces and faces[0].image_size != followed.image_size:
        followed = None  # another camera mode: where the face was says nothing here
    if followed is not None and not faces:
        return None, replace(followed, challenged=0, missing=followed.missing + 1)
    if not faces:
        return None, None
    centres = [(lm.points[:, :2].min(axis=0) + lm.points[:, :2].max(axis=0)) / 2.0 for lm in faces]
    widths = [face_width(lm.points) for lm in faces]
    pick, challenged = 0, 0
    if followed is not None:
        gaps = [float(np.linalg.norm(c - followed.centre)) for c in centres]
        near = int(np.argmin(gaps))
        if gaps[near] <= NEAR * max(followed.width, widths[near]):
            pick = near
            if widths[0] >= SWITCH_WIDTH * widths[near]:
                challenged = followed.challenged + 1
                if challenged >= SWITCH_FRAMES:
                    pick, challenged = 0, 0
        elif widths[0] * SWITCH_WIDTH < followed.width and followed.missing + 1 < SWITCH_FRAMES:
            return None, replace(followed, challenged=0, missing=followed.missing + 1)
    return pick, Followed(centres[pick], widths[pick], faces[pick].image_size, challenged)


class MediaPipeTracker:
    """``Tracker`` (see ``vivicam.realtime.protocols``) on MediaPipe face mesh.

    ``track(image_rgb)`` returns the user's face's 478 landmarks in pixels
    of that image (``follow_face``: the face followed so far, or the
    largest), or ``None`` when no face is found. With ``max_faces=1`` (the
    fastest: MediaPipe re-runs its detector every frame while it tracks
    fewer faces than ``max_faces``) the tracked face is the one MediaPipe
    locked on to, which may be a small face in the background.
    """

    def __init__(
        self, *, static_image: bool = False, max_faces: int = DRIVER_FACES, min_confidence: float = 0.5
    ) -> None:
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        if not 0.0 <= min_confidence <= 1.0:
            raise ValueError(f"min_confidence must be in 0..1, got {min_confidence}")
        self.static_image = static_image
        self.max_faces = max_faces
        self.min_confidence = min_confidence
        self._followed: Followed | None = None
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
        if self.static_image:  # unrelated images: the largest face of each
            return faces[0] if faces else None
        pick, self._followed = follow_face(faces, self._followed)
        return None if pick is None else faces[pick]

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
