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
from typing import Any, Callable

import numpy as np

Result = tuple[str, str, dict[str, Any]]  # status, reason, data

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
def _set_tf32(torch: Any, enabled: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _parity(spec: Any, reference: dict[str, np.ndarray], precision: str, compile: bool) -> dict[str, Any]:
    import torch

    from vivicam.engines.backends.torch_runner import TorchRunner
    from vivicam.engines.build.check import compare, tolerance_for

    _set_tf32(torch, precision != "fp32")  # FP32 means FP32: no TF32 convolutions
    runner = TorchRunner(spec, device="cuda", precision=precision, compile=compile)
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
    for spec, precision, tol in ((warp_specs()[0], "fp16", 0.5), (lp["liveportrait-spade_generator"], "fp16", 0.02)):
        started = time.perf_counter()
        runner = TorchRunner(spec, device="cuda", precision=precision, compile=True)
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


# -- timings ----------------------------------------------------------------------
def _timed_parts(frames: int, render: Callable[[int], Any], post: Callable[[Any], Any], sync: Callable[[], None]) -> dict[str, Any]:
    from vivicam.xp import host_copies, to_host

    parts: dict[str, list[float]] = {"render": [], "post": [], "host_copy": [], "frame": []}
    for i in range(frames + 3):
        t0 = time.perf_counter()
        crop = render(i)
        sync()
        t1 = time.perf_counter()
        out = post(crop)
        sync()
        t2 = time.perf_counter()
        if i == 3:
            host_copies.reset()  # count from here on, after the warm-up frames
        to_host(out)
        t3 = time.perf_counter()
        if i >= 3:
            for name, value in (("render", t1 - t0), ("post", t2 - t1), ("host_copy", t3 - t2), ("frame", t3 - t0)):
                parts[name].append(value)
    copies, nbytes = host_copies.snapshot()
    return {**{k: _stats(v) for k, v in parts.items()}, "host_copies_per_frame": copies / frames, "host_bytes_per_frame": nbytes / frames}


def _motions(n: int) -> list[Any]:
    from vivicam.types import Motion

    t = np.linspace(0, 2 * np.pi, n, dtype=np.float32)
    return [Motion(rotation=np.array([5 * np.sin(a), 12 * np.sin(2 * a), 0], np.float32), mouth_open=float(0.5 + 0.5 * np.sin(3 * a))) for a in t]


def step_warp_timing(frames: int = 60) -> Result:
    """The warp engine on torch CUDA: render, post (compose on CuPy, 1280×720
    letterbox) and the host copy, per frame."""
    import cupy
    from skimage import data

    from vivicam.engines.warp.engine import WarpEngine
    from vivicam.realtime.post import compose

    engine = WarpEngine(backend="torch")
    state = engine.prepare(data.astronaut())
    motions = _motions(frames + 3)
    sync = cupy.cuda.Device().synchronize
    started = time.perf_counter()
    engine.render(state, motions[0])  # compile + capture
    first = time.perf_counter() - started
    parts = _timed_parts(frames, lambda i: engine.render(state, motions[i]), lambda c: compose(state, c, out_size=(1280, 720)), sync)
    return "ok", "", {"engine": "warp", "backend": engine.backend, "first_frame_s": round(first, 1), "frames": frames, **parts}


def _lp_engine_parts(weights: Path, precision: str) -> tuple[Any, Any, Any]:
    from skimage import data

    from vivicam.engines.liveportrait.engine import LivePortraitEngine

    engine = LivePortraitEngine(backend="torch", weights=weights, precision=precision)
    state = engine.prepare(data.astronaut())
    return engine, state, data.astronaut()


def step_lp_timing(weights: Path, frames: int = 40) -> Result:
    """LivePortrait on torch CUDA at 512²: a driven frame (the driver's motion
    extractor, stitching and retargeting, warping, generator) and its split
    into render / post / host copy; the figure is
    ``data.liveportrait_ms_per_frame_fp16``."""
    import cupy

    from vivicam.realtime.post import compose
    from vivicam.types import DriverFrame

    import dataclasses

    from vivicam.face.detect import find_avatar_face

    engine, state, photo = _lp_engine_parts(weights, "fp16")
    face = find_avatar_face(photo)
    driver = DriverFrame(photo, face.landmarks)  # the photo drives itself: a full driven frame's work
    motions = [dataclasses.replace(m, driver=driver) for m in _motions(frames + 3)]
    sync = cupy.cuda.Device().synchronize
    started = time.perf_counter()
    engine.render(state, motions[0])
    first = time.perf_counter() - started
    parts = _timed_parts(frames, lambda i: engine.render(state, motions[i]), lambda c: compose(state, c, out_size=(1280, 720)), sync)
    core = _lp_core_ms(engine, state, frames)
    data = {"engine": "liveportrait", "precision": "fp16", "first_frame_s": round(first, 1), "frames": frames, **parts, "core": core,
            "liveportrait_ms_per_frame_fp16": parts["render"]["median"] if parts["render"] else None}
    return "ok", "", data


def _lp_core_ms(engine: Any, state: Any, frames: int) -> dict[str, Any]:
    """Warping module + generator alone (the 1245-GFLOP part of a frame)."""
    import torch

    nets, src = engine.networks, state.source
    kp = np.asarray(src.keypoints, np.float32)
    samples = []
    for i in range(frames + 3):
        t0 = time.perf_counter()
        nets.generate(nets.warp(src.feature, kp, kp))
        torch.cuda.synchronize()
        if i >= 3:
            samples.append(time.perf_counter() - t0)
    return {"warp_and_generator_ms": _stats(samples)}


def step_lp_streams(weights: Path, budget_s: float = 100.0) -> Result:
    """Streams per GPU at 30 fps: warping + generator batched over B avatars
    (FP16, channels-last, eager: batch sizes would each need a compile), the
    best B's per-frame time → how many 30-fps streams one GPU renders."""
    import torch

    from vivicam.engines.liveportrait.engine import TorchNetworks

    nets = TorchNetworks.from_weights(weights, device="cuda", precision="fp16", compile=False)
    warp, gen = nets.module("warping_module"), nets.module("spade_generator")
    rows, deadline = [], time.perf_counter() + budget_s
    free, total = torch.cuda.mem_get_info()
    for batch in (1, 2, 4, 8, 16):
        if time.perf_counter() > deadline:
            break
        feature = torch.randn(batch, 32, 16, 64, 64, device="cuda")
        kp = torch.rand(batch, 21, 3, device="cuda") - 0.5
        try:
            samples = []
            torch.cuda.reset_peak_memory_stats()
            for i in range(8):
                t0 = time.perf_counter()
                gen(warp(feature, kp, kp)[0])
                torch.cuda.synchronize()
                if i >= 2:
                    samples.append(time.perf_counter() - t0)
        except torch.cuda.OutOfMemoryError:
            rows.append({"batch": batch, "error": "out of GPU memory"})
            break
        ms = float(np.median(samples)) * 1e3
        rows.append({"batch": batch, "ms_per_batch": round(ms, 2), "ms_per_frame": round(ms / batch, 3),
                     "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)})
    good = [r for r in rows if "ms_per_frame" in r]
    best = min(good, key=lambda r: r["ms_per_frame"])
    streams = int(1000.0 / 30.0 // best["ms_per_frame"])
    return "ok", "", {"rows": rows, "best_batch": best["batch"], "streams_at_30fps": streams,
                      "gpu_memory_gib": round(total / 2**30, 1), "note": "warping + generator only; keypoint networks and post excluded"}


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
