"""The output schedule shared by the live loop and serve sessions."""

from __future__ import annotations

import pytest

from vivicam.realtime.pacing import Pacer, output_period


def _schedule(pacer: Pacer, camera_period_s: float, frames: int) -> list[float]:
    """Output times (camera and in-between) for a camera arriving every ``camera_period_s``."""
    out: list[float] = []
    for i in range(frames):
        t = i * camera_period_s
        while pacer.due_s < t - 1e-9:
            out.append(pacer.due_s)
            pacer.in_between(pacer.due_s)
        out.append(t)
        pacer.camera_frame(t, t)
    return out


@pytest.mark.parametrize("camera_fps", [10.0, 15.0])
def test_a_camera_slower_than_it_says_is_paced_from_its_second_frame(camera_fps: float) -> None:
    # a webcam asked for 30 fps says 30, and gives 10 or 15 in a dim room
    pacer = Pacer(output_period(30, 30), 30.0, 0.0)
    out = _schedule(pacer, 1 / camera_fps, 12)
    known = [t for t in out if t >= 1 / camera_fps]
    gaps = [b - a for a, b in zip(known, known[1:])]
    assert gaps == pytest.approx([1 / 30] * len(gaps), abs=1e-9)


def test_a_camera_rate_that_does_not_divide_the_output_rate_still_gives_it() -> None:
    pacer = Pacer(output_period(30, 30), 30.0, 0.0)
    out = _schedule(pacer, 1 / 24, 72)  # three seconds of a 24 fps camera
    known = [t for t in out if t >= 1 / 24]
    assert (len(known) - 1) / (known[-1] - known[0]) == pytest.approx(30, abs=0.3)
    # every camera frame went out as it came (the schedule lists it at its own time)
    assert all(any(abs(t - i / 24) < 1e-9 for t in out) for i in range(72))


def test_a_camera_at_the_output_rate_is_waited_for() -> None:
    pacer = Pacer(output_period(30, 30), 30.0, 0.0)
    out = _schedule(pacer, 1 / 30, 30)
    assert len(out) == 30  # no in-between frames
    # one late by more than half a period gets one, a period after the last output
    pacer.camera_frame(1.0, 1.0)
    assert pacer.due_s == pytest.approx(1.0 + 1 / 30 + 0.5 / 30)


def test_a_stall_is_not_a_rate() -> None:
    pacer = Pacer(output_period(30, 15), 15.0, 0.0)
    for t in (0.0, 1 / 15, 2 / 15, 2 / 15 + 2.0, 2 / 15 + 2.0 + 1 / 15):
        pacer.camera_frame(t, t)
    assert pacer.camera_period_s == pytest.approx(1 / 15)


def test_the_output_period_is_the_camera_rate_when_none_is_asked() -> None:
    assert output_period(None, 25) == pytest.approx(1 / 25)
    assert output_period(None, 1000) == pytest.approx(1 / 120)  # a file read as fast as it decodes
    assert output_period(60, 15) == pytest.approx(1 / 60)
