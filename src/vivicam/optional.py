"""One helper for heavy optional dependencies (torch, onnx, onnxruntime, cupy,
TensorRT). Importing any vivicam module never needs them; using a feature
without its extra raises :class:`MissingExtraError` naming the extra to install,
chained to the original ImportError."""

from __future__ import annotations

import importlib
from types import ModuleType

from vivicam.errors import MissingExtraError

# module name -> (pip extra, what it is for)
_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("export", "the tensor graphs and the LivePortrait engine"),
    "onnx": ("export", "ONNX export"),
    "onnxruntime": ("export", "the ONNX Runtime backend"),
    "safetensors": ("export", "loading .safetensors checkpoints"),
    "onnxconverter_common": ("export", "FP16 graphs for TensorRT"),
    "cupy": ("gpu", "CUDA-side post-processing"),
    "tensorrt_rtx": ("gpu", "TensorRT for RTX plans"),
    "tensorrt": ("gpu", "TensorRT plans (install it from NVIDIA's index)"),
}


def require(module: str, feature: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingExtraError saying which extra provides it."""
    try:
        loaded = importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra, purpose = _EXTRAS.get(top, ("", ""))
        what = feature or purpose or module
        hint = f"pip install 'vivicam[{extra}]'" if extra else f"pip install {top}"
        raise MissingExtraError(f"{what} needs the Python package '{top}': {hint}") from exc
    if module == "torch":  # its pools are sized by the process's thread policy
        from vivicam.threads import configure_torch

        configure_torch(loaded)
    return loaded


def available(module: str) -> bool:
    """True when ``module`` imports (without raising for a missing extra)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True
