"""ReplayableVideo: the render reads the same frames as a plain decode, and
the frames the pre-pass read are decoded (converted to RGB) once when they
fit in memory, twice when they do not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_sources_video import write_clip

from vivicam.realtime.sources import video as video_module
from vivicam.realtime.sources.replay import ReplayableVideo
from vivicam.realtime.sources.video import VideoFileSource


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", frames=12)


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many decoded frames were converted to RGB (the costly half of decoding)."""
    count = [0]
    convert = video_module.frame_to_rgb

    def counted(frame):
        count[0] += 1
        return convert(frame)

    monkeypatch.setattr(video_module, "frame_to_rgb", counted)
    return count


def _plain(path: Path) -> list[np.ndarray]:
    source = VideoFileSource(path)
    try:
        return [f.image for f in source.frames()]
    finally:
        source.close()


def _prepass_then_replay(path: Path, read: int, **options) -> tuple[list, list]:
    with ReplayableVideo(path, **options) as video:
        first = []
        for frame in video.frames():
            first.append(frame)
            if len(first) == read:
                break
        return first, list(video.replay())


@pytest.mark.parametrize("read", [5, 12])
def test_replay_is_the_whole_video_and_nothing_is_decoded_twice(clip: Path, conversions: list[int], read: int) -> None:
    expected = _plain(clip)
    conversions[0] = 0
    first, replayed = _prepass_then_replay(clip, read)
    assert [f.index for f in first] == list(range(read))
    assert [f.index for f in replayed] == list(range(12))
    for got, want in zip(replayed, expected):
        np.testing.assert_array_equal(got.image, want)
    assert conversions[0] == 12  # each frame once, however far the pre-pass read


def test_a_prepass_too_big_to_keep_is_decoded_again(clip: Path, conversions: list[int]) -> None:
    expected = _plain(clip)
    frame_bytes = expected[0].nbytes
    conversions[0] = 0
    _, replayed = _prepass_then_replay(clip, 6, keep_bytes=3 * frame_bytes)
    assert [f.index for f in replayed] == list(range(12))
    for got, want in zip(replayed, expected):
        np.testing.assert_array_equal(got.image, want)
    assert conversions[0] > 12  # the decoder's read-ahead plus a second pass from the start


def test_a_kept_frame_is_served_from_memory(clip: Path, conversions: list[int]) -> None:
    expected = _plain(clip)
    conversions[0] = 0
    with ReplayableVideo(clip) as video:
        for frame in video.frames():
            if frame.index == 7:
                break
        before = conversions[0]
        np.testing.assert_array_equal(video.image_at(4), expected[4])
        assert conversions[0] == before
        np.testing.assert_array_equal(video.image_at(10), expected[10])  # not read yet: decoded again
