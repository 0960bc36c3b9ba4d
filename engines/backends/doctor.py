"""What ``vivicam doctor`` says about the GPU path: the GPU, CUDA, CuPy,
TensorRT flavours, ONNX Runtime providers, the plan cache, and which backend
``--backend auto`` picks and why."""

from __future__ import annotations

import importlib

from vivicam.engines.backends import probe


def _version(module: str) -> str | None:
    try:
        return str(importlib.import_module(module).__version__)
    except Exception:  # not installed, or installed without its CUDA libraries
        return None


def _plan_cache_line() -> str:
    from vivicam.paths import cache_dir

    folder = cache_dir("plans", create=False)
    plans = sorted(folder.glob("*.plan")) if folder.is_dir() else []
    size = sum(p.stat().st_size for p in plans) / 2**20
    return f"plan cache: {folder} ({len(plans)} plans, {size:.0f} MiB)"


def doctor_lines() -> list[str]:
    """One line per fact, each readable on its own."""
    from vivicam.engines.backends.select import select_backend, walk

    lines = []
    gpu = probe.probe_gpu()
    if gpu.gpu is not None:
        lines.append(f"GPU: {gpu.gpu.line()}")
    else:
        smi = probe.nvidia_smi_gpu()
        lines.append(f"GPU: none usable ({gpu.reason})" + ("" if smi is None or "nvidia-smi" in gpu.reason else f"; nvidia-smi sees {smi}"))
    cupy = _version("cupy")
    lines.append(f"CuPy: {cupy}" if cupy else "CuPy: not installed (GPU post-processing needs it: pip install 'vivicam[gpu]')")
    found = probe.probe_tensorrt()
    if found:
        lines.append("TensorRT: " + ", ".join(t.label for t in found) + f" (plans built with {found[0].label})")
    else:
        lines.append("TensorRT: not installed (pip install 'vivicam[gpu]' brings TensorRT for RTX)")
    torch = probe.probe_torch()
    if torch is None:
        lines.append("PyTorch: not installed (pip install 'vivicam[export]')")
    else:
        lines.append(f"PyTorch: {torch.version}, " + (f"CUDA {torch.cuda}" if torch.cuda else torch.reason))
    ort = probe.probe_onnxruntime()
    if ort is None:
        lines.append("ONNX Runtime: not installed (pip install 'vivicam[export]')")
    else:
        lines.append(f"ONNX Runtime: {ort[0]}, providers: {', '.join(ort[1])}")
    lines.extend(_cuda_runtime_lines(torch))
    for i, step in enumerate(walk(), 1):
        lines.append(f"auto walk {i}. {step.candidate}: {'usable' if step.usable else 'no'} ({step.why})")
    lines.append(f"backend auto → {select_backend('auto').line()}")
    lines.append(_plan_cache_line())
    return lines


def _cuda_runtimes(torch: probe.TorchInfo | None) -> dict[int, list[str]]:
    try:
        return probe.cuda_runtimes(torch=torch)
    except Exception:  # a broken distribution's metadata must not break doctor
        return {}


def _cuda_runtime_lines(torch: probe.TorchInfo | None) -> list[str]:
    """The CUDA lines installed packages were built for, and a warning when
    there are two (they would load side by side in one process)."""
    found = _cuda_runtimes(torch)
    if not found:
        return []
    if len(found) == 1:
        major, what = next(iter(found.items()))
        return [f"CUDA packages: CUDA {major} ({', '.join(what)})"]
    parts = "; ".join(f"CUDA {m}: {', '.join(w)}" for m, w in sorted(found.items()))
    newest = max(found)
    return [
        f"warning: two CUDA runtimes would load in one process ({parts}); "
        f"install the matching pair, e.g. pip install 'vivicam[gpu-cu{newest}]', and remove the other"
    ]
