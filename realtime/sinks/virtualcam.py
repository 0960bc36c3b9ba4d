"""The virtual camera (pyvirtualcam) that video-call apps pick up as a webcam.

When no backend works, the error says exactly what to install for this OS:
Linux needs the v4l2loopback kernel module (with ``exclusive_caps=1`` so
Chrome/Zoom list it), Windows and macOS use OBS Studio's Virtual Camera.
"""

from __future__ import annotations

import logging
import sys

import numpy as np

from vivicam.errors import DeviceError
from vivicam.types import Frame

from .base import SinkBase, fit_image

log = logging.getLogger(__name__)

LINUX_HINT = (
    "install v4l2loopback (sudo apt install v4l2loopback-dkms) and load it with "
    "`sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vivicam`"
)
OBS_HINT = (
    "install OBS Studio (https://obsproject.com) and start its Virtual Camera once "
    "(Start Virtual Camera), then close OBS"
)


def install_hint(platform: str | None = None) -> str:
    """What to do so that a virtual camera exists, for ``platform`` (sys.platform)."""
    platform = sys.platform if platform is None else platform
    return LINUX_HINT if platform.startswith("linux") else OBS_HINT


class VirtualCameraSink(SinkBase):
    """Sends RGB frames of ``width``×``height`` to a virtual camera at ``fps``.

    ``device`` picks a particular one (``/dev/video2``; on Windows/macOS the
    camera name), ``backend`` a pyvirtualcam backend by name; by default the
    first that works. ``device_name``/``backend_name`` say what was opened.
    """

    def __init__(self, width: int, height: int, fps: float, *, device: str | None = None,
                 backend: str | None = None) -> None:
        from pyvirtualcam.camera import BACKENDS

        if width < 1 or height < 1 or fps <= 0:
            raise DeviceError(f"virtual camera: bad mode {width}×{height} @ {fps} fps")
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        if backend is not None and backend not in BACKENDS:
            known = ", ".join(sorted(BACKENDS)) or "none on this system"
            raise DeviceError(f"virtual camera backend '{backend}' is unknown (available: {known})")
        if not BACKENDS:
            raise DeviceError(f"no virtual camera backend for this system: {install_hint()}")
        self._device, self._backend = device, backend
        self._camera = self._open()
        self.frames_written = 0
        self.reopens = 0
        log.info("virtual camera %s (%s) %dx%d @ %g fps", self.device_name, self.backend_name,
                 self.width, self.height, self.fps)

    def _open(self):  # noqa: ANN202 (a pyvirtualcam.Camera)
        import pyvirtualcam

        device = self._device
        try:
            camera = pyvirtualcam.Camera(
                self.width, self.height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                device=device, backend=self._backend,
            )
        except Exception as e:  # pyvirtualcam raises RuntimeError listing each backend's failure
            reasons = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
            where = f" {device}" if device else ""
            raise DeviceError(
                f"no virtual camera{where} could be opened ({reasons or type(e).__name__}): "
                f"{install_hint()}"
            ) from e
        self.device_name = str(camera.device)
        self.backend_name = str(camera.backend)
        return camera

    def reopen(self) -> None:
        """Close and open the virtual camera again (after a failed send); the
        same device and backend. Raises DeviceError while it cannot be opened."""
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.close()
            except Exception as e:  # a camera that broke may fail to close too
                log.debug("closing the virtual camera failed: %s", e)
        self._camera = self._open()
        self.reopens += 1
        log.info("virtual camera %s re-opened", self.device_name)

    def write(self, image: np.ndarray, frame: Frame | None = None) -> None:
        # A failed send is the loop's to handle (GuardedSink re-opens with back-off).
        if self._camera is None:
            raise DeviceError("virtual camera is closed")
        self._camera.send(fit_image(image, self.width, self.height))
        self.frames_written += 1

    def close(self) -> None:
        camera, self._camera = getattr(self, "_camera", None), None
        if camera is not None:
            camera.close()
