"""The GPU acceptance run, one command on a machine with an NVIDIA GPU::

    python -m vivicam.benchmarks.gpu_accept --out gpu.json --budget-s 540 [--weights LP_DIR]

Writes ``{"steps": [{name, status, seconds, reason, data}, ...]}`` with
``status`` one of ok / failed / skipped (``reason`` says why unless ok). The
file is rewritten after every step; every step runs in its own process with a
timeout cut to what is left of the budget, so a hang, a crash or a failure in
one step never stops the others, and the run ends inside ``--budget-s``.

Steps (:mod:`vivicam.benchmarks.gpu_steps`, :mod:`vivicam.benchmarks.gpu_timing`): the machine (GPU, driver, CUDA,
library versions, what ``--backend auto`` picks and why); CuPy vs NumPy
post-processing (every background, shift, letterbox, pixel format; ≤ 1 grey
level); DLPack zero-copy; warp and LivePortrait on torch CUDA FP32/FP16 vs the
CPU reference; CUDA-graph replay vs eager; warp and LivePortrait timings split
into render / post / host copy (host copies per frame counted), LivePortrait
ms per 512² frame in FP16 (``data.liveportrait_ms_per_frame_fp16``) and
streams per GPU at 30 fps with batching; the GPU tests (``pytest -m gpu``);
TensorRT plans where a flavour imports and supports this GPU; and ``vivicam
render`` on torch vs the CPU. Without a GPU it runs too: the machine step,
then every GPU step skipped with its reason. Exit code 0 when no step failed,
1 otherwise. LivePortrait uses ``--weights`` or random weights (official
layout; parity and speed only).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RESERVE_S = 5.0  # kept back for writing the report and cleaning up


@dataclass(frozen=True)
class Step:
    name: str
    needs: tuple[str, ...]  # facts from the machine step ("gpu", "torch_cuda", "cupy", "tensorrt", "mediapipe", "av") or "tests"
    cap_s: float  # longest this step may take
    min_s: float  # not started with less budget than this left
    weights: bool = False  # needs the LivePortrait weights folder


STEPS = (  # the figures that matter most first: a budget cut skips the tail
    Step("machine", (), 90, 5),
    Step("post_parity_cupy", ("cupy",), 90, 15),
    Step("dlpack_zero_copy", ("torch_cuda", "cupy"), 45, 10),
    Step("warp_torch_vs_cpu", ("torch_cuda", "mediapipe"), 90, 20),
    Step("liveportrait_torch_vs_cpu", ("torch_cuda",), 150, 30, weights=True),
    Step("liveportrait_timing", ("torch_cuda", "cupy"), 240, 60, weights=True),
    Step("liveportrait_streams", ("torch_cuda",), 120, 20, weights=True),
    Step("cuda_graph_replay", ("torch_cuda",), 180, 40, weights=True),
    Step("warp_timing", ("torch_cuda", "cupy", "mediapipe"), 120, 30),
    Step("gpu_tests", ("cupy", "tests"), 120, 20),
    Step("tensorrt", ("gpu", "tensorrt"), 180, 40),
    Step("render_cli", ("torch_cuda", "mediapipe", "av"), 180, 60),
)
_WHY_NOT = {
    "gpu": lambda f: f"no usable NVIDIA GPU: {f.get('no_gpu_reason') or 'unknown'}",
    "torch_cuda": lambda f: f"no PyTorch CUDA: {f.get('torch_reason') or f.get('no_gpu_reason') or 'unknown'}",
    "cupy": lambda f: f"no usable CuPy GPU: {f.get('no_gpu_reason') or 'CuPy is not installed or sees no device'}",
    "tensorrt": lambda f: "no TensorRT flavour imports here",
    "tests": lambda f: "the tests/ folder is not here (run from the repository root)",
    "mediapipe": lambda f: "MediaPipe is not installed (the warp engine and the avatar face finder need it)",
    "av": lambda f: "PyAV is not installed (vivicam render writes mp4 with it)",
}


def run_step(name: str, workdir: Path, weights: Path | None) -> tuple[str, str, dict[str, Any]]:
    """One step in this process (what the child process runs)."""
    from vivicam.benchmarks import gpu_steps as s
    from vivicam.benchmarks import gpu_timing as t

    if weights is not None:
        weights = _ensure_weights(weights)
    table = {
        "machine": s.step_machine,
        "post_parity_cupy": s.step_post_parity,
        "dlpack_zero_copy": s.step_dlpack,
        "warp_torch_vs_cpu": s.step_warp_torch,
        "liveportrait_torch_vs_cpu": lambda: s.step_lp_torch(weights),
        "cuda_graph_replay": lambda: s.step_cuda_graph(weights),
        "warp_timing": t.step_warp_timing,
        "liveportrait_timing": lambda: t.step_lp_timing(weights),
        "liveportrait_streams": lambda: t.step_lp_streams(weights),
        "tensorrt": s.step_tensorrt,
        "render_cli": lambda: s.step_render_cli(workdir),
    }
    return table[name]()


def _ensure_weights(folder: Path) -> Path:
    """The given weights, or random ones written into ``folder`` once (by the first step that needs them)."""
    from vivicam.engines.liveportrait.checkpoints import find_weights_root
    from vivicam.errors import WeightsError

    try:
        return find_weights_root(folder)
    except WeightsError:
        from vivicam.engines.liveportrait.random_weights import write_random_weights

        return Path(write_random_weights(folder, seed=0))


def _gpu_tests(timeout_s: float) -> tuple[str, str, dict[str, Any]]:
    # only the folders with GPU tests: collecting every test would import what
    # a GPU box may lack (MediaPipe, PyAV) before a single GPU test ran
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider",
           "tests/benchmarks/test_gpu_accept.py", "tests/engines/backends"]
    code, out, err = _run(cmd, timeout_s)
    tail = (out.strip().splitlines() or [""])[-1]
    if code is None:
        return "failed", f"pytest -m gpu timed out after {timeout_s:.0f} s", {"tail": tail}
    if code == 0:
        return "ok", "", {"summary": tail}
    return "failed", f"pytest -m gpu exited {code}: {tail}", {"summary": tail, "output_tail": out[-3000:]}


def _run(cmd: list[str], timeout_s: float) -> tuple[int | None, str, str]:
    """Run ``cmd`` in its own process group; on timeout kill the group (torch
    compile workers included). Returns (exit code or None on timeout, stdout, stderr)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:  # already gone
            pass
        out, err = proc.communicate()
        return None, out or "", err or ""


def _child(step: Step, workdir: Path, weights: Path | None, timeout_s: float) -> tuple[str, str, dict[str, Any]]:
    result_file = workdir / f"{step.name}.json"
    cmd = [sys.executable, "-m", "vivicam.benchmarks.gpu_accept", "--child", step.name, "--child-out", str(result_file),
           "--workdir", str(workdir)]
    if weights is not None and step.weights:
        cmd += ["--weights", str(weights)]
    code, out, err = _run(cmd, timeout_s)
    if code is None:
        return "failed", f"timed out after {timeout_s:.0f} s (budget or the step's cap)", {"stderr_tail": err[-2000:]}
    if result_file.is_file():
        found = json.loads(result_file.read_text())
        return found["status"], found["reason"], found["data"]
    last = (err.strip().splitlines() or ["(no output)"])[-1]
    return "failed", f"the step's process exited {code} without a result: {last}", {"stderr_tail": err[-2000:]}


def _write(path: Path, report: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    os.replace(tmp, path)


def _unmet(step: Step, facts: dict[str, Any]) -> str:
    for need in step.needs:
        have = Path("tests").is_dir() if need == "tests" else bool(facts.get(need))
        if not have:
            return _WHY_NOT[need](facts)
    return ""


def accept(out: Path, budget_s: float, weights: Path | None, only: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run every step (or ``only`` those, the machine always first) within ``budget_s``."""
    started = time.perf_counter()
    deadline = started + budget_s - RESERVE_S
    report: dict[str, Any] = {"command": "python -m vivicam.benchmarks.gpu_accept", "budget_s": budget_s, "steps": []}
    facts: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="vivicam-gpu-accept-") as tmp:
        workdir = Path(tmp)
        lp = weights if weights is not None else workdir / "lp-random-weights"
        for step in STEPS:
            if only and step.name not in only and step.name != "machine":
                continue
            left = deadline - time.perf_counter()
            t0 = time.perf_counter()
            unmet = _unmet(step, facts) if step.name != "machine" else ""
            if unmet:
                status, reason, data = "skipped", unmet, {}
            elif left < step.min_s:
                status, reason, data = "skipped", f"not enough budget left ({left:.0f} s < {step.min_s:.0f} s)", {}
            elif step.name == "gpu_tests":
                status, reason, data = _gpu_tests(min(step.cap_s, left))
            else:
                status, reason, data = _child(step, workdir, lp, min(step.cap_s, left))
            if step.name == "machine":
                facts = data.get("facts", {})
            report["steps"].append({"name": step.name, "status": status, "seconds": round(time.perf_counter() - t0, 1),
                                    "reason": reason, "data": data})
            report["seconds"] = round(time.perf_counter() - started, 1)
            _write(out, report)
    report["seconds"] = round(time.perf_counter() - started, 1)
    _write(out, report)
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    lines = []
    for step in report["steps"]:
        extra = f": {step['reason']}" if step["reason"] else ""
        lines.append(f"{step['status']:>7}  {step['name']} ({step['seconds']} s){extra}")
        figure = step["data"].get("liveportrait_ms_per_frame_fp16") if isinstance(step["data"], dict) else None
        if figure is not None:
            lines.append(f"         LivePortrait {figure:.2f} ms per 512² frame (fp16)")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.gpu_accept", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="gpu.json")
    parser.add_argument("--budget-s", type=float, default=540.0, help="the whole run ends within this (default 540)")
    parser.add_argument("--weights", type=Path, default=None, help="LivePortrait weights folder (default: random weights)")
    parser.add_argument("--steps", default="", help="comma-separated step names to run (default: all)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child_main(args)
    if args.budget_s <= RESERVE_S:
        print(f"gpu_accept: --budget-s must be more than {RESERVE_S:.0f}", file=sys.stderr)
        return 2
    names = {s.name for s in STEPS}
    only = tuple(n for n in args.steps.split(",") if n)
    unknown = [n for n in only if n not in names]
    if unknown:
        print(f"gpu_accept: unknown step(s) {', '.join(unknown)}; steps: {', '.join(names)}", file=sys.stderr)
        return 2
    report = accept(Path(args.out), args.budget_s, args.weights, only)
    for line in summary_lines(report):
        print(line)
    print(f"wrote {args.out} ({report['seconds']} s)")
    return 1 if any(s["status"] == "failed" for s in report["steps"]) else 0


def _child_main(args: argparse.Namespace) -> int:
    try:
        status, reason, data = run_step(args.child, args.workdir or Path(tempfile.gettempdir()), args.weights)
    except Exception as exc:  # recorded as this step's failure; the run goes on
        import traceback

        text = str(exc).strip().splitlines()
        status, reason, data = "failed", f"{type(exc).__name__}: {text[0] if text else ''}", {"traceback": traceback.format_exc()[-3000:]}
    if status != "ok" and not reason:
        reason = "no reason given"
    _write(args.child_out, {"status": status, "reason": reason, "data": data})
    return 0


if __name__ == "__main__":
    sys.exit(main())
