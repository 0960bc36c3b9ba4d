"""Video files as a source: probe (fps, exact frame count, size, audio) and
decode (PyAV, threaded) into RGB ``Frame``s.

The frame count is counted by demuxing (cheap: no decoding) rather than taken
from the container header, which is absent in some formats (mkv, webm, avi)
and can be wrong in others; ``vivicam render`` promises the driving clip's
frame count, so it has to be exact. Display rotation (phone videos) is
applied, so frames come out upright with the size ``probe_video`` reports.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vivicam.errors import InputError, short_reason
from vivicam.types import Frame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What a user would want to know about a video before using it.

    ``fps`` is ``rate`` as a float; ``rate`` is exact (e.g. 30000/1001) for
    writing a file with the same timing. ``width``/``height`` are as displayed
    (after the file's rotation, if any).
    """

    fps: float
    frame_count: int
    width: int
    height: int
    has_audio: bool
    duration_s: float
    rate: Fraction
    rotation: int = 0  # degrees counter-clockwise applied to decoded frames


def _error(path: Path, reason: str) -> InputError:
    return InputError(f"cannot use video {path}: {reason}")


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise _error(path, "file not found")
    if path.is_dir():
        raise _error(path, "this is a folder, not a video file")
    if path.stat().st_size == 0:
        raise _error(path, "the file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r")
    except PermissionError as e:
        raise _error(path, "permission denied (the file cannot be read)") from e
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise _error(
            path, f"not a readable video (not a video file, or damaged): {short_reason(e)}"
        ) from e


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _count_frames(container: av.container.InputContainer, stream_index: int) -> int:
    """Packets that decode to a shown frame (a flush packet has no data; a
    packet flagged 'discard' lies outside the file's edit list)."""
    stream = container.streams.video[stream_index]
    count = 0
    for packet in container.demux(stream):
        if packet.size > 0 and not packet.is_discard:
            count += 1
    return count


def _first_frame(container: av.container.InputContainer, stream_index: int) -> av.VideoFrame | None:
    container.seek(0)
    stream = container.streams.video[stream_index]
    for packet in container.demux(stream):
        try:
            for frame in packet.decode():
                return frame
        except av.error.FFmpegError:
            continue  # a damaged first packet: try the next ones
    return None


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's timing and size; ``InputError`` for anything that is not a
    playable video with at least one frame."""
    path = Path(path)
    container = _open(path)
    try:
        if not container.streams.video:
            if container.streams.audio:
                raise _error(path, "the file has sound but no video")
            raise _error(path, "the file contains no video frames")
        stream = container.streams.video[0]
        rate = _frame_rate(stream)
        if rate is None:
            raise _error(path, "the frame rate cannot be determined")
        try:
            count = _count_frames(container, 0)
            first = _first_frame(container, 0) if count else None
        except av.error.FFmpegError as e:
            raise _error(path, f"the file is damaged ({short_reason(e)})") from e
        if count == 0:
            raise _error(path, "the file contains no video frames")
        if first is None:
            raise _error(path, "no frame of the video can be decoded")
        rotation = _quarter_turns(first) * 90
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            fps=float(rate),
            frame_count=count,
            width=width,
            height=height,
            has_audio=bool(container.streams.audio),
            duration_s=float(count / rate),
            rate=rate,
            rotation=rotation,
        )
    finally:
        container.close()


def _quarter_turns(frame: av.VideoFrame) -> int:
    """Counter-clockwise quarter turns that make the frame upright."""
    try:
        angle = frame.rotation
    except (AttributeError, av.error.FFmpegError):
        return 0
    return int(round((angle or 0) / 90.0)) % 4


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded frame as an upright H×W×3 uint8 RGB array."""
    image = frame.to_ndarray(format="rgb24")
    turns = _quarter_turns(frame)
    if turns:
        image = np.ascontiguousarray(np.rot90(image, turns))
    return image


class VideoFileSource:
    """Frames of a video file, decoded with FFmpeg's own threads.

    ``loop=True`` starts again at the end (frame indices keep counting up).
    ``realtime=True`` hands frames out at the video's frame rate, like a camera;
    otherwise as fast as they are consumed. ``Frame.t_capture_ns`` is the moment
    the frame is handed out (right after decoding; after the pacing wait when
    ``realtime``, which is when a camera would have delivered it).
    """

    def __init__(self, path: str | os.PathLike[str], *, loop: bool = False,
                 realtime: bool = False) -> None:
        self.path = Path(path)
        self.info = probe_video(self.path)
        self.fps = self.info.fps
        self.loop = loop
        self.realtime = realtime
        self.decode_errors = 0  # damaged packets skipped so far
        self._closed = threading.Event()

    def __len__(self) -> int:
        return self.info.frame_count

    def frames(self) -> Iterator[Frame]:
        index = 0
        start = time.perf_counter()
        while not self._closed.is_set():
            produced = 0
            for decoded in self._decode_pass():
                image = frame_to_rgb(decoded)
                if self.realtime and not self._wait_until(start + index / self.fps):
                    return
                yield Frame(image=image, t_capture_ns=time.perf_counter_ns(), index=index)
                index += 1
                produced += 1
                if self._closed.is_set():
                    return
            if not self.loop or produced == 0:
                return

    def _wait_until(self, due: float) -> bool:
        """Sleep until ``due`` (perf_counter seconds); False if closed meanwhile."""
        delay = due - time.perf_counter()
        if delay > 0:
            return not self._closed.wait(delay)
        return not self._closed.is_set()

    def image_at(self, index: int) -> np.ndarray | None:
        """Frame ``index`` (counted as :meth:`frames` counts, from 0), or None
        past the end; the frames before it are decoded but not converted."""
        for i, decoded in enumerate(self._decode_pass()):
            if i == index:
                return frame_to_rgb(decoded)
        return None

    def _decode_pass(self) -> Iterator[av.VideoFrame]:
        try:
            container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, OSError) as e:
            raise _error(self.path, f"cannot be opened any more ({short_reason(e)})") from e
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for packet in container.demux(stream):
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as e:
                    # One damaged packet should not end a long render: skip it.
                    self.decode_errors += 1
                    log.warning("skipping a damaged packet in %s: %s", self.path, short_reason(e))
                    continue
                for frame in decoded:
                    yield frame
                    if self._closed.is_set():
                        return
        finally:
            container.close()

    def close(self) -> None:
        self._closed.set()

    def __enter__(self) -> "VideoFileSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
