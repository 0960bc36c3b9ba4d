"""The preview window (OpenCV highgui) and its hotkeys.

``has_display()`` answers without opening a window: OpenCV's Qt backend
aborts the whole process when DISPLAY points at no X server, so the check
looks for a reachable X server (its socket, or TCP for ``host:N`` displays
such as ssh forwarding) rather than trusting the variable.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import re
import socket
import sys
from pathlib import Path
from typing import Mapping

import cv2
import numpy as np

from vivicam.errors import DeviceError
from vivicam.types import Frame

from .base import SinkBase

log = logging.getLogger(__name__)

X11_SOCKET_DIR = Path("/tmp/.X11-unix")

# waitKeyEx codes of the arrow keys: Qt, GTK, Windows.
_ARROWS = {
    0x01000012: "left", 0x01000013: "up", 0x01000014: "right", 0x01000015: "down",
    65361: "left", 65362: "up", 65363: "right", 65364: "down",
    2424832: "left", 2490368: "up", 2555904: "right", 2621440: "down",
}
_NAMED = {27: "esc", 32: " ", 13: "enter", 10: "enter", 9: "tab", 8: "backspace",
          127: "backspace"}


def key_name(code: int) -> str | None:
    """An OpenCV key code as a string: letters lower-case ("c", "q"), " " for
    space, "esc", "enter", "tab", "backspace", "left"/"right"/"up"/"down";
    None for no key (-1) or keys without a name."""
    if code is None or code < 0:
        return None
    if code in _ARROWS:
        return _ARROWS[code]
    # GTK adds modifier bits (e.g. NumLock 0x100000) above the key itself.
    low = code & 0xFFFF if code > 0xFFFF else code
    if low in _NAMED:
        return _NAMED[low]
    if 33 <= low <= 126:
        return chr(low).lower()
    return None


@functools.lru_cache(maxsize=1)
def gui_backend() -> str:
    """OpenCV's window toolkit ("QT5", "GTK3", "WIN32UI", "COCOA"…) or "NONE"."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return match.group(1).upper() if match else "NONE"


def _x11_reachable(display: str) -> bool:
    match = re.fullmatch(r"(?P<host>[^:]*):(?P<num>\d+)(?:\.\d+)?", display.strip())
    if not match:
        return False
    host, number = match.group("host"), int(match.group("num"))
    if host in ("", "unix"):
        if not (X11_SOCKET_DIR / f"X{number}").exists():
            return False
        connects = _xcb_connects(display)
        return True if connects is None else connects
    try:  # ssh -X forwarding and remote servers: localhost:10.0 → TCP 6010
        with socket.create_connection((host, 6000 + number), timeout=0.3):
            return True
    except OSError:
        return False


def _xcb_connects(display: str) -> bool | None:
    """Whether the X server lets us in (a socket can exist while access is
    refused, e.g. another user's session): connect with libxcb, as Qt will.
    None when libxcb is not installed. Only used for local displays, whose
    server answers at once."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("xcb")
    if name is None:
        return None
    try:
        xcb = ctypes.CDLL(name)
        xcb.xcb_connect.restype = ctypes.c_void_p
        xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
        xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
        connection = xcb.xcb_connect(display.encode(), None)
        try:
            return xcb.xcb_connection_has_error(connection) == 0
        finally:
            xcb.xcb_disconnect(connection)
    except (OSError, AttributeError):
        return None


def _wayland_reachable(env: Mapping[str, str]) -> bool:
    name = env.get("WAYLAND_DISPLAY", "")
    if not name:
        return False
    path = Path(name) if name.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "")) / name
    return path.exists()


def has_display(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Whether a preview window can be shown here.

    Windows and macOS always have a window system; Linux (and BSD) need a
    reachable X server, or Wayland when OpenCV was built with GTK (the Qt
    build in the opencv wheels only speaks X11, via XWayland on Wayland
    desktops). False when OpenCV was built without any GUI.
    """
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    backend = gui_backend()
    if backend == "NONE":
        return False
    if platform.startswith(("win", "darwin", "cygwin")):
        return True
    if env.get("DISPLAY") and _x11_reachable(env["DISPLAY"]):
        return True
    return backend.startswith("GTK") and _wayland_reachable(env)


HEADLESS_MESSAGE = (
    "no display: there is no screen here to open a preview window on "
    "(no reachable DISPLAY/WAYLAND_DISPLAY); use --no-preview or -o out.mp4"
)


class PreviewSink(SinkBase):
    """Shows frames in a window titled ``title``; ``poll_key()`` returns the
    keys pressed in it (see ``key_name``) and ``"closed"`` once when the user
    closes the window."""

    def __init__(self, title: str = "vivicam") -> None:
        if not has_display():
            raise DeviceError(HEADLESS_MESSAGE)
        self.title = title
        self.frames_written = 0
        self._keys: collections.deque[str] = collections.deque(maxlen=32)
        self._pumped = False  # whether events were pumped since the last poll
        self._open = False
        self._closed_reported = False

    def write(self, image: np.ndarray, frame: Frame | None = None) -> None:
        if self._closed_reported:
            return  # the user closed the window: do not pop it up again
        if not self._open:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
            cv2.resizeWindow(self.title, int(image.shape[1]), int(image.shape[0]))
            self._open = True
        cv2.imshow(self.title, cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
        self.frames_written += 1
        self._pump()

    def _pump(self) -> None:
        """Let the window draw and collect a key (highgui needs this each frame)."""
        name = key_name(cv2.waitKeyEx(1))
        if name is not None:
            self._keys.append(name)
        self._pumped = True
        if self._open and not self._closed_reported:
            try:
                visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
            except cv2.error:
                visible = 0
            if visible < 1:
                self._closed_reported = True
                self._open = False
                self._keys.append("closed")

    def poll_key(self) -> str | None:
        """The oldest key pressed since the last call, or None."""
        if not self._pumped:
            self._pump()
        self._pumped = False
        return self._keys.popleft() if self._keys else None

    def close(self) -> None:
        if self._open:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the window actually disappear
            except cv2.error as e:
                log.debug("closing the preview window: %s", e)
            self._open = False
