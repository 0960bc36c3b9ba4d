"""WebcamSource: a clear DeviceError for a camera that is not there, MJPG and
the requested mode asked for, and a camera that vanishes mid-stream is
re-opened in the background while frames() waits instead of raising."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from vivicam.errors import DeviceError
from vivicam.realtime.protocols import Source
from vivicam.realtime.sources import webcam
from vivicam.realtime.sources.webcam import CameraState, WebcamSource


class FakeCamera:
    """A shared 'device' that can be unplugged and plugged back in."""

    def __init__(self) -> None:
        self.plugged = True
        self.opens = 0
        self.frames_read = 0

    def factory(self, device: int | str) -> "FakeCapture":
        self.opens += 1
        return FakeCapture(self, device)


class FakeCapture:
    def __init__(self, camera: FakeCamera, device: int | str) -> None:
        self.camera, self.device = camera, device
        self.opened = camera.plugged
        self.props: dict[int, float] = {}
        self.released = False

    def isOpened(self) -> bool:  # noqa: N802
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return self.props.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.released or not self.opened or not self.camera.plugged:
            return False, None
        self.camera.frames_read += 1
        bgr = np.zeros((24, 32, 3), np.uint8)
        bgr[..., 2] = 200  # red in OpenCV's BGR order
        return True, bgr

    def release(self) -> None:
        self.released = True


def test_nonexistent_camera_index_is_a_device_error() -> None:
    # This machine has no cameras: index 7 cannot open, with real OpenCV.
    with pytest.raises(DeviceError) as excinfo:
        WebcamSource(7)
    message = str(excinfo.value)
    assert message.startswith("camera 7 not found") and "\n" not in message
    assert "cameras that opened:" in message


def test_probing_tries_only_a_few_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    tried: list[int | str] = []

    def factory(device: int | str) -> FakeCapture:
        tried.append(device)
        capture = FakeCapture(FakeCamera(), device)
        capture.opened = False
        return capture

    monkeypatch.setattr(webcam, "candidate_indices", lambda limit=4: list(range(limit)))
    with pytest.raises(DeviceError):
        WebcamSource(9, capture_factory=factory)
    assert tried == [9, 0, 1, 2, 3]  # the camera asked for, then each candidate once


def test_missing_device_path() -> None:
    with pytest.raises(DeviceError, match=r"^camera /dev/video99 not found"):
        WebcamSource("/dev/video99")


def test_error_lists_the_cameras_that_do_open(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webcam, "candidate_indices", lambda limit=4: [0, 1, 2, 3])
    present = {0, 2}

    class Probe(FakeCapture):
        def __init__(self, device: int | str) -> None:
            super().__init__(FakeCamera(), device)
            self.opened = device in present

    with pytest.raises(DeviceError, match=r"camera 5 not found; cameras that opened: 0, 2$"):
        WebcamSource(5, capture_factory=Probe)


def test_camera_that_opens_but_sends_nothing() -> None:
    camera = FakeCamera()

    class Silent(FakeCapture):
        def read(self) -> tuple[bool, None]:
            return False, None

    with pytest.raises(DeviceError, match="sent no picture"):
        WebcamSource(0, capture_factory=lambda d: Silent(camera, d), first_frame_timeout_s=0.1)


def test_requests_mjpg_and_mode_and_yields_rgb() -> None:
    camera = FakeCamera()
    captures: list[FakeCapture] = []

    def factory(device: int | str) -> FakeCapture:
        captures.append(camera.factory(device))
        return captures[-1]

    source = WebcamSource("1", width=1280, height=720, fps=60, capture_factory=factory)
    assert isinstance(source, Source)
    props = captures[0].props
    assert captures[0].device == 1  # "1" means index 1
    assert props[cv2.CAP_PROP_FOURCC] == cv2.VideoWriter_fourcc(*"MJPG")
    assert (props[cv2.CAP_PROP_FRAME_WIDTH], props[cv2.CAP_PROP_FRAME_HEIGHT]) == (1280, 720)
    assert source.fps == 60 and source.size == (32, 24)
    assert source.mode == "32×24 @ 60 fps MJPG"
    frames = source.frames()
    first, second = next(frames), next(frames)
    assert (first.index, second.index) == (0, 1)
    assert first.image.shape == (24, 32, 3)
    np.testing.assert_array_equal(first.image[0, 0], [200, 0, 0])  # RGB now
    source.close()
    assert captures[0].released and source.state is CameraState.CLOSED


def test_lost_camera_is_reopened_and_frames_keep_coming() -> None:
    camera = FakeCamera()
    source = WebcamSource(0, capture_factory=camera.factory, reopen_interval_s=0.02,
                          lost_after_failures=3)
    got: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for frame in source.frames():
                got.append(frame.index)
        except BaseException as e:  # the test fails if frames() ever raises
            errors.append(e)

    reader = threading.Thread(target=consume)
    reader.start()
    _wait_for(lambda: len(got) > 5)
    camera.plugged = False  # cable pulled
    _wait_for(lambda: source.state is CameraState.RECONNECTING)
    count_while_lost = len(got)
    opens = camera.opens
    _wait_for(lambda: camera.opens >= opens + 3)  # several re-open attempts fail meanwhile
    assert len(got) <= count_while_lost + 1 and reader.is_alive()
    assert source.state is CameraState.RECONNECTING
    camera.plugged = True  # plugged back in
    _wait_for(lambda: len(got) > count_while_lost + 5)
    assert source.state is CameraState.STREAMING and source.reconnects == 1
    source.close()
    reader.join(timeout=2)
    assert not reader.is_alive() and errors == []
    assert got == list(range(len(got)))  # indices keep counting across the gap


def test_close_while_reconnecting_stops_everything() -> None:
    camera = FakeCamera()
    source = WebcamSource(0, capture_factory=camera.factory, reopen_interval_s=0.01,
                          lost_after_failures=1)
    camera.plugged = False
    frames = source.frames()
    done = threading.Event()

    def consume() -> None:
        for _ in frames:
            pass
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    _wait_for(lambda: source.state is CameraState.RECONNECTING)
    source.close()
    assert done.wait(10.0)  # hang guard only
    assert source.state is CameraState.CLOSED
    assert source._reopener is not None and not source._reopener.is_alive()  # the re-open loop has stopped


def _wait_for(condition, tries: int = 2000) -> None:
    """Poll ``condition``; a hang guard (about 10 s), not a timing assertion."""
    pause = threading.Event()
    for _ in range(tries):
        if condition():
            return
        pause.wait(0.005)
    raise AssertionError("condition never reached")
