"""``vivicam render`` as a user runs it: the whole process, start-up included → JSON.

Each case runs ``python -m vivicam render --avatar PHOTO --driving CLIP -o …``
in a fresh process (imports, MediaPipe, the avatar's preparation and the
``--neutral auto`` pre-pass over the driver all count), ``runs`` times, and
reports per case the median and p95 of:

- ``fps_with_startup``: frames written / the process's wall time;
- ``wall_s``, ``startup_s`` (process start to the first frame handed to the
  encoder, from the render's own summary) and ``frames_fps`` (the frames
  alone, first to last);
- ``cpu_s`` (user + system of the process, all its threads: far less
  sensitive to other users of the machine than wall time) and ``cores``
  (``cpu_s / wall_s``).

The machine, its core count and the load average before and after each run
go with them (timings on a shared machine mean little without the load).

The driving clip is the first ``--frames`` frames of a test clip (default
d10, 512², 30 fps, with its sound), cut into a temporary folder; the cases
are portraits from the test data at the photo's size and at 512×512, and a
512² copy of s4 (``s4@512``).

``python -m vivicam.benchmarks.render_speed [--cases s1,s1:512x512,…]
[--clip d10] [--frames 300] [--runs 3] --out render_speed.json``
(also ``python -m vivicam.benchmarks.speed --render …``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_CASES = ("s1", "s1:512x512", "s4", "s4:512x512", "s4@512")
RESULT_KEYS = ("fps_with_startup", "wall_s", "startup_s", "frames_fps", "cpu_s", "cores")


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Median and p95 (NaN-free; None when nothing was measured)."""
    found = [v for v in values if v is not None]
    if not found:
        return {"median": None, "p95": None, "n": 0}
    arr = np.asarray(found, np.float64)
    return {"median": round(float(np.median(arr)), 3), "p95": round(float(np.percentile(arr, 95)), 3), "n": len(found)}


def parse_case(text: str) -> tuple[str, tuple[int, int] | None]:
    """``"s1"`` → ("s1", None); ``"s1:512x512"`` → ("s1", (512, 512))."""
    name, _, size = text.partition(":")
    if not size:
        return name, None
    w, _, h = size.lower().partition("x")
    return name, (int(w), int(h))


def make_inputs(data: Path, work: Path, clip: str, frames: int, names: set[str]) -> dict[str, Path]:
    """The driving clip (``clip`` cut to ``frames``, sound kept) and the
    portraits the cases name, in ``work``; ``name@N`` is the portrait resized to N²."""
    import cv2

    from vivicam.realtime.sinks.mp4 import Mp4Sink
    from vivicam.realtime.sources.video import VideoFileSource, probe_video

    source_clip = data / "clips" / f"{clip}.mp4"
    info = probe_video(source_clip)
    out = {"clip": work / f"{clip}_{frames}.mp4"}
    source = VideoFileSource(source_clip)
    try:
        with Mp4Sink(out["clip"], info.rate, (info.width, info.height), audio_from=source_clip, crf=14) as sink:
            for frame in source.frames():
                if frame.index >= frames:
                    break
                sink.write(frame.image, frame)
    finally:
        source.close()
    for name in names:
        base, _, side = name.partition("@")
        photo = data / "portraits" / f"{base}.jpg"
        if side:
            image = cv2.imread(str(photo))
            path = work / f"{base}_{side}.jpg"
            cv2.imwrite(str(path), cv2.resize(image, (int(side), int(side)), interpolation=cv2.INTER_AREA),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            photo = path
        out[name] = photo
    return out


def run_once(photo: Path, clip: Path, size: tuple[int, int] | None, work: Path) -> dict[str, Any]:
    """One ``vivicam render`` process: its wall and CPU time and its summary."""
    summary_path = work / "summary.json"
    summary_path.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "vivicam", "render", "--avatar", str(photo), "--driving", str(clip),
           "-o", str(work / "out.mp4"), "--no-progress", "--summary-json", str(summary_path)]
    if size is not None:
        cmd += ["--size", f"{size[0]}x{size[1]}"]
    load_before = _load()
    with open(work / "stderr.txt", "w+b") as err:  # a file, not a pipe: a chatty child cannot block on it
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own CPU time, all its threads
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"vivicam render failed ({proc.returncode}): {stderr.strip().splitlines()[-1:]}")
    summary = json.loads(summary_path.read_text())
    cpu = usage.ru_utime + usage.ru_stime
    frames = int(summary["frames"])
    return {
        "frames": frames, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "cores": round(cpu / wall, 3),
        "fps_with_startup": round(frames / wall, 2), "startup_s": summary.get("startup_s"),
        "frames_fps": summary.get("fps"), "size": summary.get("size"),
        "load_avg_1m": [load_before, _load()],
    }


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def run(cases: list[str], *, clip: str = "d10", frames: int = 300, runs: int = 3,
        data: Path | None = None, echo: Any = print) -> dict[str, Any]:
    from vivicam.benchmarks.clips import find_testdata
    from vivicam.benchmarks.live_loop import machine_info

    data = find_testdata(data)
    parsed = [parse_case(c) for c in cases]
    result: dict[str, Any] = {
        "machine": machine_info(), "clip": f"{clip}, first {frames} frames", "runs": runs,
        "command": "python -m vivicam render --avatar PHOTO --driving CLIP -o OUT.mp4 --no-progress [--size WxH]",
        "cases": [],
    }
    with tempfile.TemporaryDirectory(prefix="vivicam-render-speed-") as tmp:
        work = Path(tmp)
        inputs = make_inputs(data, work, clip, frames, {name for name, _ in parsed})
        for text, (name, size) in zip(cases, parsed):
            samples = []
            for i in range(runs):
                samples.append(run_once(inputs[name], inputs["clip"], size, work))
                s = samples[-1]
                echo(f"{text:14s} run {i + 1}: {s['fps_with_startup']:6.1f} fps with start-up, "
                     f"wall {s['wall_s']:.2f} s, start-up {s['startup_s']} s, CPU {s['cpu_s']:.2f} s "
                     f"({s['cores']:.2f} cores), load {s['load_avg_1m'][0]}")
            row: dict[str, Any] = {"case": text, "portrait": name, "size": samples[0]["size"],
                                   "frames": samples[0]["frames"], "samples": samples}
            row.update({key: spread([s[key] for s in samples]) for key in RESULT_KEYS})
            result["cases"].append(row)
    return result


def table(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    lines = [f"machine: {m['cpu']} ({m['cores']} cores); {result['clip']}; median of {result['runs']} runs",
             f"{'case':14s} {'size':>10s} {'fps incl. start-up':>19s} {'start-up s':>11s} {'frames fps':>11s} "
             f"{'CPU s':>7s} {'cores':>6s}"]
    for row in result["cases"]:
        size = "×".join(str(v) for v in row["size"])
        lines.append(f"{row['case']:14s} {size:>10s} {row['fps_with_startup']['median']:>19.1f} "
                     f"{row['startup_s']['median']:>11.2f} {row['frames_fps']['median']:>11.1f} "
                     f"{row['cpu_s']['median']:>7.2f} {row['cores']['median']:>6.2f}")
    return lines


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", default=",".join(DEFAULT_CASES),
                   help="portraits, NAME[:WxH] (NAME@N: the portrait resized to N²)")
    p.add_argument("--clip", default="d10", help="test clip to drive with")
    p.add_argument("--frames", type=int, default=300, help="frames of the clip")
    p.add_argument("--runs", type=int, default=3, help="processes per case")
    p.add_argument("--testdata", default=None)
    p.add_argument("--out", default="render_speed.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.render_speed",
                                     description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    result = run([c for c in args.cases.split(",") if c], clip=args.clip, frames=args.frames, runs=args.runs,
                 data=args.testdata)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print("\n".join(table(result)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
