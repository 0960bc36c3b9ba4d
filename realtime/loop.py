"""The live loop: capture, motion, render and output run concurrently.

Four threads joined by small newest-wins queues (latency beats completeness:
a stale item is dropped, and counted):

    capture ─[newest 1]─▶ motion (track, flow, estimator) ─[newest 1]─▶ render (engine, post)
        ─[newest 2]─▶ output (sinks, stats line, preview)

Tracking frame N+1 overlaps rendering frame N (MediaPipe, OpenCV and NumPy
release the GIL), so the loop's top speed is set by its slowest stage, not by
their sum; a camera frame's latency stays the sum of its own stages.

Each frame carries its capture stamp, so the output thread measures
capture-to-output latency. Nothing a user does to the camera or their face
stops the loop: a lost face gives ``estimator.update(None, t)`` (hold, then
ease into idle); a camera frame that is late is not waited for: in-between
frames keep the output rate, and after ``stall_s`` the avatar eases into idle
motion. Every thread runs inside one :class:`~vivicam.realtime.guard.LoopGuard`:
a bad frame is survived and counted per kind; a dead thread, a sink that
stays down, an engine that keeps failing or a status callback that raises
stops the loop, and ``run()`` raises :class:`~vivicam.realtime.guard.LoopError`
with the reason. All timing goes through an injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import cv2
import numpy as np

from vivicam.realtime.clock import Clock, SystemClock
from vivicam.realtime.guard import LoopError, LoopGuard
from vivicam.realtime.loop_stages import Output, StageRunner
from vivicam.realtime.loop_state import HOTKEYS, Command, LoopConfig, LoopState
from vivicam.realtime.overlay import draw_inset, draw_text
from vivicam.realtime.pipeline import AvatarCache, Pipeline
from vivicam.realtime.protocols import Sink, Source
from vivicam.realtime.queues import END, DropPolicy, Empty, FrameQueue
from vivicam.realtime.sink_guard import GuardedSink
from vivicam.realtime.stats import LoopStats

__all__ = [
    "HOTKEYS", "AvatarSwitcher", "Command", "LiveLoop", "LoopConfig", "LoopError", "LoopState",
    "draw_inset", "draw_text",
]

log = logging.getLogger(__name__)


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
    ``stop()``, Ctrl-C, ``max_frames``, ``duration_s`` or a fatal error.

    ``preview`` (a PreviewSink or anything with ``write`` and ``poll_key``)
    gets the output with the optional stats overlay and supplies hotkeys;
    overlay text never reaches the other sinks. ``on_status`` receives the
    periodic stats line and short notices (the CLI prints them); when it
    raises, the loop stops with that reason. ``fallback_engine`` builds a CPU
    engine to switch to when a GPU engine keeps failing. ``clock`` times
    everything (tests pass a virtual one).
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
        fallback_engine: Callable[[], Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.preview = preview
        self.avatars = avatars
        self.config = config
        self.clock = clock or SystemClock()
        self.guard = LoopGuard(self.clock)
        self.stats: LoopStats = pipeline.stats
        self.stats.use_clock(self.clock.now_ns)
        self.sinks = [GuardedSink(s, self.guard, give_up_s=config.give_up_s) for s in sinks]
        self.say = self.guard.callback("status callback", on_status or (lambda text: log.info("%s", text)))
        self.show_overlay = config.overlay
        self._state = LoopState.STARTING
        self.state_log: deque[tuple[float, LoopState]] = deque(maxlen=1000)
        self._commands: deque[Any] = deque()
        self._max_frames: int | None = None
        self._preparing: threading.Thread | None = None
        stopping = lambda: self.guard.stopping  # noqa: E731
        self.capture_q = self._queue("capture", config.capture_queue, stopping)
        self.motion_q = self._queue("motion", config.motion_queue, stopping)
        self.output_q = self._queue("output", config.output_queue, stopping)
        # the preview skips frames rather than slow the output
        self._to_preview = FrameQueue("preview", 1, DropPolicy.NEWEST_WINS, clock=self.clock, interrupted=stopping)
        self.stages = StageRunner(self, fallback_engine)

    def _queue(self, name: str, size: int, stopping: Callable[[], bool]) -> FrameQueue:
        return FrameQueue(name, size, DropPolicy.NEWEST_WINS, clock=self.clock,
                          on_drop=lambda: self.stats.drop(name), interrupted=stopping)

    # -- state -----------------------------------------------------------------
    @property
    def state(self) -> LoopState:
        return self._state

    def set_state(self, state: LoopState) -> None:
        if state is self._state or self._state is LoopState.STOPPING:
            return
        self._state = state
        self.state_log.append((self.clock.now_ns() / 1e9, state))
        log.debug("loop state: %s", state.value)

    @property
    def passthrough(self) -> bool:
        return self.stages.passthrough

    # -- control (thread-safe) -------------------------------------------------
    def send(self, command: Command) -> None:
        """Ask the loop to do something (what a hotkey does)."""
        if command is Command.QUIT:
            self.stop()
        elif command is Command.TOGGLE_STATS:
            self.show_overlay = not self.show_overlay
        else:
            self._commands.append(command)
            self.clock.notify()

    def key(self, key: str | None) -> None:
        """A key from the preview window (ignored when it means nothing)."""
        if key is None:
            return
        command = HOTKEYS.get(key.lower() if len(key) > 1 else key)
        if command is not None:
            self.send(command)

    def stop(self) -> None:
        self.set_state(LoopState.STOPPING)
        self.guard.stop()

    # -- running ---------------------------------------------------------------
    def run(self, *, max_frames: int | None = None, duration_s: float | None = None) -> dict[str, Any]:
        """Run until done; returns :meth:`LoopStats.summary` plus the loop's notes
        and errors per kind. Raises :class:`LoopError` (with ``summary``) when
        the loop stopped on an error it could not survive."""
        self._max_frames = max_frames
        self.pipeline_ready()
        opencv_threads = cv2.getNumThreads()
        cv2.setNumThreads(self.config.threads_for_opencv())
        threads = [
            self.guard.thread(self.stages.capture, "capture"),
            self.guard.thread(self.stages.motion, "motion"),
            self.guard.thread(self.stages.render, "render"),
            self.guard.thread(self._output, "output"),
        ]
        try:
            with self.clock.participant():
                self.guard.start(threads)
                self._wait(threads[-1], duration_s)
        except KeyboardInterrupt:
            self.say("interrupted; stopping")
        finally:
            self.stop()
            for t in threads[1:]:
                t.join(timeout=3.0)
                if t.is_alive():
                    self.guard.fail("thread", f"the {t.name} thread did not stop within 3 s")
            # The capture thread may sit in a camera read that only the
            # source's close() ends (the caller closes it next); not waited for.
            threads[0].join(timeout=0.5)
            cv2.setNumThreads(opencv_threads)
        return self._finish()

    def pipeline_ready(self) -> None:
        """Everything the render thread needs is built before it starts (no
        hitch on the first frames)."""
        warm = getattr(self.pipeline, "warm_up", None)
        if warm is not None:
            warm()

    def _wait(self, output: threading.Thread, duration_s: float | None) -> None:
        """On the caller's thread: the preview window (macOS and Qt want GUI calls
        on the main thread), the duration limit, and waiting for the end."""
        deadline = None if duration_s is None else self.clock.now_ns() + int(duration_s * 1e9)
        done = lambda: self.guard.stopping or not output.is_alive()  # noqa: E731
        while not done():
            if self.preview is not None:
                self._show_preview()
            else:
                left = 0.1 if deadline is None else (deadline - self.clock.now_ns()) / 1e9
                self.clock.wait_for(done, min(0.1, max(left, 0.0)))
            if deadline is not None and self.clock.now_ns() >= deadline:
                self.stop()

    def _finish(self) -> dict[str, Any]:
        summary = self.stats.summary()
        summary["passthrough_at_exit"] = self.passthrough
        summary["errors"] = self.guard.errors.counts()
        summary["last_errors"] = self.guard.errors.last()
        summary["state_changes"] = [(round(t, 3), s.value) for t, s in self.state_log]
        fatal = self.guard.fatal
        if fatal is not None:
            summary["stopped_by"] = str(fatal)
            fatal.summary = summary
            raise fatal
        return summary

    # -- output thread -----------------------------------------------------------
    def _output(self) -> None:
        """Write to sinks, measure latency, say the stats line, feed the preview."""
        every = self.config.stats_every_s
        next_line = None if not every else self.clock.now_ns() + int(every * 1e9)
        try:
            while not self.guard.stopping:
                try:
                    item = self.output_q.get(timeout=0.1)
                except Empty:
                    continue
                if item is END:
                    return
                self._write(item)
                if self._max_frames is not None and self.stats.frames_out >= self._max_frames:
                    self.stop()
                if next_line is not None and self.clock.now_ns() >= next_line:
                    self.say(self.stats.line())
                    next_line = self.clock.now_ns() + int((every or 1.0) * 1e9)
        finally:
            self.clock.notify()  # run() waits for this thread

    def _write(self, out: Output) -> None:
        """To every sink; only a frame that reached one counts as output."""
        delivered = not self.sinks
        with self.stats.time("sink"):
            for sink in self.sinks:
                delivered = sink.write(out.image, out.frame) or delivered
        if delivered:
            self.stats.frame_out(out.t_capture_ns)
            if self._state is LoopState.STARTING:
                self.set_state(LoopState.RUNNING)
        else:
            self.stats.count("frames not delivered")
        if self.preview is not None:
            self._to_preview.put(out)

    # -- preview (caller's thread) -------------------------------------------------
    def _show_preview(self) -> None:
        """Show the newest output (overlay drawn here, on the preview only) and
        read the window's keys."""
        try:
            out = self._to_preview.get(timeout=0.02)
        except Empty:
            out = None
        try:
            if out is not None:
                prompt = getattr(self.pipeline.estimator, "calibration_prompt", None)  # e.g. "Hold still, …"
                shown = self._overlay(out) if (self.show_overlay or out.passthrough or prompt) else out.image
                self.preview.write(shown, out.frame)
            self.key(self.preview.poll_key())
        except Exception as exc:  # a broken window never stops the loop
            self.guard.survive("preview", exc)

    def _overlay(self, out: Output) -> np.ndarray:
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

    # -- commands (run on the motion thread) -----------------------------------------
    def next_command(self) -> Any:
        try:
            return self._commands.popleft()
        except IndexError:
            return None

    def switch_avatar(self, delta: int) -> None:
        if self.avatars is None or len(self.avatars.paths) < 2:
            self.say("no other avatars (give --avatar a folder to switch with n/p)")
            return
        if self._preparing is not None and self._preparing.is_alive():
            return  # one preparation at a time; the key press is ignored
        path = self.avatars.step(delta)
        avatars = self.avatars

        def prepare() -> None:
            try:
                state = avatars.cache.get(path)
            except Exception as exc:  # e.g. no face in that photo: keep the current one
                self.say(f"skipping {path.name}: {exc}")
                return
            self._commands.append(("avatar-ready", state, path.name))
            self.clock.notify()

        self._preparing = self.guard.thread(prepare, "prepare")
        self._preparing.start()
