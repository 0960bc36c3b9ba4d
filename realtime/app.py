"""The scriptable library API; the CLI commands are thin layers over it.

- :func:`render_video` — animate a photo from a driving video into an mp4.
- :func:`run_demo` — the bundled astronaut portrait driven by procedural motion.
- :func:`run_live` — webcam → avatar → virtual camera (+ preview), until quit.
- :func:`calibrate_profile` — record the user's neutral face into a JSON profile.

Each returns a summary dict (frames, fps, per-stage milliseconds, …) and
raises the typed errors of :mod:`vivicam.errors` on bad input.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vivicam.engines.base import Engine
from vivicam.errors import InputError, NoFaceError
from vivicam.realtime.config import LIVE_FPS, LIVE_SIZE
from vivicam.realtime.outputs import check_output, file_inputs
from vivicam.realtime.pipeline import AvatarCache, Pipeline, even_size
from vivicam.realtime.stats import LoopStats, process_age_s
from vivicam.types import Frame

log = logging.getLogger(__name__)

# Defaults shared with the CLI (which shows them in --help): one place each.
DEMO_OUTPUT = "vivicam-demo.mp4"
DEMO_SECONDS = 8.0
DEMO_FPS = 25.0
PROFILE_SECONDS = 2.0  # how long `calibrate` watches the neutral face


def make_engine(
    engine: str | Engine = "warp",
    *,
    backend: str = "auto",
    weights: str | Path | None = None,
    precision: str = "fp16",
    mouth: str | None = None,
    camera_motion: str | None = None,
) -> Engine:
    """An engine by name (with its options) or the given instance. Warp only
    (see ``WarpEngine``; None = its default): ``mouth`` "driver" or "synth",
    ``camera_motion`` "follow" or "still"."""
    if not isinstance(engine, str):
        return engine
    from vivicam.engines.registry import create_engine

    extra = {k: v for k, v in (("mouth", mouth), ("camera_motion", camera_motion)) if v is not None}
    return create_engine(engine, backend=backend, weights=weights, precision=precision, **extra)


check_writable = check_output  # the older name, kept for scripts and the benchmarks


def prepare_named(eng: Engine, photo: np.ndarray, path: str | Path) -> Any:
    """``eng.prepare(photo)``; an InputError (e.g. no face) names the file."""
    try:
        return eng.prepare(photo)
    except InputError as exc:
        if Path(path).name in str(exc):
            raise
        raise type(exc)(f"{Path(path).name}: {exc}") from exc


def tell_avatar_note(state: Any, photo: str | Path, on_status: Callable[[str], None] | None) -> None:
    """Pass on what the engine noticed about the photo (e.g. "3 faces found;
    using the largest one (centre 412,220)")."""
    note = getattr(state, "note", None)
    if note:
        (on_status or log.warning)(f"{Path(photo).name}: {note}")


def default_out_size(photo: np.ndarray) -> tuple[int, int]:
    """The photo's size with even sides (H.264 needs them): the photo as
    loaded (at most 2048 px a side), never scaled down again, so a render at
    rest is the photo itself."""
    return even_size(photo.shape[1], photo.shape[0], max_side=4096)


def motion_setup(profile: str | Path | None, mirror: bool | None) -> tuple[Any, Any]:
    """(MotionConfig, Neutral | None) from an optional saved profile."""
    from vivicam.calibrate.motion import MotionConfig

    neutral, config = None, None
    if profile is not None:
        from vivicam.calibrate.neutral import load_profile

        neutral, config = load_profile(profile)
    config = config or MotionConfig()
    if mirror is not None and getattr(config, "mirror", None) != mirror:
        config = dataclasses.replace(config, mirror=mirror)
    return config, neutral


# -- offline ----------------------------------------------------------------------
def render_video(
    avatar: str | Path,
    driving: str | Path,
    output: str | Path,
    *,
    engine: str | Engine = "warp",
    backend: str = "auto",
    weights: str | Path | None = None,
    precision: str = "fp16",
    mouth: str | None = None,
    camera_motion: str | None = None,
    size: tuple[int, int] | None = None,
    background: Any = "keep",
    neutral: str | Path = "auto",
    profile: str | Path | None = None,
    mirror: bool | None = None,
    driver_flow: bool = True,
    audio: bool = True,
    progress: bool = True,
    fps: float | None = None,
    on_status: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Animate ``avatar`` with the face in ``driving`` into ``output`` (mp4).
    ``fps``: render at another frame rate than the driving video's (the
    in-between frames from interpolated motion; same length, audio in sync).

    The output has exactly the driving video's frames and frame rate (audio
    copied when present). Motion is measured from the driver's ``neutral``:
    ``"auto"``, ``"first"`` or a profile path (``profile``, the older name);
    see ``vivicam.realtime.driver_neutral``. A failed or interrupted render
    leaves ``output`` as it was (written beside it, renamed when complete).
    """
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.driver_neutral import is_neutral_mode
    from vivicam.realtime.offline import run_pipelined
    from vivicam.realtime.sinks.mp4 import Mp4Sink
    from vivicam.realtime.sources.photo import load_photo, scaled_note
    from vivicam.realtime.sources.replay import ReplayableVideo

    called = time.perf_counter()
    neutral = profile if profile is not None else neutral
    check_output(output, inputs=file_inputs(avatar, driving, None if is_neutral_mode(neutral) else neutral))
    stats = LoopStats()
    with ExitStack() as stack:
        # decoded once for the pre-pass and the render, on a thread of its own (starting now)
        video = ReplayableVideo(driving)
        stack.callback(video.close)
        info = video.info
        photo = load_photo(avatar)
        eng = make_engine(engine, backend=backend, weights=weights, precision=precision, mouth=mouth,
                          camera_motion=camera_motion)
        # one tracker for the pre-pass and the render: the frames the
        # pre-pass tracked are not tracked again
        tracker = stack.enter_context(MediaPipeTracker())
        state, config, reference = _prepare_and_scan(eng, photo, avatar, neutral, video, info.fps, mirror, tracker)
        tell_avatar_note(state, avatar, on_status)
        if not size and (scaled := scaled_note(avatar, photo)):
            (on_status or log.warning)(scaled)
        (on_status or log.info)(reference.note)
        if reference.warning:
            (on_status or log.warning)(f"{Path(driving).name}: {reference.warning}")
        out_size = tuple(size) if size else default_out_size(state.photo)
        pipeline = Pipeline(eng, state, tracker=tracker, estimator=MotionEstimator(config=config, neutral=reference.neutral),
                            out_size=out_size, background=background, stats=stats, driver_flow=driver_flow)
        if reference.frame is not None:
            pipeline.set_driver_neutral(reference.frame, camera_from_first=not reference.portrait_is_frame)
        pipeline.set_driver_tracks(_bridged(reference.tracks, info.fps, config))
        sink = stack.enter_context(Mp4Sink(output, info.rate if fps is None else fps, out_size,
                                           audio_from=driving if audio and info.has_audio else None))
        frames = _progress(video.replay(), total=info.frame_count, enabled=progress, desc="render")
        # decoding + tracking ahead of the render, encoding behind it (same output as one frame at a time)
        retime = None if fps is None or abs(fps - info.fps) < 1e-6 else (info.fps, fps)
        run_pipelined(frames, pipeline, sink.write, lambda frame: frame.index / info.fps, retime=retime)
    if stats.frames_out == 0:
        raise InputError(f"{driving}: no frame could be decoded")
    summary = stats.summary()
    summary.update(output=str(output), frames=stats.frames_out, video_fps=info.fps if fps is None else fps,
                   size=list(out_size), avatar_note=getattr(state, "note", None), neutral=reference.note,
                   driver_warning=reference.warning,
                   neutral_frames=None if reference.frames is None else list(reference.frames),
                   startup_s=_startup_s(stats, called))
    return summary


def _bridged(tracks: Any, fps: float, config: Any) -> Any:
    """The pre-pass's tracks with the gaps the live motion stage would only
    hold the last pose through (up to ``hold_s``) interpolated."""
    if tracks is None:
        return None
    from vivicam.realtime.tracking.gaps import bridge_gaps

    return bridge_gaps(tracks, max(int(config.hold_s * fps), 0))


def _startup_s(stats: LoopStats, called: float) -> float | None:
    """Seconds from the process's start (or, where that is unknown, from
    ``called``) to the first frame handed to the encoder."""
    if stats.first_out_ns is None:
        return None
    since_first = (stats.now_ns() - stats.first_out_ns) / 1e9
    age = process_age_s()
    age = time.perf_counter() - called if age is None else age
    return round(age - since_first, 3)


def _prepare_and_scan(eng: Engine, photo: np.ndarray, avatar: str | Path, spec: str | Path, video: Any,
                      fps: float, mirror: bool | None, tracker: Any) -> tuple[Any, Any, Any]:
    """(avatar state, MotionConfig, DriverNeutral): the photo is prepared on
    a thread of its own while the driver's pre-pass (decoding and tracking)
    runs on this one; a photo that fails ends the pre-pass early."""
    from concurrent.futures import ThreadPoolExecutor

    def prepare() -> tuple[Any, Any]:
        state = prepare_named(eng, photo, avatar)
        if str(spec) != "auto":
            return state, None
        from vivicam.face.detect import find_avatar_face

        return state, find_avatar_face(photo).landmarks

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vivicam-prepare") as pool:
        prepared = pool.submit(prepare)
        failed = lambda: prepared.done() and prepared.exception() is not None  # noqa: E731
        config, reference = _render_neutral(spec, video.path, photo, fps, mirror, tracker=tracker, stop=failed,
                                            portrait=lambda: prepared.result()[1], video=video)
        state = prepared.result()[0]
    return state, config, reference


def _render_neutral(spec: str | Path, driving: str | Path, photo: np.ndarray, fps: float, mirror: bool | None, *,
                    tracker: Any = None, stop: Callable[[], bool] | None = None,
                    portrait: Callable[[], Any] | None = None, video: Any = None) -> tuple[Any, Any]:
    """(MotionConfig, DriverNeutral) of a render: a profile's saved settings
    when ``spec`` is one, the given mirror setting on top. ``portrait``
    gives the photo's landmarks (``auto``; found here without it)."""
    from vivicam.calibrate.motion import MotionConfig
    from vivicam.realtime.driver_neutral import choose_driver_neutral, is_neutral_mode

    config = MotionConfig()
    if not is_neutral_mode(spec):
        from vivicam.calibrate.neutral import load_profile

        config = load_profile(spec)[1] or config  # read first: a bad profile fails before the scan
    if mirror is not None and config.mirror != mirror:
        config = dataclasses.replace(config, mirror=mirror)
    if str(spec) == "auto" and portrait is None:
        from vivicam.face.detect import find_avatar_face

        portrait = lambda: find_avatar_face(photo).landmarks  # noqa: E731
    reference = choose_driver_neutral(spec, driving, fps=fps, portrait=portrait if str(spec) == "auto" else None,
                                      photo=photo, mirror=config.mirror, calibration_s=config.calibration_s,
                                      tracker=tracker, stop=stop, video=video)
    return config, reference


def demo_photo() -> np.ndarray:
    """The bundled public-domain portrait (scikit-image's astronaut, 512×512)."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[..., :3])


def run_demo(
    output: str | Path | None = DEMO_OUTPUT,
    seconds: float = DEMO_SECONDS,
    *,
    fps: float = DEMO_FPS,
    preview: bool | None = None,
    engine: str | Engine = "warp",
    backend: str = "auto",
    weights: str | Path | None = None,
    precision: str = "fp16",
    mouth: str | None = None,
    camera_motion: str | None = None,
    size: tuple[int, int] | None = None,
    background: Any = "keep",
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """The astronaut portrait animated by procedural motion (blinks, head sway,
    speech-like mouth) into ``output``, previewed when a display exists
    (``preview=None``: automatic). No webcam, GPU or download needed."""
    from vivicam.realtime.sinks.preview import PreviewSink, has_display
    from vivicam.realtime.sources.idle import IdleSource

    if output is None and preview is False:
        raise InputError("nothing to do: no output file and no preview")
    if output is not None:
        check_output(output)
    show = has_display() if preview is None else preview
    eng = make_engine(engine, backend=backend, weights=weights, precision=precision, mouth=mouth,
                      camera_motion=camera_motion)
    state = eng.prepare(demo_photo())
    out_size = tuple(size) if size else default_out_size(state.photo)
    stats = LoopStats()
    pipeline = Pipeline(eng, state, out_size=out_size, background=background, stats=stats)
    source = IdleSource(fps=fps, seconds=seconds, seed=seed, talk=True, realtime=False)
    with ExitStack() as stack:
        stack.callback(source.close)
        sink = None
        if output is not None:
            from vivicam.realtime.sinks.mp4 import Mp4Sink

            sink = stack.enter_context(Mp4Sink(output, fps, out_size))
        window = stack.enter_context(PreviewSink(title="vivicam demo")) if show else None
        start = time.monotonic()
        total = int(round(seconds * fps))
        for frame in _progress(source.frames(), total=total, enabled=progress, desc="demo"):
            result = pipeline.step(frame, t_s=frame.index / fps)
            with stats.time("sink"):
                if sink is not None:
                    sink.write(result.image, frame)
            stats.frame_out(None)  # offline: throughput only, no capture latency
            if window is not None:
                # The preview plays in real time; the file is written as fast as rendered.
                delay = start + (frame.index + 1) / fps - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                window.write(result.image, frame)
                if window.poll_key() in ("q", "esc", "closed"):
                    break
    summary = stats.summary()
    summary.update(output=None if output is None else str(output), frames=stats.frames_out, size=list(out_size))
    return summary


def _progress(frames: Iterator[Frame], *, total: int | None, enabled: bool, desc: str) -> Iterator[Frame]:
    if not enabled:
        return frames
    from tqdm import tqdm

    return iter(tqdm(frames, total=total or None, desc=desc, unit="frame", leave=True))


# -- live -------------------------------------------------------------------------
def avatar_paths(avatar: str | Path) -> list[Path]:
    """One photo, or every image in a folder (for next/previous avatar)."""
    p = Path(avatar)
    if p.is_dir():
        from vivicam.realtime.sources.folder import list_images

        paths = list_images(p)
        if not paths:
            raise InputError(f"{p}: the folder has no images")
        return list(paths)
    return [p]


def open_driver(spec: str | Path, *, size: tuple[int, int] = LIVE_SIZE, fps: float = LIVE_FPS) -> Any:
    """The live driving source: a camera index or device path, a video file
    (played in real time, looped), an image folder or ``idle``."""
    text = str(spec)
    if text.isdigit() or text.startswith("/dev/video"):
        from vivicam.realtime.sources.webcam import WebcamSource

        device: int | str = int(text) if text.isdigit() else text
        return WebcamSource(device, width=size[0], height=size[1], fps=int(round(fps)))
    if text == "idle":
        from vivicam.realtime.sources.idle import IdleSource

        return IdleSource(fps=fps, talk=False, realtime=True)
    if Path(text).is_file():
        from vivicam.realtime.sources.video import VideoFileSource

        return VideoFileSource(text, loop=True, realtime=True)
    from vivicam.realtime.sources import open_source

    return open_source(text)


def first_usable_avatar(
    paths: list[Path], cache: AvatarCache, on_status: Callable[[str], None] | None = None, *, folder: bool = True
) -> tuple[int, Any]:
    """(index, prepared state) of the first photo that works; photos of a
    folder without a usable face are skipped with a note. A single photo's
    error, or the folder's when none works, is raised."""
    for index, path in enumerate(paths):
        try:
            return index, cache.get(path)
        except InputError as exc:
            if not folder:
                raise
            (on_status or log.warning)(f"skipping {path.name}: {exc}")
    raise NoFaceError(f"none of the {len(paths)} photos in {paths[0].parent} has a usable face")


def calibrate_profile(
    output: str | Path,
    *,
    source: str | int = 0,
    seconds: float = PROFILE_SECONDS,
    mirror: bool | None = None,
    timeout_s: float = 15.0,
    on_status: Callable[[str], None] | None = None,
) -> Path:
    """Watch the user's neutral face for ``seconds`` (webcam or video) and save
    it as a JSON profile that ``run``/``render --profile`` load."""
    from vivicam.calibrate.neutral import NeutralCalibrator, save_profile
    from vivicam.face.tracker import MediaPipeTracker

    out = check_output(output, inputs=file_inputs(source))
    config, _ = motion_setup(None, mirror)
    text = str(source)
    is_file = Path(text).is_file()
    if is_file:
        from vivicam.realtime.sources.video import VideoFileSource

        driver = VideoFileSource(text)
    else:
        driver = open_driver(text)
    fps = float(getattr(driver, "fps", 30) or 30)
    calibrator = NeutralCalibrator(seconds=seconds)
    (on_status or log.info)(f"calibrating for {seconds:.0f} s: look at the camera with a relaxed, neutral face")
    start = time.monotonic()
    seen = 0
    neutral = None
    try:
        with MediaPipeTracker() as tracker:
            for frame in driver.frames():
                t_s = frame.index / fps if is_file else frame.t_capture_ns / 1e9
                landmarks = tracker.track(frame.image)
                if landmarks is not None:
                    seen += 1
                    neutral = calibrator.add(landmarks, t_s)
                    if neutral is not None:
                        break
                elapsed = frame.index / fps if is_file else time.monotonic() - start
                if elapsed > timeout_s:
                    break
    finally:
        driver.close()
    if neutral is None:
        where = "the video" if is_file else "the camera"
        if seen == 0:
            raise NoFaceError(f"no face seen in {where}; face the camera in good light and try again")
        raise NoFaceError(f"the face in {where} was not seen steadily for {seconds:.0f} s; hold still and try again")
    save_profile(out, neutral, config)
    return out


__all__ = [
    "calibrate_profile",
    "make_engine",
    "render_video",
    "run_demo",
]
