"""Which backend runs an engine: ``--backend auto|cpu|onnxruntime|tensorrt``.

``auto`` picks TensorRT when an NVIDIA GPU and a TensorRT flavour are both
usable, else ONNX Runtime when it has its CUDA provider, else the CPU path,
and says why. An explicit choice that cannot work fails with one line that
says what is missing and how to get it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from vivicam.engines.backends import probe
from vivicam.errors import DeviceError, InputError, MissingExtraError

BACKENDS = ("cpu", "onnxruntime", "tensorrt")


@dataclass(frozen=True)
class BackendChoice:
    name: str  # "cpu" | "onnxruntime" | "tensorrt"
    reason: str  # one line for logs and `vivicam doctor`

    def line(self) -> str:
        return f"{self.name} ({self.reason})"


def _tensorrt_problem() -> tuple[type[Exception], str] | None:
    """None when the TensorRT backend can run here, else (error type, message)."""
    found = probe.probe_tensorrt()
    gpu = probe.probe_gpu()
    if gpu.gpu is None:
        return DeviceError, f"the tensorrt backend needs an NVIDIA GPU: {gpu.reason}"
    if not found:
        return MissingExtraError, (
            "the tensorrt backend needs TensorRT: pip install 'vivicam[gpu]' (TensorRT for RTX), "
            "or full TensorRT from NVIDIA's index"
        )
    return None


def _ort_providers() -> tuple[str, ...] | None:
    found = probe.probe_onnxruntime()
    return None if found is None else found[1]


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
        problem = _tensorrt_problem()
        if problem is not None:
            error, message = problem
            raise error(message)
        return BackendChoice("tensorrt", f"asked for (--backend tensorrt); {_tensorrt_where()}")
    return _auto(offered)


def _tensorrt_where() -> str:
    gpu = probe.probe_gpu().gpu
    trt = probe.probe_tensorrt()[0]
    return f"{trt.label} on {gpu.name if gpu else '?'}"


def _auto(offered: tuple[str, ...]) -> BackendChoice:
    problem = _tensorrt_problem()
    if "tensorrt" in offered and problem is None:
        return BackendChoice("tensorrt", _tensorrt_where())
    providers = _ort_providers() or ()
    if "onnxruntime" in offered and "CUDAExecutionProvider" in providers:
        why = problem[1] if problem else "no TensorRT"
        return BackendChoice("onnxruntime", f"ONNX Runtime with CUDA; {why}")
    if "cpu" not in offered:
        raise InputError(f"no backend of this engine ({', '.join(offered)}) can run on this machine")
    if problem is None:
        why = "this engine has no GPU backend"
    elif problem[0] is DeviceError:
        why = f"no usable NVIDIA GPU: {probe.probe_gpu().reason}"
    else:
        why = "GPU found but TensorRT is not installed (pip install 'vivicam[gpu]')"
    return BackendChoice("cpu", why)
