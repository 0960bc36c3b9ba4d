"""What this machine offers: an NVIDIA GPU (through CuPy, or nvidia-smi for
reporting), TensorRT for RTX and/or full TensorRT, ONNX Runtime providers.

Each probe is a small function that never raises for a missing piece (it
returns None or an empty result with the reason), so backend selection and
``vivicam doctor`` can explain themselves, and tests can monkeypatch them.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Full TensorRT first: a user who installed it from NVIDIA's index chose it on
# purpose (data-center GPUs); TensorRT for RTX is what the `gpu` extra brings.
TENSORRT_MODULES = ("tensorrt", "tensorrt_rtx")
FLAVOUR_LABELS = {"tensorrt": "TensorRT", "tensorrt_rtx": "TensorRT for RTX"}


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.9"
    memory_gib: float
    driver: str  # CUDA driver API version the driver supports, "12.4"
    runtime: str  # CUDA runtime CuPy uses, "12.2"
    index: int = 0

    def line(self) -> str:
        return (
            f"{self.name} (compute {self.compute_capability}, {self.memory_gib:.0f} GiB), "
            f"CUDA driver {self.driver}, runtime {self.runtime}"
        )

    def slug(self) -> str:
        """File-name safe identity used in cache keys."""
        safe = "".join(c if c.isalnum() else "-" for c in self.name).strip("-").lower()
        return f"{safe}-sm{self.compute_capability.replace('.', '')}"


@dataclass(frozen=True)
class GpuProbe:
    gpu: GpuInfo | None
    reason: str  # why there is none (or "" when found)


@dataclass(frozen=True)
class TensorRTInfo:
    flavour: str  # "tensorrt" | "tensorrt_rtx"
    version: str

    @property
    def label(self) -> str:
        return f"{FLAVOUR_LABELS[self.flavour]} {self.version}"


def _cuda_version(code: int) -> str:
    return f"{code // 1000}.{(code % 1000) // 10}"


@lru_cache(maxsize=1)
def probe_gpu() -> GpuProbe:
    """The first CUDA device as CuPy sees it (CuPy is what the GPU path runs on)."""
    try:
        cp = importlib.import_module("cupy")
    except ImportError:
        smi = nvidia_smi_gpu()
        seen = f"nvidia-smi sees {smi}" if smi else "nvidia-smi finds no GPU"
        return GpuProbe(None, f"CuPy is not installed (pip install 'vivicam[gpu]'); {seen}")
    try:
        count = cp.cuda.runtime.getDeviceCount()
        if count < 1:
            return GpuProbe(None, "no CUDA device found")
        props = cp.cuda.runtime.getDeviceProperties(0)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
        info = GpuInfo(
            name=name,
            compute_capability=f"{props['major']}.{props['minor']}",
            memory_gib=props["totalGlobalMem"] / 2**30,
            driver=_cuda_version(cp.cuda.runtime.driverGetVersion()),
            runtime=_cuda_version(cp.cuda.runtime.runtimeGetVersion()),
        )
        return GpuProbe(info, "")
    except Exception as exc:  # CUDARuntimeError, missing libcuda, driver too old…
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return GpuProbe(None, f"no usable CUDA device ({first})")


def nvidia_smi_gpu() -> str | None:
    """``"NVIDIA GeForce RTX 4070, driver 550.54"`` from nvidia-smi, or None."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    line = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else ""
    if not line:
        return None
    name, _, driver = line.partition(",")
    return f"{name.strip()}, driver {driver.strip()}"


@lru_cache(maxsize=1)
def probe_tensorrt() -> tuple[TensorRTInfo, ...]:
    """Every importable TensorRT flavour, in preference order."""
    found = []
    for module in TENSORRT_MODULES:
        try:
            mod = importlib.import_module(module)
        except Exception:  # ImportError, or a broken install missing its CUDA libraries
            continue
        found.append(TensorRTInfo(module, str(getattr(mod, "__version__", "?"))))
    return tuple(found)


@lru_cache(maxsize=1)
def probe_onnxruntime() -> tuple[str, tuple[str, ...]] | None:
    """(version, available providers) or None when ONNX Runtime is not installed."""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        return None
    return str(ort.__version__), tuple(ort.get_available_providers())


def import_tensorrt(flavour: str | None = None) -> tuple[Any, TensorRTInfo]:
    """The TensorRT module to build/run with: ``flavour`` or the first installed.
    MissingExtraError (one line) when none is."""
    from vivicam.optional import require

    if flavour is not None:
        if flavour not in TENSORRT_MODULES:
            raise ValueError(f"unknown TensorRT flavour '{flavour}'; choose {' or '.join(TENSORRT_MODULES)}")
        mod = require(flavour)
        return mod, TensorRTInfo(flavour, str(getattr(mod, "__version__", "?")))
    found = probe_tensorrt()
    if not found:  # raises the one-line error; a module the probe missed is used as is
        mod = require("tensorrt_rtx", "the tensorrt backend (TensorRT for RTX)")
        return mod, TensorRTInfo("tensorrt_rtx", str(getattr(mod, "__version__", "?")))
    info = found[0]
    return importlib.import_module(info.flavour), info


def clear_probes() -> None:
    """Forget cached probe results (after installing something, and in tests)."""
    for fn in (probe_gpu, probe_tensorrt, probe_onnxruntime):
        clear = getattr(fn, "cache_clear", None)  # absent while a test replaces the probe
        if clear is not None:
            clear()
