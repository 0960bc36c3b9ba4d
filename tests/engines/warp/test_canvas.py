"""The canvas beyond a close-up's edge (``engines/warp/canvas.extend``): the
photo's own pixels unchanged, the edge's colours carried out without a seam,
and nothing of the photo repeated (no mirrored hair, no second pair of eyes)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vivicam.calibrate import mesh
from vivicam.engines.warp.canvas import extend
from vivicam.engines.warp.crop import place_crop


@pytest.fixture(scope="module")
def cut_through_the_eyes():
    """The astronaut with the photo's top edge 6 px above her eyes."""
    from vivicam.face.detect import find_avatar_face

    image = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    points = find_avatar_face(image).landmarks.points.astype(np.float32)
    top = int(points[list(mesh.UPPER_LID[0]) + list(mesh.UPPER_LID[1]), 1].min()) - 6
    cut = np.ascontiguousarray(image[top:])
    points = points - np.array([0, top, 0], np.float32)
    return cut, points, place_crop(points, cut.shape)


def _mirror_corr(canvas: np.ndarray, row0: int, cols: slice, depth: int) -> float:
    """Correlation of the detail (high-pass) of the ``depth`` rows above
    canvas row ``row0`` (the photo's top edge) with that of the photo's rows
    below it, mirrored."""
    grey = canvas.astype(np.float32).mean(axis=2)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), 3.0)
    above = detail[row0 - depth : row0, cols][::-1]
    below = detail[row0 + 1 : row0 + 1 + depth, cols]
    return float(np.corrcoef(above.ravel(), below.ravel())[0, 1])


def test_nothing_of_the_photo_is_mirrored_beyond_the_edge(cut_through_the_eyes) -> None:
    """A reflection about the edge put a second pair of eyes above a photo
    cut through them, and beside the face flipped hair strands into a row
    of chevrons where a close-up's head moved down (s1 cut to the head, d12)."""
    photo, points, box = cut_through_the_eyes
    assert box.y0 < 0  # the box reaches above the photo
    oval = points[list(mesh.FACE_OVAL), :2]
    plain, inside = extend(photo, box)
    kept, inside2 = extend(photo, box, face=oval)
    np.testing.assert_array_equal(inside, inside2)
    on_photo = inside.astype(bool)
    np.testing.assert_array_equal(kept[on_photo], plain[on_photo])  # the photo's own pixels untouched
    edge_row = -box.y0  # the canvas row of the photo's top row
    xs = points[list(mesh.UPPER_LID[0]) + list(mesh.UPPER_LID[1]), 0] - box.x0
    eyes = slice(int(xs.min()), int(xs.max()))
    left_of_face = slice(max(0, -box.x0), int(oval[:, 0].min() - box.x0) - 40)
    for canvas in (plain, kept):
        assert _mirror_corr(canvas, edge_row, eyes, 12) < 0.5  # was 0.8 and more without the outline
        assert _mirror_corr(canvas, edge_row, left_of_face, 6) < 0.5  # was over 0.8
    # the edge's colours go on beyond it: no step where the photo ends
    step = np.abs(kept[edge_row - 1, left_of_face].astype(float) - kept[edge_row, left_of_face]).mean()
    inner = np.abs(kept[edge_row + 1, left_of_face].astype(float) - kept[edge_row, left_of_face]).mean()
    assert step < 2.0 * inner + 4.0
