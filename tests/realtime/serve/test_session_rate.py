"""A serve session outputs at its steady rate whatever the browser's camera
delivers: a 15 fps camera gives 30 fps of distinct frames, the in-between
ones from motion predicted forward (the live loop's pacing and prediction),
and a camera frame is rendered the moment it arrives (no added latency).
Timed on a virtual clock: the real engine renders, time stands still meanwhile."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from loop_fakes import FakeTracker
from virtual_clock import VirtualClock

from vivicam.benchmarks.steady_metrics import differs_visibly
from vivicam.calibrate.predict import predict_at
from vivicam.realtime.serve.session import Session, Shared
from vivicam.types import Frame, Motion


class TurningHead:
    """A tracked head turning to and fro (yaw 5° to 25° at 20°/s, a turn a
    second; kept off the neutral pose, where the engine settles small motions
    to the photo's own pixels); predicts
    like MotionEstimator (from its last two outputs) and records when asked."""

    calibrated = True

    def __init__(self) -> None:
        self.history: tuple[tuple[float, Motion], ...] = ()
        self.asked: list[tuple[float, float]] = []  # (last camera frame's time, how far past it)
        self.t0: float | None = None

    def update(self, landmarks, t_s, **_):
        self.t0 = t_s if self.t0 is None else self.t0
        yaw = 5.0 + abs((20.0 * (t_s - self.t0)) % 40.0 - 20.0)
        motion = Motion.neutral().with_(rotation=np.array([0.0, yaw, 0.0], np.float32))
        self.history = (*self.history[-1:], (t_s, motion))
        return motion

    def predict(self, t_s):
        self.asked.append((self.history[-1][0], t_s - self.history[-1][0]))
        return predict_at(self.history, t_s)

    def recalibrate(self) -> None:
        pass


def _session(shared, clock, fps: float = 30.0) -> Session:
    config = dataclasses.replace(shared.config, fps=fps, driver_flow=False)
    mine = Shared(config, shared.engine, shared.paths)
    mine.cache = shared.cache  # the avatar prepared once for all serve tests
    session = Session(mine, tracker=FakeTracker(), clock=clock)
    session.pipeline.estimator = TurningHead()
    session.pipeline.wants_driver_frames = False  # fake landmarks: no driver mouth to cut out
    return session


def _camera(session: Session, clock: VirtualClock, fps: float, frames: int) -> list[int]:
    """A camera at ``fps`` on the virtual clock; returns its capture stamps."""
    stamps: list[int] = []
    image = np.full((480, 640, 3), 90, np.uint8)

    def run() -> None:
        with clock.participant():
            start = clock.now_ns()
            for i in range(frames):
                clock.wait_for(lambda: False, max(0.0, (start + i * 1e9 / fps - clock.now_ns()) / 1e9))
                stamps.append(clock.now_ns())
                session.submit(Frame(image, clock.now_ns(), i))
            clock.wait_for(lambda: False, 1 / fps)  # until the next frame would come

    thread = threading.Thread(target=run, name="test-camera")
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    return stamps


def _output(session: Session, clock: VirtualClock, fps: float, frames: int):
    out = []
    session.subscribe(out.append)
    try:
        stamps = _camera(session, clock, fps, frames)
    finally:
        session.close()
    end = stamps[-1] + 1e9 / fps  # until the next camera frame would have come (then the session closed)
    return stamps, [r for r in out if stamps[0] <= r.t_done_ns < end]


@pytest.mark.parametrize("camera_fps", [15.0, 10.0, 24.0])
def test_a_slow_camera_gets_a_steady_30_fps_of_distinct_frames(shared, camera_fps: float) -> None:
    clock = VirtualClock()
    session = _session(shared, clock)
    stamps, out = _output(session, clock, camera_fps, frames=int(3 * camera_fps))
    seconds = (stamps[-1] - stamps[0]) / 1e9 + 1 / camera_fps
    assert len(out) / seconds >= 29.5
    # once the camera's rate is known (from its second frame): distinct frames,
    # evenly spaced when the camera's rate divides the output's
    known = [r for r in out if r.t_done_ns >= stamps[1]]
    divides = 30 % camera_fps == 0
    if divides:
        assert np.allclose(np.diff([r.t_done_ns for r in known]) / 1e6, 1000 / 30, atol=0.01)
    assert not any(np.array_equal(a.image, b.image) for a, b in zip(known, known[1:]))  # no repeats
    if divides:  # (24 in 30: an in-between frame comes 17 ms after its camera frame, a smaller step)
        distinct = [differs_visibly(a.image, b.image) for a, b in zip(known, known[1:])]
        assert np.mean(distinct) >= 0.9  # a few fall under the threshold where the head turns back
    # every camera frame rendered the moment it came: the in-between frames add no latency
    camera = [r for r in out if r.t_capture_ns is not None]
    assert len(camera) == len(stamps) and all(r.t_done_ns == r.t_capture_ns for r in camera)
    # in-between frames stand one and two output periods after their camera frame
    asked = [ahead for t, ahead in session.pipeline.estimator.asked if stamps[1] <= t * 1e9 < stamps[-1]]
    if divides:
        steps = round(30 / camera_fps) - 1
        assert len(asked) == steps * (len(stamps) - 2)
        assert np.allclose(np.sort(asked), np.repeat(np.arange(1, steps + 1) / 30, len(stamps) - 2), atol=1e-6)
    else:  # 24 in 30: one in-between frame in five, within a camera period of its camera frame
        assert len(asked) >= 0.2 * (len(stamps) - 2) and 0 < max(asked) < 1 / camera_fps


def test_a_camera_at_the_output_rate_gets_no_in_between_frames(shared) -> None:
    clock = VirtualClock()
    session = _session(shared, clock)
    stamps, out = _output(session, clock, 30.0, frames=30)
    assert [r.t_capture_ns for r in out] == stamps  # only camera frames, each as it came


def test_the_output_rate_follows_the_config(shared) -> None:
    clock = VirtualClock()
    session = _session(shared, clock, fps=60.0)
    stamps, out = _output(session, clock, 15.0, frames=15)
    seconds = (stamps[-1] - stamps[0]) / 1e9 + 1 / 15
    assert len(out) / seconds == pytest.approx(60, rel=0.02)


def test_an_in_between_frame_never_delays_a_camera_frame(shared) -> None:
    clock = VirtualClock()
    session = _session(shared, clock)
    render = session.pipeline.render

    def slow(motion):  # 40 ms a frame: an in-between frame at +33 ms would end after the next camera frame came
        clock.wait_for(lambda: False, 0.040)
        return render(motion)

    session.pipeline.render = slow
    stamps, out = _output(session, clock, 15.0, frames=30)
    camera = [r for r in out if r.t_capture_ns is not None]
    assert len(camera) == len(stamps)
    # once the camera's rate is known (from its second frame): its frames take render time only
    assert np.allclose([(r.t_done_ns - r.t_capture_ns) / 1e6 for r in camera[2:]], 40, atol=0.01)
    assert session.stats.counters().get("in-between frames skipped", 0) >= 25
