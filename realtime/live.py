"""``vivicam run``: webcam → avatar → virtual camera (+ preview, + recording),
from one :class:`~vivicam.realtime.config.RunConfig`."""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

from vivicam.engines.base import Engine
from vivicam.errors import DeviceError
from vivicam.realtime.app import (
    avatar_paths,
    first_usable_avatar,
    make_engine,
    motion_setup,
    open_driver,
    tell_avatar_note,
)
from vivicam.realtime.config import RunConfig
from vivicam.realtime.guard import LoopError
from vivicam.realtime.outputs import check_output, file_inputs
from vivicam.realtime.pipeline import AvatarCache, Pipeline
from vivicam.realtime.stats import LoopStats

log = logging.getLogger(__name__)


def run_live(
    config: RunConfig | str | Path,
    *,
    on_status: Callable[[str], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Webcam → avatar → virtual camera (+ preview window, + optional mp4
    recording) until quit (q / Esc in the preview, Ctrl-C, or the config's
    ``duration_s``). ``config`` is a :class:`RunConfig`, or the avatar (a photo,
    or a folder: n/p in the preview switch between its photos) with the
    config's fields as keywords (``run_live("me.jpg", camera=1, size=(1280, 720))``).
    A failing recording (a full disk) keeps what it has: see ``summary["recording"]``.
    """
    if not isinstance(config, RunConfig):
        config = RunConfig.of(config, **options)
    elif options:
        config = config.with_(**options)
    from vivicam.realtime.sinks.preview import has_display

    paths = avatar_paths(config.avatar)
    out = config.output
    if out.record is not None:
        check_output(out.record, inputs=file_inputs(*paths, config.source.camera, config.motion.profile))
    show = has_display() if out.preview is None else out.preview
    if not out.virtual_camera and not show and out.record is None:
        raise DeviceError("no output: no virtual camera, no display for a preview and no --record file")
    eng = make_engine(config.engine.name, **config.engine.options())
    with ExitStack() as stack:
        # Devices first: a missing camera or virtual camera is reported in a
        # moment, before the avatar is prepared.
        source = open_driver(config.source.camera, size=config.source.camera_size, fps=out.fps)
        stack.callback(source.close)
        sinks = _live_sinks(stack, config)
        for sink in sinks:
            if hasattr(sink, "device_name"):
                (on_status or log.info)(
                    f"virtual camera: {sink.device_name} ({out.size[0]}x{out.size[1]} @ {out.fps:g} fps); "
                    "pick it in your video-call app"
                )
        loop = _build_loop(stack, config, eng, paths, source, sinks, show, on_status)
        try:
            summary, failed = loop.run(duration_s=config.loop.duration_s), None
        except LoopError as exc:  # raised after the sinks close, with what the recording kept
            summary, failed = exc.summary, exc
    summary.update(_recording_summary(sinks))
    if failed is not None:
        raise failed
    return summary


def _build_loop(stack: ExitStack, config: RunConfig, eng: Engine, paths: list[Path], source: Any, sinks: list[Any],
                show: bool, on_status: Callable[[str], None] | None) -> Any:
    """The avatar prepared, the preview, tracker and pipeline opened, the loop built."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.calibrate.neutral import CALIBRATION_PROMPT
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.loop import AvatarSwitcher, LiveLoop, LoopConfig
    from vivicam.realtime.sinks.preview import PreviewSink

    status = on_status or (lambda text: log.info("%s", text))
    motion_config, neutral = motion_setup(config.motion.profile, config.motion.mirror)
    cache = AvatarCache(eng)
    start, state = first_usable_avatar(paths, cache, on_status, folder=Path(config.avatar).is_dir())
    tell_avatar_note(state, paths[start], on_status)
    window = stack.enter_context(PreviewSink(title="vivicam")) if show else None
    tracker = stack.enter_context(MediaPipeTracker())
    estimator = MotionEstimator(
        config=motion_config,
        neutral=neutral,
        on_calibrated=lambda _: status("neutral face calibrated (press c in the preview to redo)"),
    )
    pipeline = Pipeline(eng, state, tracker=tracker, estimator=estimator, out_size=tuple(config.output.size),
                        background=config.output.background, stats=LoopStats(),
                        driver_flow=config.tracking.driver_flow)
    if neutral is None:
        status(f"calibrating: {CALIBRATION_PROMPT.lower()} (up to a few seconds)")
    return LiveLoop(
        source,
        pipeline,
        sinks,
        preview=window,
        avatars=AvatarSwitcher(paths, cache, index=start),
        config=LoopConfig(stats_every_s=config.loop.stats_every_s, overlay=config.loop.overlay,
                          out_fps=config.output.fps),
        on_status=on_status,
        fallback_engine=_cpu_fallback(config, eng),
    )


def _recording_summary(sinks: list[Any]) -> dict[str, Any]:
    """``{"recording": {path, frames, error}}`` for a closed ``--record`` sink
    (its name and frame count are final then), else nothing."""
    recorder = next((s for s in sinks if getattr(s, "recording", False)), None)
    if recorder is None:
        return {}
    return {"recording": {"path": str(recorder.path), "frames": recorder.frames_written, "error": recorder.failure}}


def _cpu_fallback(config: RunConfig, eng: Engine) -> Callable[[], Engine] | None:
    """What builds the CPU engine the live loop switches to when a GPU engine
    keeps failing (None: already on the CPU, or an engine instance given)."""
    if not isinstance(config.engine.name, str) or getattr(eng, "backend", "cpu") == "cpu":
        return None
    options = {**config.engine.options(), "backend": "cpu"}
    return lambda: make_engine(config.engine.name, **options)


def _live_sinks(stack: ExitStack, config: RunConfig) -> list[Any]:
    out = config.output
    sinks: list[Any] = []
    if out.virtual_camera:
        from vivicam.realtime.sinks.virtualcam import VirtualCameraSink

        try:
            sinks.append(stack.enter_context(
                VirtualCameraSink(out.size[0], out.size[1], out.fps, device=out.virtual_camera_device)))
        except DeviceError as exc:
            raise DeviceError(f"{exc} (or add --no-virtual-camera to only preview)") from exc
    if out.record is not None:
        from vivicam.realtime.sinks.mp4 import Mp4Sink

        sinks.append(stack.enter_context(Mp4Sink(out.record, out.fps, tuple(out.size), recording=True)))
    return sinks


__all__ = ["run_live"]
