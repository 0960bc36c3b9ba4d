"""Image folders, the idle driver source, and open_source's choice of source."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from vivicam.errors import DeviceError, InputError
from vivicam.realtime.protocols import Source
from vivicam.realtime.sources import open_source
from vivicam.realtime.sources.folder import ImageFolderSource, list_images
from vivicam.realtime.sources.idle import IdleSource
from vivicam.realtime.sources.video import VideoFileSource
from vivicam.types import Motion


def _image(path: Path, value: int, size=(16, 12)) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path)
    return path


# --- folders --------------------------------------------------------------------


def test_list_images_natural_order_images_only(tmp_path: Path) -> None:
    for name in ["face10.png", "face2.JPG", "face1.jpeg", "notes.txt", ".hidden.png"]:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()  # a folder with an image-like name
    assert [p.name for p in list_images(tmp_path)] == ["face1.jpeg", "face2.JPG", "face10.png"]


def test_list_images_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        list_images(tmp_path / "nope")


def test_folder_source_skips_bad_images(tmp_path: Path) -> None:
    _image(tmp_path / "a1.png", 10)
    (tmp_path / "a2.jpg").write_text("not an image")
    _image(tmp_path / "a3.png", 30)
    source = ImageFolderSource(tmp_path, fps=10)
    assert isinstance(source, Source) and source.fps == 10
    frames = list(source.frames())
    assert [int(f.image.mean()) for f in frames] == [10, 30]
    assert [f.index for f in frames] == [0, 1]
    assert [p.name for p in source.skipped] == ["a2.jpg"]


def test_folder_without_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(InputError, match="no images"):
        ImageFolderSource(tmp_path)


# --- idle driver ----------------------------------------------------------------


def _nod(t_s: float) -> Motion:
    return Motion(rotation=np.array([10 * t_s, 0, 0], np.float32))


def test_idle_source_carries_motion_for_each_frame_time() -> None:
    source = IdleSource(fps=20, seconds=0.5, realtime=False, motion_fn=_nod)
    assert isinstance(source, Source) and len(source) == 10
    frames = list(source.frames())
    assert len(frames) == 10 and [f.index for f in frames] == list(range(10))
    assert frames[4].motion is not None
    assert frames[4].motion.rotation[0] == pytest.approx(10 * 4 / 20)
    assert frames[0].image.dtype == np.uint8 and frames[0].image.ndim == 3


def test_idle_source_realtime_is_paced() -> None:
    source = IdleSource(fps=50, seconds=0.12, realtime=True, motion_fn=_nod)
    start = time.perf_counter()
    assert sum(1 for _ in source.frames()) == 6
    assert time.perf_counter() - start >= 5 / 50 - 0.005


def test_idle_source_endless_until_closed() -> None:
    source = IdleSource(fps=1000, realtime=False, motion_fn=_nod)
    count = 0
    for _ in source.frames():
        count += 1
        if count == 50:
            source.close()
    assert count == 50


def test_idle_source_default_motion_moves() -> None:
    pytest.importorskip("vivicam.calibrate.idle", reason="T's IdleMotion not committed yet")
    frames = list(IdleSource(fps=30, seconds=4, seed=0, talk=True, realtime=False).frames())
    motions = [f.motion for f in frames]
    assert all(isinstance(m, Motion) for m in motions)
    rotations = np.stack([m.rotation for m in motions])
    assert np.ptp(rotations, axis=0).max() > 0.2  # the head sways
    again = list(IdleSource(fps=30, seconds=4, seed=0, talk=True, realtime=False).frames())
    np.testing.assert_array_equal(again[57].motion.rotation, motions[57].rotation)


# --- open_source ----------------------------------------------------------------


def test_open_source_picks_by_spec(tmp_path: Path) -> None:
    idle = open_source("idle", fps=10, seconds=1, realtime=False, width=640, loop=True,
                       motion_fn=_nod)
    assert isinstance(idle, IdleSource) and idle.fps == 10

    _image(tmp_path / "x.png", 5)
    folder = open_source(str(tmp_path), fps=7, width=640)
    assert isinstance(folder, ImageFolderSource) and folder.fps == 7

    clip = tmp_path / "clip.mkv"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    video = open_source(clip, fps=99, realtime=False, loop=False)
    assert isinstance(video, VideoFileSource) and video.fps == 12.0


def test_open_source_camera_specs_go_to_the_webcam() -> None:
    with pytest.raises(DeviceError, match="^camera 9 not found"):
        open_source("9", width=320, height=240)
    with pytest.raises(DeviceError, match="^camera /dev/video42 not found"):
        open_source("/dev/video42")


def test_open_source_unknown_spec(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.mp4"
    with pytest.raises(InputError) as excinfo:
        open_source(str(missing))
    assert str(missing) in str(excinfo.value) and "not found" in str(excinfo.value)
