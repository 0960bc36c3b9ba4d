"""The live loop: capture, track+render and output run concurrently.

Three threads joined by small queues that keep only the newest items
(latency beats completeness: a stale frame is dropped, and counted):

    capture ──[newest 1]──▶ track + render ──[newest 2]──▶ output (sinks, preview, keys)

Each frame carries its capture stamp, so the output thread measures
capture-to-output latency. Nothing a user does to the camera or their face
stops the loop: a lost face gives ``estimator.update(None, t)`` (hold, then
ease into idle), a camera that delivers nothing for ``stall_s`` makes the
render thread keep producing frames at the source's rate, and an error in one
step is logged, counted and skipped.
"""

from __future__ import annotations

import enum
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from vivicam.realtime.pipeline import AvatarCache, Pipeline
from vivicam.realtime.protocols import Sink, Source
from vivicam.realtime.stats import LoopStats
from vivicam.types import Frame

log = logging.getLogger(__name__)


class Command(enum.Enum):
    RECALIBRATE = "recalibrate"
    NEXT_AVATAR = "next avatar"
    PREVIOUS_AVATAR = "previous avatar"
    TOGGLE_PASSTHROUGH = "pause / passthrough"
    TOGGLE_STATS = "toggle stats overlay"
    QUIT = "quit"


# What the preview window's keys do (README's hotkey table is written from this).
HOTKEYS: dict[str, Command] = {
    "c": Command.RECALIBRATE,
    "n": Command.NEXT_AVATAR,
    "p": Command.PREVIOUS_AVATAR,
    " ": Command.TOGGLE_PASSTHROUGH,
    "space": Command.TOGGLE_PASSTHROUGH,
    "s": Command.TOGGLE_STATS,
    "q": Command.QUIT,
    "esc": Command.QUIT,
    "escape": Command.QUIT,
    "\x1b": Command.QUIT,
    "closed": Command.QUIT,  # the preview window was closed
}


@dataclass(frozen=True)
class LoopConfig:
    """How the loop trades completeness for latency.

    - ``capture_queue`` / ``output_queue``: how many frames may wait between
      stages (newest kept, older dropped).
    - ``stall_s``: no camera frame for this long counts as a stalled camera;
      the avatar then keeps moving (held, then idle motion).
    - ``stats_every_s``: period of the ``--stats`` status line (None: off).
    - ``overlay``: start with the stats overlay shown in the preview.
    - ``opencv_threads``: OpenCV's worker threads while the loop runs (None:
      the process's thread policy, :mod:`vivicam.threads`). The loop's stages already run in parallel; OpenCV
      pooling on top oversubscribes a laptop's few cores (on the 2-core build
      machine one OpenCV thread raised the top speed from 28–30 to 35–39 fps).
    """

    capture_queue: int = 1
    output_queue: int = 2
    stall_s: float = 0.5
    stats_every_s: float | None = None
    overlay: bool = False
    opencv_threads: int | None = None

    def __post_init__(self) -> None:
        if not (1 <= self.capture_queue <= 8 and 1 <= self.output_queue <= 8):
            raise ValueError("queue sizes must be 1..8")
        if self.stall_s <= 0:
            raise ValueError("stall_s must be positive")
        if self.opencv_threads is not None and self.opencv_threads < 1:
            raise ValueError("opencv_threads must be at least 1")

    def threads_for_opencv(self) -> int:
        if self.opencv_threads is not None:
            return self.opencv_threads
        from vivicam.threads import current

        return current().pool


class NewestQueue:
    """A bounded queue whose ``put`` never blocks: when full, the oldest item is
    dropped (and reported through ``on_drop``)."""

    def __init__(self, maxsize: int, on_drop: Callable[[], None] | None = None) -> None:
        self._q: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._on_drop = on_drop
        self._lock = threading.Lock()

    def put(self, item: Any) -> None:
        with self._lock:
            while True:
                try:
                    self._q.put_nowait(item)
                    return
                except queue.Full:
                    try:
                        self._q.get_nowait()
                        if self._on_drop is not None:
                            self._on_drop()
                    except queue.Empty:
                        pass

    def put_last(self, item: Any, stop: threading.Event) -> None:
        """Queue an end marker without evicting the newest real item: wait for
        room (the consumer is draining) unless the loop is stopping."""
        while not stop.is_set():
            try:
                self._q.put_nowait(item)
                return
            except queue.Full:
                stop.wait(0.005)

    def get(self, timeout: float) -> Any:
        """The oldest waiting item; raises ``queue.Empty`` after ``timeout`` s."""
        return self._q.get(timeout=timeout)

    def qsize(self) -> int:
        return self._q.qsize()


class _End:
    """End-of-stream marker passed down the queues."""


_END = _End()


@dataclass(frozen=True, eq=False)
class _Output:
    image: np.ndarray
    frame: Frame
    t_capture_ns: int | None  # None for frames made while the camera was stalled
    passthrough: bool = False


class AvatarSwitcher:
    """Next/previous avatar among a list of photos (hotkeys n/p); photos are
    prepared in the background through an :class:`AvatarCache`, so the
    current avatar keeps moving while a new one is prepared."""

    def __init__(self, paths: Sequence[str | Path], cache: AvatarCache, index: int = 0) -> None:
        if not paths:
            raise ValueError("AvatarSwitcher needs at least one photo")
        self.paths = [Path(p) for p in paths]
        self.cache = cache
        self.index = index % len(self.paths)

    @property
    def current(self) -> Path:
        return self.paths[self.index]

    def step(self, delta: int) -> Path:
        self.index = (self.index + delta) % len(self.paths)
        return self.current


class LiveLoop:
    """Runs ``source`` → ``pipeline`` → ``sinks`` until the source ends, ``quit``,
    ``stop()``, Ctrl-C, ``max_frames`` or ``duration_s``.

    ``preview`` (a PreviewSink or anything with ``write`` and ``poll_key``)
    gets the output with the optional stats overlay and supplies hotkeys;
    overlay text never reaches the other sinks. ``on_status`` receives the
    periodic stats line and short notices (the CLI prints them).
    """

    def __init__(
        self,
        source: Source,
        pipeline: Pipeline,
        sinks: Iterable[Sink] = (),
        *,
        preview: Any = None,
        avatars: AvatarSwitcher | None = None,
        config: LoopConfig = LoopConfig(),
        on_status: Callable[[str], None] | None = None,
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.sinks = list(sinks)
        self.preview = preview
        self.avatars = avatars
        self.config = config
        self.stats: LoopStats = pipeline.stats
        self.on_status = on_status or (lambda text: log.info("%s", text))
        self.passthrough = False
        self.show_overlay = config.overlay
        self._stop = threading.Event()
        self._source_ended = threading.Event()
        self._commands: queue.Queue[Any] = queue.Queue()
        self._in = NewestQueue(config.capture_queue, lambda: self.stats.drop("capture"))
        self._out = NewestQueue(config.output_queue, lambda: self.stats.drop("output"))
        self._to_preview = NewestQueue(1)  # the preview skips frames rather than slow the output
        self._max_frames: int | None = None
        self._errors_logged = 0
        self._preparing: threading.Thread | None = None

    # -- control (thread-safe) -------------------------------------------------
    def send(self, command: Command) -> None:
        """Ask the loop to do something (what a hotkey does)."""
        if command is Command.QUIT:
            self.stop()
        elif command is Command.TOGGLE_STATS:
            self.show_overlay = not self.show_overlay
        else:
            self._commands.put(command)

    def key(self, key: str | None) -> None:
        """A key from the preview window (ignored when it means nothing)."""
        if key is None:
            return
        command = HOTKEYS.get(key.lower() if len(key) > 1 else key)
        if command is not None:
            self.send(command)

    def stop(self) -> None:
        self._stop.set()

    # -- running ---------------------------------------------------------------
    def run(self, *, max_frames: int | None = None, duration_s: float | None = None) -> dict[str, Any]:
        """Run until done; returns :meth:`LoopStats.summary` (plus the loop's notes)."""
        self._max_frames = max_frames
        opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(self.config.threads_for_opencv())
        threads = [
            threading.Thread(target=self._capture, name="vivicam-capture", daemon=True),
            threading.Thread(target=self._process, name="vivicam-render", daemon=True),
            threading.Thread(target=self._output, name="vivicam-output", daemon=True),
        ]
        for t in threads:
            t.start()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        try:
            # The preview window lives on this (the main) thread: macOS and Qt
            # want GUI calls there. Without a preview this only waits.
            while threads[2].is_alive():
                if self.preview is not None:
                    self._show_preview()
                else:
                    threads[2].join(timeout=0.1)
                if deadline is not None and time.monotonic() >= deadline:
                    self.stop()
        except KeyboardInterrupt:
            self.on_status("interrupted; stopping")
        finally:
            self.stop()
            for t in threads[1:]:
                t.join(timeout=3.0)
                if t.is_alive():
                    log.warning("thread %s did not stop within 3 s", t.name)
            # The capture thread may sit in a camera read that only the
            # source's close() ends (the caller closes it next); not waited for.
            threads[0].join(timeout=0.5)
            cv2.setNumThreads(opencv_threads)
        summary = self.stats.summary()
        summary["passthrough_at_exit"] = self.passthrough
        return summary

    def _capture(self) -> None:
        """Newest camera frame into the first queue; a failing source is retried."""
        backoff = 0.2
        while not self._stop.is_set():
            try:
                for frame in self.source.frames():
                    if self._stop.is_set():
                        return
                    self._in.put(frame)
                    backoff = 0.2
                self._source_ended.set()
                self._in.put_last(_END, self._stop)
                return
            except Exception as exc:  # the loop survives a failing camera
                self.stats.count("source errors")
                self._log_error("source", exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 2.0)

    def _process(self) -> None:
        """Track + motion + render each newest frame; keep the avatar alive when
        the camera stalls."""
        stalled = False
        period = 1.0 / max(float(getattr(self.source, "fps", 30) or 30), 1.0)
        try:
            while not self._stop.is_set():
                try:
                    self._apply_commands()
                except Exception as exc:  # e.g. a failing recalibration: keep rendering
                    self.stats.count("command errors")
                    self._log_error("hotkey", exc)
                try:
                    item = self._in.get(timeout=period if stalled else self.config.stall_s)
                except queue.Empty:
                    if self._source_ended.is_set():
                        return
                    if not stalled:
                        self.stats.count("camera stalls")
                        self.on_status("no camera frame; the avatar keeps moving until it returns")
                    stalled = True
                    self._render_without_frame()
                    continue
                if isinstance(item, _End):
                    return
                stalled = False
                self._render_frame(item)
        finally:
            self._out.put_last(_END, self._stop)

    def _render_frame(self, frame: Frame) -> None:
        try:
            if self.passthrough:
                self._out.put(_Output(self.pipeline.passthrough(frame), frame, frame.t_capture_ns, True))
                return
            result = self.pipeline.step(frame)
            self._out.put(_Output(result.image, frame, frame.t_capture_ns))
        except Exception as exc:  # a bad frame is skipped, never fatal
            self.stats.count("step errors")
            self._log_error("frame", exc)

    def _render_without_frame(self) -> None:
        now = time.perf_counter_ns()
        try:
            result = self.pipeline.step_without_frame(now / 1e9)
            self.stats.count("frames without camera")
            self._out.put(_Output(result.image, Frame(result.image, now, -1), None))
        except Exception as exc:
            self.stats.count("step errors")
            self._log_error("idle frame", exc)

    def _output(self) -> None:
        """Write to sinks, measure latency, feed the preview and read its keys."""
        next_line = (
            time.monotonic() + self.config.stats_every_s if self.config.stats_every_s else None
        )
        while True:
            try:
                item = self._out.get(timeout=0.1)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if isinstance(item, _End):
                return
            self._write(item)
            if self._max_frames is not None and self.stats.frames_out >= self._max_frames:
                self.stop()
            if next_line is not None and time.monotonic() >= next_line:
                self.on_status(self.stats.line())
                next_line = time.monotonic() + float(self.config.stats_every_s or 1.0)

    def _write(self, out: _Output) -> None:
        with self.stats.time("sink"):
            for sink in self.sinks:
                try:
                    sink.write(out.image, out.frame)
                except Exception as exc:  # e.g. the virtual camera was taken away
                    self.stats.count("sink errors")
                    self._log_error(type(sink).__name__, exc)
        self.stats.frame_out(out.t_capture_ns)
        if self.preview is not None:
            self._to_preview.put(out)

    def _show_preview(self) -> None:
        """Show the newest output (overlay drawn here, on the preview only) and
        read the window's keys; called on the main thread."""
        try:
            out = self._to_preview.get(timeout=0.02)
        except queue.Empty:
            out = None
        try:
            if out is not None:
                prompt = getattr(self.pipeline.estimator, "calibration_prompt", None)  # e.g. "Hold still, …"
                shown = self._overlay(out) if (self.show_overlay or out.passthrough or prompt) else out.image
                self.preview.write(shown, out.frame)
            self.key(self.preview.poll_key())
        except Exception as exc:  # a broken window never stops the loop
            self.stats.count("preview errors")
            self._log_error("preview", exc)

    def _overlay(self, out: _Output) -> np.ndarray:
        lines = ["PASSTHROUGH (space: avatar)"] if out.passthrough else []
        prompt = getattr(self.pipeline.estimator, "calibration_prompt", None)
        lines += [prompt] if prompt else []
        if self.show_overlay:
            lines += self.stats.overlay_lines()
        shown = draw_text(out.image, lines)
        camera = out.frame
        if self.show_overlay and not out.passthrough and camera.index >= 0 and camera.motion is None:
            shown = draw_inset(shown, camera.image)  # what the tracker sees, bottom right
        return shown

    # -- commands ----------------------------------------------------------------
    def _apply_commands(self) -> None:
        """Commands that touch the pipeline run here, in the render thread."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            if command is Command.RECALIBRATE:
                self.pipeline.recalibrate()
                self.on_status("recalibrating: look at the camera with a neutral face")
            elif command is Command.TOGGLE_PASSTHROUGH:
                self.passthrough = not self.passthrough
                self.on_status("passthrough on" if self.passthrough else "avatar on")
            elif command in (Command.NEXT_AVATAR, Command.PREVIOUS_AVATAR):
                self._switch_avatar(1 if command is Command.NEXT_AVATAR else -1)
            elif isinstance(command, tuple) and command[0] == "avatar-ready":
                self.pipeline.set_avatar(command[1])
                self.on_status(f"avatar: {command[2]}")

    def _switch_avatar(self, delta: int) -> None:
        if self.avatars is None or len(self.avatars.paths) < 2:
            self.on_status("no other avatars (give --avatar a folder to switch with n/p)")
            return
        if self._preparing is not None and self._preparing.is_alive():
            return  # one preparation at a time; the key press is ignored
        path = self.avatars.step(delta)

        def prepare() -> None:
            try:
                state = self.avatars.cache.get(path)  # type: ignore[union-attr]
                self._commands.put(("avatar-ready", state, path.name))
            except Exception as exc:  # e.g. no face in that photo: keep the current one
                self.on_status(f"skipping {path.name}: {exc}")

        self._preparing = threading.Thread(target=prepare, name="vivicam-prepare", daemon=True)
        self._preparing.start()

    def _log_error(self, where: str, exc: BaseException) -> None:
        # The first few with a traceback in the debug log, then only counted.
        self._errors_logged += 1
        if self._errors_logged <= 5:
            log.warning("%s failed (%s: %s); continuing", where, type(exc).__name__, exc)
            log.debug("details", exc_info=exc)


def draw_text(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """A copy of ``image`` with ``lines`` in the top-left corner on a dark band."""
    out = image.copy()
    if not lines:
        return out
    scale = max(0.4, min(out.shape[1], out.shape[0]) / 900)
    step = int(22 * scale / 0.5)
    width = int(max(len(line) for line in lines) * 10 * scale / 0.5)
    band_h = step * len(lines) + 8
    out[:band_h, : min(width, out.shape[1])] //= 3
    for i, line in enumerate(lines):
        cv2.putText(
            out, line, (6, step * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA
        )
    return out


def draw_inset(image: np.ndarray, inset: np.ndarray, *, fraction: float = 0.25) -> np.ndarray:
    """``image`` (modified in place and returned) with ``inset`` scaled to
    ``fraction`` of its width in the bottom-right corner, framed."""
    h, w = image.shape[:2]
    iw = max(8, int(w * fraction))
    ih = max(8, int(inset.shape[0] * iw / max(inset.shape[1], 1)))
    if ih >= h or iw >= w:
        return image
    small = cv2.resize(inset, (iw, ih), interpolation=cv2.INTER_AREA)
    y0, x0 = h - ih - 4, w - iw - 4
    image[y0 - 1 : y0 + ih + 1, x0 - 1 : x0 + iw + 1] = 255
    image[y0 : y0 + ih, x0 : x0 + iw] = small
    return image
