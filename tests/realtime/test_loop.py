"""The live loop with fake parts: drops stale frames, survives lost faces,
stalled and failing cameras and engine errors, measures latency, obeys hotkeys."""

from __future__ import annotations

import time

import numpy as np
import pytest
from loop_fakes import (
    FakeEngine,
    FakeEstimator,
    FakePreview,
    FakeTracker,
    ListSource,
    RecordingSink,
    photo,
)

from vivicam.realtime.loop import (
    AvatarSwitcher,
    Command,
    LiveLoop,
    LoopConfig,
    NewestQueue,
    draw_inset,
    draw_text,
)
from vivicam.realtime.pipeline import AvatarCache, Pipeline


def make_loop(source, *, engine=None, tracker=None, estimator=None, preview=None, avatars=None, **config):
    engine = engine or FakeEngine()
    pipeline = Pipeline(
        engine,
        engine.prepare(photo()),
        tracker=tracker or FakeTracker(),
        estimator=estimator or FakeEstimator(),
    )
    sink = RecordingSink()
    loop = LiveLoop(source, pipeline, [sink], preview=preview, avatars=avatars, config=LoopConfig(**config))
    return loop, sink


def test_newest_queue_keeps_the_newest_items_and_counts_drops() -> None:
    drops = []
    q = NewestQueue(2, lambda: drops.append(1))
    for i in range(5):
        q.put(i)
    assert [q.get(0.1), q.get(0.1)] == [3, 4]
    assert len(drops) == 3


def test_slow_render_drops_stale_frames_and_outputs_the_newest() -> None:
    source = ListSource(60, interval=0.002)  # ~500 fps camera
    loop, sink = make_loop(source, engine=FakeEngine(delay_s=0.02))  # ~50 fps render
    summary = loop.run(duration_s=10)
    indices = [f.index for f in sink.frames]
    assert source.produced == 60
    assert summary["dropped"].get("capture", 0) > 20  # most frames were stale
    assert len(indices) < 45
    assert indices == sorted(indices)  # never out of order
    assert indices[-1] >= 55  # the newest frames made it out


def test_every_frame_goes_through_when_the_loop_keeps_up() -> None:
    source = ListSource(20, interval=0.04)  # 25 fps: far below what the fakes can do, even on a busy machine
    loop, sink = make_loop(source)
    summary = loop.run(duration_s=10)
    assert [f.index for f in sink.frames] == list(range(20))
    assert summary["frames_out"] == 20
    assert set(summary["stages_ms"]) >= {"track", "motion", "render", "post", "sink"}


def test_latency_is_measured_from_capture_to_output() -> None:
    source = ListSource(15, interval=0.05)
    loop, _ = make_loop(source, engine=FakeEngine(delay_s=0.03))
    summary = loop.run(duration_s=10)
    latency = summary["latency_ms"]
    assert latency["median"] >= 30  # at least the render time
    assert latency["median"] < 1000
    assert summary["stages_ms"]["render"]["median"] >= 30


def test_lost_face_never_stops_the_loop() -> None:
    estimator = FakeEstimator()
    tracker = FakeTracker(lost=lambda i: 5 <= i < 25)
    source = ListSource(30, interval=0.02)
    loop, sink = make_loop(source, tracker=tracker, estimator=estimator)
    summary = loop.run(duration_s=10)
    lost = sum(1 for found, _ in estimator.updates if not found)
    assert summary["frames_out"] == tracker.calls >= 25  # every frame tracked went out
    assert lost == summary["events"]["face lost"] == sum(1 for i in range(tracker.calls) if 5 <= i < 25)
    assert sink.frames[-1].index == 29  # and the loop went on after the face came back
    # frames without a face were rendered with what the estimator gave for None
    assert any(int(img[20, 30, 0]) == 200 for img in sink.images)


def test_stalled_camera_keeps_the_avatar_moving_with_no_face_updates() -> None:
    estimator = FakeEstimator()
    source = ListSource(10, fps=50, interval=0.04, pause=lambda i: 0.8 if i == 5 else 0.0)
    loop, sink = make_loop(source, estimator=estimator, stall_s=0.1)
    summary = loop.run(duration_s=10)
    made_up = [f for f in sink.frames if f.index == -1]
    assert summary["events"]["camera stalls"] == 1
    assert len(made_up) >= 10  # about 50 fps for ~0.7 s
    assert sum(1 for found, _ in estimator.updates if not found) == len(made_up)
    assert [f.index for f in sink.frames if f.index >= 0] == list(range(10))  # camera frames resume


def test_a_failing_source_is_retried_and_the_loop_goes_on() -> None:
    source = ListSource(10, interval=0.005, raise_at=4)
    loop, sink = make_loop(source)
    summary = loop.run(duration_s=10)
    assert summary["events"]["source errors"] == 1
    assert [f.index for f in sink.frames][-1] == 9


def test_engine_errors_skip_the_frame_not_the_loop() -> None:
    calls = iter(range(10**6))
    engine = FakeEngine(fail=lambda m: next(calls) % 3 == 1)  # every third frame fails
    source = ListSource(30, interval=0.005)
    loop, sink = make_loop(source, engine=engine)
    summary = loop.run(duration_s=10)
    assert summary["events"]["step errors"] >= 5
    assert 10 <= summary["frames_out"] < 30


def test_max_frames_and_duration_stop_an_endless_source() -> None:
    source = ListSource(10**9, interval=0.002)
    loop, _ = make_loop(source)
    t0 = time.monotonic()
    summary = loop.run(duration_s=0.5)
    assert time.monotonic() - t0 < 4
    assert summary["frames_out"] > 0
    loop2, _ = make_loop(ListSource(10**9, interval=0.002))
    assert loop2.run(max_frames=7)["frames_out"] in (7, 8, 9)


def test_hotkeys_recalibrate_passthrough_and_quit() -> None:
    estimator = FakeEstimator()
    preview = FakePreview({3: "c", 5: " ", 9: "q"})
    source = ListSource(10**6, interval=0.01)
    loop, sink = make_loop(source, estimator=estimator, preview=preview)
    summary = loop.run(duration_s=10)
    assert estimator.recalibrations == 1
    assert summary["passthrough_at_exit"] is True
    assert summary["duration_s"] < 5  # q stopped an endless camera long before duration_s
    # passthrough frames are the camera image itself, at the output size
    last = sink.frames[-1]
    assert np.array_equal(sink.images[-1], np.full_like(sink.images[-1], last.index % 256))


def test_stats_overlay_is_drawn_on_the_preview_only() -> None:
    preview = FakePreview({2: "s"})
    loop, sink = make_loop(ListSource(8, interval=0.01), preview=preview)
    loop.run(duration_s=10)
    sent = {id(f): img for f, img in zip(sink.frames, sink.images)}
    same = [np.array_equal(img, sent[id(f)]) for f, img in zip(preview.frames, preview.images)]
    assert same[:2] == [True, True]  # overlay off until "s" after the 2nd frame shown
    assert not any(same[2:]) and len(same) > 2  # overlay on
    assert all(np.unique(img[20:40, 16:48]).size == 1 for img in sink.images)  # sinks stay clean


def test_next_and_previous_avatar_switch_and_reuse_prepared_photos(tmp_path) -> None:
    from PIL import Image

    paths = []
    for i, value in enumerate((40, 80, 120)):
        path = tmp_path / f"a{i}.png"
        Image.fromarray(photo(value)).save(path)
        paths.append(path)
    engine = FakeEngine()
    cache = AvatarCache(engine, loader=lambda p: np.asarray(Image.open(p).convert("RGB")))
    switcher = AvatarSwitcher(paths, cache)
    state = cache.get(paths[0])
    pipeline = Pipeline(engine, state, tracker=FakeTracker(), estimator=FakeEstimator())
    loop = LiveLoop(ListSource(10**6, interval=0.01), pipeline, [], avatars=switcher)
    import threading

    runner = threading.Thread(target=loop.run, kwargs={"duration_s": 10})
    runner.start()
    try:
        seen = []
        for command in (Command.NEXT_AVATAR, Command.NEXT_AVATAR, Command.PREVIOUS_AVATAR):
            loop.send(command)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and (seen and pipeline.state is seen[-1] or pipeline.state is state):
                time.sleep(0.01)
            seen.append(pipeline.state)
        assert [int(s.photo[0, 0, 0]) for s in seen] == [80, 120, 80]
        assert seen[2] is seen[0]  # prepared once, reused
        assert engine.prepared == 3
    finally:
        loop.stop()
        runner.join(5)
    assert not runner.is_alive()


def test_frames_that_carry_motion_are_not_tracked() -> None:
    tracker = FakeTracker()
    loop, sink = make_loop(ListSource(5, with_motion=True, interval=0.005), tracker=tracker)
    loop.run(duration_s=10)
    assert tracker.calls == 0
    assert all(int(img[20, 30, 0]) == 50 for img in sink.images)


def test_periodic_stats_line_reaches_the_status_callback() -> None:
    lines = []
    engine = FakeEngine()
    pipeline = Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(), estimator=FakeEstimator())
    loop = LiveLoop(ListSource(40, interval=0.01), pipeline, [], config=LoopConfig(stats_every_s=0.1),
                    on_status=lines.append)
    loop.run(duration_s=10)
    assert any("fps" in line and "latency" in line for line in lines)


def test_draw_text_leaves_the_input_untouched() -> None:
    image = photo(200)
    out = draw_text(image, ["30.0 fps"])
    assert np.all(image == 200)
    assert not np.array_equal(out, image)


def test_loop_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        LoopConfig(capture_queue=0)
    with pytest.raises(ValueError):
        LoopConfig(stall_s=0)
    with pytest.raises(ValueError):
        LoopConfig(opencv_threads=0)


def test_loop_limits_opencv_threads_while_it_runs_and_restores_them() -> None:
    import cv2

    before = cv2.getNumThreads()
    seen = []

    class Probe(FakeEngine):
        def render(self, state, motion):
            seen.append(cv2.getNumThreads())
            return super().render(state, motion)

    loop, _ = make_loop(ListSource(5, interval=0.005), engine=Probe(), opencv_threads=1)
    loop.run(duration_s=5)
    assert seen and set(seen) == {1}
    assert cv2.getNumThreads() == before


class HangingSource:
    """Three frames, then a read that never returns until close() (a camera
    that vanished mid-read)."""

    fps = 50.0

    def __init__(self) -> None:
        import threading

        self.closed = threading.Event()

    def frames(self):
        from loop_fakes import camera_image

        from vivicam.types import Frame

        for i in range(3):
            yield Frame(camera_image(i), time.perf_counter_ns(), i)
        self.closed.wait()

    def close(self) -> None:
        self.closed.set()


def test_quitting_does_not_wait_for_a_hung_camera() -> None:
    source = HangingSource()
    loop, sink = make_loop(source, stall_s=0.1)
    t0 = time.monotonic()
    summary = loop.run(duration_s=1.0)
    assert time.monotonic() - t0 < 2.5
    assert summary["events"]["camera stalls"] == 1
    assert sum(1 for f in sink.frames if f.index == -1) >= 10  # the avatar kept moving meanwhile
    source.close()


def test_draw_inset_puts_the_camera_in_the_corner() -> None:
    out = draw_inset(np.zeros((120, 160, 3), np.uint8), np.full((48, 64, 3), 77, np.uint8))
    assert out[110, 150, 0] == 77 and out[10, 10, 0] == 0
