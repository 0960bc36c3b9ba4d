"""The warp engine's default mouth: the driver's own interior, mapped lip to
lip into the avatar's opening and colour-matched (``mouth="driver"``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vivicam.engines.base import crop_image  # noqa: E402
from vivicam.calibrate import mesh
from vivicam.engines.warp.driver_mouth import match_colours, render_driver_mouth
from vivicam.engines.warp.mouth_geometry import teeth_colour
from vivicam.engines.warp.engine import WarpEngine
from vivicam.engines.warp.mesh_motion import target_points
from vivicam.errors import InputError
from vivicam.types import DriverFrame, Landmarks, Motion

BLUE = np.array([30, 60, 220], np.uint8)


@pytest.fixture(scope="module")
def avatar():
    engine = WarpEngine(backend="cpu")
    return engine, engine.prepare(np.ascontiguousarray(skimage.data.astronaut()[..., :3]))


def open_driver(state, paint=BLUE) -> DriverFrame:
    """A driver frame made from the avatar's own crop with the lower lip pulled
    down and the opening painted ``paint`` (a mouth interior nobody could mistake)."""
    image = state.crop.copy()
    points = state.landmarks.copy()
    lower = [i for i in mesh.LIPS_INNER[11:]]
    points[lower, 1] += 0.25 * state.rig.size0
    cv2.fillPoly(image, [np.round(points[list(mesh.LIPS_INNER), :2]).astype(np.int32)], paint.tolist())
    return DriverFrame(image, Landmarks(points.astype(np.float32), (image.shape[1], image.shape[0])))


def test_an_open_driver_mouth_shows_its_own_inside(avatar) -> None:
    engine, state = avatar
    motion = Motion(mouth_open=0.6)
    target = target_points(state.rig, motion)
    poly = target[list(mesh.LIPS_INNER)].astype(np.float32)
    patch = render_driver_mouth(state.mouth, poly, open_driver(state), 1.0, state.crop_size)
    assert patch is not None
    inside = patch.alpha > 0.99
    assert inside.sum() > 100
    colours = patch.rgb[inside]
    # same face on both sides: colours pass unchanged, so the inside is the driver's blue
    assert (colours[:, 2] > colours[:, 0] + 80).mean() > 0.8

    out = crop_image(engine.render(state, motion.with_(driver=open_driver(state))), state)
    synth = crop_image(WarpEngine(backend="cpu", mouth="synth").render(state, motion.with_(driver=open_driver(state))), state)
    mask = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    blue_share = lambda img: (img[mask][:, 2].astype(int) > img[mask][:, 0].astype(int) + 80).mean()
    assert blue_share(out) > 0.6 and blue_share(synth) < 0.05


def test_a_shut_driver_mouth_or_none_falls_back_to_the_synthesised_inside(avatar) -> None:
    engine, state = avatar
    shut = DriverFrame(state.crop, Landmarks(state.landmarks.copy(), (state.crop_size, state.crop_size)))
    target = target_points(state.rig, Motion(mouth_open=0.6))
    poly = target[list(mesh.LIPS_INNER)].astype(np.float32)
    # the astronaut smiles with her lips parted by a few pixels: shut it fully
    points = shut.landmarks.points.copy()
    points[list(mesh.LIPS_INNER[11:]), 1] = points[list(mesh.LIPS_INNER[1:10][::-1]), 1]
    shut = DriverFrame(state.crop, Landmarks(points, shut.landmarks.image_size))
    assert render_driver_mouth(state.mouth, poly, shut, 1.0, state.crop_size) is None
    motion = Motion(mouth_open=0.6)
    np.testing.assert_array_equal(crop_image(engine.render(state, motion), state), crop_image(WarpEngine(backend="cpu", mouth="synth").render(state, motion), state))


def test_colours_follow_the_avatar_a_grey_photo_gets_a_grey_mouth() -> None:
    pink_lips, grey_lips = np.array([190, 100, 110], np.float32), np.array([120, 120, 120], np.float32)
    inside = np.array([[[235, 230, 225], [120, 40, 50], [190, 100, 110]]], np.float32)  # teeth, tongue, lips
    same = match_colours(inside, pink_lips, pink_lips)
    np.testing.assert_allclose(same, inside, atol=1.5)
    grey = match_colours(inside, pink_lips, grey_lips)
    assert np.ptp(grey, axis=-1).max() < 4.0  # no colour left
    assert grey[0, 0].mean() > 150  # the teeth stay light (not blue, not dark)
    np.testing.assert_allclose(grey[0, 2], grey_lips, atol=6.0)  # the driver's lips become the avatar's


def test_white_teeth_stay_white_when_the_avatars_lips_have_another_hue() -> None:
    """The driver's pink lips, a painting's orange ones: shifting every
    chroma by the lips' difference turned white teeth lime (246, 255, 217)."""
    pink_lips, orange_lips = np.array([190, 100, 110], np.float32), np.array([205, 130, 95], np.float32)
    inside = np.array([[[235, 232, 228], [190, 100, 110]]], np.float32)  # teeth, lips
    out = match_colours(inside, pink_lips, orange_lips)
    teeth = out[0, 0]
    assert teeth[1] <= teeth[0] + 2 and np.ptp(teeth) < 12, teeth  # not green, not yellow: white
    np.testing.assert_allclose(out[0, 1], orange_lips, atol=6.0)  # the lips still become the avatar's
    # with each face's white (the teeth that go with its skin) the teeth take the avatar's cast
    warm = teeth_colour(np.full((16, 3), (225, 200, 160), np.float32))
    cool = teeth_colour(np.full((16, 3), (200, 150, 140), np.float32))
    cast = match_colours(inside, pink_lips, orange_lips, cool, warm)[0, 0]
    assert cast[0] >= cast[2] and np.ptp(cast) < 20, cast
    same = match_colours(inside, pink_lips, pink_lips, cool, cool)  # one face: nothing changes
    np.testing.assert_allclose(same, inside, atol=1.5)


def test_mouth_option_is_checked() -> None:
    with pytest.raises(InputError, match="mouth"):
        WarpEngine(backend="cpu", mouth="teeth")
    assert WarpEngine(backend="cpu").capabilities.driver_frames
    assert not WarpEngine(backend="cpu", mouth="synth").capabilities.driver_frames


@pytest.mark.testdata
def test_a_dark_noisy_driver_mouth_gives_way_to_the_synthesised_inside(testdata) -> None:
    """A webcam in a dim room: the inside of the mouth is camera noise, which
    pasted into the avatar reads as parted lips; a lit one is used."""
    from vivicam.benchmarks.cases import low_light
    from vivicam.benchmarks.clips import read_frames
    from vivicam.engines.warp.driver_mouth import driver_lip_colour, shows_more_than_noise
    from vivicam.face.tracker import MediaPipeTracker

    lit, dark = 0, 0
    rng = np.random.default_rng(0)
    with MediaPipeTracker() as tracker:
        for frame in list(read_frames(testdata / "clips" / "d10.mp4", 90))[::6]:
            for image, dim in ((frame, False), (low_light(frame, rng), True)):
                lm = tracker.track(image)
                if lm is None:
                    continue
                p = lm.points
                size = np.linalg.norm(p[33, :2] - p[263, :2])
                if np.linalg.norm(p[mesh.LIP_INNER_LOWER_MID, :2] - p[mesh.LIP_INNER_UPPER_MID, :2]) < 0.08 * size:
                    continue
                mask = np.zeros(image.shape[:2], np.uint8)
                cv2.fillPoly(mask, [np.round(p[list(mesh.LIPS_INNER), :2]).astype(np.int32)], 255)
                shows = shows_more_than_noise(image.astype(np.float32), mask, image, p, driver_lip_colour(image, p))
                if dim:
                    dark += 1
                    assert not shows
                else:
                    lit += 1
                    assert shows
    assert lit >= 5 and dark >= 5
