"""Which backend runs an engine: ``--backend auto|cpu|onnxruntime|tensorrt|torch``.

``auto`` walks, first usable wins:

1. full TensorRT (``tensorrt``, when the user installed it) on an NVIDIA GPU;
2. TensorRT for RTX on a GPU it supports (compute capability 7.5, 8.6, 8.9,
   12.x: not the data-centre A100 / H100 / H200);
3. PyTorch on CUDA (``torch``): any NVIDIA GPU PyTorch runs on;
4. ONNX Runtime with its CUDA provider;
5. the CPU.

Each step records why it was taken or passed over (:func:`walk`, printed by
``vivicam doctor``), and the choice carries one line saying why, e.g. "TensorRT
for RTX does not support NVIDIA H100 (sm_90): using torch-cuda". An explicit
choice that cannot work fails with one line saying what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vivicam.engines.backends import probe
from vivicam.errors import DeviceError, InputError, MissingExtraError

BACKENDS = ("cpu", "onnxruntime", "tensorrt", "torch")


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "cpu" | "onnxruntime" | "tensorrt" | "torch"
    reason: str  # one line for logs and `vivicam doctor`
    flavour: str | None = None  # tensorrt: the TensorRT module to use
    device: str = "cpu"  # torch: "cuda" or "cpu"

    def line(self) -> str:
        return f"{self.name} ({self.reason})"


@dataclass(frozen=True)
class Step:
    """One step of the auto walk: the candidate and whether it can run here."""

    candidate: str  # "TensorRT", "TensorRT for RTX", "torch-cuda", "ONNX Runtime CUDA", "cpu"
    usable: bool
    why: str


def _gpu_label(gpu: probe.GpuInfo) -> str:
    return f"{gpu.name} ({gpu.sm})"


def walk() -> list[Step]:
    """Every candidate of ``auto`` in order, with its verdict on this machine."""
    gpu_probe = probe.probe_gpu()
    gpu = gpu_probe.gpu
    flavours = {t.flavour: t for t in probe.probe_tensorrt()}
    steps = []
    for flavour in probe.TENSORRT_MODULES:
        label = probe.FLAVOUR_LABELS[flavour]
        info = flavours.get(flavour)
        if info is None:
            steps.append(Step(label, False, f"{label} is not installed"))
        elif gpu is None:
            steps.append(Step(label, False, f"{info.label} is installed but there is no usable NVIDIA GPU ({gpu_probe.reason})"))
        elif flavour == "tensorrt_rtx" and not probe.rtx_supports(gpu.compute_capability, _rtx_module()):
            steps.append(Step(label, False, f"{label} does not support {_gpu_label(gpu)}; it runs on compute capability {probe.rtx_supported_list()}"))
        else:
            steps.append(Step(label, True, f"{info.label} on {_gpu_label(gpu)}"))
    torch = probe.probe_torch()
    if torch is None:
        steps.append(Step("torch-cuda", False, "PyTorch is not installed"))
    elif torch.cuda is None:
        steps.append(Step("torch-cuda", False, f"PyTorch {torch.version}: {torch.reason}"))
    else:
        where = _gpu_label(gpu) if gpu is not None else "the CUDA device"
        steps.append(Step("torch-cuda", True, f"PyTorch {torch.version} (CUDA {torch.cuda}) on {where}"))
    providers = _ort_providers()
    if providers is None:
        steps.append(Step("ONNX Runtime CUDA", False, "ONNX Runtime is not installed"))
    elif "CUDAExecutionProvider" not in providers:
        steps.append(Step("ONNX Runtime CUDA", False, "ONNX Runtime has no CUDA provider (a CPU-only build)"))
    else:
        steps.append(Step("ONNX Runtime CUDA", True, "ONNX Runtime with its CUDA provider"))
    steps.append(Step("cpu", True, "the CPU path"))
    return steps


_BACKEND_OF = {
    "TensorRT": "tensorrt",
    "TensorRT for RTX": "tensorrt",
    "torch-cuda": "torch",
    "ONNX Runtime CUDA": "onnxruntime",
    "cpu": "cpu",
}
_FLAVOUR_OF = {"TensorRT": "tensorrt", "TensorRT for RTX": "tensorrt_rtx"}


def _rtx_module():
    """The installed tensorrt_rtx module (its ComputeCapability enum says what
    it builds for), or None."""
    if not any(t.flavour == "tensorrt_rtx" for t in probe.probe_tensorrt()):
        return None
    try:
        import importlib

        return importlib.import_module("tensorrt_rtx")
    except Exception:  # probed by a fake in tests, or broken since
        return None


def _ort_providers() -> tuple[str, ...] | None:
    found = probe.probe_onnxruntime()
    return None if found is None else found[1]


def _skipped(steps: list[Step], before: int, offered: tuple[str, ...]) -> list[Step]:
    """Offered candidates before ``before`` that are installed but cannot run
    here (what the one-line reason should mention)."""
    return [
        s for s in steps[:before]
        if not s.usable and _BACKEND_OF[s.candidate] in offered and "is not installed" not in s.why
    ]


def _cpu_reason(steps: list[Step], offered: tuple[str, ...]) -> str:
    gpu = probe.probe_gpu()
    if gpu.gpu is None:
        return f"no usable NVIDIA GPU: {gpu.reason}"
    gpu_steps = [s for s in steps[:-1] if _BACKEND_OF[s.candidate] in offered]
    if not gpu_steps:
        return "this engine has no GPU backend"
    return f"{gpu.gpu.name} found but no GPU backend can use it: " + "; ".join(s.why.split(";")[0] for s in gpu_steps)


def _auto(offered: tuple[str, ...]) -> BackendChoice:
    if probe.probe_gpu().gpu is None and probe.no_gpu_device():
        # nothing in the walk can run without a GPU device: importing
        # TensorRT and ONNX Runtime only to hear so would slow every start
        return BackendChoice("cpu", _cpu_reason([], offered))
    steps = walk()
    for i, step in enumerate(steps):
        backend = _BACKEND_OF[step.candidate]
        if not step.usable or backend not in offered:
            continue
        if backend == "cpu":
            return BackendChoice("cpu", _cpu_reason(steps, offered))
        skipped = _skipped(steps, i, offered)
        reason = f"{skipped[0].why.split(';')[0]}: using {step.candidate}" if skipped else step.why
        return BackendChoice(backend, reason, flavour=_FLAVOUR_OF.get(step.candidate), device="cuda" if backend == "torch" else "cpu")
    raise InputError(f"no backend of this engine ({', '.join(offered)}) can run on this machine")


def select_backend(requested: str, engine_backends: Sequence[str] = BACKENDS) -> BackendChoice:
    """The backend to use for an engine offering ``engine_backends``."""
    offered = tuple(engine_backends)
    if requested != "auto" and requested not in BACKENDS:
        raise InputError(f"unknown backend '{requested}'; choose one of: auto, {', '.join(BACKENDS)}")
    if requested != "auto" and requested not in offered:
        raise InputError(f"this engine has no '{requested}' backend; it offers: {', '.join(offered)}")
    if requested == "cpu":
        return BackendChoice("cpu", "asked for (--backend cpu)")
    if requested == "onnxruntime":
        providers = _ort_providers()
        if providers is None:
            raise MissingExtraError("the onnxruntime backend needs ONNX Runtime: pip install 'vivicam[export]'")
        where = "CUDA" if "CUDAExecutionProvider" in providers else "CPU"
        return BackendChoice("onnxruntime", f"asked for (--backend onnxruntime), on the {where}")
    if requested == "tensorrt":
        return _explicit_tensorrt()
    if requested == "torch":
        return _explicit_torch()
    return _auto(offered)


def _explicit_tensorrt() -> BackendChoice:
    """The first usable TensorRT flavour, or the one-line reason there is none."""
    gpu = probe.probe_gpu()
    if gpu.gpu is None:
        raise DeviceError(f"the tensorrt backend needs an NVIDIA GPU: {gpu.reason}")
    steps = [s for s in walk() if s.candidate in _FLAVOUR_OF]
    for step in steps:
        if step.usable:
            return BackendChoice("tensorrt", f"asked for (--backend tensorrt); {step.why}", flavour=_FLAVOUR_OF[step.candidate])
    refused = [s for s in steps if "does not support" in s.why]
    if refused:
        raise DeviceError(
            f"the tensorrt backend cannot run here: {refused[0].why}; use --backend torch, or install full TensorRT"
        )
    raise MissingExtraError(
        "the tensorrt backend needs TensorRT: pip install 'vivicam[gpu]' (TensorRT for RTX), "
        "or full TensorRT from NVIDIA's index"
    )


def _explicit_torch() -> BackendChoice:
    torch = probe.probe_torch()
    if torch is None:
        raise MissingExtraError("the torch backend needs PyTorch: pip install 'vivicam[export]' (or a CUDA build of torch)")
    if torch.cuda is None:
        return BackendChoice("torch", f"asked for (--backend torch), on the CPU: {torch.reason}", device="cpu")
    return BackendChoice("torch", f"asked for (--backend torch); PyTorch {torch.version} on CUDA {torch.cuda}", device="cuda")
