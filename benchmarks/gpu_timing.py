"""The timing steps of the GPU acceptance run (:mod:`vivicam.benchmarks.gpu_accept`):
warp and LivePortrait on torch CUDA, split into render / post / host copy
with host copies per frame counted; LivePortrait ms per 512² frame (FP16) and
streams per GPU at 30 fps with batching. Medians and p95 in milliseconds."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vivicam.benchmarks import gpu_steps
from vivicam.benchmarks.gpu_steps import Result, _stats, has_module, sync


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
    from skimage import data

    from vivicam.engines.warp.engine import WarpEngine
    from vivicam.realtime.post import compose

    engine = WarpEngine(backend="torch")
    state = engine.prepare(data.astronaut())
    motions = _motions(frames + 3)
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


ENGINE_FRAME_AFTER_S = 100.0  # the engine frame (a second compile, from the cache) only within this


def step_lp_timing(weights: Path, frames: int = 40) -> Result:
    """LivePortrait on torch CUDA at 512², FP16, compiled with CUDA graphs.

    - ``network_frame``: every network a driven frame runs (the driver's
      motion extractor, stitching, warping, generator, uint8 on the device);
    - ``engine_frame`` (with MediaPipe): the engine's whole ``render`` of a
      driven frame (plus the NumPy keypoint math and the driver crop), split
      into render / post (compose on CuPy, 1280×720) / host copy, with host
      copies per frame counted.

    ``data.liveportrait_ms_per_frame_fp16`` is the engine frame's render
    median when measured, else the network frame's (``figure_from`` says)."""
    from vivicam.engines.liveportrait.engine import TorchNetworks

    nets = TorchNetworks.from_weights(weights, device=gpu_steps.DEVICE, precision="fp16")
    started = time.perf_counter()
    network = _network_frame_ms(nets, frames)
    data: dict[str, Any] = {"precision": "fp16", "frames": frames, "network_frame": network,
                            "compile_and_first_frames_s": round(time.perf_counter() - started, 1)}
    figure, source = network["frame_ms"]["median"], "network_frame"
    spent = time.perf_counter() - started
    if not has_module("mediapipe"):
        data["engine_frame"] = "skipped: MediaPipe is not installed (the engine finds the face with it)"
    elif spent > ENGINE_FRAME_AFTER_S:
        data["engine_frame"] = f"skipped: the networks' compile and frames took {spent:.0f} s, no time left in the step"
    else:
        data["engine_frame"] = _engine_frame(weights, frames)
        figure, source = data["engine_frame"]["render"]["median"], "engine_frame"
    data.update(liveportrait_ms_per_frame_fp16=figure, figure_from=source)
    return "ok", "", data


def _network_frame_ms(nets: Any, frames: int) -> dict[str, Any]:
    from vivicam.engines.liveportrait import crop as cropping
    from vivicam.engines.liveportrait import keypoints as kpm
    from vivicam.engines.liveportrait.export import example_inputs

    image = example_inputs("motion_extractor")["image"]
    feature = nets.appearance(image)
    source = kpm.transform_keypoints(kpm.keypoint_info(nets.motion(image)))
    whole, core = [], []
    for i in range(frames + 3):
        t0 = time.perf_counter()
        driver = kpm.transform_keypoints(kpm.keypoint_info(nets.motion(image)))
        kp = kpm.apply_stitching(driver, nets.stitching(kpm.stitching_features(source, driver))).astype(np.float32)
        t1 = time.perf_counter()
        cropping.to_uint8_image(nets.generate(nets.warp(feature, kp, source)))
        sync()
        t2 = time.perf_counter()
        if i >= 3:
            whole.append(t2 - t0)
            core.append(t2 - t1)
    return {"frame_ms": _stats(whole), "warp_generator_uint8_ms": _stats(core)}


def _engine_frame(weights: Path, frames: int) -> dict[str, Any]:
    import dataclasses

    from vivicam.face.detect import find_avatar_face
    from vivicam.realtime.post import compose
    from vivicam.types import DriverFrame

    engine, state, photo = _lp_engine_parts(weights, "fp16")
    driver = DriverFrame(photo, find_avatar_face(photo).landmarks)  # the photo drives itself: a whole driven frame's work
    motions = [dataclasses.replace(m, driver=driver) for m in _motions(frames + 3)]
    started = time.perf_counter()
    engine.render(state, motions[0])
    first = time.perf_counter() - started
    parts = _timed_parts(frames, lambda i: engine.render(state, motions[i]), lambda c: compose(state, c, out_size=(1280, 720)), sync)
    return {"first_frame_s": round(first, 1), **parts}


def step_lp_streams(weights: Path, budget_s: float = 100.0, batches: tuple[int, ...] = (1, 2, 4, 8, 16), repeat: int = 8) -> Result:
    """Streams per GPU at 30 fps: warping + generator batched over B avatars
    (FP16, channels-last, eager: batch sizes would each need a compile), the
    best B's per-frame time → how many 30-fps streams one GPU renders."""
    import torch

    from vivicam.engines.liveportrait.engine import TorchNetworks

    device = gpu_steps.DEVICE
    nets = TorchNetworks.from_weights(weights, device=device, precision="fp16", compile=False)
    warp, gen = nets.module("warping_module"), nets.module("spade_generator")
    rows, deadline = [], time.perf_counter() + budget_s
    on_cuda = device == "cuda"
    total = torch.cuda.mem_get_info()[1] if on_cuda else 0
    for batch in batches:
        if time.perf_counter() > deadline:
            break
        feature = torch.randn(batch, 32, 16, 64, 64, device=device)
        kp = torch.rand(batch, 21, 3, device=device) - 0.5
        try:
            samples = []
            if on_cuda:
                torch.cuda.reset_peak_memory_stats()
            for i in range(repeat):
                t0 = time.perf_counter()
                gen(warp(feature, kp, kp)[0])
                sync()
                if i >= min(2, repeat - 1):
                    samples.append(time.perf_counter() - t0)
        except torch.cuda.OutOfMemoryError:
            rows.append({"batch": batch, "error": "out of GPU memory"})
            break
        ms = float(np.median(samples)) * 1e3
        rows.append({"batch": batch, "ms_per_batch": round(ms, 2), "ms_per_frame": round(ms / batch, 3),
                     "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if on_cuda else None})
    good = [r for r in rows if "ms_per_frame" in r]
    best = min(good, key=lambda r: r["ms_per_frame"])
    streams = int(1000.0 / 30.0 // best["ms_per_frame"])
    return "ok", "", {"rows": rows, "best_batch": best["batch"], "streams_at_30fps": streams,
                      "gpu_memory_gib": round(total / 2**30, 1), "note": "warping + generator only; keypoint networks and post excluded"}
