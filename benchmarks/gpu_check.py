"""The GPU acceptance check, one command on a machine with an NVIDIA GPU::

    python -m vivicam.benchmarks.gpu_check --out gpu.json [--weights LP_DIR]

1. records the machine (GPU, driver, CUDA, TensorRT flavours, ONNX Runtime);
2. for every installed TensorRT flavour (TensorRT for RTX and/or full
   TensorRT), every engine and both precisions: builds the plan (timing the
   build) and compares the plan's outputs with the engine's reference within
   the spec's tolerance; failures are recorded, not fatal (e.g. TensorRT for
   RTX on a data-center GPU it does not support);
3. runs the speed benchmark (cpu, onnxruntime, tensorrt);
4. renders a short generated clip with ``vivicam render --backend cpu`` and
   ``--backend tensorrt`` and compares the two videos frame by frame.

Writes one JSON summary and exits 0 when every check passed, 1 when one
failed, and 3 (one line, nothing checked) without a usable GPU or TensorRT.
LivePortrait uses ``--weights`` or random weights (parity and speed only).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

ENGINES = ("warp", "liveportrait")
RENDER_MAX_MEAN_ABS = 2.0  # grey levels, mean over a frame, TensorRT vs CPU video
RENDER_MIN_PSNR = 35.0  # dB, worst frame


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _specs(engine: str, weights: Path | None) -> list[Any]:
    """The engine's specs; for LivePortrait also the warping module with 5-D
    sampling decomposed into 4-D GridSample (what TensorRT < 11.2 needs)."""
    from vivicam.engines.build.engine import engine_specs

    if engine != "liveportrait":
        return engine_specs(engine)
    from vivicam.engines.liveportrait.export import export_specs

    specs = list(export_specs(weights=weights))
    names = {s.name for s in specs}
    decomposed = [s for s in export_specs(weights=weights, decompose_grid_sample=True) if s.name not in names]
    return specs + decomposed


def check_plans(engines: tuple[str, ...], weights: dict[str, Path | None], force: bool, echo: Any) -> list[dict[str, Any]]:
    from vivicam.engines.backends import probe
    from vivicam.engines.build.engine import build_and_check_plan

    rows = []
    for trt in probe.probe_tensorrt():
        for engine in engines:
            try:
                specs = _specs(engine, weights.get(engine))
            except Exception as exc:
                rows.append({"flavour": trt.label, "engine": engine, "error": _one_line(exc)})
                continue
            for spec in specs:
                for precision in ("fp16", "fp32"):
                    echo(f"{trt.label}: {spec.name} {precision}…")
                    row: dict[str, Any] = {"flavour": trt.flavour, "tensorrt": trt.version, "engine": engine, "spec": spec.name, "precision": precision}
                    try:
                        plan, report = build_and_check_plan(spec, precision, flavour=trt.flavour, force=force, echo=echo)
                        row.update(built=plan.built, seconds=round(plan.seconds, 1), plan_mib=round(plan.path.stat().st_size / 2**20, 1))
                        row["parity"] = report.as_dict() if report else None
                        echo("  " + (report.line() if report else "built"))
                    except Exception as exc:  # recorded: one flavour or graph failing must not stop the others
                        row["error"] = _one_line(exc)
                        echo(f"  failed: {row['error']}")
                    rows.append(row)
    return rows


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def render_check(
    workdir: Path, engine: str, seconds: float, echo: Any, backends: tuple[str, str] = ("cpu", "tensorrt")
) -> dict[str, Any]:
    """``vivicam render`` with two backends (the CPU and TensorRT) from the same
    generated clip, compared frame by frame."""
    from PIL import Image
    from skimage import data

    from vivicam.realtime.app import run_demo

    clip, avatar = workdir / "driving.mp4", workdir / "avatar.png"
    echo("render check: generating a talking-head clip on the CPU…")
    run_demo(output=clip, seconds=seconds, preview=False, backend="cpu")
    Image.fromarray(np.ascontiguousarray(data.astronaut()[:, ::-1])).save(avatar)
    result: dict[str, Any] = {"engine": engine, "seconds": seconds}
    videos = {}
    for backend in backends:
        out = workdir / f"render-{backend}.mp4"
        cmd = [sys.executable, "-m", "vivicam", "render", "--avatar", str(avatar), "--driving", str(clip), "-o", str(out), "--engine", engine, "--backend", backend, "--no-progress"]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        result[backend] = {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - started, 1), "stderr_tail": proc.stderr.strip().splitlines()[-1:] }
        if proc.returncode != 0:
            result["ok"] = False
            return result
        videos[backend] = _decode(out)
    result.update(compare_videos(videos[backends[0]], videos[backends[1]]))
    return result


def compare_videos(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, Any]:
    """Frame counts, worst per-frame mean |difference| and worst PSNR; ``ok``
    when the counts match and both stay within the render tolerance."""
    n = min(len(a), len(b))
    mean_abs, psnr = [], []
    for i in range(n):
        diff = np.abs(a[i].astype(np.float32) - b[i])
        mean_abs.append(float(diff.mean()))
        psnr.append(float(10 * np.log10(255.0**2 / max(float((diff**2).mean()), 1e-10))))
    out: dict[str, Any] = {
        "frames": [len(a), len(b)],
        "mean_abs_max": max(mean_abs, default=0.0),
        "mean_abs_mean": float(np.mean(mean_abs)) if mean_abs else 0.0,
        "psnr_min": min(psnr, default=99.0),
        "tolerance": {"mean_abs_max": RENDER_MAX_MEAN_ABS, "psnr_min": RENDER_MIN_PSNR},
    }
    out["ok"] = len(a) == len(b) > 0 and out["mean_abs_max"] <= RENDER_MAX_MEAN_ABS and out["psnr_min"] >= RENDER_MIN_PSNR
    return out


def _lp_weights(given: str | None, stack: ExitStack, echo: Any) -> Path | None:
    if given:
        return Path(given)
    from vivicam.engines.liveportrait.random_weights import write_random_weights

    folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vivicam-lp-")))
    echo("LivePortrait: no --weights, using random weights (parity and speed only)")
    return Path(write_random_weights(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu.json")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--weights", default=None, help="LivePortrait weights folder (default: random weights)")
    parser.add_argument("--force", action="store_true", help="rebuild plans even when cached")
    parser.add_argument("--render-seconds", type=float, default=3.0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-render", action="store_true")
    args = parser.parse_args(argv)

    from vivicam.engines.backends import doctor_lines, probe

    gpu = probe.probe_gpu()
    if gpu.gpu is None:
        print(f"gpu_check: no usable NVIDIA GPU here ({gpu.reason}); nothing checked", file=sys.stderr)
        return 3
    if not probe.probe_tensorrt():
        print("gpu_check: no TensorRT here: pip install 'vivicam[gpu]' (TensorRT for RTX); nothing checked", file=sys.stderr)
        return 3
    echo = lambda msg: print(msg, flush=True)  # noqa: E731
    engines = tuple(e for e in args.engines.split(",") if e)
    from vivicam.benchmarks import speed

    summary: dict[str, Any] = {"machine": speed.machine_info(), "doctor": doctor_lines(), "plans": [], "speed": None, "render": None}
    with ExitStack() as stack:
        weights = {"liveportrait": _lp_weights(args.weights, stack, echo)} if "liveportrait" in engines else {}
        summary["liveportrait_weights"] = "given" if args.weights else ("random" if weights else None)
        summary["plans"] = check_plans(engines, weights, args.force, echo)
        if not args.skip_speed:
            echo("speed benchmark…")
            summary["speed"] = speed.run(engines, weights=weights.get("liveportrait"), echo=echo)
            summary["speed"]["tensorrt_flavour"] = probe.probe_tensorrt()[0].label
        if not args.skip_render:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vivicam-render-")))
            summary["render"] = render_check(work, "warp", args.render_seconds, echo)
    summary["passed"] = _passed(summary)
    Path(args.out).write_text(json.dumps(summary, indent=1, default=str))
    for line in _report(summary):
        print(line)
    print(f"wrote {args.out}")
    return 0 if summary["passed"] else 1


def _passed(summary: dict[str, Any]) -> bool:
    """Every plan of the preferred flavour built and within tolerance, and the
    render check (when run) ok. Other flavours' failures are recorded only."""
    from vivicam.engines.backends import probe

    preferred = probe.probe_tensorrt()[0].flavour
    mine = [row for row in summary["plans"] if row.get("flavour") == preferred]
    plans_ok = bool(mine) and all("error" not in row and (row.get("parity") or {}).get("within_tolerance", True) for row in mine)
    render_ok = summary["render"] is None or bool(summary["render"].get("ok"))
    return plans_ok and render_ok


def _report(summary: dict[str, Any]) -> list[str]:
    lines = list(summary["doctor"])
    for row in summary["plans"]:
        if "error" in row:
            lines.append(f"plan {row.get('flavour')} {row.get('spec', row.get('engine'))} {row.get('precision', '')}: FAILED {row['error']}")
        else:
            parity = row.get("parity") or {}
            lines.append(
                f"plan {row['flavour']} {row['spec']} {row['precision']}: {row['seconds']} s, {row['plan_mib']} MiB, "
                f"max|err| {parity.get('max_abs', float('nan')):.3g} {'ok' if parity.get('within_tolerance') else 'OUT OF TOLERANCE'}"
            )
    if summary["speed"]:
        from vivicam.benchmarks.speed import table

        lines.extend(table(summary["speed"]))
    if summary["render"]:
        r = summary["render"]
        lines.append(f"render cpu vs tensorrt: frames {r.get('frames')}, worst mean|diff| {r.get('mean_abs_max', float('nan')):.2f}, worst PSNR {r.get('psnr_min', float('nan')):.1f} dB → {'ok' if r.get('ok') else 'FAILED'}")
    lines.append("PASSED" if summary["passed"] else "FAILED")
    return lines


if __name__ == "__main__":
    sys.exit(main())
