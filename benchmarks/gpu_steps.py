"""The checks of the GPU acceptance run (:mod:`vivicam.benchmarks.gpu_accept`),
one function per step. Each returns ``(status, reason, data)``; the runner
calls it in its own process with a timeout, so a hang or a crash in one step
costs that step only.

The parity functions take the array module to test, so the GPU tests
(``tests/realtime/post/test_post_gpu.py``) run the very same cases.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

Result = tuple[str, str, dict[str, Any]]  # status, reason, data
# "cpu" runs the torch steps' code on the CPU (eager FP32): a smoke run of this
# module on machines without a GPU (the tests); the acceptance run uses CUDA.
DEVICE = os.environ.get("VIVICAM_ACCEPT_DEVICE", "cuda")

BACKGROUNDS = ("keep", "blur", "color", "color:#3366ff", "image")
SHIFTS = (None, (3.0, -2.0), (-7.4, 5.6))
OUT_SIZES = (None, (1280, 720), (480, 640))
GREY_LEVELS = 1  # CuPy and NumPy post-processing may differ by this much


def _stats(samples_s: list[float]) -> dict[str, float] | None:
    from vivicam.benchmarks.speed import stats_ms

    return stats_ms(samples_s)


# -- post-processing parity -----------------------------------------------------
def post_state(photo: np.ndarray, crop_size: int = 512) -> Any:
    """An avatar state with a person mask (so every background mode applies)
    and a crop box partly off the photo's edge."""
    from vivicam.engines.base import AvatarState

    h, w = photo.shape[:2]
    s = crop_size / (0.6 * min(h, w))
    yy, xx = np.mgrid[0:crop_size, 0:crop_size]
    edge = np.minimum.reduce([xx, yy, crop_size - 1 - xx, crop_size - 1 - yy]).astype(np.float32)
    py, px = np.mgrid[0:h, 0:w]
    person = np.clip(1.2 - np.hypot((px - w * 0.5) / (0.35 * w), (py - h * 0.55) / (0.5 * h)), 0, 1).astype(np.float32)
    return AvatarState(
        photo=photo,
        crop_matrix=np.array([[s, 0, -0.25 * w * s], [0, s, -0.1 * h * s]], np.float32),
        crop_size=crop_size,
        paste_mask=np.clip(edge / 40, 0, 1),
        person_mask=person,
    )


def post_parity(xp: ModuleType) -> list[dict[str, Any]]:
    """compose() on ``xp`` against NumPy for every background, shift and
    letterbox, and to_pixel_format() for every pixel format: one row each with
    the largest difference in grey levels."""
    import cv2
    from skimage import data

    from vivicam.realtime.post import compose, to_pixel_format
    from vivicam.realtime.post.pixel_format import PIXEL_FORMATS

    photo = cv2.resize(data.astronaut(), (640, 560))
    crop = cv2.resize(data.chelsea(), (512, 512))
    backdrop = cv2.resize(data.coffee(), (640, 560))
    rows = []
    for background in BACKGROUNDS:
        for shift in SHIFTS:
            for out_size in OUT_SIZES:
                bg_np = backdrop if background == "image" else background
                bg_xp = xp.asarray(backdrop) if background == "image" else background
                ref = compose(post_state(photo), crop, out_size=out_size, background=bg_np, shift=shift, xp=np)
                got = compose(post_state(photo), xp.asarray(crop), out_size=out_size, background=bg_xp, shift=shift, xp=xp)
                rows.append(_diff_row("compose", ref, got, background=background, shift=shift, out_size=out_size))
    frame = cv2.resize(data.astronaut(), (1280, 720))
    for fmt in PIXEL_FORMATS:
        rows.append(_diff_row("pixel_format", to_pixel_format(frame, fmt), to_pixel_format(xp.asarray(frame), fmt), format=fmt))
    return rows


def _diff_row(op: str, ref: Any, got: Any, **what: Any) -> dict[str, Any]:
    from vivicam.xp import to_host

    got_h = to_host(got)
    same_shape = tuple(got_h.shape) == tuple(ref.shape)
    worst = int(np.abs(got_h.astype(np.int16) - ref.astype(np.int16)).max()) if same_shape else 999
    return {"op": op, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in what.items()}, "max_diff": worst, "ok": worst <= GREY_LEVELS}


def step_post_parity() -> Result:
    import cupy

    rows = post_parity(cupy)
    bad = [r for r in rows if not r["ok"]]
    data = {"cases": len(rows), "worst": max(r["max_diff"] for r in rows), "failed_cases": bad[:10]}
    if bad:
        return "failed", f"{len(bad)} of {len(rows)} cases differ by more than {GREY_LEVELS} grey level", data
    return "ok", "", data


# -- DLPack ---------------------------------------------------------------------
def step_dlpack() -> Result:
    """CUDA tensor ↔ CuPy through vivicam.xp shares memory (no copy), and a
    device array counts no host copy until to_host."""
    import cupy
    import torch

    from vivicam.xp import as_array, host_copies, to_host

    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    before = host_copies.snapshot()[0]
    c = as_array(t)
    shared = isinstance(c, cupy.ndarray) and int(c.data.ptr) == t.data_ptr()
    c[0, 0] = 42.0
    torch.cuda.synchronize()
    seen = float(t[0, 0].item()) == 42.0
    back = torch.from_dlpack(c)
    shared_back = back.data_ptr() == t.data_ptr()
    counted_none = host_copies.snapshot()[0] == before
    to_host(c)
    counted_one = host_copies.snapshot()[0] == before + 1
    data = {"torch_to_cupy_same_pointer": shared, "write_visible": seen, "cupy_to_torch_same_pointer": shared_back,
            "no_host_copy_counted": counted_none, "to_host_counted": counted_one}
    if all(data.values()):
        return "ok", "", data
    return "failed", "a DLPack exchange copied or a host copy went uncounted: " + ", ".join(k for k, v in data.items() if not v), data


# -- torch CUDA vs the CPU reference ----------------------------------------------
def sync() -> None:
    """Wait for the device (timings must include the GPU's work)."""
    if DEVICE == "cuda":
        import torch

        torch.cuda.synchronize()


def has_module(name: str) -> bool:
    try:
        __import__(name)
    except Exception:  # absent, or broken against this numpy
        return False
    return True


def _set_tf32(torch: Any, enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _parity(spec: Any, reference: dict[str, np.ndarray], precision: str, compile: bool) -> dict[str, Any]:
    import torch

    from vivicam.engines.backends.torch_runner import TorchRunner
    from vivicam.engines.build.check import compare, tolerance_for

    _set_tf32(torch, precision != "fp32")  # FP32 means FP32: no TF32 convolutions
    runner = TorchRunner(spec, device=DEVICE, precision=precision, compile=compile)
    outputs = {k: v.cpu().numpy() for k, v in runner.run_tensors(spec.make_inputs()).items()}
    report = compare(outputs, reference, tolerance_for(spec, precision), name=spec.name, backend="torch-cuda", precision=precision)
    return {"spec": spec.name, "precision": precision, "ran_as": runner.net.precision, "max_abs": report.max_abs,
            "mean_abs": report.mean_abs, "atol": report.atol, "rtol": report.rtol, "ok": report.within_tolerance}


def _parity_result(rows: list[dict[str, Any]], what: str) -> Result:
    bad = [r for r in rows if not r["ok"]]
    if bad:
        return "failed", f"{what}: {', '.join(r['spec'] + ' ' + r['precision'] for r in bad)} out of tolerance", {"rows": rows}
    return "ok", "", {"rows": rows}


def step_warp_torch() -> Result:
    from vivicam.engines.build.check import reference_outputs
    from vivicam.engines.warp.export import export_specs

    spec = export_specs()[0]
    reference = reference_outputs(spec, spec.make_inputs())
    rows = [_parity(spec, reference, precision, compile=False) for precision in ("fp32", "fp16")]
    return _parity_result(rows, "warp on torch CUDA vs the CPU reference")


def step_lp_torch(weights: Path) -> Result:
    from vivicam.engines.build.check import reference_outputs
    from vivicam.engines.liveportrait.export import export_specs

    rows = []
    for spec in export_specs(weights=weights, decompose_grid_sample=False):
        reference = reference_outputs(spec, spec.make_inputs())  # the torch module on the CPU
        for precision in ("fp32", "fp16"):
            rows.append(_parity(spec, reference, precision, compile=False))
    return _parity_result(rows, "LivePortrait on torch CUDA vs the CPU")


def step_cuda_graph(weights: Path) -> Result:
    """torch.compile(mode="reduce-overhead") replays CUDA graphs: its outputs,
    replayed with changing inputs, equal the eager module's."""
    import torch

    from vivicam.engines.backends.torch_runner import TorchRunner
    from vivicam.engines.liveportrait.export import export_specs
    from vivicam.engines.warp.export import export_specs as warp_specs

    _set_tf32(torch, True)
    rows = []
    lp = {s.name: s for s in export_specs(weights=weights, decompose_grid_sample=False)}
    cases = [(lp["liveportrait-spade_generator"], "fp16", 0.02), (lp["liveportrait-warping_module"], "fp16", 0.02)]
    if has_module("mediapipe"):  # the warp graph's example inputs come from a tracked face
        cases.insert(0, (warp_specs()[0], "fp16", 0.5))
    for spec, precision, tol in cases:
        started = time.perf_counter()
        runner = TorchRunner(spec, device=DEVICE, precision=precision, compile=DEVICE == "cuda")
        base = spec.make_inputs()
        worst = 0.0
        for i in range(4):  # warm-up, record, then replays with new inputs
            inputs = {k: (v * (1.0 + 0.01 * i) if v.dtype.kind == "f" else v) for k, v in base.items()}
            got = runner.run_tensors(inputs)
            ref = runner.run_eager(inputs)
            worst = max(worst, max(float((got[k] - ref[k]).abs().max()) for k in got))
        rows.append({"spec": spec.name, "precision": precision, "max_abs_vs_eager": worst, "tolerance": tol,
                     "compile_and_run_s": round(time.perf_counter() - started, 1), "ok": worst <= tol})
    bad = [r for r in rows if not r["ok"]]
    if bad:
        return "failed", "CUDA-graph replay differs from eager: " + ", ".join(r["spec"] for r in bad), {"rows": rows}
    return "ok", "", {"rows": rows}


# -- TensorRT (where a flavour imports) -------------------------------------------------
def step_tensorrt() -> Result:
    """The warp graph's plans (FP16, FP32) built and checked against the
    reference, for every flavour that imports and supports this GPU."""
    from vivicam.engines.backends import probe
    from vivicam.engines.build.engine import build_and_check_plan
    from vivicam.engines.warp.export import export_specs

    found = probe.probe_tensorrt()
    gpu = probe.probe_gpu().gpu
    rows, skipped = [], []
    for trt in found:
        if trt.flavour == "tensorrt_rtx" and gpu is not None and not probe.rtx_supports(gpu.compute_capability, __import__("tensorrt_rtx")):
            skipped.append(f"{trt.label} does not support {gpu.name} ({gpu.sm})")
            continue
        for precision in ("fp16", "fp32"):
            spec = export_specs()[0]
            row: dict[str, Any] = {"flavour": trt.flavour, "spec": spec.name, "precision": precision}
            try:
                plan, report = build_and_check_plan(spec, precision, flavour=trt.flavour)
                row.update(seconds=round(plan.seconds, 1), max_abs=report.max_abs if report else None,
                           ok=bool(report is None or report.within_tolerance))
            except Exception as exc:  # recorded: one flavour failing must not hide the other
                row.update(ok=False, error=_one_line(exc))
            rows.append(row)
    if not rows:
        return "skipped", "; ".join(skipped) or "no TensorRT flavour imports here", {"skipped": skipped}
    bad = [r for r in rows if not r["ok"]]
    if bad:
        return "failed", f"{len(bad)} TensorRT plan(s) failed or out of tolerance", {"rows": rows, "skipped": skipped}
    return "ok", "", {"rows": rows, "skipped": skipped}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


# -- the machine, and the command line end to end ---------------------------------------
def step_machine() -> Result:
    """GPU, driver, CUDA, library versions, what ``auto`` picks and why, and
    the facts the runner uses to skip steps that cannot run here."""
    from vivicam.benchmarks.speed import machine_info
    from vivicam.engines.backends import doctor_lines, probe, select_backend

    info = machine_info()
    for name in ("triton", "cupy"):
        try:
            info["versions"][name] = str(__import__(name).__version__)
        except Exception:  # not installed, or without its CUDA libraries
            pass
    gpu = probe.probe_gpu()
    torch = probe.probe_torch()
    cupy_ok = False
    if gpu.gpu is not None:
        try:
            import cupy

            cupy_ok = cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:  # CuPy absent or unusable: the CuPy steps skip
            cupy_ok = False
    choice = select_backend("auto")
    smi = probe.nvidia_smi_gpu()
    facts = {
        "mediapipe": has_module("mediapipe"),
        "av": has_module("av"),
        "gpu": gpu.gpu.line() if gpu.gpu else None,
        "no_gpu_reason": gpu.reason or None,
        "torch_cuda": bool(torch and torch.cuda),
        "torch_reason": (torch.reason if torch else "PyTorch is not installed") or None,
        "cupy": cupy_ok,
        "tensorrt": [t.label for t in probe.probe_tensorrt()],
    }
    data = {**info, "cores_usable": cores(), "nvidia_smi": smi, "auto": choice.name, "auto_reason": choice.reason,
            "cuda_runtimes": {str(k): v for k, v in probe.cuda_runtimes(torch=torch).items()}, "doctor": doctor_lines(), "facts": facts}
    return "ok", "", data


RENDER_MAX_MEAN_ABS = 2.0  # grey levels, mean over a frame, torch CUDA vs CPU video
RENDER_MIN_PSNR = 35.0  # dB, worst frame


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


def _decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def step_render_cli(workdir: Path, seconds: float = 2.0, timeout_s: float = 150.0) -> Result:
    """``vivicam render`` of a generated talking-head clip with ``--backend
    cpu`` and ``--backend torch`` (CUDA), compared frame by frame."""
    import subprocess
    import sys

    from PIL import Image
    from skimage import data

    from vivicam.realtime.app import run_demo

    clip, avatar = workdir / "driving.mp4", workdir / "avatar.png"
    run_demo(output=clip, seconds=seconds, preview=False, backend="cpu")
    Image.fromarray(np.ascontiguousarray(data.astronaut()[:, ::-1])).save(avatar)
    result: dict[str, Any] = {"engine": "warp", "seconds": seconds}
    videos = {}
    deadline = time.perf_counter() + timeout_s
    for backend in ("cpu", "torch"):
        out = workdir / f"render-{backend}.mp4"
        cmd = [sys.executable, "-m", "vivicam", "render", "--avatar", str(avatar), "--driving", str(clip), "-o", str(out),
               "--engine", "warp", "--backend", backend, "--no-progress"]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(5.0, deadline - started))
        except subprocess.TimeoutExpired:
            return "failed", f"vivicam render --backend {backend} timed out", result
        result[backend] = {"returncode": proc.returncode, "wall_s": round(time.perf_counter() - started, 1)}
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
            return "failed", f"vivicam render --backend {backend} exited {proc.returncode}: {tail}", result
        videos[backend] = _decode(out)
    result.update(compare_videos(videos["cpu"], videos["torch"]))
    if not result["ok"]:
        return "failed", f"torch render differs from the CPU's (worst mean {result['mean_abs_max']:.2f}, PSNR {result['psnr_min']:.1f} dB)", result
    return "ok", "", result
