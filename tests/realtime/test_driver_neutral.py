"""``render --neutral``: the driver's reference frames for an offline render,
on real clips (a portrait cut from the clip finds its own frame; ``first``
keeps the clip's start; a profile gives its neutral and a flow reference)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vivicam.realtime.driver_neutral import choose_driver_neutral

pytestmark = pytest.mark.testdata


@pytest.fixture(scope="module")
def mid_clip(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    """d12 from frame 30 to 90: it starts calm, turns about 19° and back."""
    dst = tmp_path_factory.mktemp("clip") / "d12_30_90.mp4"
    frames = []
    with av.open(str(testdata / "clips" / "d12.mp4")) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.width = stream.height = 512
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if 30 <= i < 90:
                image = frame.to_ndarray(format="rgb24")
                frames.append(image)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return dst, frames


def _points(image: np.ndarray):
    from vivicam.face.detect import find_avatar_face

    return find_avatar_face(image).landmarks


def test_auto_picks_the_frames_that_look_like_the_portrait(mid_clip) -> None:
    clip, frames = mid_clip
    k = 12  # d12 frame 42, mid-turn
    chosen = choose_driver_neutral("auto", clip, fps=25, portrait=_points(frames[k]))
    assert chosen.frames is not None and chosen.frames[0] - 2 <= k <= chosen.frames[1] + 2, chosen.note
    assert chosen.neutral is not None and chosen.frame is not None
    assert chosen.frame.image.shape == (512, 512, 3)
    assert f"driver frames {chosen.frames[0]}–{chosen.frames[1]}" in chosen.note
    mirrored = choose_driver_neutral("auto", clip, fps=25, portrait=_points(frames[k]), mirror=True)
    assert mirrored.frames != chosen.frames  # a mirrored render matches the opposite turn


def test_first_keeps_the_clips_start(mid_clip) -> None:
    clip, _ = mid_clip
    chosen = choose_driver_neutral("first", clip, fps=25)
    assert chosen.neutral is not None and chosen.frame is not None and "first" in chosen.note


def test_a_profile_is_the_neutral_and_the_closest_frame_the_flow_reference(mid_clip, tmp_path) -> None:
    from vivicam.calibrate.neutral import Neutral, save_profile
    from vivicam.face.tracker import MediaPipeTracker

    clip, frames = mid_clip
    with MediaPipeTracker(static_image=True) as tracker:
        points = tracker.track(frames[12]).points
    profile = save_profile(tmp_path / "me.json", Neutral.from_points(points, (512, 512)))
    chosen = choose_driver_neutral(profile, clip, fps=25)
    assert chosen.neutral is not None and abs(chosen.frames[0] - 12) <= 4 and "me.json" in chosen.note


def test_render_says_which_frames_it_measured_from(mid_clip, tmp_path) -> None:
    from vivicam.realtime.app import render_video

    clip, frames = mid_clip
    portrait = tmp_path / "portrait.png"
    Image.fromarray(frames[0]).save(portrait)  # the clip's own first frame
    said: list[str] = []
    summary = render_video(portrait, clip, tmp_path / "out.mp4", audio=False, progress=False, driver_flow=False,
                           size=(128, 128), on_status=said.append)
    assert summary["frames"] == len(frames)
    first, last = summary["neutral_frames"]
    assert (first, last) == (0, 0) and "neutral: driver frame 0 (the portrait is that frame)" in said, said


def test_a_portrait_that_is_a_driver_frame_is_driven_from_exactly_that_frame(mid_clip, tmp_path) -> None:
    from PIL import Image as PILImage

    clip, frames = mid_clip
    saved = tmp_path / "grab.jpg"
    PILImage.fromarray(frames[12]).save(saved, quality=90)  # a grabbed frame (mid-turn), saved as a JPEG
    photo = np.asarray(PILImage.open(saved).convert("RGB"))
    chosen = choose_driver_neutral("auto", clip, fps=25, portrait=_points(photo), photo=photo)
    assert chosen.frames == (12, 12) and "the portrait is that frame" in chosen.note
    assert chosen.portrait_is_frame  # its camera was where frame 12's was: the render measures the camera from there
    other = np.ascontiguousarray(frames[12][:, ::-1])  # the same face mirrored is not a frame of the clip
    chosen = choose_driver_neutral("auto", clip, fps=25, portrait=_points(other), photo=other)
    assert "the portrait is that frame" not in chosen.note and not chosen.portrait_is_frame


def test_another_persons_portrait_keeps_its_framing_from_the_first_frame(mid_clip, testdata: Path) -> None:
    """The frames that look like another person's portrait can catch the
    driver anywhere in their frame, nearer or further from the camera: the
    head's rest position and size are where and how big the driver's head is
    at the start (as the render counts the camera from the first frame), not
    then, so the first output frame has the photo's framing and the head
    moves about it as the driver's does."""
    from vivicam.calibrate.geometry import head_pose
    from vivicam.face.tracker import MediaPipeTracker

    clip, frames = mid_clip
    portrait = _points(np.asarray(Image.open(testdata / "portraits" / "s1.jpg").convert("RGB")))
    chosen = choose_driver_neutral("auto", clip, fps=25, portrait=portrait)
    neutral = chosen.neutral
    assert neutral is not None and chosen.frames[0] > 5  # matched frames later in the clip
    with MediaPipeTracker() as tracker:
        found = [tracker.track(f) for f in frames]
    poses = [head_pose(np.asarray(lm.points, np.float64), neutral.canonical, neutral.rotation) for lm in found if lm is not None]
    offsets = np.array([(p.center[:2] - neutral.center[:2]) / neutral.size for p in poses])
    scales = np.array([p.size / neutral.size for p in poses])
    assert len(offsets) > 40
    assert np.abs(offsets[0]).max() < 0.05  # the first frame: the photo's framing
    # and the photo's size over the first second (d12 is 2-4 % nearer in the matched frames)
    assert abs(np.median(scales[:30]) - 1.0) < 0.005 and abs(scales[0] - 1.0) < 0.015
    assert np.abs(offsets).max() > 0.15  # later the driver moves (and the avatar with them)
    assert np.abs(scales - 1.0).max() > 0.03


def test_a_driver_filmed_sideways_is_warned_about(mid_clip, tmp_path) -> None:
    from vivicam.benchmarks.clips import write_video

    clip, frames = mid_clip
    upright = choose_driver_neutral("auto", clip, fps=25, portrait=_points(frames[0]))
    assert upright.warning is None
    sideways = tmp_path / "sideways.mp4"
    write_video(sideways, (np.ascontiguousarray(np.rot90(f)) for f in frames[:30]), 25)
    chosen = choose_driver_neutral("auto", sideways, fps=25, portrait=_points(frames[0]))
    assert chosen.warning is not None and "sideways" in chosen.warning and "90°" in chosen.warning, chosen.warning


def test_the_sideways_check_wraps_angles_and_spares_head_tilts() -> None:
    from vivicam.realtime.driver_neutral import sideways_warning

    assert sideways_warning(35.0) is None and sideways_warning(-45.0) is None  # a tilted head, a tilted portrait
    assert "-90°" in sideways_warning(270.0) and "180°" in sideways_warning(180.0)


def test_a_still_driver_reads_no_motion_at_its_reference_frame(testdata: Path, tmp_path) -> None:
    """The optical flow refines each frame's landmarks from the reference
    frame's; the neutral is the median of a window of frames. Refined from
    one frame's own tracked landmarks, a driver who held still read that
    frame's tracker noise as motion for the whole render (s4 by a still,
    noisy driver: turned 0.4°, face reshaped, 2 dB off the photo at rest).
    The reference frame carries the neutral's own landmarks."""
    from vivicam.calibrate.motion import raw_motion

    with av.open(str(testdata / "clips" / "d18.mp4")) as inp:
        still = next(inp.decode(video=0)).to_ndarray(format="rgb24")
    rng = np.random.default_rng(3)
    clip = tmp_path / "still.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "12"})
        stream.width, stream.height = still.shape[1], still.shape[0]
        stream.pix_fmt = "yuv420p"
        for _ in range(30):
            noisy = np.clip(still + rng.normal(0.0, 4.0, still.shape), 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(noisy, format="rgb24")))
        out.mux(stream.encode())
    portrait = _points(np.ascontiguousarray(still[:, ::-1]))  # another pose: a window of frames, not one frame
    chosen = choose_driver_neutral("auto", clip, fps=30, portrait=portrait)
    assert chosen.frames is not None and chosen.frames[1] > chosen.frames[0], chosen.note
    motion = raw_motion(chosen.frame.landmarks.points, chosen.neutral)
    assert np.abs(motion["rotation"]).max() < 0.05  # a frame's own landmarks: 0.1-0.8°
    assert np.abs(motion["expression"]).max() < 1e-3
