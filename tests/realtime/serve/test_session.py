"""Sessions share the engine and avatar, keep their own motion state, drop
stale frames under load and free their thread when closed; the overlay's alpha."""

from __future__ import annotations

import threading
import time

import numpy as np

from vivicam.realtime.serve.alpha import person_alpha, side_by_side
from vivicam.realtime.serve.session import Session, echo_stamp
from vivicam.types import Frame


class NoFace:
    """A tracker that never finds a face (the avatar then idles)."""

    def __init__(self) -> None:
        self.closed = False
        self.calls = 0

    def track(self, image):
        self.calls += 1
        return None

    def close(self) -> None:
        self.closed = True


def _frame(index: int) -> Frame:
    return Frame(np.full((480, 640, 3), index % 255, np.uint8), time.perf_counter_ns(), index)


def _wait(condition, timeout_s: float = 20.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.01)
    return False


def _session_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vivicam-session-")]


def test_sessions_share_engine_and_avatar_but_not_motion(shared) -> None:
    a, b = Session(shared, tracker=NoFace()), Session(shared, tracker=NoFace())
    try:
        assert a.pipeline.engine is b.pipeline.engine
        assert a.pipeline.state is b.pipeline.state  # prepared once
        assert a.pipeline.estimator is not b.pipeline.estimator
        a.submit(_frame(0))
        assert _wait(lambda: a.latest is not None)
        assert a.latest.image.shape == (480, 640, 3) and b.latest is None
    finally:
        a.close()
        b.close()


def test_newest_frame_wins_under_load(shared) -> None:
    tracker = NoFace()
    session = Session(shared, tracker=tracker)
    try:
        for i in range(40):  # far faster than one render
            session.submit(_frame(i))
        assert _wait(lambda: session.latest is not None and session.latest.image is not None)
        time.sleep(0.3)
        assert session.stats.dropped().get("stale", 0) > 0
        assert tracker.calls < 40
    finally:
        session.close()


def test_lazy_frames_are_made_only_when_used(shared) -> None:
    made = []
    session = Session(shared, tracker=NoFace())
    try:
        for i in range(20):
            session.submit(lambda i=i: made.append(i) or _frame(i))
        assert _wait(lambda: session.latest is not None)
        time.sleep(0.3)
        assert 19 in made and len(made) < 20
    finally:
        session.close()


def test_close_frees_the_thread_and_tracker(shared) -> None:
    before = _session_threads()
    tracker = NoFace()
    session = Session(shared, tracker=tracker)
    assert f"vivicam-session-{session.id}" in _session_threads()
    session.submit(_frame(1))
    assert _wait(lambda: session.latest is not None)
    session.close()
    assert _session_threads() == before
    assert tracker.closed
    session.close()  # idempotent


def test_stalled_camera_keeps_the_avatar_alive(shared) -> None:
    session = Session(shared, tracker=NoFace())
    try:
        session.submit(_frame(0))
        assert _wait(lambda: session.latest is not None)
        first = session.latest.seq
        assert _wait(lambda: session.latest.seq > first, timeout_s=5.0)  # no new frame, still rendering
        assert session.latest.t_capture_ns is None
    finally:
        session.close()


def test_switch_avatar_and_recalibrate_apply_in_the_worker(shared) -> None:
    session = Session(shared, tracker=NoFace())
    try:
        session.switch_avatar(0)
        session.recalibrate()
        session.submit(_frame(0))
        assert _wait(lambda: session.latest is not None)
        assert session.stats.counters().get("error", 0) == 0
    finally:
        session.close()


def test_overlay_alpha_is_the_person_mask_letterboxed(shared) -> None:
    state = shared.avatar(0)
    alpha = person_alpha(state, (640, 480))
    assert alpha.shape == (480, 640, 3) and alpha.dtype == np.uint8
    # the square portrait is letterboxed into 4:3: the side bars are transparent
    assert alpha[:, :60].max() == 0 and alpha[:, -60:].max() == 0
    assert alpha[240, 320, 0] > 200  # the astronaut's face
    assert 0 < (alpha[..., 0] > 127).mean() < 0.75  # a person, not the whole frame
    moved = person_alpha(state, (640, 480), shift=np.array([30.0, 0.0], np.float32))
    assert not np.array_equal(moved, alpha)
    assert moved[:, :60].max() == 0  # the letterbox stays transparent
    both = side_by_side(np.zeros_like(alpha), alpha)
    assert both.shape == (480, 1280, 3) and np.array_equal(both[:, 640:], alpha)


def test_echo_stamp_copies_the_corner() -> None:
    camera = np.zeros((480, 640, 3), np.uint8)
    camera[:16, :16] = 255
    image = np.full((480, 640, 3), 7, np.uint8)
    out = echo_stamp(camera, image)
    assert out[0, 0, 0] == 255 and out[0, 20, 0] == 0 and out[100, 100, 0] == 7
    assert image[0, 0, 0] == 7  # the input is left alone
