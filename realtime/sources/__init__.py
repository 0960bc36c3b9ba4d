"""Frame sources: webcam, video file, image folder, procedural idle driver.

``open_source(spec)`` picks one from what the user typed. Each source module
is imported only when used (the webcam pulls in OpenCV, video PyAV)."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

from vivicam.errors import InputError
from vivicam.realtime.protocols import Source

__all__ = ["open_source"]


def _accepted(cls: type, opts: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls).parameters
    return {k: v for k, v in opts.items() if k in params}


def open_source(spec: str | int | os.PathLike[str], **opts: Any) -> Source:
    """A source from a user's spec:

    - ``"idle"`` → ``IdleSource`` (procedural motion, no camera);
    - ``0`` / ``"0"`` / ``"/dev/video2"`` → ``WebcamSource``;
    - an existing folder → ``ImageFolderSource``;
    - an existing file → ``VideoFileSource``.

    ``opts`` are handed to the chosen source's constructor; options that
    source does not take are ignored (so one call can carry e.g. ``width``,
    ``height``, ``fps``, ``realtime`` and ``loop`` for whichever source the
    user picks). Errors are ``InputError``/``DeviceError`` one-liners.
    """
    if isinstance(spec, bool):
        raise InputError(f"cannot use source {spec!r}")
    text = str(spec).strip() if not isinstance(spec, int) else str(spec)
    if text.lower() == "idle":
        from .idle import IdleSource

        return IdleSource(**_accepted(IdleSource, opts))
    path = Path(text)
    is_device_path = bool(re.fullmatch(r"/dev/video\d+", text))
    if text.isdigit() or is_device_path:
        from .webcam import WebcamSource

        return WebcamSource(text, **_accepted(WebcamSource, opts))
    if path.is_dir():
        from .folder import ImageFolderSource

        return ImageFolderSource(path, **_accepted(ImageFolderSource, opts))
    if path.exists():
        from .video import VideoFileSource

        return VideoFileSource(path, **_accepted(VideoFileSource, opts))
    raise InputError(
        f"cannot use source {text}: not found (expected a camera index like 0, "
        "a device like /dev/video0, a video file, an image folder or 'idle')"
    )
