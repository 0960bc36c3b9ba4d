"""Choosing the driver's reference frames: the window of frames whose head
pose and expression are closest to the portrait's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vivicam.calibrate.reference import FaceState, choose_reference, distance, face_state, window_frames


def _state(yaw: float = 0.0, mouth: float = 0.0, eyes: float = 0.3) -> FaceState:
    return FaceState((0.0, yaw, 0.0), mouth, eyes)


def test_distance_counts_a_turn_an_open_mouth_and_closed_eyes() -> None:
    calm = _state()
    assert distance(calm, calm) == 0.0
    assert distance(calm, _state(yaw=6.0)) == pytest.approx(1.0)
    assert distance(calm, _state(mouth=0.05)) == pytest.approx(1.0)
    assert distance(calm, _state(eyes=0.22)) == pytest.approx(1.0)
    assert calm.mirrored().angles == calm.angles and _state(yaw=5).mirrored().angles[1] == -5


def test_the_closest_frame_wins_with_neighbours_as_close_and_never_a_gap() -> None:
    states: list[FaceState | None] = [_state(yaw=20.0 - i) for i in range(40)]  # a slow turn through 0
    states[19] = None  # no face on the frame that matches best
    choice = choose_reference(_state(yaw=1.0), states, window=5)
    assert choice is not None and choice.best == 18 and choice.score == pytest.approx(1 / 6)
    assert None not in states[choice.start : choice.stop]
    assert (choice.start, choice.stop) == (15, 19)  # 1°/frame: three more within half a unit, none past the gap
    quick = [_state(yaw=20.0 - 6 * i) for i in range(8)]  # 6° a frame: passing through, one frame
    one = choose_reference(_state(yaw=2.0), quick, window=5)
    assert one is not None and (one.start, one.stop, one.best) == (3, 4, 3)
    held = choose_reference(_state(), [_state(yaw=9.0)] + [_state()] * 10, window=5)
    assert held is not None and held.stop - held.start == 5 and held.start >= 1  # capped at the window
    assert choose_reference(_state(), [None, None], window=5) is None
    assert window_frames(25) == 6 and window_frames(2) == 3


def test_shape_and_framing_count_beyond_what_every_frame_shares() -> None:
    """A portrait that may be one of the clip's frames (a crop of one: its
    framing differs from all of them): only the difference between frames
    ranks them."""
    shape = np.zeros((478, 3), np.float32)
    target = FaceState((0.0, 0.0, 0.0), 0.0, 0.3, shape + 0.005, (0.5, 0.5, 0.2))
    states = [FaceState((0.0, 0.0, 0.0), 0.0, 0.3, shape, (x, 0.5, 0.2)) for x in (0.3, 0.45, 0.6)]
    choice = choose_reference(target, states, window=1)
    assert choice is not None and choice.best == 1 and choice.score == pytest.approx(0.0)
    other = FaceState((0.0, 0.0, 0.0), 0.0, 0.3, shape + 0.05, (0.5, 0.5, 0.2))
    assert distance(other, states[1]) > 2  # without the offsets: two and a half units of shape alone


def test_another_persons_framing_does_not_outweigh_the_expression() -> None:
    """Another person's picture: where the driver's camera put the face is no
    reason to take a frame with the mouth open as the reference."""
    shape = np.zeros((478, 3), np.float32)
    target = FaceState((0.0, 22.0, 0.0), 0.0, 0.35, shape + 0.05, (0.5, 0.4, 0.3))
    states = [FaceState((0.0, 0.0, 0.0), 0.0, 0.33, shape, (0.3, 0.5, 0.2)),  # closed mouth, camera elsewhere
              FaceState((0.0, 0.0, 0.0), 0.13, 0.33, shape, (0.5, 0.4, 0.3))]  # mouth open, camera where it was
    choice = choose_reference(target, states, window=1)
    assert choice is not None and choice.best == 0


@pytest.fixture(scope="module")
def d12(testdata: Path) -> tuple[list[np.ndarray], list[FaceState | None]]:
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.sources.video import VideoFileSource

    images, states = [], []
    source = VideoFileSource(testdata / "clips" / "d12.mp4")
    with MediaPipeTracker() as tracker:
        for frame in source.frames():
            lm = tracker.track(frame.image)
            images.append(frame.image)
            states.append(None if lm is None else face_state(lm.points))
    source.close()
    return images, states


@pytest.mark.testdata
@pytest.mark.parametrize("k", [0, 42, 100])
def test_a_portrait_taken_from_the_clip_finds_its_own_frame(d12, k: int) -> None:
    """Frame 42 is mid-turn (yaw about -19°), 100 a tilted calm face, 0 the first frame."""
    from vivicam.face.detect import find_avatar_face

    images, states = d12
    portrait = face_state(find_avatar_face(images[k]).landmarks.points)  # measured as a photo
    choice = choose_reference(portrait, states, window_frames(25))
    assert choice is not None and abs(choice.best - k) <= 4, choice
    assert choice.start <= k + 2 and choice.stop >= k - 2


@pytest.mark.testdata
@pytest.mark.parametrize("name", ["s0", "s1", "s2"])
def test_a_neutral_portrait_finds_a_calm_frontal_frame(d12, testdata: Path, name: str) -> None:
    from vivicam.face.detect import find_avatar_face
    from vivicam.realtime.sources.photo import load_photo

    _, states = d12
    portrait = face_state(find_avatar_face(load_photo(testdata / "portraits" / f"{name}.jpg")).landmarks.points)
    choice = choose_reference(portrait, states, window_frames(25))
    assert choice is not None
    chosen = states[choice.best]
    assert chosen.mouth_gap < 0.06 and abs(chosen.angles[1]) < 5 and chosen.eye_openness > 0.25
