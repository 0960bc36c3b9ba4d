"""Mp4Sink: a playable H.264 file with exactly the frames and frame rate it was
given, the driving video's sound when asked, and a one-line InputError at
construction for every place a video cannot be written."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from full_disk import FullDisk

from vivicam.errors import InputError
from vivicam.realtime.protocols import Sink
from vivicam.realtime.sinks.mp4 import Mp4Sink, as_rate
from vivicam.realtime.sources.video import VideoFileSource, probe_video
from vivicam.types import Frame


def _frame(i: int, size=(64, 48)) -> np.ndarray:
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[..., 0] = 10 * i
    image[..., 2] = 200 - 5 * i
    return image


def _write(path: Path, frames: int, fps, size=(64, 48), **kw) -> Mp4Sink:
    with Mp4Sink(path, fps, size, **kw) as sink:
        for i in range(frames):
            sink.write(_frame(i, size), Frame(_frame(i, size), t_capture_ns=0, index=i))
    return sink


def _clip_with_sound(path: Path, *, frames: int = 25, fps: int = 25, codec: str = "aac",
                     sample_rate: int = 16000) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = out.add_stream(codec, rate=sample_rate)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 8 * i, np.uint8),
                                               format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode())
        samples = sample_rate * frames // fps
        tone = (0.3 * np.sin(np.arange(samples) * 2 * np.pi * 440 / sample_rate))
        fmt = "s16" if codec.startswith("pcm") else "fltp"
        data = (tone * 32767).astype(np.int16) if fmt == "s16" else tone.astype(np.float32)
        chunk = av.AudioFrame.from_ndarray(data[None, :], format=fmt, layout="mono")
        chunk.sample_rate, chunk.pts = sample_rate, 0
        out.mux(sound.encode(chunk))
        out.mux(sound.encode())
    return path


def _sound(path: Path) -> tuple[str, float] | None:
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
        return stream.codec_context.name, seconds


@pytest.mark.parametrize("fps", [25, Fraction(30000, 1001), 30000 / 1001])
def test_round_trip_frame_count_and_fps(tmp_path: Path, fps) -> None:
    path = tmp_path / "out.mp4"
    sink = _write(path, 17, fps)
    assert isinstance(sink, Sink) and sink.frames_written == 17
    info = probe_video(path)
    assert info.frame_count == 17
    assert info.rate == as_rate(fps)
    assert info.duration_s == pytest.approx(17 / float(fps))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert stream.codec_context.colorspace == 6  # tagged BT.601, as converted


def test_pictures_survive_encoding(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    _write(path, 8, 24)
    frames = list(VideoFileSource(path).frames())
    assert len(frames) == 8
    for i, frame in enumerate(frames):
        assert np.abs(frame.image.astype(int) - _frame(i)).mean() < 4, i


def test_odd_size_made_even_and_other_sizes_resized(tmp_path: Path) -> None:
    path = tmp_path / "odd.mp4"
    with Mp4Sink(path, 25, (65, 49)) as sink:
        sink.write(_frame(1, (65, 49)))
        sink.write(_frame(2, (130, 98)))  # a different size is fitted, not an error
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 2)


def test_sound_copied_from_the_driving_video(tmp_path: Path) -> None:
    driving = _clip_with_sound(tmp_path / "talk.mp4", frames=25, fps=25)
    path = tmp_path / "out.mp4"
    sink = _write(path, 25, 25, audio_from=driving)
    assert sink.has_audio
    codec, seconds = _sound(path)
    assert codec == "aac" and seconds == pytest.approx(1.0, abs=0.1)
    assert probe_video(path).frame_count == 25


def test_sound_transcoded_when_the_container_cannot_hold_it(tmp_path: Path) -> None:
    driving = _clip_with_sound(tmp_path / "talk.mkv", codec="pcm_s16le")
    path = tmp_path / "out.mp4"
    _write(path, 25, 25, audio_from=driving)
    codec, seconds = _sound(path)
    assert codec == "aac" and seconds == pytest.approx(1.0, abs=0.1)


def test_sound_cut_at_the_end_of_a_shorter_video(tmp_path: Path) -> None:
    driving = _clip_with_sound(tmp_path / "talk.mp4", frames=50, fps=25)
    path = tmp_path / "out.mp4"
    _write(path, 10, 25, audio_from=driving)  # the user stopped after 0.4 s
    _, seconds = _sound(path)
    assert seconds == pytest.approx(0.4, abs=0.1)


def test_silent_driving_video_gives_silent_output(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    _write(silent, 5, 25)
    path = tmp_path / "out.mp4"
    sink = _write(path, 5, 25, audio_from=silent)
    assert not sink.has_audio and _sound(path) is None


def test_existing_file_replaced_only_when_complete(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old video")
    sink = Mp4Sink(path, 25, (32, 32))
    sink.write(_frame(0, (32, 32)))
    assert path.read_bytes() == b"old video"  # still untouched while writing
    sink.close()
    assert probe_video(path).frame_count == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]  # no leftovers


def test_no_frames_no_file(tmp_path: Path) -> None:
    Mp4Sink(tmp_path / "out.mp4", 25, (32, 32)).close()
    assert list(tmp_path.iterdir()) == []


# --- places a video cannot be written ------------------------------------------


def _refused(path: Path, *words: str, **kw) -> None:
    with pytest.raises(InputError) as excinfo:
        Mp4Sink(path, 25, (32, 32), **kw)
    message = str(excinfo.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message


def test_folder_does_not_exist(tmp_path: Path) -> None:
    _refused(tmp_path / "no" / "such" / "out.mp4", "does not exist")


def test_path_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.mp4").mkdir()
    _refused(tmp_path / "out.mp4", "folder")


def test_parent_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    _refused(tmp_path / "file" / "out.mp4", "not a folder")


def test_folder_not_writable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod cannot take write access away from root (tests may run as root):
    # pretend the folder is read-only the way the check asks about it.
    import os

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path
                        else real_access(p, mode))
    _refused(tmp_path / "out.mp4", "not writable")
    assert list(tmp_path.iterdir()) == []


def test_place_that_cannot_hold_files() -> None:
    _refused(Path("/proc/vivicam-out.mp4"), "cannot be created")


def test_unknown_extension(tmp_path: Path) -> None:
    _refused(tmp_path / "out.avi", ".mp4")


def test_refuses_to_overwrite_the_driving_video(tmp_path: Path) -> None:
    driving = _clip_with_sound(tmp_path / "talk.mp4")
    before = driving.read_bytes()
    _refused(driving, "input video", audio_from=driving)
    assert driving.read_bytes() == before


def test_failed_render_leaves_the_old_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"yesterday's render")
    with pytest.raises(RuntimeError):
        with Mp4Sink(path, 25, (32, 32)) as sink:
            sink.write(_frame(0, (32, 32)))
            raise RuntimeError("the engine crashed")
    assert path.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_interrupted_recording_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "rec.mp4"
    with pytest.raises(KeyboardInterrupt):
        with Mp4Sink(path, 25, (32, 32), recording=True) as sink:
            for i in range(3):
                sink.write(_frame(i, (32, 32)))
            raise KeyboardInterrupt
    assert _decoded(path) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_interrupted_render_leaves_the_old_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"yesterday's render")
    with pytest.raises(KeyboardInterrupt):
        with Mp4Sink(path, 25, (32, 32)) as sink:
            for i in range(3):
                sink.write(_frame(i, (32, 32)))
            raise KeyboardInterrupt
    assert path.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def _decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_two_writers_of_one_target_never_mix_their_frames(tmp_path: Path) -> None:
    path = tmp_path / "same.mp4"
    a = Mp4Sink(path, 25, (32, 32), recording=True)
    b = Mp4Sink(path, 25, (32, 32), recording=True)
    assert a._partial != b._partial  # each writer has its own temporary file
    for i in range(6):
        a.write(np.full((32, 32, 3), 20, np.uint8))
        if i < 4:
            b.write(np.full((32, 32, 3), 230, np.uint8))
    a.close()
    assert _decoded(path) == 6
    b.close()  # the later one wins, whole
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 4 and all(abs(float(f.mean()) - 230) < 8 for f in frames)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.mp4"]


def test_a_full_disk_stops_a_recording_and_keeps_what_was_written(tmp_path: Path, caplog) -> None:
    path = tmp_path / "rec.mp4"
    sink = Mp4Sink(path, 25, (32, 32), recording=True)
    sink._out = FullDisk(sink._out, after=25)  # the encoder holds back its first ~10 frames
    errors = 0
    with caplog.at_level("ERROR"):
        for i in range(40):
            try:
                sink.write(_frame(i % 20, (32, 32)))
            except InputError as exc:
                errors += 1
                assert "No space left on device" in str(exc) and str(path) in str(exc)
                assert caplog.records, "the failure is logged when it happens"
        sink.close()
    assert errors == 1  # raised once, when it happened; later frames are not written
    assert sink.failure is not None and "after 1.0 s" in sink.failure and str(path) in sink.failure
    assert 5 <= _decoded(path) <= 25  # what reached the disk, playable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_a_full_disk_fails_a_render_without_touching_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    path.write_bytes(b"yesterday's render")
    with pytest.raises(InputError, match="No space left"):
        with Mp4Sink(path, 25, (32, 32)) as sink:
            sink._out = FullDisk(sink._out, after=2)
            for i in range(10):
                sink.write(_frame(i, (32, 32)))
    assert path.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


@pytest.mark.testdata
def test_real_clip_rewritten_keeps_frames_fps_and_sound(testdata: Path, tmp_path: Path) -> None:
    driving = testdata / "clips" / "d20.mp4"
    info = probe_video(driving)
    path = tmp_path / "copy.mp4"
    with Mp4Sink(path, info.rate, (info.width, info.height), audio_from=driving) as sink:
        for frame in VideoFileSource(driving).frames():
            sink.write(frame.image, frame)
    out = probe_video(path)
    assert (out.frame_count, out.rate, out.has_audio) == (info.frame_count, info.rate, True)
    assert _sound(path)[1] == pytest.approx(info.duration_s, abs=0.1)


def _detail(image: np.ndarray) -> float:
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F, ksize=3).var())


def test_fine_texture_survives_motion(tmp_path):
    # A painting's craquelure or skin grain (low-contrast, pixel-scale texture
    # over a smooth tone), panned a pixel a frame as a talking head moves it:
    # the recording keeps most of it, not a smoothed copy.
    rng = np.random.default_rng(0)
    h = w = 192
    y, x = np.mgrid[0 : h + 40, 0 : w + 40].astype(np.float32)
    tone = 120 + 40 * np.sin(x / 37.0) + 30 * np.cos(y / 53.0)
    texture = np.clip(tone[..., None] + rng.normal(0, 2, (h + 40, w + 40, 1)), 0, 255).astype(np.uint8)
    texture = np.repeat(texture, 3, axis=2)
    frames = [np.ascontiguousarray(texture[5 : 5 + h, i : i + w]) for i in range(30)]
    path = tmp_path / "moving.mp4"
    with Mp4Sink(path, 30, (w, h)) as sink:
        for i, f in enumerate(frames):
            sink.write(f, Frame(f, t_capture_ns=0, index=i))
    decoded = [f.image for f in VideoFileSource(path).frames()]
    ratios = [_detail(d) / _detail(f) for d, f in zip(decoded[10:], frames[10:])]
    assert len(ratios) == 20
    # x264's default inter deadzone kept 0.64 of it
    assert 0.8 <= float(np.mean(ratios)) <= 1.2
