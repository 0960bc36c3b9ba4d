"""Where the analysis crop sits: room above the hair."""

from __future__ import annotations

import numpy as np
import skimage.data

from vivicam.calibrate.geometry import face_pose
from vivicam.engines.warp.crop import CENTER_DROP_MIN, CROP_FACE_SIZES, HAIR_ROOM, place_crop


def _person_reaching(shape: tuple[int, int], pose, reach: float) -> np.ndarray:
    """A segmentation whose person (a block the head's width) reaches
    ``reach`` face sizes above the face centre and down to the photo's foot."""
    person = np.zeros(shape, np.float32)
    cx, cy, size = float(pose.center[0]), float(pose.center[1]), float(pose.size)
    person[int(round(cy - reach * size)):, int(cx - 0.8 * size) : int(cx + 0.8 * size)] = 1.0
    return person


def test_the_crop_leaves_room_above_big_hair() -> None:
    """The crop's border stays put while the head moves, so hair that
    reaches near it stays behind a head that moves down (s2's finest
    strands as faint tips where the hair had been; s0's updo in a peak).
    Big hair moves the crop up, as far as CENTER_DROP_MIN; hair with room
    above it, or no segmentation, leaves it where it was."""
    from vivicam.face.detect import find_avatar_face

    image = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    # on a taller canvas, so the crop never meets the photo's top
    canvas = np.pad(image, ((400, 0), (0, 0), (0, 0)), mode="edge")
    points = find_avatar_face(canvas).landmarks.points
    pose = face_pose(points)
    cy, size = float(pose.center[1]), float(pose.size)
    plain = place_crop(points, canvas.shape)

    def room(box, reach: float) -> float:  # face sizes from the hair's top up to the crop's border
        return (cy - reach * size - box.y0) / size

    assert room(plain, 1.9) < 0.15  # big hair nearly at the border
    for reach in (1.75, 1.9):
        box = place_crop(points, canvas.shape, _person_reaching(canvas.shape[:2], pose, reach))
        assert box.y0 < plain.y0 and box.side == plain.side
        want = min(HAIR_ROOM, CROP_FACE_SIZES / 2 - CENTER_DROP_MIN - reach)
        assert room(box, reach) >= want - 0.02, (reach, room(box, reach))
    small = place_crop(points, canvas.shape, _person_reaching(canvas.shape[:2], pose, 1.3))
    assert small == plain  # room enough already
    assert place_crop(points, canvas.shape, np.zeros(canvas.shape[:2], np.float32)) == plain  # nobody found
