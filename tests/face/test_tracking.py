"""The MediaPipe tracker and avatar-photo face finding, on real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from vivicam.calibrate import mesh
from vivicam.errors import InputError, NoFaceError
from vivicam.realtime.protocols import Tracker
from vivicam.face.detect import AvatarFace, find_avatar_face, find_faces
from vivicam.face.tracker import MediaPipeTracker, follow_face
from vivicam.types import Landmarks


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut: np.ndarray) -> Landmarks:
    with MediaPipeTracker(static_image=True) as tracker:
        found = tracker.track(astronaut)
    assert found is not None
    return found


def test_tracker_is_a_tracker() -> None:
    with MediaPipeTracker() as tracker:
        assert isinstance(tracker, Tracker)


def test_tracker_finds_the_astronauts_face_in_pixels(astronaut_landmarks: Landmarks) -> None:
    lm = astronaut_landmarks
    assert lm.points.shape == (478, 3) and lm.points.dtype == np.float32
    assert lm.image_size == (512, 512)
    assert 0.9 <= lm.confidence <= 1.0
    p = lm.points
    # Her face is in the upper middle of the picture (about x 170-280, y 60-220).
    assert 150 < p[:, 0].min() and p[:, 0].max() < 300
    assert 40 < p[:, 1].min() and p[:, 1].max() < 240
    # Image-left eye is on the left, forehead above the chin, irises inside their eyes.
    assert p[mesh.EYE_OUTER_LEFT, 0] < p[mesh.EYE_OUTER_RIGHT, 0]
    assert p[mesh.FOREHEAD, 1] < p[mesh.NOSE_TIP, 1] < p[mesh.CHIN, 1]
    for eye, iris in enumerate(mesh.IRIS_CENTER):
        a, b = mesh.EYE_CORNERS[eye]
        lo, hi = sorted((p[a, 0], p[b, 0]))
        assert lo < p[iris, 0] < hi
    # z is in pixels: the nose tip is closer to the camera than the eye
    # corners by a few per cent of the face width, not by a fraction of a unit.
    depth = p[mesh.EYE_OUTER_LEFT, 2] - p[mesh.NOSE_TIP, 2]
    assert 5 < depth < 60


def test_tracker_scales_all_three_axes_with_the_image(astronaut: np.ndarray, astronaut_landmarks: Landmarks) -> None:
    big = cv2.resize(astronaut, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    with MediaPipeTracker(static_image=True) as tracker:
        found = tracker.track(big)
    assert found is not None and found.image_size == (1024, 1024)
    ratio = found.points / 2.0 - astronaut_landmarks.points
    # a couple of pixels of model noise; z carries the same factor as x and y
    assert np.median(np.abs(ratio[:, :2])) < 2.0
    assert np.median(np.abs(ratio[:, 2])) < 3.0


def test_tracker_returns_none_without_a_face() -> None:
    with MediaPipeTracker() as tracker:
        assert tracker.track(np.full((480, 640, 3), 90, np.uint8)) is None


def test_tracker_follows_a_moving_face_in_tracking_mode(astronaut: np.ndarray) -> None:
    canvas = np.zeros((480, 640, 3), np.uint8)
    with MediaPipeTracker() as tracker:
        xs = []
        for dx in range(0, 60, 10):
            frame = canvas.copy()
            frame[:, dx : dx + 512] = astronaut[16:496]
            lm = tracker.track(frame)
            assert lm is not None
            xs.append(float(lm.points[mesh.NOSE_TIP, 0]))
    steps = np.diff(xs)
    assert np.all(np.abs(steps - 10) < 3), xs


def test_tracker_rejects_a_non_image() -> None:
    with MediaPipeTracker() as tracker, pytest.raises(ValueError):
        tracker.track(np.zeros((10, 10), np.float32))


def test_closed_tracker_refuses_to_track() -> None:
    tracker = MediaPipeTracker()
    tracker.close()
    tracker.close()  # closing twice is fine
    with pytest.raises(RuntimeError):
        tracker.track(np.zeros((64, 64, 3), np.uint8))


def _two_faces(astronaut: np.ndarray) -> np.ndarray:
    """A 640×480 frame: the astronaut's head on the left, the same head at 85 % on the right."""
    head = astronaut[20:300, 80:360]
    small = cv2.resize(head, None, fx=0.85, fy=0.85, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 120, np.uint8)
    canvas[100:380, 20:300] = head
    canvas[150 : 150 + small.shape[0], 620 - small.shape[1] : 620] = small
    return canvas


def test_tracker_picks_the_largest_of_several_faces(astronaut: np.ndarray) -> None:
    with MediaPipeTracker(static_image=True, max_faces=3) as tracker:
        faces = tracker.track_all(_two_faces(astronaut))
        best = tracker.track(_two_faces(astronaut))
    assert len(faces) == 2
    assert best is not None and best.points[:, 0].max() < 310  # the full-size one, on the left


def test_find_faces_maps_a_small_face_in_a_large_photo_to_full_resolution(
    astronaut: np.ndarray, astronaut_landmarks: Landmarks
) -> None:
    # A 3000×2200 photo where the face is ~5 % of the width: detection runs on
    # a downscaled copy, the mesh on a full-resolution crop.
    canvas = np.full((2200, 3000, 3), 200, np.uint8)
    canvas[1500:2012, 2100:2612] = astronaut
    faces = find_faces(canvas)
    assert len(faces) == 1
    lm = faces[0]
    assert lm.image_size == (3000, 2200)
    offset = np.array([2100, 1500, 0], np.float32)
    err = np.abs(lm.points - (astronaut_landmarks.points + offset))
    assert np.median(err[:, :2]) < 2.5 and np.median(err[:, 2]) < 4.0


def test_find_avatar_face_says_which_face_it_chose(astronaut: np.ndarray) -> None:
    found = find_avatar_face(_two_faces(astronaut))
    assert isinstance(found, AvatarFace)
    assert found.face_count == 2
    assert found.note is not None and found.note.startswith("2 faces found; using the largest one (centre ")
    assert found.landmarks.points[:, 0].max() < 310


def test_find_avatar_face_on_one_face_has_no_note(astronaut: np.ndarray) -> None:
    found = find_avatar_face(astronaut)
    assert found.face_count == 1 and found.note is None


def test_find_avatar_face_without_a_face_raises() -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (400, 300, 3), dtype=np.uint8)
    with pytest.raises(NoFaceError, match="^no face found in the photo$"):
        find_avatar_face(noise)


def test_find_avatar_face_refuses_a_tiny_face(astronaut: np.ndarray) -> None:
    small = cv2.resize(astronaut, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas = np.full((512, 512, 3), 128, np.uint8)
    canvas[: small.shape[0], : small.shape[1]] = small
    with pytest.raises(NoFaceError, match=r"^the face is only \d+ px wide; at least 40 px needed$"):
        find_avatar_face(canvas)


def test_find_avatar_face_rejects_a_bad_array() -> None:
    with pytest.raises(InputError, match="expected an RGB photo"):
        find_avatar_face(np.zeros((100, 100), np.uint8))


def _load(path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.mark.testdata
def test_every_human_portrait_has_one_face_and_the_dog_none(testdata) -> None:
    for name in ("s0", "s1", "s2", "s3", "s4", "s5", "s6", "s8", "s11"):
        image = _load(testdata / "portraits" / f"{name}.jpg")
        found = find_avatar_face(image)
        lm = found.landmarks.points
        h, w = image.shape[:2]
        assert found.face_count == 1, name
        assert (lm[:, 0] > -5).all() and (lm[:, 0] < w + 5).all(), name
        assert lm[mesh.FOREHEAD, 1] < lm[mesh.CHIN, 1], name
    with pytest.raises(NoFaceError, match="no face found"):
        find_avatar_face(_load(testdata / "portraits" / "s30.jpg"))


def test_tracker_survives_tiny_frames_and_size_changes(astronaut: np.ndarray) -> None:
    with MediaPipeTracker() as tracker:
        assert tracker.track(np.zeros((0, 0, 3), np.uint8)) is None
        assert tracker.track(np.zeros((5, 400, 3), np.uint8)) is None
        for size in ((640, 480), (320, 240), (1280, 720)):
            found = tracker.track(cv2.resize(astronaut, size))
            assert found is not None and found.image_size == size


def test_tracker_restarts_after_a_mediapipe_failure(astronaut: np.ndarray) -> None:
    tracker = MediaPipeTracker()
    try:

        class Broken:
            def process(self, image):
                raise RuntimeError("CalculatorGraph::Run() failed\nmore text")

            def close(self):
                raise RuntimeError("CalculatorGraph::Run() failed")

        tracker._mesh = Broken()
        assert tracker.track(astronaut) is None  # the failure is a lost frame, not a crash
        assert tracker.track(astronaut) is not None  # and the next frame is tracked again
    finally:
        tracker.close()


def test_a_face_cut_by_the_photo_border_is_found_with_lower_confidence(astronaut: np.ndarray) -> None:
    cut = np.ascontiguousarray(astronaut[:, 200:])  # the left part of her face is outside
    found = find_avatar_face(cut)
    pts = found.landmarks.points
    assert pts[:, 0].min() < 0  # the mesh continues past the border
    assert 0.5 < found.landmarks.confidence < 0.95  # the share of the face in the photo


def test_a_close_up_whose_face_fills_the_photo_is_found() -> None:
    """Hair and chin cut off by the frame (a profile photo, a cropped video):
    the detector misses a face that big; the photo is looked at again with
    its edges repeated around it."""
    import cv2
    from skimage import data

    from vivicam.face import detect

    astronaut = data.astronaut()
    pts = detect.find_avatar_face(astronaut).landmarks.points
    (x0, y0), (x1, y1) = pts[:, :2].min(0), pts[:, :2].max(0)
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, 0.45 * max(x1 - x0, y1 - y0)
    close_up = cv2.resize(astronaut[int(cy - half):int(cy + half), int(cx - half):int(cx + half)], (512, 512))
    assert not detect._detections(close_up)  # too big for the detector as it is
    faces = detect.find_faces(close_up)
    assert len(faces) == 1
    eyes = faces[0].points[[33, 263], :2]  # outer eye corners, inside the close-up
    assert ((eyes > 0) & (eyes < 512)).all()


def _face_at(cx: float, cy: float, width: float) -> Landmarks:
    """A stand-in face: 478 points spread over a ``width``-px box at (cx, cy)."""
    t = np.linspace(-0.5, 0.5, 478, dtype=np.float32)
    pts = np.stack([cx + width * t, cy + width * t[::-1], np.zeros_like(t)], axis=1)
    return Landmarks(pts, (1280, 720))


def _widest_first(*faces: Landmarks) -> list[Landmarks]:
    return sorted(faces, key=lambda lm: float(np.ptp(lm.points[:, 0])), reverse=True)


def test_the_followed_face_stays_chosen_while_a_second_face_comes_and_goes() -> None:
    user, poster = _face_at(640, 360, 200), _face_at(1100, 150, 180)
    pick, followed = follow_face([user], None)
    assert pick == 0
    # a slightly smaller face beside it, and one a little wider: the user stays
    for other in (poster, _face_at(1100, 150, 260)):
        faces = _widest_first(user, other)
        pick, followed = follow_face(faces, followed)
        assert faces[pick] is user
    # lost for a frame: no face, and the same user found again afterwards
    pick, followed = follow_face([], followed)
    assert pick is None
    faces = _widest_first(_face_at(650, 365, 205), poster)
    pick, followed = follow_face(faces, followed)
    assert faces[pick].points[:, 0].mean() == pytest.approx(650, abs=1)


def test_a_much_wider_face_takes_over_only_after_half_a_second_in_view() -> None:
    from vivicam.face.tracker import SWITCH_FRAMES, SWITCH_WIDTH

    poster, user = _face_at(1100, 150, 90), _face_at(640, 400, 90 * SWITCH_WIDTH + 10)
    pick, followed = follow_face([poster], None)  # the chair is empty: the poster is all there is
    for frame in range(SWITCH_FRAMES):
        faces = _widest_first(poster, user)
        pick, followed = follow_face(faces, followed)
        chosen = faces[pick]
        assert (chosen is user) == (frame == SWITCH_FRAMES - 1)
    pick, followed = follow_face(_widest_first(poster, user), followed)
    assert pick is not None and _widest_first(poster, user)[pick] is user


def test_the_widest_face_is_chosen_when_the_followed_one_is_gone() -> None:
    pick, followed = follow_face([_face_at(300, 300, 150)], None)
    faces = _widest_first(_face_at(900, 300, 120), _face_at(100, 600, 60))
    pick, _ = follow_face(faces, followed)
    assert pick == 0


def test_a_driver_with_a_small_face_in_a_corner_drives_with_the_speaker(testdata) -> None:
    """A picture-in-picture face: MediaPipe's detector scored d18's 80 px
    inset above d12's speaker, and a one-face tracker followed the inset."""
    clip = cv2.VideoCapture(str(testdata / "clips" / "d12.mp4"))
    inset = cv2.VideoCapture(str(testdata / "clips" / "d18.mp4"))
    widths = []
    with MediaPipeTracker() as tracker:
        for _ in range(20):
            ok_a, a = clip.read()
            ok_b, b = inset.read()
            assert ok_a and ok_b
            h, w = a.shape[:2]
            small = cv2.resize(b, (w // 3, w // 3), interpolation=cv2.INTER_AREA)
            a[h - small.shape[0] - 12 : h - 12, w - small.shape[1] - 12 : w - 12] = small
            found = tracker.track(cv2.cvtColor(a, cv2.COLOR_BGR2RGB))
            assert found is not None
            widths.append(float(np.ptp(found.points[:, 0])) / w)
    # d12's speaker spans about 0.4 of the frame's width, the inset's face under 0.2
    assert min(widths) > 0.3, widths


def test_a_much_smaller_face_stands_in_only_after_half_a_second_without_the_user() -> None:
    from vivicam.face.tracker import SWITCH_FRAMES

    user, inset = _face_at(500, 300, 200), _face_at(1100, 600, 80)
    pick, followed = follow_face(_widest_first(user, inset), None)
    chosen = []
    for _ in range(SWITCH_FRAMES):  # the user turns away: only the inset is found
        pick, followed = follow_face([inset], followed)
        chosen.append(pick)
    assert chosen[:-1] == [None] * (SWITCH_FRAMES - 1) and chosen[-1] == 0
    # a face about as wide as the user, found elsewhere at once, is the user
    pick, followed = follow_face(_widest_first(user, inset), None)
    pick, followed = follow_face([_face_at(800, 320, 190)], followed)
    assert pick == 0
