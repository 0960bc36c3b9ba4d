"""Procedural idle motion: blinks, sway, breathing, optional talking."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.calibrate import mesh
from vivicam.calibrate.idle import BLINK_S, IdleMotion

FPS = 30.0


def _sample(idle: IdleMotion, seconds: float, fps: float = FPS):
    return [idle.at(i / fps) for i in range(int(seconds * fps))]


def test_same_seed_same_motion_other_seed_other_motion() -> None:
    a = [m.rotation for m in _sample(IdleMotion(seed=4, talk=True), 5)]
    b = [m.rotation for m in _sample(IdleMotion(seed=4, talk=True), 5)]
    c = [m.rotation for m in _sample(IdleMotion(seed=5, talk=True), 5)]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # a pure function of time: asking out of order gives the same answer
    idle = IdleMotion(seed=4, talk=True)
    late = idle.at(7.3)
    idle.at(1.0)
    np.testing.assert_array_equal(idle.at(7.3).expression, late.expression)


def test_blinks_every_two_to_six_seconds_each_about_150_ms() -> None:
    fps = 200.0
    closed = np.array([IdleMotion(seed=2).eyes_closed(i / fps) for i in range(int(60 * fps))])
    shut = closed > 0.5
    starts = np.flatnonzero(shut[1:] & ~shut[:-1]) / fps
    assert 10 <= len(starts) <= 30  # 60 s / (2..6 s)
    gaps = np.diff(starts)
    assert gaps.min() > 1.8 and gaps.max() < 6.2
    lengths = np.diff(np.flatnonzero(np.diff(closed > 0.01)))[::2] / fps
    assert np.all((0.1 < lengths) & (lengths < 0.2)) and BLINK_S < 0.2
    assert closed.max() == 1.0


def test_blinks_close_the_lids_in_the_expression() -> None:
    idle = IdleMotion(seed=2)
    t = next(i / 200 for i in range(4000) if idle.eyes_closed(i / 200) == 1.0)
    m = idle.at(t)
    np.testing.assert_array_equal(m.eyes_closed, [1.0, 1.0])
    for eye in (0, 1):
        upper, lower = mesh.LID_UPPER[eye], mesh.LID_LOWER[eye]
        # the upper lid comes down (y down), the gap between the lids shrinks
        assert m.expression[upper, 1] - m.expression[lower, 1] > 0.05


def test_head_sways_a_few_degrees_and_breathes() -> None:
    motions = _sample(IdleMotion(seed=0), 30)
    rot = np.array([m.rotation for m in motions])
    assert np.all(np.abs(rot) < 6.0)
    assert np.all(rot.std(axis=0) > 0.3)  # every axis moves
    assert np.abs(np.diff(rot, axis=0)).max() < 0.5  # smoothly (degrees per frame)
    scale = np.array([m.scale for m in motions])
    assert 0.99 < scale.min() < 1.0 < scale.max() < 1.01
    assert all(m.mouth_open == 0.0 for m in motions)  # no talking unless asked


def test_talking_opens_the_mouth_in_syllables_with_lip_and_jaw_shapes() -> None:
    motions = _sample(IdleMotion(seed=0, talk=True), 20)
    mouth = np.array([m.mouth_open for m in motions])
    assert 0.2 < mouth.max() <= 0.35  # like real talking, not a yawn
    assert (mouth > 0.05).mean() > 0.3  # talking much of the time
    assert (mouth < 0.01).mean() > 0.1  # with pauses and closures
    # syllables: several openings per second while talking
    openings = np.sum((mouth[1:] > 0.1) & (mouth[:-1] <= 0.1))
    assert openings > 20
    wide = motions[int(np.argmax(mouth))]
    lower_lip, upper_lip = wide.expression[mesh.LIP_INNER_LOWER_MID], wide.expression[mesh.LIP_INNER_UPPER_MID]
    assert lower_lip[1] - upper_lip[1] > 0.5 * 0.6 * wide.mouth_open  # lips part by about the gap
    assert wide.expression[mesh.CHIN, 1] > 0.05  # the jaw drops
    assert np.abs(wide.expression[list(mesh.BROWS[0])]).max() < 0.02  # brows stay


@pytest.mark.slow
@pytest.mark.testdata
def test_the_committed_patterns_are_what_the_generator_makes(testdata, tmp_path) -> None:
    from vivicam.calibrate import make_patterns, patterns

    out = tmp_path / "patterns_data.py"
    make_patterns.write(make_patterns.fit(testdata), out)
    namespace: dict = {}
    exec(out.read_text(), namespace)  # our own generated file: plain string constants
    committed = patterns._patterns()
    for name, value in zip(("MOUTH_PER_GAP", "BLINK_LEFT", "BLINK_RIGHT"), committed):
        np.testing.assert_allclose(patterns._decode(namespace[name]), value, atol=5e-3)
