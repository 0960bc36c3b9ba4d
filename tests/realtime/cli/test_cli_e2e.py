"""End to end through the CLI with the real parts: ``vivicam demo`` writes a
video whose face moves; ``vivicam render`` keeps the driving clip's frame
count, frame rate and audio, and the avatar's head follows the driver's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vivicam.realtime.cli.main import main


def track_video(path: Path, step: int = 1) -> list[np.ndarray | None]:
    """Landmark points of every ``step``-th frame (None where no face)."""
    from vivicam.realtime.sources.video import VideoFileSource
    from vivicam.face.tracker import MediaPipeTracker

    found: list[np.ndarray | None] = []
    source = VideoFileSource(path)
    try:
        with MediaPipeTracker() as tracker:
            for frame in source.frames():
                if frame.index % step:
                    continue
                lm = tracker.track(frame.image)
                found.append(None if lm is None else lm.points.copy())
    finally:
        source.close()
    return found


def head_angles(points: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) degrees of the face in the image."""
    from vivicam.calibrate.geometry import euler_from_matrix, face_pose

    return euler_from_matrix(face_pose(points).rotation)


def test_demo_writes_a_video_whose_face_blinks_talks_and_moves(tmp_path, capsys) -> None:
    from vivicam.calibrate.features import eye_openness, mouth_gap
    from vivicam.realtime.sources.video import probe_video

    out = tmp_path / "demo.mp4"
    assert main(["demo", "-o", str(out), "--seconds", "6", "--no-preview"]) == 0
    assert "wrote" in capsys.readouterr().out
    info = probe_video(out)
    assert info.frame_count == 150 and info.fps == pytest.approx(25)

    tracked = track_video(out)  # every frame: a blink lasts only a few
    faces = [p for p in tracked if p is not None]
    assert len(faces) >= 0.9 * len(tracked), "the astronaut's face is lost in the demo"
    angles = np.array([head_angles(p) for p in faces])
    assert np.ptp(angles[:, :2], axis=0).max() > 2.0, "the head does not move"
    openness = np.array([eye_openness(p).mean() for p in faces])
    # MediaPipe under-reads closed lids; tracking noise alone stays within ~10 %
    assert openness.min() < 0.75 * np.median(openness), "the eyes never blink"
    mouth = np.array([mouth_gap(p) for p in faces])
    assert np.ptp(mouth) > 0.08, "the mouth does not talk"  # face sizes; ~0.6 is wide open


@pytest.mark.testdata
@pytest.mark.slow
def test_render_follows_the_driver_with_its_frame_count_fps_and_audio(testdata, tmp_path, capsys) -> None:
    from vivicam.realtime.sources.video import probe_video

    clip = testdata / "clips" / "d12.mp4"
    out = tmp_path / "render.mp4"
    rc = main(["render", "--avatar", str(testdata / "portraits" / "s1.jpg"), "--driving", str(clip),
               "-o", str(out), "--no-progress", "--size", "512x512"])
    assert rc == 0, capsys.readouterr().err
    src, dst = probe_video(clip), probe_video(out)
    assert dst.frame_count == src.frame_count
    assert dst.fps == pytest.approx(src.fps)
    assert dst.has_audio == src.has_audio

    driver = track_video(clip, step=2)
    avatar = track_video(out, step=2)
    both = [(d, a) for d, a in zip(driver, avatar) if d is not None and a is not None]
    assert len(both) >= 0.8 * len(driver)
    d_angles = np.array([head_angles(d) for d, _ in both])
    a_angles = np.array([head_angles(a) for _, a in both])
    # d12 turns and tilts a lot (yaw ~40°, roll ~17° peak to peak) and nods a
    # little (pitch ~15°); pitch read back from a warped photo is the noisiest
    # (measured on this pair: yaw r=0.94, roll r=0.98, pitch r=0.40).
    for axis, name, least in ((1, "yaw", 0.8), (2, "roll", 0.8), (0, "pitch", 0.25)):
        corr = np.corrcoef(d_angles[:, axis], a_angles[:, axis])[0, 1]
        assert corr > least, f"avatar {name} does not follow the driver (r={corr:.2f})"


def test_run_live_from_a_video_records_frames_and_prints_a_summary(tmp_path, capsys) -> None:
    """The live command end to end without a webcam: a video plays the camera
    (no face in it: the avatar idles), the output is recorded."""
    from PIL import Image
    from skimage import data
    from loop_fakes import write_clip

    from vivicam.realtime.sources.video import probe_video

    avatar = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(avatar)
    clip = write_clip(tmp_path / "camera.mp4", 50)
    record = tmp_path / "live.mp4"
    rc = main(["run", "--avatar", str(avatar), "--camera", str(clip), "--no-virtual-camera", "--no-preview",
               "--record", str(record), "--seconds", "2", "--size", "320x240"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "frames" in out and "latency" in out and "render" in out
    info = probe_video(record)
    assert info.frame_count >= 10 and (info.width, info.height) == (320, 240)
    assert info.fps == pytest.approx(30)  # the steady --fps default, whatever the 25 fps camera gives


@pytest.mark.testdata
def test_calibrate_saves_a_profile_that_render_and_run_accept(testdata, tmp_path, capsys) -> None:
    from vivicam.calibrate.neutral import load_profile

    profile = tmp_path / "me.json"
    assert main(["calibrate", "--camera", str(testdata / "clips" / "d19.mp4"), "-o", str(profile)]) == 0
    neutral, _ = load_profile(profile)
    assert neutral.canonical.shape == (478, 3)
    assert neutral.image_size == (480, 480)
    out = tmp_path / "short.mp4"
    rc = main(["render", "--avatar", str(testdata / "portraits" / "s2.jpg"), "--driving",
               str(testdata / "clips" / "d19.mp4"), "-o", str(out), "--profile", str(profile),
               "--size", "256x256", "--no-progress", "--no-audio"])
    assert rc == 0, capsys.readouterr().err


def test_doctor_reports_every_section(capsys) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for section in ("python:", "packages:", "cameras:", "virtual camera:", "display:", "gpu:"):
        assert section in out
    assert "mediapipe" in out and "0.10.21" in out


class _RecordingCamera:
    """A pyvirtualcam backend (its documented protocol) that keeps what it gets."""

    instances: list["_RecordingCamera"] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.frames: list[np.ndarray] = []
        self.closed = False
        _RecordingCamera.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True

    def device(self) -> str:
        return "/dev/video42"

    def native_fourcc(self) -> None:
        return None


def test_run_sends_the_avatar_to_the_virtual_camera(tmp_path, capsys, monkeypatch) -> None:
    import pyvirtualcam
    import pyvirtualcam.camera
    from PIL import Image
    from skimage import data

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {})
    pyvirtualcam.register_backend("recording", _RecordingCamera)
    _RecordingCamera.instances.clear()
    avatar = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(avatar)
    rc = main(["run", "--avatar", str(avatar), "--camera", "idle", "--no-preview", "--seconds", "2",
               "--size", "320x240", "--fps", "20"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "virtual camera: /dev/video42 (320x240 @ 20 fps)" in captured.err
    camera = _RecordingCamera.instances[0]
    assert (camera.width, camera.height, camera.fps) == (320, 240, 20)
    assert len(camera.frames) >= 10 and camera.closed
    frames = np.array([f.reshape(240, 320, 3) for f in camera.frames], np.float32)
    assert frames.std(axis=0).max() > 5  # the idle avatar moves (a frozen one gives 0; sub-pixel sway settles)
    assert frames[0, :, :40].max() == 0  # letterboxed 512² photo: black bars at the sides


def _first_frames(src: Path, dst: Path, count: int) -> Path:
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width = stream.height = 512
        stream.pix_fmt = "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= count:
                break
            image = frame.to_ndarray(format="rgb24")
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@pytest.mark.testdata
def test_a_short_restless_driving_clip_still_gets_a_neutral_face(testdata, tmp_path) -> None:
    from vivicam.realtime.driver_neutral import calibrate_from_video

    clip = _first_frames(testdata / "clips" / "d12.mp4", tmp_path / "short.mp4", 30)  # 1.2 s, moving
    neutral, driver = calibrate_from_video(clip, fps=25)
    assert neutral is not None and driver is not None
    assert driver.image.shape == (512, 512, 3)


def test_run_with_a_folder_skips_photos_without_a_face(tmp_path, capsys) -> None:
    from PIL import Image
    from skimage import data

    folder = tmp_path / "avatars"
    folder.mkdir()
    Image.fromarray(np.full((200, 200, 3), 90, np.uint8)).save(folder / "a_blank.png")
    Image.fromarray(data.astronaut()).save(folder / "b_astronaut.png")
    record = tmp_path / "rec.mp4"
    rc = main(["run", "--avatar", str(folder), "--camera", "idle", "--no-virtual-camera", "--no-preview",
               "--record", str(record), "--seconds", "1", "--size", "160x120"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "skipping a_blank.png: " in err and "no face" in err

    (folder / "b_astronaut.png").unlink()
    rc = main(["run", "--avatar", str(folder), "--camera", "idle", "--no-virtual-camera", "--no-preview",
               "--record", str(record), "--seconds", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "has a usable face" in err.strip().splitlines()[-1]


@pytest.mark.parametrize("mode", ["blur", "color:#00ff00", "image"])
def test_demo_background_modes_change_only_the_background(tmp_path, capsys, mode) -> None:
    import av
    from PIL import Image

    background = mode
    if mode == "image":
        background = str(tmp_path / "bg.png")
        Image.fromarray(np.full((100, 100, 3), (20, 40, 200), np.uint8)).save(background)
    out = tmp_path / "demo.mp4"
    rc = main(["demo", "-o", str(out), "--seconds", "0.4", "--no-preview", "--background", background,
               "--size", "256x256"])
    assert rc == 0, capsys.readouterr().err
    with av.open(str(out)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
    from skimage import data

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((256, 256)), np.float32)
    corner = np.abs(first[:40, :40] - photo[:40, :40]).mean()  # background (flag, wall)
    face = np.abs(first[60:110, 100:150] - photo[60:110, 100:150]).mean()  # the face
    assert corner > 15, "the background did not change"
    assert face < corner / 2, "the person changed as much as the background"
    if mode == "color:#00ff00":
        assert first[:40, :40, 1].mean() > 200 and first[:40, :40, [0, 2]].mean() < 60


def test_a_background_image_that_cannot_be_read_is_one_line(tmp_path, capsys) -> None:
    rc = main(["demo", "-o", str(tmp_path / "d.mp4"), "--no-preview", "--background", str(tmp_path / "nope.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.png" in err and len(err.strip().splitlines()) == 1


def test_doctor_checks_a_weights_folder(tmp_path, capsys) -> None:
    assert main(["doctor", "--weights", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "weights:" in out and "FAIL" in out


class _BrokenCamera(_RecordingCamera):
    """A virtual camera that opens but whose every send fails (taken away by
    another program)."""

    def send(self, frame: np.ndarray) -> None:
        raise RuntimeError("the device was taken away")


def test_run_ends_with_the_reason_when_the_virtual_camera_stays_down(tmp_path, capsys, monkeypatch) -> None:
    import pyvirtualcam
    import pyvirtualcam.camera
    from PIL import Image
    from skimage import data

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {})
    pyvirtualcam.register_backend("broken", _BrokenCamera)
    _RecordingCamera.instances.clear()
    avatar = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(avatar)
    rc = main(["run", "--avatar", str(avatar), "--camera", "idle", "--no-preview", "--seconds", "30",
               "--size", "160x120", "--fps", "20"])
    captured = capsys.readouterr()
    assert rc == 3  # a device failure, not exit 0 after 30 s
    reason = [line for line in captured.err.splitlines() if line.startswith("vivicam run: error:")]
    assert len(reason) == 1 and "stayed down" in reason[0] and "taken away" in reason[0]
    assert len(_RecordingCamera.instances) >= 3  # re-opened with back-off meanwhile
    assert all(camera.closed for camera in _RecordingCamera.instances)
    assert captured.out.startswith("0 frames")  # nothing counted as output


def test_a_run_ended_by_a_dead_virtual_camera_keeps_its_recording(tmp_path, capsys, monkeypatch) -> None:
    import pyvirtualcam
    import pyvirtualcam.camera
    from PIL import Image
    from skimage import data

    from vivicam.realtime.sources.video import probe_video

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {})
    pyvirtualcam.register_backend("broken", _BrokenCamera)
    avatar = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(avatar)
    record = tmp_path / "kept.mp4"
    rc = main(["run", "--avatar", str(avatar), "--camera", "idle", "--no-preview", "--seconds", "30",
               "--size", "160x120", "--fps", "20", "--record", str(record)])
    captured = capsys.readouterr()
    assert rc == 3 and "stayed down" in captured.err
    assert f"recorded {record}" in captured.out
    assert probe_video(record).frame_count >= 10  # the frames the recording got, finalised
