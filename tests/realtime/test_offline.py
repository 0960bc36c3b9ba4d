"""The pipelined offline render (vivicam.realtime.offline): the same frames,
in the same order, as one frame at a time; errors reach the caller."""

from __future__ import annotations

import threading
from itertools import islice

import numpy as np
import pytest
from loop_fakes import FakeEngine, FakeEstimator, FakeTracker, ListSource, RecordingSink, photo

from vivicam.realtime.offline import run_pipelined, run_sequential
from vivicam.realtime.pipeline import Pipeline
from vivicam.realtime.sources.photo import load_photo


def _fake_pipeline(**engine_options) -> Pipeline:
    engine = FakeEngine(**engine_options)
    lost = lambda i: i % 7 == 3  # noqa: E731 — a face lost now and then takes the other path
    return Pipeline(engine, engine.prepare(photo()), tracker=FakeTracker(lost), estimator=FakeEstimator(),
                    out_size=(80, 60))


def _t(frame) -> float:
    return frame.index / 25.0


def test_pipelined_equals_sequential_with_stateful_stages() -> None:
    outputs = []
    for run in (run_sequential, run_pipelined):
        pipeline = _fake_pipeline()
        sink = RecordingSink()
        count = run(ListSource(40).frames(), pipeline, sink.write, _t)
        assert count == 40 == pipeline.stats.frames_out
        outputs.append(sink)
    sequential, pipelined = outputs
    assert [f.index for f in pipelined.frames] == list(range(40))
    assert len(sequential.images) == len(pipelined.images)
    for a, b in zip(sequential.images, pipelined.images):
        np.testing.assert_array_equal(a, b)
    # the estimator's state shows in the output: the frames really differ
    assert len({int(img[30, 40, 0]) for img in pipelined.images}) > 10


def test_stages_overlap_on_their_own_threads() -> None:
    pipeline = _fake_pipeline()
    names: dict[str, set[str]] = {"track": set(), "write": set()}
    track = pipeline.tracker.track

    def tracking(image):
        names["track"].add(threading.current_thread().name)
        return track(image)

    pipeline.tracker.track = tracking
    sink = RecordingSink()

    def write(image, frame):
        names["write"].add(threading.current_thread().name)
        sink.write(image, frame)

    run_pipelined(ListSource(5).frames(), pipeline, write, _t)
    assert names == {"track": {"vivicam-decode"}, "write": {"vivicam-encode"}}


@pytest.mark.parametrize("where", ["decode", "render", "encode"])
def test_an_error_in_any_stage_reaches_the_caller_and_stops_the_rest(where: str) -> None:
    pipeline = _fake_pipeline(fail=(lambda m: m.rotation[1] == 20.0) if where == "render" else None)
    source = ListSource(200, raise_at=10 if where == "decode" else None)
    written = []

    def write(image, frame):
        if where == "encode" and frame.index == 12:
            raise OSError("disk full")
        written.append(frame.index)

    with pytest.raises((OSError, RuntimeError)):
        run_pipelined(source.frames(), pipeline, write, _t, depth=2)
    assert source.produced < 40  # the decoder stopped too, not after the whole clip
    assert written == list(range(len(written)))
    assert not [t for t in threading.enumerate() if t.name in ("vivicam-decode", "vivicam-encode")]


def test_empty_input_writes_nothing() -> None:
    sink = RecordingSink()
    assert run_pipelined(iter(()), _fake_pipeline(), sink.write, _t) == 0
    assert sink.images == []


@pytest.mark.slow
@pytest.mark.testdata
def test_real_clip_pipelined_equals_sequential(testdata) -> None:
    """MediaPipe, the driver flow and the warp engine: frame for frame the same."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.app import make_engine
    from vivicam.realtime.driver_neutral import choose_driver_neutral
    from vivicam.realtime.sources.video import VideoFileSource

    clip = testdata / "clips" / "d12.mp4"
    engine = make_engine("warp")
    state = engine.prepare(load_photo(testdata / "portraits" / "s1.jpg"))
    reference = choose_driver_neutral("first", clip, fps=25.0)
    neutral, driver_neutral = reference.neutral, reference.frame
    outputs = []
    for run in (run_sequential, run_pipelined):
        source = VideoFileSource(clip)
        sink = RecordingSink()
        with MediaPipeTracker() as tracker:
            pipeline = Pipeline(engine, state, tracker=tracker, estimator=MotionEstimator(neutral=neutral),
                                out_size=(256, 256))
            pipeline.set_driver_neutral(driver_neutral)
            run(islice(source.frames(), 30), pipeline, sink.write, _t)
        source.close()
        outputs.append(sink)
    assert len(outputs[0].images) == len(outputs[1].images) == 30
    for a, b in zip(*(o.images for o in outputs)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.testdata
def test_real_clip_tracked_once_equals_tracked_in_the_render(testdata) -> None:
    """The render goes on with the pre-pass's tracker (its landmarks of the
    first frames kept, the driver flow of those frames measured on the
    decoding thread): frame for frame what a fresh tracker gives, one frame
    at a time."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.app import make_engine
    from vivicam.realtime.driver_neutral import choose_driver_neutral, track_video
    from vivicam.realtime.sources.replay import ReplayableVideo
    from vivicam.realtime.sources.video import VideoFileSource

    clip = testdata / "clips" / "d12.mp4"
    engine = make_engine("warp")
    state = engine.prepare(load_photo(testdata / "portraits" / "s4.jpg"))
    reference = choose_driver_neutral("first", clip, fps=25.0)
    outputs, counted = [], []
    for lend in (False, True):
        sink = RecordingSink()
        with MediaPipeTracker() as tracker, ReplayableVideo(clip) as video:
            pipeline = Pipeline(engine, state, tracker=tracker, estimator=MotionEstimator(neutral=reference.neutral),
                                out_size=(256, 256))
            pipeline.set_driver_neutral(reference.frame)
            if lend:  # the pre-pass tracks the first 12 frames (0.44 s at 25 fps) with the render's tracker
                tracks, _ = track_video(clip, fps=25.0, scan_s=0.45, tracker=tracker, video=video)
                assert len(tracks) == 12
                pipeline.set_driver_tracks(tuple(tracks))
                run_pipelined(islice(video.replay(), 30), pipeline, sink.write, _t)
            else:
                source = VideoFileSource(clip)
                run_sequential(islice(source.frames(), 30), pipeline, sink.write, _t)
                source.close()
        outputs.append(sink)
        counted.append(pipeline.stats.summary()["stages_ms"]["track"]["count"])
    assert counted == [30, 18]  # the render tracked only the frames the pre-pass had not
    assert len(outputs[0].images) == len(outputs[1].images) == 30
    for a, b in zip(*(o.images for o in outputs)):
        np.testing.assert_array_equal(a, b)


def _moments(n: int) -> list:
    from vivicam.types import Frame, Motion

    image = np.zeros((4, 4, 3), np.uint8)
    return [(Motion(rotation=np.array([0.0, float(i), 0.0], np.float32)), Frame(image, 0, i)) for i in range(n)]


def test_retimed_keeps_the_length_and_interpolates_the_motion() -> None:
    from vivicam.realtime.offline import retimed

    out = list(retimed(_moments(25), 25.0, 30.0))  # one second of a 25 fps clip at 30 fps
    assert len(out) == 30 and [f.index for _, f in out] == list(range(30))
    yaws = np.array([m.rotation[1] for m, _ in out])
    # output frame k shows the driver's motion at k/30 s (yaw = driver frame number)
    np.testing.assert_allclose(yaws[:25], np.minimum(np.arange(25) * 25 / 30, 24), atol=1e-5)
    assert np.all(np.diff(yaws) >= 0)  # no jumps back: motion, not a frame repeat pattern
    assert len({round(float(y), 4) for y in yaws[:25]}) == 25  # in-between frames are new moments


def test_retimed_down_and_identity() -> None:
    from vivicam.realtime.offline import retimed

    assert len(list(retimed(_moments(60), 60.0, 25.0))) == 25
    same = list(retimed(_moments(10), 25.0, 25.0))
    assert [m.rotation[1] for m, _ in same] == list(range(10))


def test_pipelined_render_at_another_rate_writes_the_retimed_frames() -> None:
    pipeline = _fake_pipeline()
    sink = RecordingSink()
    written = run_pipelined(ListSource(25).frames(), pipeline, sink.write, _t, retime=(25.0, 50.0))
    assert written == 50 == len(sink.images)
    assert [f.index for f in sink.frames] == list(range(50))
