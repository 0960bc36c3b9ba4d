"""A driving video decoded once for the two passes of ``vivicam render``.

The render first scans the driver's opening frames (the ``--neutral``
pre-pass), then renders every frame. :class:`ReplayableVideo` decodes on a
thread of its own, a few frames ahead of whoever reads (decoding overlaps
the pre-pass's tracking), and keeps the frames the pre-pass read while they
fit in ``keep_bytes``: :meth:`replay` then hands those out again from
memory and goes on with the same decoder, so no frame is decoded twice.
A pre-pass that read more than fits is replayed by decoding again from the
start (what the render did before). The frames are the same either way.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vivicam.realtime.sources.video import VideoFileSource
from vivicam.types import Frame

KEEP_BYTES = 256 * 2**20  # a 300-frame 512² clip (236 MB) fits; longer or larger clips decode again
AHEAD = 4  # frames decoded ahead of the reader
_WAIT_S = 0.1
_END = object()


class ReplayableVideo:
    """``frames()`` (the pre-pass: read as far as it likes), then ``replay()``
    (the whole video from frame 0), then ``close()``."""

    def __init__(self, path: str | Path, *, keep_bytes: int = KEEP_BYTES) -> None:
        self.path = Path(path)
        self._source = VideoFileSource(self.path)
        self.info = self._source.info
        self._keep_bytes = keep_bytes
        self._kept: deque[Frame] | None = deque()  # None: more was read than fits
        self._bytes = 0
        self._ahead: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, name="vivicam-prepass-decode", daemon=True)
        self._thread.start()
        self._fresh: VideoFileSource | None = None

    def frames(self) -> Iterator[Frame]:
        """The video from its start, decoded ahead; each frame read is kept (within the budget)."""
        for frame in self._decoded():
            self._keep(frame)
            yield frame

    def image_at(self, index: int) -> np.ndarray | None:
        """A frame the pre-pass read, from memory; else decoded again."""
        if self._kept is not None:
            for frame in self._kept:
                if frame.index == index:
                    return frame.image
        source = VideoFileSource(self.path)
        try:
            return source.image_at(index)
        finally:
            source.close()

    def replay(self) -> Iterator[Frame]:
        """Every frame from the start: the kept ones (released as they go),
        then the rest from the same decoder."""
        if self._kept is None:  # too much was read to keep: decode again
            self._stop_decoding()
            self._fresh = VideoFileSource(self.path)
            yield from self._fresh.frames()
            return
        while self._kept:
            yield self._kept.popleft()
        yield from self._decoded()

    def close(self) -> None:
        self._stop_decoding()
        if self._fresh is not None:
            self._fresh.close()
        self._kept = None

    def __enter__(self) -> "ReplayableVideo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the decoding thread -------------------------------------------------------
    def _keep(self, frame: Frame) -> None:
        if self._kept is None:
            return
        self._bytes += frame.image.nbytes
        if self._bytes > self._keep_bytes:
            self._kept = None  # replay decodes again rather than hold more
            return
        self._kept.append(frame)

    def _decoded(self) -> Iterator[Frame]:
        while True:
            try:
                item = self._ahead.get(timeout=_WAIT_S)
            except queue.Empty:
                if not self._thread.is_alive() and self._ahead.empty():
                    return
                continue
            if item is _END:
                self._ahead.put(_END)  # later readers see the end too
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _decode(self) -> None:
        try:
            for frame in self._source.frames():
                if not self._put(frame):
                    return
            self._put(_END)
        except Exception as exc:  # a damaged video: the reader raises it
            self._put(exc)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._ahead.put(item, timeout=_WAIT_S)
                return True
            except queue.Full:
                continue
        return False

    def _stop_decoding(self) -> None:
        self._stop.set()
        self._source.close()
        self._thread.join()
