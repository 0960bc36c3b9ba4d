"""The per-frame step, the avatar cache and the timing statistics."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from loop_fakes import CROP, FakeEngine, FakeEstimator, FakeTracker, ListSource, camera_image, photo

from vivicam.realtime.pipeline import AvatarCache, Pipeline, even_size
from vivicam.realtime.post import fit_to
from vivicam.realtime.stats import LoopStats, format_summary, percentiles
from vivicam.types import Frame, Motion


def frame(i: int = 0, motion: Motion | None = None) -> Frame:
    return Frame(camera_image(i), time.perf_counter_ns(), i, motion)


def test_step_tracks_estimates_renders_and_pastes_back() -> None:
    engine, tracker, estimator = FakeEngine(), FakeTracker(), FakeEstimator()
    pipeline = Pipeline(engine, engine.prepare(photo(100)), tracker=tracker, estimator=estimator)
    result = pipeline.step(frame(), t_s=1.5)
    assert tracker.calls == 1
    assert estimator.updates == [(True, 1.5)]
    assert result.image.shape == photo().shape
    # the rendered crop (grey = yaw 11) is pasted at (16, 8), the photo elsewhere
    assert result.image[8 + CROP // 2, 16 + CROP // 2, 0] == 11
    assert result.image[2, 2, 0] == 100
    assert set(pipeline.stats.summary()["stages_ms"]) == {"track", "motion", "render", "post"}


def test_frame_motion_skips_tracking_and_estimation() -> None:
    engine, tracker, estimator = FakeEngine(), FakeTracker(), FakeEstimator()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=tracker, estimator=estimator)
    motion = Motion(rotation=np.array([0, 77, 0], np.float32))
    result = pipeline.step(frame(motion=motion))
    assert tracker.calls == 0 and estimator.updates == []
    assert result.motion is motion


def test_lost_face_and_missing_frame_ask_the_estimator_with_none() -> None:
    engine, estimator = FakeEngine(), FakeEstimator()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(lost=lambda i: True), estimator=estimator)
    assert pipeline.step(frame()).landmarks is None
    pipeline.step_without_frame(3.0)
    assert estimator.updates[0][0] is False and estimator.updates[1] == (False, 3.0)
    assert pipeline.stats.counters()["face lost"] == 1


def test_output_is_letterboxed_to_the_requested_size() -> None:
    engine = FakeEngine()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(), estimator=FakeEstimator(),
                        out_size=(128, 128))
    out = pipeline.step(frame()).image
    assert out.shape == (128, 128, 3)
    assert out[0, 64].sum() == 0 and out[64, 64].sum() > 0  # bars above, picture in the middle
    assert pipeline.passthrough(frame(9)).shape == (128, 128, 3)


def test_driver_frames_are_attached_only_for_engines_that_want_them() -> None:
    plain = FakeEngine()
    pipeline = Pipeline(plain, plain.prepare(photo()), tracker=FakeTracker(), estimator=FakeEstimator())
    assert pipeline.step(frame()).motion.driver is None

    wants = FakeEngine(wants_driver_frames=True)
    estimator = FakeEstimator(calibrate_after=3)
    pipeline = Pipeline(wants, wants.prepare(photo()), tracker=FakeTracker(), estimator=estimator)
    motions = [pipeline.step(frame(i)).motion for i in range(5)]
    assert all(m.driver is not None and m.driver.image[0, 0, 0] == i for i, m in enumerate(motions))
    assert [m.driver_neutral is None for m in motions] == [True, True, False, False, False]
    assert motions[4].driver_neutral.image[0, 0, 0] == 2  # the frame calibration completed on
    pipeline.recalibrate()
    assert estimator.recalibrations == 1
    after = [pipeline.step(frame(i)).motion for i in range(10, 14)]
    # the old neutral frame stays until the new calibration completes (3rd update)
    assert [int(m.driver_neutral.image[0, 0, 0]) for m in after] == [2, 2, 12, 12]


def test_avatar_cache_prepares_each_photo_once(tmp_path) -> None:
    from PIL import Image

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(photo(10)).save(a)
    Image.fromarray(photo(20)).save(b)
    engine = FakeEngine()
    cache = AvatarCache(engine, loader=lambda p: np.asarray(Image.open(p).convert("RGB")))
    first = cache.get(a)
    cache.get(b)
    assert cache.get(a) is first and engine.prepared == 2 and a in cache
    Image.fromarray(photo(30)).save(a)  # an edited photo is prepared again
    os.utime(a, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert int(cache.get(a).photo[0, 0, 0]) == 30 and engine.prepared == 3


def test_avatar_cache_keeps_only_the_most_recent(tmp_path) -> None:
    from PIL import Image

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(photo(i)).save(paths[-1])
    cache = AvatarCache(FakeEngine(), max_items=2, loader=lambda p: np.asarray(Image.open(p).convert("RGB")))
    for p in paths:
        cache.get(p)
    assert len(cache) == 2 and paths[3] in cache and paths[0] not in cache


def test_fit_and_even_size() -> None:
    img = np.full((100, 50, 3), 255, np.uint8)
    out = fit_to(img, (100, 100))
    assert out.shape == (100, 100, 3) and out[:, :20].sum() == 0 and out[:, 30:70].min() == 255
    assert fit_to(img, None) is img
    assert even_size(513, 301) == (512, 300)
    assert max(even_size(4000, 3000)) == 1920


def test_percentiles_and_summary() -> None:
    p = percentiles(range(1, 101))
    assert p["median"] == pytest.approx(50.5) and p["p95"] == pytest.approx(95.05)
    assert np.isnan(percentiles([])["median"])
    stats = LoopStats(window=10)
    t = time.perf_counter_ns()
    for i in range(20):
        stats.add_stage("render", float(i))
        stats.frame_out(t + i * 10_000_000 - 5_000_000, t + i * 10_000_000)  # 100 fps, 5 ms latency
    stats.drop("capture", 3)
    s = stats.summary()
    assert s["frames_out"] == 20 and s["fps"] == pytest.approx(100, rel=1e-3)
    assert s["latency_ms"]["median"] == pytest.approx(5)
    assert s["stages_ms"]["render"]["median"] == pytest.approx(9.5)  # all 20, not only the window
    assert stats.recent()["render"]["median"] == pytest.approx(14.5)  # last 10
    assert s["dropped"] == {"capture": 3}
    text = format_summary(s)
    assert "100.0 fps" in text and "render" in text and "capture 3" in text


def test_list_source_fake_is_a_source() -> None:
    from vivicam.realtime.protocols import Source

    assert isinstance(ListSource(1), Source)
