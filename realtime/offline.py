"""Offline rendering (``vivicam render``) on all the cores it has: decoding and
tracking run ahead of the render, encoding behind it.

Three stages, each on one thread, joined by bounded first-in-first-out queues:

1. ``vivicam-decode``: decode the next frame and track its face — or, for
   the frames the pre-pass tracked already (``Pipeline.set_driver_tracks``),
   measure its driver flow instead, which keeps the two busy stages about
   even;
2. the calling thread: the driver flow (unless measured in stage 1), motion,
   render and paste-back;
3. ``vivicam-encode``: write the frame to the sink (the mp4 encoder).

MediaPipe, OpenCV, NumPy and the encoder release the GIL, so the stages overlap
on two cores. Each stateful part keeps its own thread and sees the frames in
order (the tracker in stage 1, the motion estimator in stage 2, the encoder in
stage 3), the driver flow depends on nothing but the frame and the neutral
frame it is measured against (stage 2 measures again should that have
changed), so the output is frame for frame the one :func:`run_sequential`
writes. Nothing is dropped: a full queue makes the stage before it wait
(blocking, not spinning). An error in any stage stops the others and is
raised in the caller.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterable, Iterator

from vivicam.realtime.pipeline import Pipeline
from vivicam.threads import ensure_applied
from vivicam.types import Frame, Motion

QUEUE_FRAMES = 4  # frames each queue may hold: enough to ride out a slow frame, little memory
_WAIT_S = 0.1  # how often a waiting stage looks whether another one failed
_END = object()


class _Stopped(Exception):
    """Another stage failed or the caller left: this one stops quietly."""


class _Stages:
    """The queues between the stages, and the first error any of them raised."""

    def __init__(self, depth: int) -> None:
        self.tracked: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.rendered: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def put(self, q: queue.Queue[Any], item: Any) -> None:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                q.put(item, timeout=_WAIT_S)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue[Any]) -> Any:
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                return q.get(timeout=_WAIT_S)
            except queue.Empty:
                continue


def run_sequential(
    frames: Iterable[Frame],
    pipeline: Pipeline,
    write: Callable[[Any, Frame], None],
    t_of: Callable[[Frame], float],
) -> int:
    """Every frame through ``pipeline.step`` and into ``write(image, frame)``,
    one after the other on this thread; returns the number of frames written."""
    stats = pipeline.stats
    count = 0
    for frame in frames:
        result = pipeline.step(frame, t_s=t_of(frame))
        with stats.time("sink"):
            write(result.image, frame)
        stats.frame_out(None)  # offline: throughput only, no capture latency
        count += 1
    return count


def run_pipelined(
    frames: Iterable[Frame],
    pipeline: Pipeline,
    write: Callable[[Any, Frame], None],
    t_of: Callable[[Frame], float],
    *,
    depth: int = QUEUE_FRAMES,
    retime: tuple[float, float] | None = None,
) -> int:
    """What :func:`run_sequential` does, in three overlapping stages (see the
    module docstring); the same frames reach ``write`` in the same order.
    ``retime = (driver fps, output fps)`` renders at another rate from the
    motion (:func:`retimed`)."""
    if depth < 1:
        raise ValueError("depth must be at least 1")
    ensure_applied()  # library callers get the thread policy too (a no-op after an entry point's)
    stages = _Stages(depth)
    workers = [
        threading.Thread(target=_guard, args=(stages, _decode, frames, pipeline), name="vivicam-decode", daemon=True),
        threading.Thread(target=_guard, args=(stages, _encode, write, pipeline), name="vivicam-encode", daemon=True),
    ]
    for worker in workers:
        worker.start()
    count = 0
    try:
        moments = _motions(stages, pipeline, t_of)
        if retime is not None:
            moments = retimed(moments, *retime)
        for motion, frame in moments:
            stages.put(stages.rendered, (pipeline.render(motion), frame))
            count += 1
        stages.put(stages.rendered, _END)
        workers[1].join()
    except _Stopped:
        pass
    except BaseException as exc:  # Ctrl-C included: the workers stop too
        stages.fail(exc)
    finally:
        stages.stop.set()
        for worker in workers:
            worker.join()
    if stages.error is not None:
        raise stages.error
    return count


def _motions(stages: _Stages, pipeline: Pipeline, t_of: Callable[[Frame], float]) -> Iterator[tuple[Motion, Frame]]:
    """The motion of each tracked frame, in order (stage 2's first half)."""
    while True:
        item = stages.get(stages.tracked)
        if item is _END:
            return
        frame, landmarks, measured = item
        yield pipeline.motion(frame, landmarks, t_of(frame), measured=measured), frame


def retimed(moments: Iterable[tuple[Motion, Frame]], in_fps: float, out_fps: float) -> Iterator[tuple[Motion, Frame]]:
    """Motions at ``out_fps`` from motions at the driver's ``in_fps``: an
    output moment between two driver frames blends their motions (offline
    may look one frame ahead, so the in-between frames are rendered from
    motion, never blended pixels); the clip keeps its length — the last
    driver frame is held for its own duration — so the audio stays in sync.
    Output frames are numbered from 0 (``Frame.index``)."""
    if not (in_fps > 0 and out_fps > 0):
        raise ValueError(f"frame rates must be positive, got {in_fps} and {out_fps}")
    previous: tuple[Motion, Frame, float] | None = None
    k = 0
    for motion, frame in moments:
        t = frame.index / in_fps
        if previous is not None:
            last_motion, last_frame, last_t = previous
            while k / out_fps < t - 1e-9:
                weight = (k / out_fps - last_t) / max(t - last_t, 1e-9)
                yield last_motion.blend(motion, weight), Frame(last_frame.image, last_frame.t_capture_ns, k)
                k += 1
        previous = (motion, frame, t)
    if previous is not None:
        last_motion, last_frame, last_t = previous
        while k / out_fps < last_t + 1.0 / in_fps - 1e-9:
            yield last_motion, Frame(last_frame.image, last_frame.t_capture_ns, k)
            k += 1


def _guard(stages: _Stages, stage: Callable[..., None], *args: Any) -> None:
    """Run one stage's thread; its error is kept for the caller, never lost."""
    try:
        stage(stages, *args)
    except _Stopped:
        pass
    except BaseException as exc:
        stages.fail(exc)


def _decode(stages: _Stages, frames: Iterable[Frame], pipeline: Pipeline) -> None:
    for frame in frames:
        known = pipeline.tracked_already(frame)
        landmarks = None if frame.motion is not None else pipeline.track(frame)
        measured = pipeline.measure_flow(frame, landmarks) if known else None
        stages.put(stages.tracked, (frame, landmarks, measured))
    stages.put(stages.tracked, _END)


def _encode(stages: _Stages, write: Callable[[Any, Frame], None], pipeline: Pipeline) -> None:
    stats = pipeline.stats
    while True:
        item = stages.get(stages.rendered)
        if item is _END:
            return
        image, frame = item
        with stats.time("sink"):
            write(image, frame)
        stats.frame_out(None)  # offline: throughput only, no capture latency
