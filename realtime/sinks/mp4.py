"""Write frames to an H.264 mp4 (PyAV), with exact timing and, optionally, the
driving video's sound.

Frame ``n`` gets pts ``n`` in a time base of ``1/fps``, so the file's frame
rate and duration are exact (a render of a 30000/1001 fps clip stays
30000/1001). The file is written under a temporary name beside the target,
unique to this writer, and renamed on ``close()``: an existing file of that
name is only replaced by a complete video, a crash leaves no half-written file
under the user's name, and two writers of one target never mix their frames.

A live recording (``recording=True``) is different in what it keeps: what was
recorded is the user's, so it is kept — finalised and renamed into place —
when the run is interrupted, when another part fails, and when a write fails
(a full disk): the error is logged when it happens, raised once, and the
recording stops there with its path said (``failure``).
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vivicam.errors import InputError, short_reason
from vivicam.paths import same_file, temp_beside
from vivicam.types import Frame

from .base import SinkBase, fit_image

log = logging.getLogger(__name__)

# H.264 settings of every video vivicam writes (renders and recordings).
# CRF 18 is visually lossless for a still picture; in moving frames x264's
# default inter-block deadzone (21) zeroes the small coefficients that carry
# fine texture — skin grain, a painting's craquelure — so a talking face came
# out smoother than the photo (steadiness benchmark, s8 painting: detail in
# motion 0.58 of the photo's through the encoder against 0.85 before it).
# A deadzone of 6 keeps it (0.73) for ~40 % more bytes, with no change to the
# still picture's look (rest detail stays within 1.1 of the photo's) or to
# the encoding time.
CRF = 18
PRESET = "veryfast"
X264_PARAMS = "deadzone-inter=6"

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio codecs the container takes as they are; anything else becomes AAC.
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "alac", "ac3", "eac3"},
    "mov": {"aac", "mp3", "alac", "ac3", "eac3", "pcm_s16le"},
    "matroska": {"aac", "mp3", "opus", "vorbis", "flac", "ac3", "eac3", "alac", "pcm_s16le"},
}


def as_rate(fps: float | Fraction | int) -> Fraction:
    """A frame rate as an exact fraction: 29.97002997 → 30000/1001, 25 → 25."""
    if isinstance(fps, Fraction):
        rate = fps
    else:
        rate = Fraction(float(fps)).limit_denominator(1001)
    if rate <= 0:
        raise InputError(f"cannot write video: frame rate must be positive, got {fps}")
    return rate


def _error(path: Path, reason: str) -> InputError:
    return InputError(f"cannot write {path}: {reason}")


def check_output_path(path: Path, *, protect: Path | None = None) -> str:
    """Raise ``InputError`` unless a video can be written at ``path``; return
    the container format. ``protect`` is an input that must not be overwritten."""
    container_format = _FORMATS.get(path.suffix.lower())
    if container_format is None:
        raise _error(path, "the name must end in .mp4, .mov or .mkv")
    if path.is_dir():
        raise _error(path, "this is a folder; give a file name like out.mp4")
    parent = path.parent
    if not parent.exists():
        raise _error(path, f"the folder {parent} does not exist")
    if not parent.is_dir():
        raise _error(path, f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise _error(path, f"the folder {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise _error(path, "the existing file is read-only")
    if protect is not None and same_file(path, protect):
        raise _error(path, "that is the input video itself; choose another output name")
    return container_format


class Mp4Sink(SinkBase):
    """H.264 (yuv420p) video of ``size`` = (width, height) at ``fps``.

    Odd sizes lose their last row/column (yuv420p needs even sizes); images of
    another size are resized to ``size``. ``audio_from``: a video whose first
    audio track is copied into the output (or transcoded to AAC when the
    container cannot hold its codec) and cut at the end of the written video.
    ``recording``: a live recording (see the module docstring): written as
    fragmented MP4/MOV, so even a file whose end could not be written plays
    up to its last fragment. ``InputError`` at construction when the file
    cannot be written.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float | Fraction, size: tuple[int, int],
                 *, audio_from: str | os.PathLike[str] | None = None, crf: int = CRF,
                 preset: str = PRESET, recording: bool = False) -> None:
        self.path = Path(path)
        self.rate = as_rate(fps)
        self.fps = float(self.rate)
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 2:
            raise _error(self.path, f"the video size {self.size[0]}×{self.size[1]} is too small")
        self.width, self.height = self.size[0] // 2 * 2, self.size[1] // 2 * 2
        audio_path = Path(audio_from) if audio_from is not None else None
        container_format = check_output_path(self.path, protect=audio_path)
        self.recording = recording
        self.failure: str | None = None  # why a recording stopped early
        self._partial: Path | None = None
        try:
            # Created now (PyAV would only create it on the first frame), so an
            # unwritable place is reported here, not mid-render.
            self._partial = temp_beside(self.path)
            fragments = recording and container_format in ("mp4", "mov")
            # A fragment at least every second, on disk when complete: a
            # recording whose end cannot be written (a full disk, a crash)
            # loses at most about that much.
            options = ({"movflags": "frag_keyframe+empty_moov+default_base_moof", "frag_duration": "1000000",
                        "flush_packets": "1"} if fragments else {})
            self._out = av.open(str(self._partial), mode="w", format=container_format, options=options)
        except (OSError, av.error.FFmpegError) as e:
            if self._partial is not None:
                self._partial.unlink(missing_ok=True)
            raise _error(self.path, f"the file cannot be created ({short_reason(e)})") from e
        self.frames_written = 0
        self._closed = False
        try:
            self._video = self._add_video_stream(crf, preset)
            self._audio = (_AudioTrack(self._out, audio_path, container_format)
                           if audio_path is not None else None)
        except BaseException:
            self._abort()
            raise

    def _add_video_stream(self, crf: int, preset: str) -> av.video.stream.VideoStream:
        time_base = self._time_base = Fraction(1) / self.rate
        try:
            stream = self._out.add_stream("libx264", rate=self.rate,
                                          options={"crf": str(crf), "preset": preset,
                                                   "x264-params": X264_PARAMS})
        except (av.error.FFmpegError, ValueError) as e:  # an FFmpeg build without x264
            log.warning("libx264 is not available (%s); writing MPEG-4 Part 2 instead", e)
            stream = self._out.add_stream("mpeg4", rate=self.rate, options={"qscale": "3"})
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        # Say which colour matrix the RGB→YUV conversion used (FFmpeg's default,
        # BT.601, limited range): untagged HD video is shown as BT.709 by most
        # players, which would shift skin tones.
        context = stream.codec_context
        context.colorspace = 6  # AVCOL_SPC_SMPTE170M (BT.601)
        context.color_primaries = 6  # AVCOL_PRI_SMPTE170M
        context.color_trc = 6  # AVCOL_TRC_SMPTE170M
        context.color_range = 1  # AVCOL_RANGE_MPEG (limited)
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        return stream

    @property
    def has_audio(self) -> bool:
        return self._audio is not None and self._audio.present

    def write(self, image: np.ndarray, frame: Frame | None = None) -> None:
        if self._closed:
            if self.failure is not None:
                return  # the recording stopped and said so when it happened
            raise _error(self.path, "the video is already closed")
        image = fit_image(image, *self.size)[: self.height, : self.width]
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        video_frame.pts = self.frames_written
        # Not self._video.time_base: the muxer replaces that once writing starts.
        video_frame.time_base = self._time_base
        try:
            self._out.mux(self._video.encode(video_frame))
            self.frames_written += 1
            if self._audio is not None:
                self._audio.mux_until(self.frames_written / self.rate)
        except (OSError, av.error.FFmpegError) as e:  # e.g. the disk is full
            if not self.recording:
                raise _error(self.path, short_reason(e)) from e
            self._stop_recording(short_reason(e))
            raise _error(self.path, self.failure or short_reason(e)) from e

    def _stop_recording(self, reason: str) -> None:
        """Keep what a recording has so far, under its name, and say so."""
        seconds = self.frames_written / self.fps
        self._finish()
        kept = f"the first {seconds:.1f} s are in {self.path}" if self.frames_written else "nothing was kept"
        self.failure = f"the recording stopped after {seconds:.1f} s ({reason}); {kept}"
        log.error("%s", self.failure)

    def _finish(self) -> None:
        """Best-effort end of a recording cut short: flush and close what can
        be, then rename it into place (a fragmented file plays up to its last
        fragment even when its end could not be written)."""
        self._closed = True
        if self.frames_written == 0:
            self._abort()
            return
        try:
            self._out.mux(self._video.encode())
            self._out.close()
        except (OSError, av.error.FFmpegError) as e:
            log.warning("could not finish %s cleanly (%s); keeping what was written", self.path, short_reason(e))
            try:
                self._out.close()
            except (OSError, av.error.FFmpegError):
                pass
        try:
            os.replace(self._partial, self.path)
        except OSError as e:
            log.error("could not rename the recording (%s); it is in %s", short_reason(e), self._partial)
            self.path = self._partial

    def close(self) -> None:
        """Finish the file and give it its name (nothing is kept if no frame was
        written)."""
        if self._closed:
            return
        if self.frames_written == 0:
            log.warning("no frames were written; %s was not created", self.path)
            self._abort()
            return
        if self.recording:
            self._finish()
            return
        self._closed = True
        try:
            self._out.mux(self._video.encode())
            if self._audio is not None:
                self._audio.finish(Fraction(self.frames_written) / self.rate)
            self._out.close()
            os.replace(self._partial, self.path)
        except (OSError, av.error.FFmpegError) as e:
            self._abort()
            raise _error(self.path, short_reason(e)) from e

    def discard(self) -> None:
        """Stop without keeping anything: the target file stays as it was."""
        if not self._closed:
            self._abort()

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        # A render that failed or was interrupted half-way must not replace
        # the previous file with a short video; a recording keeps what it has.
        if exc_type is None:
            self.close()
        elif not self.recording:
            self.discard()
        elif not self._closed:
            self._finish()

    def _abort(self) -> None:
        self._closed = True
        for closer in (getattr(self, "_audio", None), self._out):
            try:
                if closer is not None:
                    closer.close()
            except Exception as e:  # already failing: keep the first error
                log.debug("while abandoning %s: %s", self.path, e)
        if self._partial is not None:
            self._partial.unlink(missing_ok=True)


class _AudioTrack:
    """Copies (or transcodes to AAC) the first audio track of ``source`` into
    ``out``, interleaved with the video as it is written."""

    def __init__(self, out: av.container.OutputContainer, source: Path,
                 container_format: str) -> None:
        self.active = False  # still muxing
        self.present = False  # the output gets a sound track
        try:
            self._in = av.open(str(source), mode="r")
        except (OSError, av.error.FFmpegError) as e:
            raise InputError(f"cannot read the sound of {source}: {short_reason(e)}") from e
        if not self._in.streams.audio:
            log.info("%s has no sound; the output will be silent", source)
            self._in.close()
            return
        audio = self._in.streams.audio[0]
        self._copy = audio.codec_context.name in _COPYABLE_AUDIO[container_format]
        if self._copy:
            self._stream = out.add_stream_from_template(audio)
        else:
            self._stream = out.add_stream("aac", rate=audio.rate or 48000)
            channels = audio.layout.nb_channels if audio.layout else 2
            # AAC wants a named layout; FFmpeg's "2 channels" (unordered) is not one.
            self._stream.layout = "mono" if channels == 1 else "stereo"
            self._samples_out: int | None = None  # next output pts, in samples
        # Sound stays in sync with the video it came with: time 0 of the output
        # is the first video frame of the source.
        video = self._in.streams.video[0] if self._in.streams.video else None
        start = video.start_time if video is not None and video.start_time else 0
        self._offset_s = float(start * video.time_base) if video is not None else 0.0
        self._packets = self._in.demux(audio)
        self._next: av.Packet | None = None
        self._exhausted = False
        self.active = self.present = True

    def _time(self, packet: av.Packet) -> float | None:
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.time_base is None:
            return None
        return float(stamp * packet.time_base) - self._offset_s

    def _shift(self, stamp: int | None, time_base: Fraction) -> int | None:
        return None if stamp is None else stamp - round(self._offset_s / time_base)

    def mux_until(self, t_s: float | Fraction) -> None:
        """Mux every packet that starts before ``t_s`` seconds of output."""
        if not self.active:
            return
        try:
            while not self._exhausted:
                if self._next is None:
                    self._next = next(self._packets, None)
                    if self._next is None:
                        self._exhausted = True
                        break
                    if self._next.size == 0 or self._time(self._next) is None:
                        self._next = None
                        continue
                if self._time(self._next) >= float(t_s):
                    break
                self._mux(self._next)
                self._next = None
        except av.error.FFmpegError as e:  # damaged sound must not cost the video
            log.warning("the sound stops here: %s", short_reason(e))
            self._exhausted = True

    def _mux(self, packet: av.Packet) -> None:
        out = self._stream.container
        if self._copy:
            packet.pts = self._shift(packet.pts, packet.time_base)
            packet.dts = self._shift(packet.dts, packet.time_base)
            packet.stream = self._stream
            out.mux(packet)
            return
        for frame in packet.decode():
            # Re-stamp in samples: a gap-free count the AAC encoder accepts, starting
            # where the source's sound starts relative to its first video frame.
            if self._samples_out is None:
                start_s = self._time(packet) or 0.0
                self._samples_out = max(0, round(start_s * frame.sample_rate))
            frame.pts = self._samples_out
            frame.time_base = Fraction(1, frame.sample_rate)
            self._samples_out += frame.samples
            out.mux(self._stream.encode(frame))

    def finish(self, end_s: float | Fraction) -> None:
        """Mux the rest of the sound up to the end of the video, then flush."""
        if not self.active:
            return
        self.mux_until(end_s)
        if not self._copy:
            self._stream.container.mux(self._stream.encode(None))
        self.close()

    def close(self) -> None:
        if self.active:
            self.active = False
            self._in.close()
