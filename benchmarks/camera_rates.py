"""Camera-rate benchmark (issue 17): whatever rate the camera delivers, the
virtual camera and the recording run at a steady ``--fps``, the frames in
between are distinct (rendered from predicted motion, not repeated), and the
camera frames' latency is what it would be without them.

For each camera rate a driving clip is decimated to that rate (the frames a
camera at that rate would have taken) and released at it, as a webcam asked
for 30 fps that gives less in a dim room (it still says 30). It runs through
the live loop (``LiveLoop``, the real pipeline) twice, one run right after
the other: ``steady`` with ``--fps`` output (in-between frames), and
``camera_rate`` with the output at the camera's own rate (no in-between
frames: the baseline for latency). The sinks are a fake virtual camera
(pyvirtualcam's work minus the device) and a real ``--record`` mp4, read back
afterwards. Counted from the moment the neutral face is calibrated:

- ``rate_fps``: frames written per second (virtual camera; the recording's
  writes; and the recording's frames over the run's wall time);
- ``distinct_share``: consecutive frames that differ visibly
  (``steady_metrics.VISIBLE_GREY`` / ``VISIBLE_SHARE``), at the virtual camera
  and decoded from the recording;
- ``latency_ms``: camera frames' capture to the virtual camera, median/p95.

    python -m vivicam.benchmarks.camera_rates --camera-rates 10,15,24,30 --out rates.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vivicam.benchmarks.live_loop import PacedSource, machine_info, run_guarded, testdata_dir
from vivicam.benchmarks.steady_metrics import VISIBLE_GREY, VISIBLE_SHARE, changed_share, distinct_share, grey
from vivicam.paths import atomic_write
from vivicam.realtime.stats import LoopStats, percentiles
from vivicam.types import Frame

RATES = (10.0, 15.0, 24.0, 30.0)


class Decimated:
    """The frames of ``inner`` (a video at ``source_fps``) that a camera at
    ``fps`` would have taken: at each of its ticks, the clip's frame of that moment."""

    def __init__(self, inner: Any, source_fps: float, fps: float) -> None:
        self.inner, self.source_fps, self.fps = inner, float(source_fps), float(fps)

    def frames(self) -> Iterator[Frame]:
        tick = 0
        for i, frame in enumerate(self.inner.frames()):
            if i + 0.5 >= tick * self.source_fps / self.fps:
                tick += 1
                yield frame

    def close(self) -> None:
        self.inner.close()


class Says:
    """A camera that says it runs at ``fps`` (what it was asked for), whatever it delivers."""

    def __init__(self, inner: Any, fps: float) -> None:
        self.inner, self.fps = inner, float(fps)

    def frames(self) -> Iterator[Frame]:
        return self.inner.frames()

    def close(self) -> None:
        self.inner.close()


class Tap:
    """A sink wrapper: when each frame was written, whether it is counted
    (``counting()``), its camera latency, and (``look``) its grey image, to
    see afterwards how much each changed (measuring it during the run would
    take the loop's CPU)."""

    def __init__(self, inner: Any, counting: Callable[[], bool], *, look: bool = False) -> None:
        self.inner, self.counting, self.look = inner, counting, look
        self.writes: list[tuple[int, bool]] = []  # (perf_counter_ns, counted)
        self.latency_ms: list[float] = []
        self.seen: list[np.ndarray] = []  # grey images: the one before the first counted, then the counted
        self.made_up: list[bool] = []  # whether each counted frame was an in-between frame
        self._prev: np.ndarray | None = None

    def write(self, image: np.ndarray, frame: Frame | None = None) -> Any:
        result = self.inner.write(image, frame)
        now = time.perf_counter_ns()
        counted = self.counting()
        self.writes.append((now, counted))
        if counted and frame is not None and frame.index >= 0:  # a camera frame (in-between ones are -1)
            self.latency_ms.append((now - frame.t_capture_ns) / 1e6)
        if self.look:
            image = grey(image)
            if counted and self._prev is not None:
                if not self.seen:
                    self.seen.append(self._prev)
                self.seen.append(image)
                self.made_up.append(frame is not None and frame.index < 0)
            self._prev = image
        return result

    def close(self) -> None:
        self.inner.close()

    def distinct(self) -> dict[str, float | None]:
        """The share of counted frames that differ visibly from the one before: all, and in-between ones."""
        changed = [changed_share(a, b) for a, b in zip(self.seen, self.seen[1:])]
        seen = np.array(changed) >= VISIBLE_SHARE
        made_up = np.array(self.made_up, bool)
        share = lambda pick: round(float(seen[pick].mean()), 3) if pick.any() else None  # noqa: E731
        return {"distinct_share": share(np.ones_like(made_up)), "in_between_distinct_share": share(made_up)}

    def counted_times_s(self) -> np.ndarray:
        return np.array([t for t, c in self.writes if c], np.float64) / 1e9


class FakeVirtualCamera:
    """What a virtual camera sink does to a frame, without the device."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height

    def write(self, image: np.ndarray, frame: Frame | None = None) -> None:
        from vivicam.realtime.sinks.base import fit_image

        fit_image(image, self.width, self.height).copy()  # pyvirtualcam copies it into the device's buffer

    def close(self) -> None:
        pass


def rate_of(times_s: np.ndarray) -> dict[str, Any]:
    """Frames a second over the span of ``times_s``, and the gaps between them."""
    if len(times_s) < 2:
        return {"rate_fps": None, "frames": int(len(times_s))}
    gaps = np.diff(times_s) * 1e3
    return {"rate_fps": round((len(times_s) - 1) / float(times_s[-1] - times_s[0]), 2), "frames": int(len(times_s)),
            "gap_ms": {k: round(v, 1) for k, v in percentiles(gaps).items()}, "gap_max_ms": round(float(gaps.max()), 1)}


def read_recording(path: Path, skip: int) -> tuple[int, float, list[np.ndarray]]:
    """The recording's frame count, its declared rate, and its frames from ``skip`` on."""
    import av

    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 0)
        n = 0
        for frame in container.decode(video=0):
            if n >= skip:
                frames.append(frame.to_ndarray(format="rgb24"))
            n += 1
    return n, fps, frames


def one_run(engine: Any, state: Any, clip: str, camera_fps: float, out_fps: float | None, *,
            seconds: float, size: tuple[int, int], driver_flow: bool, workdir: Path) -> dict[str, Any]:
    """The live loop with a ``camera_fps`` camera, output at ``out_fps`` (None: the camera's rate)."""
    from vivicam.benchmarks.cpu_report import CpuSampler
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.face.tracker import MediaPipeTracker
    from vivicam.realtime.loop import LiveLoop, LoopConfig, LoopState
    from vivicam.realtime.pipeline import Pipeline
    from vivicam.realtime.sinks.mp4 import Mp4Sink
    from vivicam.realtime.sources.video import VideoFileSource, probe_video

    load_at_start = round(os.getloadavg()[0], 2)
    stats = LoopStats(history=100000)
    inner = Decimated(VideoFileSource(clip, loop=True), probe_video(clip).fps, camera_fps)
    said = out_fps or camera_fps  # the webcam says the rate it was asked for
    source = Says(PacedSource(inner, camera_fps, stats), said)
    record = workdir / f"rec_{camera_fps:g}_{'steady' if out_fps else 'camera'}.mp4"
    holder: dict[str, Any] = {}
    counting = lambda: "loop" in holder and holder["loop"].state is LoopState.RUNNING  # noqa: E731
    rate = float(out_fps or camera_fps)
    vcam = Tap(FakeVirtualCamera(*size), counting, look=True)
    tracker = MediaPipeTracker()
    recorder = Tap(Mp4Sink(record, rate, size, recording=True), counting)
    try:
        pipeline = Pipeline(engine, state, tracker=tracker, estimator=MotionEstimator(), out_size=size,
                            stats=stats, driver_flow=driver_flow)
        # the baseline waits up to two periods for a late camera frame: no in-between frames at all
        config = LoopConfig(out_fps=out_fps) if out_fps else LoopConfig(out_fps=camera_fps, late_periods=2.0)
        holder["loop"] = loop = LiveLoop(source, pipeline, [vcam, recorder], config=config)
        sampler = CpuSampler().start()
        summary = loop.run(duration_s=seconds)
        cpu = sampler.stop()["process"]
    finally:
        recorder.close()
        source.close()
        tracker.close()
    skip = next((i for i, (_, c) in enumerate(recorder.writes) if c), len(recorder.writes))
    n_file, file_fps, decoded = read_recording(record, skip)
    record.unlink(missing_ok=True)
    wall_s = (recorder.writes[-1][0] - recorder.writes[0][0]) / 1e9 if len(recorder.writes) > 1 else float("nan")
    events = summary.get("events", {})
    return {
        "out_fps": rate,
        "virtual_camera": {**rate_of(vcam.counted_times_s()), **vcam.distinct()},
        "recording": {**rate_of(recorder.counted_times_s()), "file_frames": n_file, "file_fps": round(file_fps, 3),
                      # playing the file takes as long as the run did: it kept real time
                      "file_s_per_wall_s": round((n_file - 1) / file_fps / wall_s, 3) if file_fps and n_file > 1 else None,
                      "distinct_share": round(distinct_share(decoded), 3) if len(decoded) > 1 else None},
        "latency_ms": {k: round(v, 1) for k, v in percentiles(vcam.latency_ms).items()},
        "_latency": vcam.latency_ms,
        "load_avg_1m_at_start": load_at_start,
        "camera_frames_out": len(vcam.latency_ms),
        "frames_without_camera": events.get("frames without camera", 0),
        "in_between_skipped": events.get("in-between frames skipped", 0),
        "dropped": summary.get("dropped"),
        "stages_ms": {k: v for k, v in summary["stages_ms"].items() if k in ("track", "flow", "render", "post", "sink")},
        "cores": cpu["cores"],
        "wall_s": cpu["wall_s"],
    }


def merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one mode: latency over all their camera frames, the other
    figures the median of the runs' (each run kept under ``runs``)."""
    latency = [x for r in runs for x in r.pop("_latency")]

    def median_of(parts: list[dict[str, Any]]) -> dict[str, Any]:
        out = {}
        for key, value in parts[0].items():
            values = [p[key] for p in parts if isinstance(p.get(key), (int, float))]
            if isinstance(value, (int, float)) and values:
                out[key] = round(float(np.median(values)), 3)
        return out

    return {
        "out_fps": runs[0]["out_fps"],
        "virtual_camera": median_of([r["virtual_camera"] for r in runs]),
        "recording": median_of([r["recording"] for r in runs]),
        "latency_ms": {k: round(v, 1) for k, v in percentiles(latency).items()},
        **median_of(runs),
        "runs": runs,
    }


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from vivicam.realtime.app import check_writable
    from vivicam.realtime.cli.common import engine_from_args
    from vivicam.realtime.sources.photo import load_photo
    from vivicam.threads import current as thread_policy

    if args.out:
        check_writable(args.out)
    data = testdata_dir()
    clip = args.driving or (str(data / "clips" / "d10.mp4") if data else None)
    avatar = args.avatar or (str(data / "portraits" / "s1.jpg") if data else None)
    if clip is None or avatar is None:
        from vivicam.errors import InputError

        raise InputError("no test data: give --driving CLIP and --avatar PHOTO")
    engine = engine_from_args(args)
    state = engine.prepare(load_photo(avatar))
    size = tuple(args.size)
    cases = []
    with tempfile.TemporaryDirectory(prefix="vivicam-rates-") as tmp:
        for n, camera_fps in enumerate(args.camera_rates):
            runs: dict[str, list[dict[str, Any]]] = {"steady": [], "camera_rate": []}
            for j in range(args.repeats):
                # alternate which goes first (ABBA), so a drift in the machine's load favours neither
                for name in (("steady", "camera_rate") if (n + j) % 2 == 0 else ("camera_rate", "steady")):
                    out_fps = args.fps if name == "steady" else None
                    runs[name].append(one_run(engine, state, clip, camera_fps, out_fps, seconds=args.seconds,
                                              size=size, driver_flow=args.driver_flow, workdir=Path(tmp)))
            steady, base = merge_runs(runs["steady"]), merge_runs(runs["camera_rate"])
            added = {k: round(steady["latency_ms"][k] - base["latency_ms"][k], 1) for k in ("median", "p95")}
            cases.append({"camera_fps": camera_fps, "steady": steady, "camera_rate": base, "added_latency_ms": added})
    return {
        "benchmark": "camera_rates",
        "machine": machine_info(),
        "config": {"driving": clip, "avatar": avatar, "engine": getattr(engine, "name", str(args.engine)),
                   "out_fps": args.fps, "out_size": list(size), "seconds_per_run": args.seconds,
                   "repeats": args.repeats,
                   "driver_flow": args.driver_flow, "threads": thread_policy().as_dict(),
                   "distinct": f"at least {VISIBLE_SHARE:.1%} of pixels differ by more than {VISIBLE_GREY} grey levels",
                   "camera_says_fps": "the output rate it was asked for"},
        "cases": cases,
    }


def _rates(text: str) -> list[float]:
    from vivicam.realtime.cli.common import output_fps

    try:
        return [output_fps(part) for part in text.split(",") if part.strip()]
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"--camera-rates: {exc}") from None


def format_table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"machine: {m['cpu']} ({m['cores']} cores), load {m.get('load_avg_1m', '?')}",
             f"{'camera':>6} {'out':>4} {'vcam fps':>9} {'rec fps':>8} {'distinct':>9} {'rec dist':>9} "
             f"{'lat med':>8} {'lat p95':>8} {'cores':>6}"]
    for case in result["cases"]:
        for name in ("steady", "camera_rate"):
            r = case[name]
            lines.append(f"{case['camera_fps']:>6g} {r['out_fps']:>4g} {r['virtual_camera']['rate_fps'] or 0:>9.2f} "
                         f"{r['recording']['rate_fps'] or 0:>8.2f} {r['virtual_camera']['distinct_share'] or 0:>9.1%} "
                         f"{r['recording']['distinct_share'] or 0:>9.1%} {r['latency_ms']['median']:>8.1f} "
                         f"{r['latency_ms']['p95']:>8.1f} {r['cores']:>6.2f}")
        lines.append(f"{'':>6} added latency: median {case['added_latency_ms']['median']:+.1f} ms, "
                     f"p95 {case['added_latency_ms']['p95']:+.1f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from vivicam.realtime.cli.common import (
        add_engine_args, add_flow_arg, add_threads_arg, output_fps, parse_size, positive_float,
    )

    p = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.camera_rates", description=__doc__.split("\n\n")[0])
    p.add_argument("--camera-rates", type=_rates, default=list(RATES), help="camera rates to try (default: 10,15,24,30)")
    p.add_argument("--fps", type=output_fps, default=30.0, help="the steady output rate (default: 30)")
    p.add_argument("--seconds", type=positive_float, default=12.0, help="length of each run (default: 12)")
    p.add_argument("--repeats", type=int, choices=range(1, 6), default=2, metavar="N",
                   help="runs of each mode per camera rate, in ABBA order (default: 2)")
    p.add_argument("--driving", metavar="VIDEO", help="driving clip (default: testdata d10.mp4)")
    p.add_argument("--avatar", metavar="PHOTO", help="avatar photo (default: testdata s1.jpg)")
    p.add_argument("--size", type=parse_size, default=(640, 480), metavar="WxH", help="output size (default: 640x480)")
    p.add_argument("--out", metavar="JSON", help="write the results here")
    add_flow_arg(p)
    add_threads_arg(p)
    add_engine_args(p)
    args = p.parse_args(argv)
    result = run_guarded("camera_rates", run_benchmark, args)
    if isinstance(result, int):
        return result
    if args.out:
        atomic_write(Path(args.out), (json.dumps(result, indent=2) + "\n").encode())
    print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
