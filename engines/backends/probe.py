"""What this machine offers: an NVIDIA GPU (through CuPy, else PyTorch, or
nvidia-smi for reporting), TensorRT for RTX and/or full TensorRT, PyTorch with
CUDA, ONNX Runtime providers, and the CUDA runtimes pip put in this environment.

Each probe is a small function that never raises for a missing piece (it
returns None or an empty result with the reason), so backend selection and
``vivicam doctor`` can explain themselves, and tests can monkeypatch them.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
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

    @property
    def sm(self) -> str:
        """``"sm_90"`` for compute capability 9.0."""
        return "sm_" + self.compute_capability.replace(".", "")

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


# Device nodes through which a process reaches a GPU on Linux: NVIDIA's
# driver, WSL's GPU paravirtualisation, AMD's ROCm (which PyTorch reports
# as CUDA). Without any, no library can reach one.
_GPU_NODE_PREFIXES = ("nvidia", "dxg", "kfd")
NO_GPU_NODE = "no GPU device on this machine (no /dev/nvidia*)"


@lru_cache(maxsize=1)
def no_gpu_device() -> bool:
    """True when this is Linux and no GPU device node exists: then the probes
    answer "no GPU" without importing CuPy or PyTorch (PyTorch alone takes a
    second, most of a CPU render's start-up). False elsewhere (unknown: probe)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        names = os.listdir("/dev")
    except OSError:
        return False
    return not any(name.startswith(_GPU_NODE_PREFIXES) for name in names)


@lru_cache(maxsize=1)
def probe_gpu() -> GpuProbe:
    """The first CUDA device as CuPy sees it (what post-processing runs on),
    else as PyTorch sees it (the torch backend needs no CuPy to render)."""
    if no_gpu_device():
        return GpuProbe(None, NO_GPU_NODE)
    try:
        cp = importlib.import_module("cupy")
    except ImportError:
        found = _torch_gpu()
        if found is not None:
            return GpuProbe(found, "")
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


def _torch_gpu() -> GpuInfo | None:
    """The first CUDA device as an installed PyTorch sees it (None without one)."""
    torch = probe_torch()
    if torch is None or not torch.cuda:
        return None
    mod = importlib.import_module("torch")
    props = mod.cuda.get_device_properties(0)
    return GpuInfo(
        name=str(props.name),
        compute_capability=f"{props.major}.{props.minor}",
        memory_gib=props.total_memory / 2**30,
        driver="?",
        runtime=torch.cuda,
    )


@dataclass(frozen=True)
class TorchInfo:
    version: str
    cuda: str | None  # the CUDA runtime this build uses, None when no CUDA device is usable
    reason: str  # why there is no CUDA ("" when there is)


@lru_cache(maxsize=1)
def probe_torch() -> TorchInfo | None:
    """PyTorch's version and whether it can run on a CUDA device; None when it
    is not installed. Without a GPU device (:func:`no_gpu_device`) torch is
    not imported: its version comes from the installed package's metadata."""
    if no_gpu_device():
        return _torch_without_gpu()
    try:
        torch = importlib.import_module("torch")
    except Exception:  # ImportError, or a broken install
        return None
    version = str(torch.__version__)
    built = getattr(torch.version, "cuda", None)
    if built is None:
        return TorchInfo(version, None, "this PyTorch is a CPU-only build")
    try:
        usable = bool(torch.cuda.is_available())
    except Exception as exc:  # driver too old for this build, and the like
        return TorchInfo(version, None, f"CUDA unusable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})")
    if not usable:
        return TorchInfo(version, None, f"PyTorch (CUDA {built}) sees no CUDA device")
    return TorchInfo(version, str(built), "")


def _torch_without_gpu() -> TorchInfo | None:
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
    return TorchInfo(version, None, NO_GPU_NODE)


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


# Compute capabilities TensorRT for RTX builds for (consumer Turing, Ampere,
# Ada, Blackwell); used when the module is absent or has no ComputeCapability
# enum to ask. Data-centre GPUs (A100 = 8.0, H100/H200 = 9.0, B200 = 10.0) are
# not among them.
RTX_COMPUTE_CAPABILITIES = ("7.5", "8.6", "8.9", "12.x")


def rtx_supports(compute_capability: str, trt_rtx: Any = None) -> bool:
    """Whether TensorRT for RTX runs on a GPU of ``compute_capability`` ("8.9"):
    one of :data:`RTX_COMPUTE_CAPABILITIES` and, when the module is given, a
    member of its ``ComputeCapability`` enum (``SM89``; its enum also lists
    SM80, which NVIDIA does not document as supported, hence both)."""
    major, _, minor = compute_capability.partition(".")
    if compute_capability not in RTX_COMPUTE_CAPABILITIES and f"{major}.x" not in RTX_COMPUTE_CAPABILITIES:
        return False
    members = getattr(getattr(trt_rtx, "ComputeCapability", None), "__members__", None)
    return not members or f"SM{major}{minor}" in members


def rtx_supported_list() -> str:
    return ", ".join(RTX_COMPUTE_CAPABILITIES)


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
    for fn in (probe_gpu, probe_tensorrt, probe_onnxruntime, probe_torch):
        clear = getattr(fn, "cache_clear", None)  # absent while a test replaces the probe
        if clear is not None:
            clear()


# pip distributions that bring (or are built for) one CUDA major version;
# names are compared normalised (lower case, "-" for "_" and ".").
_CUDA_DISTRIBUTIONS = {
    "cupy-cuda12x": 12, "cupy-cuda13x": 13,
    "tensorrt-rtx-cu12-libs": 12, "tensorrt-rtx-cu13-libs": 13,
    "tensorrt-cu12-libs": 12, "tensorrt-cu13-libs": 13,
    "nvidia-cuda-runtime-cu12": 12, "nvidia-cuda-runtime-cu13": 13,
}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed_distributions() -> dict[str, str]:
    """{normalised name: version} of every installed distribution."""
    from importlib import metadata

    found = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name") if dist.metadata else None
        if name:
            found[_normalise(name)] = str(dist.version)
    return found


def cuda_runtimes(dists: dict[str, str] | None = None, torch: TorchInfo | None = None) -> dict[int, list[str]]:
    """{CUDA major: [what brings it]} for the CUDA-linked packages installed
    here. More than one key means two CUDA runtimes would load into one process
    (e.g. cupy-cuda12x with a CUDA 13 PyTorch): they can, but each brings its
    own copy of the runtime and libraries, and a driver too old for the newer
    one fails only when that package first touches the GPU."""
    dists = installed_distributions() if dists is None else dists
    found: dict[int, list[str]] = {}
    for name, major in _CUDA_DISTRIBUTIONS.items():
        if name in dists:
            found.setdefault(major, []).append(f"{name} {dists[name]}")
    if "nvidia-cuda-runtime" in dists:  # CUDA 13 wheels dropped the -cuXX suffix
        version = dists["nvidia-cuda-runtime"]
        major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 13
        found.setdefault(major, []).append(f"nvidia-cuda-runtime {version}")
    if torch is not None and torch.cuda:
        found.setdefault(int(torch.cuda.split(".")[0]), []).append(f"torch {torch.version}")
    return found
