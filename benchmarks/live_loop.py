"""Live-loop benchmark: a video file plays the webcam, a null sink the output.

The video is decoded as fast as possible but released at its own frame rate
(like a camera delivering frames), so stale frames are dropped exactly as in
``vivicam run`` and the capture-to-output latency is the one a user would
see. Reports per-stage time (decode, track, motion, render, post, sink) as
median and p95, output FPS, latency and dropped frames, and what the loop
costs over its run (not the avatar's preparation): process CPU in cores and
per output frame, the three busiest threads (``cpu_report``), with the
machine named, as JSON; ``--profile`` adds a per-stage timeline.

    python -m vivicam.benchmarks.live_loop --driving CLIP --avatar PHOTO --out results.json

Without ``--driving``/``--avatar`` it uses ``../shared/testdata`` (d12.mp4
driving s1.jpg) when present, else the procedural idle driver and the bundled
astronaut portrait (no tracking stage then).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

from vivicam.benchmarks.cpu_report import format_cpu
from vivicam.paths import atomic_write
from vivicam.realtime.stats import STAGE_ORDER, LoopStats
from vivicam.types import Frame

ROOT = Path(__file__).resolve().parents[1]


def testdata_dir() -> Path | None:
    """``$VIVICAM_TESTDATA`` or ``../shared/testdata`` beside the repository."""
    env = os.environ.get("VIVICAM_TESTDATA")
    for candidate in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "testdata"]:
        if (candidate / "clips").is_dir() and (candidate / "portraits").is_dir():
            return candidate
    return None


def machine_info() -> dict[str, Any]:
    """CPU model, cores, OS and Python, for the JSON (timings mean little without it)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        info["load_avg_1m"] = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        pass
    return info


class PacedSource:
    """Releases an inner source's frames at ``fps`` (re-stamped at release, as
    a camera stamps them) and records each frame's decode time as ``decode``."""

    def __init__(self, inner: Any, fps: float, stats: LoopStats, *, max_frames: int | None = None) -> None:
        self.inner = inner
        self.fps = float(fps)
        self.stats = stats
        self.max_frames = max_frames
        self.frames_in = 0

    def frames(self) -> Iterator[Frame]:
        it = iter(self.inner.frames())
        start = time.perf_counter()
        while self.max_frames is None or self.frames_in < self.max_frames:
            t0 = time.perf_counter_ns()
            try:
                frame = next(it)
            except StopIteration:
                return
            self.stats.add_stage("decode", (time.perf_counter_ns() - t0) / 1e6)
            delay = start + self.frames_in / self.fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            self.frames_in += 1
            yield replace(frame, t_capture_ns=time.perf_counter_ns())

    def close(self) -> None:
        self.inner.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vivicam.realtime.cli.common import (
        add_engine_args, add_flow_arg, add_threads_arg, parse_size, positive_float,
    )

    p.add_argument("--driving", metavar="VIDEO", help="driving video, or 'idle' for the procedural driver (default: testdata d12.mp4, else idle)")
    p.add_argument("--avatar", metavar="PHOTO", help="avatar photo (default: testdata s1.jpg, else the astronaut)")
    p.add_argument("--out", metavar="JSON", help="write the results here")
    p.add_argument("--profile", metavar="JSON",
                   help="write a per-stage timeline here (Chrome trace: open in chrome://tracing or Perfetto)")
    p.add_argument("--frames", type=int, default=None, help="stop after this many input frames (default: the whole clip)")
    p.add_argument("--seconds", type=positive_float, default=20.0, help="stop after this many seconds (default: 20)")
    p.add_argument("--fps", type=positive_float, default=None, help="camera rate to simulate (default: the video's)")
    p.add_argument("--loop", action="store_true",
                   help="play the video in a loop until --seconds (with a high --fps: the loop's top speed)")
    p.add_argument("--size", type=parse_size, default=(640, 480), metavar="WxH", help="output size (default: 640x480)")
    add_flow_arg(p)
    add_threads_arg(p)
    add_engine_args(p)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Run the loop as configured by ``args``; returns (and writes) the results."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.realtime.app import check_writable, demo_photo
    from vivicam.realtime.cli.common import engine_from_args
    from vivicam.realtime.loop import LiveLoop
    from vivicam.realtime.pipeline import Pipeline
    from vivicam.realtime.sinks.null import NullSink
    from vivicam.realtime.sources.photo import load_photo
    from vivicam.face.tracker import MediaPipeTracker

    from vivicam.benchmarks.cpu_report import CpuSampler, Timeline
    from vivicam.threads import current as thread_policy

    for path in (args.out, getattr(args, "profile", None)):
        if path:
            check_writable(path)
    data = testdata_dir()
    driving = args.driving or (str(data / "clips" / "d12.mp4") if data else None)
    if driving == "idle":
        driving = None
    avatar = args.avatar or (str(data / "portraits" / "s1.jpg") if data else None)
    stats = Timeline(history=100000) if getattr(args, "profile", None) else LoopStats(history=100000)
    inner, fps = _inner_source(driving, args.fps, loop=args.loop)  # a bad video is reported before the slow part
    source = PacedSource(inner, fps, stats, max_frames=args.frames)
    tracker = None
    try:
        engine = engine_from_args(args)
        t0 = time.perf_counter()
        state = engine.prepare(load_photo(avatar) if avatar else demo_photo())
        prepare_ms = (time.perf_counter() - t0) * 1e3
        tracker = MediaPipeTracker() if driving else None
        pipeline = Pipeline(engine, state, tracker=tracker, estimator=MotionEstimator() if driving else None,
                            out_size=tuple(args.size), stats=stats, driver_flow=getattr(args, "driver_flow", True))
        loop = LiveLoop(source, pipeline, [NullSink()])
        sampler = CpuSampler().start()
        summary = loop.run(duration_s=args.seconds)
        cpu = sampler.stop()
        # CPU per output frame: what a run costs whatever else loads the machine
        busy_s = cpu["process"]["cores"] * cpu["process"]["wall_s"]
        cpu["process"]["ms_per_frame_out"] = round(busy_s * 1e3 / max(summary["frames_out"], 1), 2)
    finally:
        source.close()
        if tracker is not None:
            tracker.close()
    result = {
        "benchmark": "live_loop",
        "machine": machine_info(),
        "config": {
            "driving": driving or "idle (procedural)",
            "avatar": avatar or "skimage astronaut",
            "engine": getattr(engine, "name", str(args.engine)),
            "backend": args.backend,
            "driver_flow": pipeline.wants_driver_flow,
            "source_fps": fps,
            "loop": bool(args.loop),
            "out_size": list(args.size),
            "prepare_ms": round(prepare_ms, 1),
            "threads": thread_policy().as_dict(),
        },
        "frames_in": source.frames_in,
        "frames_out": summary["frames_out"],
        "fps": summary["fps"],
        "latency_ms": summary["latency_ms"],
        "stages_ms": summary["stages_ms"],
        "dropped": summary["dropped"],
        "events": summary["events"],
        "duration_s": summary["duration_s"],
        "cpu": cpu,
    }
    if getattr(args, "profile", None):
        atomic_write(Path(args.profile), stats.trace_json().encode())
    if args.out:
        atomic_write(Path(args.out), (json.dumps(result, indent=2) + "\n").encode())
    return result


def _inner_source(driving: str | None, fps: float | None, *, loop: bool = False) -> tuple[Any, float]:
    if driving:
        from vivicam.realtime.sources.video import VideoFileSource, probe_video

        info = probe_video(driving)
        return VideoFileSource(driving, loop=loop, realtime=False), float(fps or info.fps)
    from vivicam.realtime.sources.idle import IdleSource

    rate = float(fps or 30.0)
    return IdleSource(fps=rate, seconds=None, talk=True, realtime=False), rate


def format_table(result: dict[str, Any]) -> str:
    """The results as a small text table."""
    lines = [
        f"machine: {result['machine']['cpu']} ({result['machine']['cores']} cores)",
        f"engine {result['config']['engine']}, source {result['config']['source_fps']:g} fps, "
        f"{result['frames_in']} frames in, {result['frames_out']} out",
        f"{'stage':<10}{'median ms':>11}{'p95 ms':>10}",
    ]
    stages = result["stages_ms"]
    for name in [n for n in STAGE_ORDER if n in stages] + [n for n in stages if n not in STAGE_ORDER]:
        v = stages[name]
        if v.get("median") is not None:
            lines.append(f"{name:<10}{v['median']:>11.2f}{v['p95']:>10.2f}")
    lat = result["latency_ms"]
    if lat.get("median") is not None:
        lines.append(f"{'latency':<10}{lat['median']:>11.1f}{lat['p95']:>10.1f}")
    lines.append(f"throughput: {result['fps'] or 0:.1f} fps; dropped: {result['dropped'] or 0}")
    if result.get("cpu"):
        lines += format_cpu(result["cpu"])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.live_loop", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run_guarded("live_loop", run_benchmark, args)
    if isinstance(result, int):
        return result
    print(format_table(result))
    return 0


def run_guarded(name: str, run: Callable[[argparse.Namespace], dict[str, Any]],
                args: argparse.Namespace) -> dict[str, Any] | int:
    """``run(args)`` under the thread policy (``args.threads``) with native
    logs quiet: its result, or — bad input — the exit code after a one-line
    ``name: error: ...`` on stderr."""
    from vivicam.errors import VivicamError
    from vivicam.realtime.cli.common import quiet_native_logs
    from vivicam.threads import apply as apply_thread_policy

    try:
        apply_thread_policy(args.threads)
        with quiet_native_logs():
            return run(args)
    except VivicamError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
