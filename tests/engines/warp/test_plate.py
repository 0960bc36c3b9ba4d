"""The moving layer's matte and the background plate under it: a head that
moves away leaves background behind, not its own outline."""

from __future__ import annotations

import numpy as np

from vivicam.engines.warp.plate import background_plate, person_matte


def _disc(n: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    return (np.hypot(xx - n / 2, yy - n / 2) <= radius).astype(np.float32)


def test_the_moving_layer_takes_a_band_of_background_round_the_person():
    n, radius, margin = 256, 60.0, 8.0
    person = _disc(n, radius)
    hull = np.array([[n / 2 - 5, n / 2 - 5], [n / 2 + 5, n / 2 - 5], [n / 2, n / 2 + 5]])
    alpha = person_matte(person, hull, feather=5.0, margin=margin)
    row = alpha[n // 2, n // 2:]
    # solid over the person and `margin` beyond, then fading out over as much again
    assert (row[: int(radius + margin) - 1] == 1.0).all()
    assert row[int(radius + 1.5 * margin)] < 1.0
    assert (row[int(radius + 2 * margin) + 2:] == 0.0).all()
    # without a margin the edge is where the segmentation puts it
    assert person_matte(person, hull, feather=5.0)[n // 2, n // 2 + int(radius) + 3] == 0.0


def test_the_plate_equals_the_photo_where_nothing_moves():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    matte = np.zeros((96, 96), np.float32)
    matte[30:60, 30:60] = 1.0
    plate = background_plate(crop, matte)
    assert (plate[matte == 0] == crop[matte == 0]).all()
    assert not (plate[40:50, 40:50] == crop[40:50, 40:50]).all()


def test_the_plate_meets_the_photo_round_the_hole_without_a_step():
    # a dark head on a pale wall that darkens towards the head (the hair's
    # fringe and shading the segmentation misses): the fill, learnt from
    # further out, must still join the photo at the hole's edge, or the
    # hole's outline shows as a ring wherever the head moves off it
    n, radius = 256, 60.0
    yy, xx = np.mgrid[0:n, 0:n]
    dist = np.hypot(xx - n / 2, yy - n / 2)
    wall = 170.0 - 30.0 * np.clip(1.0 - (dist - radius) / 12.0, 0.0, 1.0)
    image = np.where(dist <= radius, 40.0, wall)
    crop = np.repeat(np.round(image)[..., None], 3, axis=2).astype(np.uint8)
    matte = (dist <= radius + 3).astype(np.float32)
    plate = background_plate(crop, matte).astype(np.float32)[..., 0]
    inside = (dist > radius + 1) & (dist <= radius + 3)
    outside = (dist > radius + 3) & (dist <= radius + 5)
    step = abs(plate[inside].mean() - plate[outside].mean())
    assert step < 3.0, step
    # and deep inside it is still the wall, not the person
    assert plate[dist < 20].mean() > 130.0
