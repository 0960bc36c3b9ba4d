"""Speed of the compiled-engine path, per engine and backend → JSON.

Three sections, each with median and p95 per stage:

- ``post``: paste-back + letterbox (:func:`vivicam.realtime.post.compose`) of a
  512 crop into a 640×640 photo, and pixel-format conversion of a 1280×720
  frame, on NumPy (and CuPy on a GPU).
- ``graphs``: each exported graph on ONNX Runtime (CPU / CUDA) and TensorRT
  (FP16 and FP32): H2D, engine and D2H times (CUDA events on the runner's
  stream for TensorRT; ONNX Runtime copies inside ``run``, so only its total is
  known), and the largest difference from the engine's reference per precision.
- ``engines``: the engine as the live loop uses it (``render`` → ``compose`` →
  copy to host) on each backend: per-stage wall time (with a device
  synchronise after each stage on the GPU), frame time and FPS.

``python -m vivicam.benchmarks.speed [--engines warp,liveportrait]
[--backends cpu,onnxruntime,tensorrt] [--weights DIR] [--frames N] --out speed.json``
LivePortrait runs with ``--weights`` or, without, with random weights written
to a temporary folder (speed only: the outputs mean nothing).

``python -m vivicam.benchmarks.speed --render [--cases …] --out render.json``
measures ``vivicam render`` instead, as a whole process with its start-up
(:mod:`vivicam.benchmarks.render_speed`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_ENGINES = ("warp", "liveportrait")


def stats_ms(samples_s: list[float]) -> dict[str, float] | None:
    if not samples_s:
        return None
    ms = np.asarray(samples_s) * 1e3
    return {"median": round(float(np.median(ms)), 3), "p95": round(float(np.percentile(ms, 95)), 3), "n": len(ms)}


def machine_info() -> dict[str, Any]:
    from vivicam.engines.backends import probe

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("numpy", "cv2", "torch", "onnxruntime", "cupy", "tensorrt", "tensorrt_rtx"):
        mod = sys.modules.get(name)
        if mod is None:
            try:
                mod = __import__(name)
            except Exception:  # not installed (or broken without its CUDA libraries)
                continue
        versions[name] = str(getattr(mod, "__version__", "?"))
    gpu = probe.probe_gpu()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "gpu": gpu.gpu.line() if gpu.gpu else None,
        "gpu_missing_reason": gpu.reason or None,
        "versions": versions,
    }


def _timed(fn: Callable[[], Any], repeat: int, sync: Callable[[], None] | None = None) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        samples.append(time.perf_counter() - t0)
    return samples


# ---- post-processing ----------------------------------------------------------


def _post_state(xp_photo: np.ndarray) -> Any:
    from vivicam.engines.base import AvatarState

    s = 512 / 400
    yy, xx = np.mgrid[0:512, 0:512]
    edge = np.minimum.reduce([xx, yy, 511 - xx, 511 - yy]).astype(np.float32)
    return AvatarState(
        photo=xp_photo,
        crop_matrix=np.array([[s, 0, -120 * s], [0, s, -100 * s]], np.float32),
        crop_size=512,
        paste_mask=np.clip(edge / 40, 0, 1),
    )


def bench_post(repeat: int) -> list[dict[str, Any]]:
    """compose() and to_pixel_format() on NumPy, and on CuPy when a GPU is here."""
    import cv2
    from skimage import data

    from vivicam.realtime.post import compose, to_pixel_format

    photo = cv2.resize(data.astronaut(), (640, 640))
    crop = cv2.resize(data.astronaut(), (512, 512))
    frame = cv2.resize(data.astronaut(), (1280, 720))
    modules: list[tuple[str, Any, Callable[[], None] | None]] = [("numpy", np, None)]
    cp = _cupy()
    if cp is not None:
        modules.append(("cupy", cp, cp.cuda.Device().synchronize))
    rows = []
    for name, xp, sync in modules:
        state = _post_state(photo)
        c, f = xp.asarray(crop), xp.asarray(frame)
        compose(state, c, xp=xp)  # builds and caches the layout
        rows.append({"xp": name, "op": "compose 512 crop → 640×640", "ms": stats_ms(_timed(lambda: compose(state, c, xp=xp), repeat, sync))})
        rows.append({"xp": name, "op": "compose 512 crop → 1280×720 letterbox", "ms": stats_ms(_timed(lambda: compose(state, c, out_size=(1280, 720), xp=xp), repeat, sync))})
        for fmt in ("BGR", "YUYV", "NV12", "I420"):
            to_pixel_format(f, fmt)
            rows.append({"xp": name, "op": f"to_pixel_format 1280×720 {fmt}", "ms": stats_ms(_timed(lambda: to_pixel_format(f, fmt), repeat, sync))})
    return rows


def _cupy() -> Any | None:
    from vivicam.engines.backends import probe

    if probe.probe_gpu().gpu is None:
        return None
    import cupy

    return cupy


# ---- graphs ---------------------------------------------------------------------


def bench_graph(spec: Any, backend: str, precision: str, repeat: int) -> dict[str, Any]:
    """One exported graph on one backend: stage times and error vs the reference."""
    from vivicam.engines.backends import load_runner
    from vivicam.engines.build.check import compare, reference_outputs, tolerance_for
    from vivicam.xp import to_host

    row: dict[str, Any] = {"spec": spec.name, "backend": backend, "precision": precision}
    inputs = spec.make_inputs()
    if backend == "onnxruntime" and precision == "fp16":
        # the FP16 graph TensorRT builds from, run by ONNX Runtime (even on the
        # CPU, where load_runner would pick FP32): its error is the FP16 cost
        from vivicam.engines.backends.runners import OnnxRuntimeRunner
        from vivicam.engines.build.export import graph_for

        runner: Any = OnnxRuntimeRunner(graph_for(spec, "fp16"))
    else:
        runner = load_runner(spec, backend, precision)
    with runner:
        if backend == "tensorrt":
            row.update(_trt_stages(runner, inputs, repeat))
            outputs = {k: to_host(v) for k, v in runner.run(inputs).items()}
        else:
            row["providers"] = list(getattr(runner, "providers", ()))
            runner.run(inputs)
            row["engine_ms"] = stats_ms(_timed(lambda: runner.run(inputs), repeat))
            row["h2d_ms"] = row["d2h_ms"] = None  # inside ONNX Runtime's run
            outputs = runner.run(inputs)
    report = compare(outputs, reference_outputs(spec, inputs), tolerance_for(spec, precision), name=spec.name)
    row.update(max_abs_vs_reference=report.max_abs, mean_abs_vs_reference=report.mean_abs, within_tolerance=report.within_tolerance)
    return row


def _trt_stages(runner: Any, inputs: dict[str, np.ndarray], repeat: int) -> dict[str, Any]:
    """H2D / engine / D2H with CUDA events on the runner's stream."""
    cp = runner.cp
    for _ in range(3):  # warm-up, and the CUDA graph capture
        runner.set_inputs(inputs)
        runner.execute()
    events = [cp.cuda.Event() for _ in range(4)]
    h2d, eng, d2h = [], [], []
    for _ in range(repeat):
        events[0].record(runner.stream)
        runner.set_inputs(inputs)
        events[1].record(runner.stream)
        runner.execute()
        events[2].record(runner.stream)
        with runner.stream:
            for buf in runner.outputs(copy=False).values():
                buf.get(stream=runner.stream)
        events[3].record(runner.stream)
        events[3].synchronize()
        h2d.append(cp.cuda.get_elapsed_time(events[0], events[1]) / 1e3)
        eng.append(cp.cuda.get_elapsed_time(events[1], events[2]) / 1e3)
        d2h.append(cp.cuda.get_elapsed_time(events[2], events[3]) / 1e3)
    return {"h2d_ms": stats_ms(h2d), "engine_ms": stats_ms(eng), "d2h_ms": stats_ms(d2h), "cuda_graph": runner.captured}


# ---- engines as the live loop uses them ------------------------------------------------


def bench_engine(name: str, backend: str, precision: str, frames: int, weights: Any) -> dict[str, Any]:
    from skimage import data

    from vivicam.calibrate.idle import IdleMotion
    from vivicam.engines.registry import create_engine
    from vivicam.realtime.post import compose
    from vivicam.xp import array_module, to_host

    engine = create_engine(name, backend=backend, precision=precision, weights=weights)
    state = engine.prepare(np.ascontiguousarray(data.astronaut()))
    idle = IdleMotion(seed=0, talk=True)
    motions = [idle.at(i / 25.0) for i in range(frames + 3)]
    render, post, d2h, total = [], [], [], []
    for i, motion in enumerate(motions):
        t0 = time.perf_counter()
        crop = engine.render(state, motion)
        sync = _sync_for(crop)
        sync()
        t1 = time.perf_counter()
        image = compose(state, crop, xp=array_module(crop))
        sync()
        t2 = time.perf_counter()
        to_host(image)
        t3 = time.perf_counter()
        if i >= 3:  # warm-up frames: lazy init, graph capture, caches
            render.append(t1 - t0)
            post.append(t2 - t1)
            d2h.append(t3 - t2)
            total.append(t3 - t0)
    frame = stats_ms(total)
    return {
        "engine": name,
        "backend": backend,
        "resolved_backend": getattr(engine, "backend", backend),
        "precision": precision,
        "render_ms": stats_ms(render),
        "post_ms": stats_ms(post),
        "d2h_ms": stats_ms(d2h),
        "frame_ms": frame,
        "fps": float(f"{1e3 / frame['median']:.3g}") if frame else None,
    }


def _sync_for(x: Any) -> Callable[[], None]:
    from vivicam.xp import array_module

    xp = array_module(x)
    if xp is np:
        return lambda: None
    return xp.cuda.Device().synchronize


# ---- the whole run ----------------------------------------------------------------


def _specs(name: str, weights: Any) -> list[Any]:
    from vivicam.engines.build.engine import engine_specs

    return engine_specs(name, weights if name == "liveportrait" else None)


def _lp_weights(given: Any, stack: ExitStack) -> Path | None:
    if given:
        return Path(given)
    try:
        from vivicam.engines.liveportrait.random_weights import write_random_weights
    except ImportError:
        return None
    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vivicam-lp-")))
    return Path(write_random_weights(folder))


def available_backends() -> list[str]:
    from vivicam.engines.backends import probe

    found = ["cpu"]
    if probe.probe_onnxruntime() is not None:
        found.append("onnxruntime")
    if probe.probe_gpu().gpu is not None and probe.probe_tensorrt():
        found.append("tensorrt")
    torch = probe.probe_torch()
    if torch is not None and torch.cuda:
        found.append("torch")
    return found


def run(
    engines: tuple[str, ...] = DEFAULT_ENGINES,
    backends: tuple[str, ...] | None = None,
    *,
    weights: Any = None,
    frames: int = 30,
    lp_frames: int = 5,
    repeat: int = 30,
    precisions: tuple[str, ...] = ("fp16", "fp32"),
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    backends = tuple(backends or available_backends())
    result: dict[str, Any] = {"machine": machine_info(), "post": [], "graphs": [], "engines": [], "errors": []}
    echo("post-processing…")
    result["post"] = bench_post(repeat)
    with ExitStack() as stack:
        for name in engines:
            weights_for = _lp_weights(weights, stack) if name == "liveportrait" else None
            if name == "liveportrait":
                result["liveportrait_weights"] = "given" if weights else ("random" if weights_for else None)
            _bench_one_engine(result, name, backends, weights_for, frames if name != "liveportrait" else lp_frames, repeat, precisions, echo)
    return result


def _bench_one_engine(result: dict, name: str, backends: tuple[str, ...], weights: Any, frames: int, repeat: int, precisions: tuple[str, ...], echo: Callable[[str], None]) -> None:
    graph_repeat = max(3, repeat if name != "liveportrait" else 3)
    for backend in backends:
        if backend == "cpu":
            continue
        for precision in precisions:
            try:
                for spec in _specs(name, weights):
                    echo(f"graph {spec.name} on {backend} {precision}…")
                    result["graphs"].append(bench_graph(spec, backend, precision, graph_repeat))
            except Exception as exc:  # keep going: one backend failing must not hide the others
                result["errors"].append({"what": f"graphs {name} {backend} {precision}", "error": _one_line(exc)})
    for backend in backends:
        for precision in (precisions[:1] if backend == "tensorrt" else ("fp32",)):
            echo(f"engine {name} on {backend} {precision}…")
            try:
                result["engines"].append(bench_engine(name, backend, precision, frames, weights))
            except Exception as exc:
                result["errors"].append({"what": f"engine {name} {backend} {precision}", "error": _one_line(exc)})


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def table(result: dict[str, Any]) -> list[str]:
    """A short plain-text summary of the run."""
    lines = [f"machine: {result['machine']['cpu']} ({result['machine']['cores']} cores), GPU: {result['machine']['gpu']}"]
    for row in result["post"]:
        lines.append(f"post  {row['xp']:5s} {row['op']:42s} {row['ms']['median']:8.2f} ms (p95 {row['ms']['p95']:.2f})")
    for row in result["graphs"]:
        eng = row["engine_ms"]
        stages = " ".join(f"{k[:-3]} {row[k]['median']:.2f}" for k in ("h2d_ms", "d2h_ms") if row.get(k))
        lines.append(
            f"graph {row['spec']:34s} {row['backend']:11s} {row['precision']} engine {eng['median']:8.2f} ms "
            f"(p95 {eng['p95']:.2f}) {stages} max|err| {row['max_abs_vs_reference']:.3g}"
        )
    for row in result["engines"]:
        lines.append(
            f"engine {row['engine']:12s} {row['backend']:11s} {row['precision']} render {row['render_ms']['median']:.2f} "
            f"post {row['post_ms']['median']:.2f} d2h {row['d2h_ms']['median']:.2f} → {row['frame_ms']['median']:.2f} ms/frame, {row['fps']} FPS"
        )
    for err in result["errors"]:
        lines.append(f"error {err['what']}: {err['error']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if "--render" in argv:  # the whole `vivicam render` process (render_speed.py)
        from vivicam.benchmarks import render_speed

        return render_speed.main([a for a in argv if a != "--render"])
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default=",".join(DEFAULT_ENGINES))
    parser.add_argument("--backends", default=None, help="default: every backend usable here")
    parser.add_argument("--weights", default=None, help="LivePortrait weights folder (default: random weights)")
    parser.add_argument("--frames", type=int, default=30, help="frames per engine/backend (warp)")
    parser.add_argument("--lp-frames", type=int, default=5, help="frames per backend for liveportrait")
    parser.add_argument("--repeat", type=int, default=30, help="repetitions per graph / post measurement")
    parser.add_argument("--out", default="speed.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = run(
        tuple(e for e in args.engines.split(",") if e),
        tuple(b for b in args.backends.split(",") if b) if args.backends else None,
        weights=args.weights,
        frames=args.frames,
        lp_frames=args.lp_frames,
        repeat=args.repeat,
    )
    Path(args.out).write_text(json.dumps(result, indent=1))
    print("\n".join(table(result)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
