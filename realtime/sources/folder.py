"""A folder of images: the list of avatars to step through, or a slideshow
source of frames."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Iterator

from vivicam.errors import InputError
from vivicam.types import Frame

from .photo import load_photo

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})


def _natural_key(path: Path) -> list[object]:
    """'img2' before 'img10', case-insensitive: the order a file browser shows."""
    return [int(part) if part.isdigit() else part.lower()
            for part in re.split(r"(\d+)", path.name)]


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files (by extension) directly in ``folder``, in natural name order;
    hidden files skipped. ``InputError`` if the folder does not exist."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"cannot use folder {folder}: not found")
    if not folder.is_dir():
        raise InputError(f"cannot use folder {folder}: not a folder")
    images = [
        p for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file()
    ]
    return sorted(images, key=_natural_key)


class ImageFolderSource:
    """Each image of a folder as one frame, at ``fps`` (``realtime=True``) or as
    fast as consumed. Images that cannot be read are skipped with a warning,
    so one bad file does not end the stream; a folder with no images at all is
    an ``InputError`` at construction."""

    def __init__(self, path: str | os.PathLike[str], fps: float = 25, *, loop: bool = False,
                 realtime: bool = False, max_side: int = 2048) -> None:
        self.path = Path(path)
        self.images = list_images(self.path)
        if not self.images:
            raise InputError(
                f"cannot use folder {self.path}: no images in it "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        if fps <= 0:
            raise InputError(f"cannot use folder {self.path}: fps must be positive, got {fps}")
        self.fps = float(fps)
        self.loop = loop
        self.realtime = realtime
        self.max_side = max_side
        self.skipped: list[Path] = []
        self._closed = threading.Event()

    def frames(self) -> Iterator[Frame]:
        index = 0
        start = time.perf_counter()
        while not self._closed.is_set():
            produced = 0
            for path in self.images:
                try:
                    image = load_photo(path, max_side=self.max_side)
                except InputError as e:
                    if path not in self.skipped:
                        self.skipped.append(path)
                        log.warning("skipping %s", e)
                    continue
                if self.realtime:
                    delay = start + index / self.fps - time.perf_counter()
                    if delay > 0 and self._closed.wait(delay):
                        return
                if self._closed.is_set():
                    return
                yield Frame(image=image, t_capture_ns=time.perf_counter_ns(), index=index)
                index += 1
                produced += 1
            if not self.loop or produced == 0:
                return

    def close(self) -> None:
        self._closed.set()

    def __enter__(self) -> "ImageFolderSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
