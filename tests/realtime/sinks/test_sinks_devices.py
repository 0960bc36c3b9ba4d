"""Virtual camera (through a fake pyvirtualcam backend), preview window (headless
detection, hotkeys, with highgui faked) and the null sink."""

from __future__ import annotations

import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
import pyvirtualcam
import pyvirtualcam.camera

from vivicam.errors import DeviceError
from vivicam.realtime.protocols import Sink
from vivicam.realtime.sinks import preview as preview_mod
from vivicam.realtime.sinks.null import NullSink
from vivicam.realtime.sinks.preview import PreviewSink, has_display, key_name
from vivicam.realtime.sinks.virtualcam import VirtualCameraSink, install_hint
from vivicam.types import Frame


class RecordingBackend:
    """A pyvirtualcam backend (its documented protocol) that keeps what it gets."""

    instances: list["RecordingBackend"] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **kw) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self._device = device or "/dev/fake0"
        self.frames: list[np.ndarray] = []
        self.closed = 0
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> None:
        return None


class MissingBackend(RecordingBackend):
    def __init__(self, **kw) -> None:
        raise RuntimeError("no v4l2 loopback device found at /dev/video[0-99]")


@pytest.fixture
def backends(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An isolated backend registry (the real ones are not touched)."""
    registry: dict = {}
    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", registry)
    RecordingBackend.instances.clear()
    return registry


def _frame(i: int = 0) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), t_capture_ns=0, index=i)


# --- virtual camera --------------------------------------------------------------


def test_virtual_camera_sends_rgb_frames(backends: dict) -> None:
    pyvirtualcam.register_backend("fake", RecordingBackend)
    image = np.zeros((48, 64, 3), np.uint8)
    image[..., 0] = 250  # red
    with VirtualCameraSink(64, 48, 30, backend="fake") as sink:
        assert isinstance(sink, Sink)
        assert (sink.device_name, sink.backend_name) == ("/dev/fake0", "fake")
        sink.write(image, _frame())
        sink.write(np.zeros((96, 128, 3), np.uint8), _frame(1))  # other size: fitted
    backend = RecordingBackend.instances[0]
    assert backend.fourcc == pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert (backend.width, backend.height, backend.fps) == (64, 48, 30)
    assert len(backend.frames) == 2 and backend.closed == 1
    np.testing.assert_array_equal(backend.frames[0].reshape(48, 64, 3), image)
    assert backend.frames[1].size == 48 * 64 * 3


def test_virtual_camera_picks_the_requested_device(backends: dict) -> None:
    pyvirtualcam.register_backend("fake", RecordingBackend)
    with VirtualCameraSink(32, 32, 25, device="/dev/video7") as sink:
        assert sink.device_name == "/dev/video7"


@pytest.mark.parametrize("platform, words", [
    ("linux", ["sudo apt install v4l2loopback-dkms",
               "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vivicam"]),
    ("win32", ["OBS", "Virtual Camera"]),
    ("darwin", ["OBS", "Virtual Camera"]),
])
def test_install_hint_per_os(platform: str, words: list[str]) -> None:
    for word in words:
        assert word in install_hint(platform)


def test_no_working_backend_is_an_actionable_device_error(backends: dict) -> None:
    pyvirtualcam.register_backend("v4l2loopback", MissingBackend)
    with pytest.raises(DeviceError) as excinfo:
        VirtualCameraSink(64, 48, 30)
    message = str(excinfo.value)
    assert "\n" not in message
    assert "no v4l2 loopback device found" in message  # what the backend said
    assert install_hint() in message  # and what to do about it


def test_no_backend_at_all(backends: dict) -> None:
    with pytest.raises(DeviceError, match="no virtual camera backend"):
        VirtualCameraSink(64, 48, 30)


def test_unknown_backend_name_lists_the_known_ones(backends: dict) -> None:
    pyvirtualcam.register_backend("fake", RecordingBackend)
    with pytest.raises(DeviceError, match=r"'obs' is unknown \(available: fake\)"):
        VirtualCameraSink(64, 48, 30, backend="obs")


def test_real_backends_here_report_device_error() -> None:
    # This machine has no v4l2loopback device: the real pyvirtualcam must end in
    # our DeviceError (never a RuntimeError traceback).
    try:
        sink = VirtualCameraSink(64, 48, 30)
    except DeviceError as e:
        assert install_hint() in str(e)
    else:  # a machine that does have a virtual camera
        sink.close()


# --- preview window ----------------------------------------------------------------


@pytest.mark.parametrize("code, name", [
    (ord("c"), "c"), (ord("N"), "n"), (ord("p"), "p"), (32, " "), (ord("s"), "s"),
    (ord("q"), "q"), (27, "esc"), (13, "enter"), (-1, None),
    (0x01000012, "left"), (65363, "right"), (0x100000 | ord("c"), "c"),
])
def test_key_names(code: int, name: str | None) -> None:
    assert key_name(code) == name


def test_headless_linux_has_no_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_mod, "X11_SOCKET_DIR", tmp_path)
    monkeypatch.setattr(preview_mod, "_xcb_connects", lambda display: None)  # no libxcb
    assert not has_display({}, "linux")
    assert not has_display({"DISPLAY": ":0"}, "linux")  # set, but no X server there
    (tmp_path / "X0").touch()  # an X server's socket
    has_gui = preview_mod.gui_backend() != "NONE"
    assert has_display({"DISPLAY": ":0"}, "linux") is has_gui
    assert has_display({"DISPLAY": ":0.0"}, "linux") is has_gui
    assert has_display({}, "win32") is has_gui


def test_x_socket_without_a_server_that_lets_us_in(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if preview_mod._xcb_connects(":97") is None:
        pytest.skip("libxcb not installed")
    monkeypatch.setattr(preview_mod, "X11_SOCKET_DIR", tmp_path)
    (tmp_path / "X97").touch()  # a stale socket file: no server behind it
    assert not has_display({"DISPLAY": ":97"}, "linux")


def test_forwarded_x_display_checked_over_tcp() -> None:
    if preview_mod.gui_backend() == "NONE":
        pytest.skip("OpenCV built without a GUI")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        if port < 6000:
            pytest.skip("free port below the X range")
        listener.listen()
        assert has_display({"DISPLAY": f"127.0.0.1:{port - 6000}"}, "linux")
    assert not has_display({"DISPLAY": f"127.0.0.1:{port - 6000}"}, "linux")


def test_preview_refuses_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_mod, "has_display", lambda *a, **k: False)
    with pytest.raises(DeviceError) as excinfo:
        PreviewSink()
    message = str(excinfo.value)
    assert message.startswith("no display") and "--no-preview" in message
    assert "-o out.mp4" in message


class FakeHighgui:
    def __init__(self, keys: list[int]) -> None:
        self.keys = list(keys)
        self.shown: list[np.ndarray] = []
        self.visible = 1.0
        self.destroyed: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(preview_mod, "has_display", lambda *a, **k: True)
        monkeypatch.setattr(cv2, "namedWindow", lambda title, flags=0: None)
        monkeypatch.setattr(cv2, "resizeWindow", lambda title, w, h: None)
        monkeypatch.setattr(cv2, "imshow", lambda title, image: self.shown.append(image.copy()))
        monkeypatch.setattr(cv2, "waitKeyEx", lambda delay: self.keys.pop(0) if self.keys else -1)
        monkeypatch.setattr(cv2, "waitKey", lambda delay: -1)
        monkeypatch.setattr(cv2, "getWindowProperty", lambda title, prop: self.visible)
        monkeypatch.setattr(cv2, "destroyWindow", lambda title: self.destroyed.append(title))


def test_preview_shows_frames_and_returns_hotkeys(monkeypatch: pytest.MonkeyPatch) -> None:
    gui = FakeHighgui([ord("c"), -1, 27, ord(" ")])
    gui.install(monkeypatch)
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 255  # red, RGB
    with PreviewSink("test") as sink:
        assert isinstance(sink, Sink)
        sink.write(image, _frame())
        assert sink.poll_key() == "c"
        sink.write(image, _frame(1))
        assert sink.poll_key() is None
        assert sink.poll_key() == "esc"  # polled without a new frame
        assert sink.poll_key() == " "
        assert sink.poll_key() is None
    np.testing.assert_array_equal(gui.shown[0][0, 0], [0, 0, 255])  # BGR for OpenCV
    assert gui.destroyed == ["test"]


def test_preview_reports_a_window_closed_by_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    gui = FakeHighgui([])
    gui.install(monkeypatch)
    sink = PreviewSink()
    sink.write(np.zeros((4, 4, 3), np.uint8))
    gui.visible = 0.0  # the user clicked the window's close button
    sink.write(np.zeros((4, 4, 3), np.uint8))
    assert sink.poll_key() == "closed"
    sink.write(np.zeros((4, 4, 3), np.uint8))  # not popped up again
    assert len(gui.shown) == 2 and sink.poll_key() is None


# --- null ----------------------------------------------------------------------------


def test_null_sink_counts() -> None:
    with NullSink() as sink:
        assert isinstance(sink, Sink)
        for i in range(3):
            sink.write(np.zeros((2, 2, 3), np.uint8), _frame(i))
    assert sink.frames_written == 3 and sink.closed and sink.last_latency_ns >= 0
