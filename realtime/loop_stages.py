"""The capture, motion and render threads of the live loop.

- capture: the source's frames into the capture queue; a source that raises
  is read again after a short back-off (capped, so it recovers promptly).
- motion: tracking, driver flow and the motion estimator (one thread owns the
  estimator). When a camera frame is late it does not wait: an in-between
  item keeps the output rate; after ``stall_s`` the avatar eases into idle.
- render: the engine and post-processing of the newest motion. A failing
  engine repeats the last good frame, falls back to the CPU engine when one
  was given, and past ``give_up_s`` of failures ends the run with its reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from vivicam.realtime.guard import describe
from vivicam.realtime.loop_state import Command, LoopState
from vivicam.realtime.pacing import Pacer, gap_motion, output_period
from vivicam.realtime.queues import END, Empty
from vivicam.types import Frame, Motion

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Output:
    """One frame on its way to the sinks."""

    image: np.ndarray
    frame: Frame  # the camera frame (index -1 for frames made without one)
    t_capture_ns: int | None  # None for frames made while no camera frame came
    passthrough: bool = False


@dataclass(frozen=True, eq=False)
class Work:
    """What the motion thread hands the render thread.

    ``frame`` is the camera frame (None for an in-between frame); ``motion``
    None means "repeat the last image" (a late frame with nothing to predict);
    ``passthrough`` shows the camera frame itself.
    """

    frame: Frame | None
    motion: Motion | None
    t_capture_ns: int | None
    passthrough: bool = False
    t_ns: int = 0  # when it was made (the time an in-between frame stands for)


class StageRunner:
    """The bodies of the capture, motion and render threads of one LiveLoop
    (``loop``: its queues, guard, clock, pipeline and notices)."""

    def __init__(self, loop: Any, fallback_engine: Callable[[], Any] | None) -> None:
        self.loop = loop
        self.guard = loop.guard
        self.clock = loop.clock
        self.config = loop.config
        self.pipeline = loop.pipeline
        self.stats = loop.stats
        self.passthrough = False
        self.source_ended = False
        camera_fps = float(getattr(loop.source, "fps", 0) or 30.0)
        self.period_s = output_period(self.config.out_fps, camera_fps)
        self._fallback_engine = fallback_engine
        # motion thread
        self.pacer = Pacer(self.period_s, camera_fps, self._now(), late_periods=self.config.late_periods)
        self._stalled = False
        self._track_s = 0.0  # how long tracking + motion takes (moving average)
        self._render_s = 0.0  # how long render + post takes (moving average)
        self._rendering_since_ns: int | None = None  # set while the render thread works
        # render thread
        self._last_good: np.ndarray | None = None
        self._failing_since_s: float | None = None
        self._failures = 0
        self._fell_back = False
        self._pending_avatar: Any = None

    def _now(self) -> float:
        return self.clock.now_ns() / 1e9

    # -- capture thread ------------------------------------------------------------
    def capture(self) -> None:
        """Newest camera frame into the capture queue; a failing source is retried."""
        cfg = self.config
        backoff = cfg.source_backoff_s
        while not self.guard.stopping:
            try:
                for frame in self.loop.source.frames():
                    if self.guard.stopping:
                        return
                    self.loop.capture_q.put(frame)
                    backoff = cfg.source_backoff_s
                self.source_ended = True
                self.loop.capture_q.put_end()
                return
            except Exception as exc:  # the loop survives a failing camera
                self.guard.survive("source", exc)
                if self.guard.wait(backoff):
                    return
                backoff = min(backoff * 2, cfg.source_max_backoff_s)

    # -- motion thread -----------------------------------------------------------------
    def motion(self) -> None:
        try:
            while not self.guard.stopping:
                self._run_commands()
                self._just_in_time()
                try:
                    item = self.loop.capture_q.get(timeout=max(0.0, self.pacer.due_s - self._now()))
                except Empty:
                    if not self.guard.stopping:
                        self._in_between(self._now())
                    continue
                if item is END:
                    return
                self._camera_frame(item)
        finally:
            self.loop.motion_q.put_end()

    def _just_in_time(self) -> None:
        """While the render thread works, start tracking only when the tracking
        will end as the render does: the render then gets the freshest frame
        (no added latency from pipelining) and no tracking is thrown away."""
        queue = self.loop.motion_q

        def seen() -> tuple[bool, int | None]:
            return queue.qsize() > 0, self._rendering_since_ns

        while not self.guard.stopping:
            snapshot = seen()
            queued, started = snapshot
            now = self._now()
            free_at = now if started is None else max(now, started / 1e9 + self._render_s)
            if queued:  # that one renders first
                free_at += self._render_s
            wait = free_at - self._track_s - now
            if wait < 1e-4:
                return
            self.clock.wait_for(lambda: seen() != snapshot or self.guard.stopping, wait)

    def _camera_frame(self, frame: Frame) -> None:
        now = self._now()
        if self._stalled:
            self._stalled = False
            self.loop.say("camera frames are back")
        if self.passthrough:
            self.pacer.camera_frame(now, frame.t_capture_ns / 1e9)
            self.loop.motion_q.put(Work(frame, None, frame.t_capture_ns, passthrough=True))
            return
        try:
            landmarks = None if frame.motion is not None else self.pipeline.track(frame)
            motion = self.pipeline.motion(frame, landmarks, frame.t_capture_ns / 1e9)
        except Exception as exc:  # a bad frame is skipped, never fatal
            self.guard.survive("tracking", exc)
            return
        tracked = self._now()
        self._track_s = _average(self._track_s, tracked - now)
        # paced from when it goes to the render, as an in-between frame does:
        # the output then keeps even gaps whatever tracking costs
        self.pacer.camera_frame(tracked, frame.t_capture_ns / 1e9)
        estimator = self.pipeline.estimator
        calibrating = estimator is not None and not getattr(estimator, "calibrated", True)
        self.loop.set_state(LoopState.CALIBRATING if calibrating else LoopState.RUNNING)
        self.loop.motion_q.put(Work(frame, motion, frame.t_capture_ns))

    def _in_between(self, now: float) -> None:
        """No camera frame in time: an in-between frame now, the next one a
        period later (deadline-based, so the rate holds whatever render costs)."""
        stands_for = self.pacer.in_between(now)
        if not self._stalled and self.pacer.since_camera(now) >= self.config.stall_s:
            self._stall()
        if self.loop.motion_q.qsize():
            # The render is behind: an in-between frame must not push out the
            # (camera) frame already waiting for it.
            self.stats.count("in-between frames skipped")
            return
        try:
            motion = gap_motion(self.pipeline, stands_for, self._stalled)
        except Exception as exc:
            self.guard.survive("motion", exc)
            return
        self.stats.count("frames without camera")
        self.loop.motion_q.put(Work(None, motion, None, t_ns=int(stands_for * 1e9)))

    def _stall(self) -> None:
        self._stalled = True
        self.stats.count("camera stalls")
        self.loop.set_state(LoopState.STALLED)
        self.loop.say("no camera frame; the avatar keeps moving until it returns")
        # The estimator holds, then eases into idle, counted from the first
        # missed frame rather than from now: no extra stall_s of stillness.
        self.pipeline.motion(None, None, self.pacer.missed_at())

    def _run_commands(self) -> None:
        while (command := self.loop.next_command()) is not None:
            try:
                self._command(command)
            except Exception as exc:  # e.g. a failing recalibration: keep going
                self.guard.survive("hotkey", exc)

    def _command(self, command: Any) -> None:
        if command is Command.RECALIBRATE:
            self.pipeline.recalibrate()
            self.loop.say("recalibrating: look at the camera with a neutral face")
        elif command is Command.TOGGLE_PASSTHROUGH:
            self.passthrough = not self.passthrough
            self.loop.say("passthrough on" if self.passthrough else "avatar on")
        elif command in (Command.NEXT_AVATAR, Command.PREVIOUS_AVATAR):
            self.loop.switch_avatar(1 if command is Command.NEXT_AVATAR else -1)
        elif isinstance(command, tuple) and command[0] == "avatar-ready":
            self._pending_avatar = command[1]  # the render thread switches between frames
            self.loop.say(f"avatar: {command[2]}")

    # -- render thread -------------------------------------------------------------------
    def render(self) -> None:
        try:
            while not self.guard.stopping:
                try:
                    work = self.loop.motion_q.get(timeout=0.1, on_take=self._taken)
                except Empty:
                    continue
                if work is END:
                    return
                if self._pending_avatar is not None:
                    self.pipeline.set_avatar(self._pending_avatar)
                    self._pending_avatar = None
                self._timed_render(work)
        finally:
            self.loop.output_q.put_end()

    def _taken(self, work: Any) -> None:
        if work is not END:
            self._rendering_since_ns = self.clock.now_ns()

    def _timed_render(self, work: Work) -> None:
        start = self._rendering_since_ns or self.clock.now_ns()
        try:
            self._render(work)
        finally:
            if work.motion is not None:  # a repeated image costs nothing: not an estimate
                self._render_s = _average(self._render_s, (self.clock.now_ns() - start) / 1e9)
            self._rendering_since_ns = None
            self.clock.notify()

    def _render(self, work: Work) -> None:
        if work.passthrough and work.frame is not None:
            try:
                image = self.pipeline.passthrough(work.frame)
            except Exception as exc:
                self.guard.survive("passthrough", exc)
                return
            self.loop.output_q.put(Output(image, work.frame, work.t_capture_ns, True))
            return
        if work.motion is None:  # a late camera frame: the last image again
            if self._last_good is not None:
                self.loop.output_q.put(Output(self._last_good, self._made_up(self._last_good, work), None))
            return
        try:
            image = self.pipeline.render(work.motion)
        except Exception as exc:
            self._engine_failed(exc, work)
            return
        self._failures, self._failing_since_s, self._last_good = 0, None, image
        frame = work.frame if work.frame is not None else self._made_up(image, work)
        self.loop.output_q.put(Output(image, frame, work.t_capture_ns))

    def _made_up(self, image: np.ndarray, work: Work) -> Frame:
        return Frame(image, work.t_ns or self.clock.now_ns(), -1)

    def _engine_failed(self, exc: BaseException, work: Work) -> None:
        """Last good frame; after ``engine_fallback_after`` failures in a row
        the CPU engine (once); failing for ``give_up_s``: the end, with the reason."""
        now = self._now()
        total = self.guard.survive("engine", exc)
        self._failures += 1
        if self._failing_since_s is None:
            self._failing_since_s = now
        if self._last_good is not None:
            frame = work.frame if work.frame is not None else self._made_up(self._last_good, work)
            self.loop.output_q.put(Output(self._last_good, frame, work.t_capture_ns))
        if self._failures < self.config.engine_fallback_after:
            return
        if self._can_fall_back():
            self._fall_back(exc)
        elif now - self._failing_since_s >= self.config.give_up_s:
            self.guard.fail(
                "engine",
                f"the engine failed on every frame for {now - self._failing_since_s:.1f} s "
                f"({self._failures} in a row, {total} in all; last: {describe(exc)})",
            )

    def _can_fall_back(self) -> bool:
        backend = getattr(self.pipeline.engine, "backend", "cpu")
        return self._fallback_engine is not None and not self._fell_back and backend != "cpu"

    def _fall_back(self, exc: BaseException) -> None:
        self._fell_back = True
        old = getattr(self.pipeline.engine, "backend", "?")
        try:
            engine = self._fallback_engine()  # type: ignore[misc]
            state = engine.prepare(self.pipeline.state.photo)
        except Exception as err:
            self.guard.fail("engine", f"the {old} engine kept failing ({describe(exc)}) and the CPU "
                            f"fallback could not start ({describe(err)})", err)
            return
        self.pipeline.engine, self.pipeline.state = engine, state
        if self.loop.avatars is not None:
            self.loop.avatars.cache.use_engine(engine)
        self._failures, self._failing_since_s = 0, None
        self.stats.count("engine fallbacks")
        self.loop.say(f"the {old} engine keeps failing ({describe(exc)}); switched to the CPU engine")


def _average(mean: float, sample: float) -> float:
    """A moving average of a stage's duration (the first sample starts it)."""
    return sample if mean <= 0 else mean + 0.2 * (sample - mean)
