"""Video files: probe gives exact fps/frame count/size/audio, the source decodes
every frame upright and in order, and every unusable file is a one-line
InputError naming it."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vivicam.errors import InputError
from vivicam.realtime.protocols import Source
from vivicam.realtime.sources.video import VideoFileSource, probe_video


def write_clip(path: Path, frames: int = 12, fps: int | Fraction = 24, size=(64, 48), *,
               codec: str = "libx264", audio: bool = False, rotation: int = 0) -> Path:
    """A clip whose frame i is a flat colour with red = 20*i (easy to check)."""
    width, height = size
    with av.open(str(path), "w") as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=16000) if audio else None
        for i in range(frames):
            image = np.zeros((height, width, 3), np.uint8)
            image[..., 0] = min(255, 20 * i)
            image[..., 1] = 100
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None:
            samples = int(16000 * frames / float(fps))
            tone = np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
            chunk.sample_rate, chunk.pts = 16000, 0
            out.mux(sound.encode(chunk))
            out.mux(sound.encode())
    return path


def _one_line(excinfo: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message.lower(), message


def test_probe_reports_exact_timing_and_size(tmp_path: Path) -> None:
    info = probe_video(write_clip(tmp_path / "a.mp4", frames=12, fps=24, size=(64, 48)))
    assert (info.frame_count, info.fps, info.width, info.height) == (12, 24.0, 64, 48)
    assert info.rate == Fraction(24) and info.has_audio is False
    assert info.duration_s == pytest.approx(0.5)


def test_probe_ntsc_rate_and_audio(tmp_path: Path) -> None:
    info = probe_video(write_clip(tmp_path / "ntsc.mp4", frames=9, fps=Fraction(30000, 1001),
                                  audio=True))
    assert info.rate == Fraction(30000, 1001) and info.frame_count == 9 and info.has_audio


def test_probe_counts_frames_when_container_has_no_count(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "a.mkv", frames=17, fps=25)
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # mkv does not store it
    assert probe_video(path).frame_count == 17


def test_source_yields_every_frame_in_order(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "a.mp4", frames=10)
    source = VideoFileSource(path)
    assert isinstance(source, Source) and source.fps == 24.0 and len(source) == 10
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(10))
    assert all(f.image.shape == (48, 64, 3) and f.image.dtype == np.uint8 for f in frames)
    reds = [int(f.image[..., 0].mean()) for f in frames]
    assert np.allclose(reds, [20 * i for i in range(10)], atol=4), reds
    stamps = [f.t_capture_ns for f in frames]
    assert stamps == sorted(stamps) and all(f.motion is None for f in frames)


def test_loop_restarts_and_keeps_counting(tmp_path: Path) -> None:
    source = VideoFileSource(write_clip(tmp_path / "a.mp4", frames=4), loop=True)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 10:
            source.close()
    assert len(frames) == 10 and [f.index for f in frames] == list(range(10))
    # frame 4 is the clip's frame 0 again
    np.testing.assert_allclose(frames[4].image.mean(), frames[0].image.mean(), atol=1)


def test_realtime_paces_to_fps(tmp_path: Path) -> None:
    source = VideoFileSource(write_clip(tmp_path / "a.mp4", frames=6, fps=50), realtime=True)
    start = time.perf_counter()
    count = sum(1 for _ in source.frames())
    elapsed = time.perf_counter() - start
    assert count == 6
    assert elapsed >= 5 / 50 - 0.005  # the 6th frame is due 100 ms after the 1st


def test_close_stops_a_realtime_stream_promptly(tmp_path: Path) -> None:
    source = VideoFileSource(write_clip(tmp_path / "a.mp4", frames=5, fps=1), realtime=True,
                             loop=True)
    frames = source.frames()
    next(frames)
    source.close()
    assert list(frames) == []


def test_display_rotation_applied(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "phone.mp4", frames=3, size=(64, 32), rotation=90)
    info = probe_video(path)
    assert (info.width, info.height, info.rotation) == (32, 64, 90)
    frame = next(VideoFileSource(path).frames())
    assert frame.image.shape == (64, 32, 3)


# --- unusable files -------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.mp4"
    with pytest.raises(InputError) as excinfo:
        VideoFileSource(path)
    _one_line(excinfo, path, "not found")


def test_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        probe_video(tmp_path)
    _one_line(excinfo, tmp_path, "folder")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    with pytest.raises(InputError) as excinfo:
        probe_video(path)
    _one_line(excinfo, path, "empty")


def test_text_file_named_mp4(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n" * 50)
    with pytest.raises(InputError) as excinfo:
        VideoFileSource(path)
    _one_line(excinfo, path, "not a readable video")


def test_truncated_file(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "cut.mp4", frames=30)  # index ('moov') at the end
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as excinfo:
        probe_video(path)
    _one_line(excinfo, path)


def test_zero_frame_video(tmp_path: Path) -> None:
    path = tmp_path / "zero.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        out.start_encoding()
    assert path.stat().st_size > 0
    with pytest.raises(InputError) as excinfo:
        VideoFileSource(path)
    _one_line(excinfo, path, "no video frames")


def test_audio_only_file(tmp_path: Path) -> None:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=16000)
        chunk = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp",
                                           layout="mono")
        chunk.sample_rate, chunk.pts = 16000, 0
        out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    with pytest.raises(InputError) as excinfo:
        probe_video(path)
    _one_line(excinfo, path, "no video")


@pytest.mark.testdata
def test_real_clip_matches_readme(testdata: Path) -> None:
    path = testdata / "clips" / "d20.mp4"
    info = probe_video(path)
    assert (info.frame_count, info.fps, info.width, info.height) == (175, 25.0, 480, 480)
    assert info.has_audio
    assert sum(1 for _ in VideoFileSource(path).frames()) == 175
