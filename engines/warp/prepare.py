"""Avatar preparation: face → crop → control mesh, matte, plate, eye and
mouth models. Runs once per photo (well under 2 s on a laptop CPU)."""

from __future__ import annotations

import cv2
import numpy as np

from vivicam.calibrate import mesh
from vivicam.engines.warp import crop as cropping
from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.canvas import extend, grain_level
from vivicam.engines.warp.draw import Sources, split_layer
from vivicam.engines.warp.eyes import build_eyes
from vivicam.engines.warp.field import build_field
from vivicam.engines.warp.mesh_motion import build_rig
from vivicam.engines.warp.mouth import build_mouth
from vivicam.engines.warp.plate import MARGIN, background_plate, person_matte
from vivicam.face.detect import find_avatar_face
from vivicam.face.segment import segment_person
from vivicam.errors import InputError


def prepare_avatar(photo: np.ndarray, crop_size: int = 512, grid_cell: int = 4) -> WarpAvatar:
    """Analyse ``photo`` (H×W×3 uint8 RGB). Raises NoFaceError/InputError.

    The motion is modelled on an analysis crop (``crop_size``², enough for
    the mesh, eyes and mouth); the pixels the output shows come from the
    photo's full-resolution canvas (:mod:`canvas`, :mod:`draw`)."""
    photo = _check_photo(photo)
    face = find_avatar_face(photo)
    landmarks, note = face.landmarks, face.note
    person_full = segment_person(photo)
    box = cropping.place_crop(landmarks.points, photo.shape, person_full)
    matrix = box.matrix(crop_size)
    canvas, _inside = extend(photo, box, face=landmarks.points[list(mesh.FACE_OVAL), :2])
    crop = _shrink(canvas, crop_size)
    pts = cropping.points_to_crop(landmarks.points, box, crop_size)

    person = _shrink(extend(person_full, box)[0], crop_size)
    corners = cropping.points_to_crop(np.array([[0, 0, 0], [photo.shape[1], photo.shape[0], 0]]), box, crop_size)
    rig = build_rig(pts, crop_size, photo=tuple(corners[:, :2].ravel()), person=person)
    hull = cv2.convexHull(pts[list(mesh.FACE_OVAL), :2].astype(np.float32))[:, 0]
    matte = person_matte(person, hull, feather=0.15 * rig.size0, margin=MARGIN * rig.size0)
    plate = background_plate(crop, matte)
    layer = np.concatenate([crop, np.round(matte * 255).astype(np.uint8)[..., None]], axis=-1)

    field = build_field(_separated(rig.src, rig.controls), crop_size, cell=grid_cell)
    return WarpAvatar(
        photo=photo,
        crop_matrix=matrix,
        crop_size=crop_size,
        paste_mask=cropping.paste_mask(crop_size),
        person_mask=person_full,
        crop=crop,
        layer=np.ascontiguousarray(layer),
        plate=plate,
        landmarks=pts,
        rig=rig,
        field=field,
        eyes=build_eyes(crop, pts),
        mouth=build_mouth(crop, pts, rig.size0),
        sources=_full_resolution(canvas, matte, rig.size0),
        note=note,
    )


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    side = image.shape[0]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def _full_resolution(canvas: np.ndarray, matte: np.ndarray, face_px: float) -> Sources:
    """The moving layer and the plate at the canvas's (the photo's) resolution."""
    side = canvas.shape[0]
    matte_full = np.clip(cv2.resize(matte, (side, side), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
    sigma = grain_level(canvas)
    plate = background_plate(canvas, matte_full, grain_sigma=sigma)
    layer, plate = split_layer(canvas, matte_full, plate)
    return Sources(layer=layer, plate=plate, grain=sigma, crop_size=matte.shape[0], face_px=float(face_px))


def _check_photo(photo: np.ndarray) -> np.ndarray:
    arr = np.asarray(photo)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise InputError(f"the photo must be an H×W×3 uint8 RGB image, got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _separated(src: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """Control positions for triangulation, with the inner lips of a closed
    mouth pulled 0.5 px apart so upper and lower lip are distinct vertices
    (their displacements stay those of the true positions)."""
    pts = src[controls].astype(np.float64).copy()
    where = {int(c): k for k, c in enumerate(controls)}
    inner = mesh.LIPS_INNER
    for up, lo in zip(inner[1:10], reversed(inner[11:])):
        a, b = where[up], where[lo]
        gap = pts[b, 1] - pts[a, 1]
        if gap < 1.0:
            mid = 0.5 * (pts[a, 1] + pts[b, 1])
            pts[a, 1], pts[b, 1] = mid - 0.5, mid + 0.5
    # tiny deterministic jitter: Delaunay needs distinct points
    rng = np.random.default_rng(0)
    return pts + rng.uniform(-1e-3, 1e-3, pts.shape)
