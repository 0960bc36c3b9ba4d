"""Faces on a still photo (the avatar): several faces, largest first.

Photos differ from webcam frames: the face can be small in a large picture
(a painting of a seated lady, a printed photo held in a hand) or fill it. So
detection is two-step:

1. MediaPipe face *detection* on a copy downscaled to at most
   ``DETECT_SIDE`` pixels, with the full-range model (faces up to ~5 m away;
   it also rejects animal faces the short-range model accepts) and the
   short-range model as a fallback for close-ups, trusted only when it is
   very sure. If the whole photo gives nothing, overlapping tiles are tried
   (a face a few per cent of a large photo's width).
2. For each detected box, MediaPipe face *mesh* (static mode, refined irises)
   on a square crop around the box, taken from the full-resolution photo and
   resampled to ``MESH_SIDE`` pixels; the landmarks are mapped back to
   full-resolution pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vivicam.errors import InputError, NoFaceError
from vivicam.face.tracker import (
    MediaPipeTracker,
    face_width,
    inside_share,
)
from vivicam.types import Landmarks

DETECT_SIDE = 1024  # detection runs on a copy no larger than this (px)
MESH_SIDE = 512  # the face-mesh crop is resampled to this (px)
CROP_FACTOR = 2.2  # crop side / detected box side: room for the forehead and chin
FULL_RANGE_MIN_SCORE = 0.5
SHORT_RANGE_MIN_SCORE = 0.9  # the short-range model also fires on dogs (~0.8)


@dataclass(frozen=True, eq=False)
class AvatarFace:
    """The face chosen on an avatar photo."""

    landmarks: Landmarks  # full-resolution pixels of the photo
    face_count: int  # how many faces the photo has
    note: str | None = None  # what the user should know, e.g. which face was chosen


@dataclass(frozen=True)
class _Box:
    cx: float  # centre and side, full-resolution pixels
    cy: float
    side: float
    score: float


def _detect_in(image: np.ndarray, x0: int, y0: int, w: int, h: int, boxes: list[_Box]) -> None:
    """Add the faces found in the window (x0, y0, w, h) of ``image`` to ``boxes``."""
    from mediapipe.python.solutions import face_detection

    window = image[y0 : y0 + h, x0 : x0 + w]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    if scale < 1.0:
        window = cv2.resize(window, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    window = np.ascontiguousarray(window)
    for model, min_score in ((1, FULL_RANGE_MIN_SCORE), (0, SHORT_RANGE_MIN_SCORE)):
        with face_detection.FaceDetection(model_selection=model, min_detection_confidence=min_score) as det:
            found = det.process(window).detections or []
        for d in found:
            if float(d.score[0]) < min_score:  # the solution's own threshold is not reliable per model
                continue
            # Relative boxes: the same numbers at any resolution.
            rb = d.location_data.relative_bounding_box
            box = _Box(
                cx=x0 + (rb.xmin + rb.width / 2) * w,
                cy=y0 + (rb.ymin + rb.height / 2) * h,
                side=max(rb.width * w, rb.height * h),
                score=float(d.score[0]),
            )
            if not any(_same_face(box, other) for other in boxes):
                boxes.append(box)


def _detections(image: np.ndarray) -> list[_Box]:
    """Face boxes from MediaPipe face detection on downscaled copies: the whole
    photo first; only when that finds nothing, overlapping 2×2 then 3×3 tiles
    (a face that is a few per cent of a large photo is too small for the
    detector's 192-px input when the whole photo is shrunk into it)."""
    h, w = image.shape[:2]
    boxes: list[_Box] = []
    for n in (1, 2, 3):
        if n > 1 and max(h, w) / n < 256:
            break  # tiles would be smaller than a face the detector can see anyway
        tw, th = int(np.ceil(w / n * 1.5)) if n > 1 else w, int(np.ceil(h / n * 1.5)) if n > 1 else h
        tw, th = min(tw, w), min(th, h)
        for y0 in np.linspace(0, h - th, n).round().astype(int):
            for x0 in np.linspace(0, w - tw, n).round().astype(int):
                _detect_in(image, int(x0), int(y0), tw, th, boxes)
        if boxes:
            break
    return boxes


def _same_face(a: _Box, b: _Box) -> bool:
    return np.hypot(a.cx - b.cx, a.cy - b.cy) < 0.5 * max(a.side, b.side)


def _square_crop(image: np.ndarray, cx: float, cy: float, side: float) -> tuple[np.ndarray, int, int, int]:
    """The ``side``-px square centred on (cx, cy), edge-padded where it leaves
    the photo: (crop, x0, y0, side) in integer full-resolution pixels."""
    n = max(int(np.ceil(side)), 1)
    x0, y0 = int(np.floor(cx - n / 2)), int(np.floor(cy - n / 2))
    h, w = image.shape[:2]
    inner = image[max(y0, 0) : min(y0 + n, h), max(x0, 0) : min(x0 + n, w)]
    pad = ((max(-y0, 0), max(y0 + n - h, 0)), (max(-x0, 0), max(x0 + n - w, 0)), (0, 0))
    return np.pad(inner, pad, mode="edge"), x0, y0, n


def _mesh_in_box(mesh: MediaPipeTracker, image: np.ndarray, box: _Box) -> Landmarks | None:
    """478 landmarks of the face in ``box``, in full-resolution pixels."""
    crop, x0, y0, n = _square_crop(image, box.cx, box.cy, box.side * CROP_FACTOR)
    interp = cv2.INTER_AREA if n > MESH_SIDE else cv2.INTER_CUBIC
    crop = cv2.resize(crop, (MESH_SIDE, MESH_SIDE), interpolation=interp)
    found = mesh.track(crop)
    if found is None:
        return None
    pts = found.points.astype(np.float64) * (n / MESH_SIDE)  # x, y and z (z was scaled by the crop width)
    pts[:, 0] += x0
    pts[:, 1] += y0
    h, w = image.shape[:2]
    pts = pts.astype(np.float32)
    return Landmarks(pts, (w, h), min(inside_share(pts, w, h), box.score))


def find_faces(image: np.ndarray) -> list[Landmarks]:
    """Every face on a photo (H×W×3 uint8 RGB), largest first; [] when none."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"expected an RGB photo (H×W×3, 8-bit), got {image.dtype} {image.shape}")
    boxes = _detections(image)
    if not boxes:
        return _faces_on_padded(image)
    return _meshes(image, boxes)


def _meshes(image: np.ndarray, boxes: list[_Box]) -> list[Landmarks]:
    """The face mesh in each detected box, largest face first."""
    faces: list[Landmarks] = []
    if boxes:
        with MediaPipeTracker(static_image=True, max_faces=1, min_confidence=0.5) as mesh:
            for box in boxes:
                lm = _mesh_in_box(mesh, image, box)
                if lm is not None:
                    faces.append(lm)
    faces.sort(key=lambda lm: face_width(lm.points), reverse=True)
    return faces


CLOSE_UP_PAD = 0.25  # share of the longer side added around a photo whose face is too big to detect


def _faces_on_padded(image: np.ndarray) -> list[Landmarks]:
    """A close-up whose face fills or overflows the photo (hair and chin cut
    off) is too big for the detector: look again with the photo's edges
    repeated around it, so the face is an ordinary size in the picture."""
    h, w = image.shape[:2]
    pad = int(round(CLOSE_UP_PAD * max(h, w)))
    if pad < 1 or min(h, w) < 32:
        return []
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    shift = np.array([pad, pad, 0], np.float32)
    return [
        Landmarks(lm.points - shift, (w, h), min(lm.confidence, inside_share(lm.points - shift, w, h)))
        for lm in _meshes(padded, _detections(padded))
    ]


def find_avatar_face(image: np.ndarray, *, min_face_px: int = 40) -> AvatarFace:
    """The face to animate on an avatar photo: the largest one.

    Raises ``NoFaceError`` when there is no face or the largest is narrower
    than ``min_face_px`` (too few pixels to animate).
    """
    faces = find_faces(image)
    if not faces:
        raise NoFaceError("no face found in the photo")
    face = faces[0]
    width = face_width(face.points)
    if width < min_face_px:
        raise NoFaceError(f"the face is only {width:.0f} px wide; at least {min_face_px} px needed")
    note = None
    if len(faces) > 1:
        cx, cy = face.points[:, :2].mean(axis=0)
        note = f"{len(faces)} faces found; using the largest one (centre {cx:.0f},{cy:.0f})"
    return AvatarFace(landmarks=face, face_count=len(faces), note=note)
