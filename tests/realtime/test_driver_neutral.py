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


def _points(image: np.ndarray) -> np.ndarray:
    from vivicam.face.detect import find_avatar_face

    return find_avatar_face(image).landmarks.points


def test_auto_picks_the_frames_that_look_like_the_portrait(mid_clip) -> None:
    clip, frames = mid_clip
    k = 12  # d12 frame 42, mid-turn
    chosen = choose_driver_neutral("auto", clip, fps=25, photo_points=_points(frames[k]))
    assert chosen.frames is not None and chosen.frames[0] - 2 <= k <= chosen.frames[1] + 2, chosen.note
    assert chosen.neutral is not None and chosen.frame is not None
    assert chosen.frame.image.shape == (512, 512, 3)
    assert f"driver frames {chosen.frames[0]}–{chosen.frames[1]}" in chosen.note
    mirrored = choose_driver_neutral("auto", clip, fps=25, photo_points=_points(frames[k]), mirror=True)
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
    assert first <= 2 and any(line.startswith("neutral: driver frames") for line in said), said
