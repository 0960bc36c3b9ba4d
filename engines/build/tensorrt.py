"""ONNX → TensorRT plan, one code path for TensorRT for RTX (``tensorrt_rtx``)
and full TensorRT (``tensorrt``): their Python APIs share Builder, OnnxParser,
BuilderConfig, optimisation profiles and the plan format.

Precision: both TensorRT for RTX and TensorRT 11 build *strongly typed*
networks only (the FP16 builder flag is gone), so FP16 comes from the graph
itself: :func:`vivicam.engines.build.export.export_fp16` converts weights and
activations to FP16, keeps the spec's ``fp32_layers`` and the graph I/O in FP32,
and the network is created strongly typed on every flavour and version.

Plans are cached in ``<cache>/plans`` under a key of the ONNX bytes, the spec,
precision, GPU model and compute capability, and TensorRT flavour + version.
Each file starts with a header (magic, key, SHA-256 of the plan bytes): a plan
whose header does not match, or whose bytes are damaged, is rebuilt, never
handed to the runtime. The builder's timing cache is kept per GPU and TensorRT
version and reused across builds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from vivicam.engines.backends import probe
from vivicam.engines.backends.probe import GpuInfo, TensorRTInfo
from vivicam.engines.build.export import digest, file_sha256, graph_for
from vivicam.engines.build.spec import ExportSpec
from vivicam.errors import DeviceError, VivicamError
from vivicam.paths import atomic_write, cache_dir
from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS

log = logging.getLogger(__name__)

PLAN_MAGIC = b"VIVICAM-TRT-PLAN"
PLAN_FORMAT = 1
_HEADER = struct.Struct("<16sII")  # magic, format, header-JSON length


class BuildError(VivicamError):
    """TensorRT could not parse or build a graph."""

    exit_code = 5


@dataclass(frozen=True)
class PlanFile:
    path: Path
    key: dict[str, Any]
    tensorrt: TensorRTInfo
    gpu: GpuInfo
    built: bool  # False when a valid cached plan was reused
    seconds: float


def require_gpu() -> GpuInfo:
    found = probe.probe_gpu()
    if found.gpu is None:
        raise DeviceError(f"TensorRT needs an NVIDIA GPU: {found.reason}")
    return found.gpu


def plan_key(onnx_path: Path, spec: ExportSpec, precision: str, gpu: GpuInfo, trt: TensorRTInfo) -> dict[str, Any]:
    return {
        "spec": spec.name,
        "onnx_sha256": file_sha256(onnx_path),
        "inputs": {k: list(v.shape) for k, v in spec.make_inputs().items()},
        "precision": precision,
        "gpu": gpu.name,
        "compute_capability": gpu.compute_capability,
        "flavour": trt.flavour,
        "tensorrt": trt.version,
        "format": PLAN_FORMAT,
    }


def plan_path(spec: ExportSpec, precision: str, key: dict[str, Any]) -> Path:
    return cache_dir("plans") / f"{spec.name}-{precision}-{key['flavour']}-{digest(key)}.plan"


def write_plan(path: Path, key: dict[str, Any], plan: bytes) -> None:
    header = json.dumps({"key": key, "sha256": hashlib.sha256(plan).hexdigest(), "size": len(plan)}).encode()
    atomic_write(path, _HEADER.pack(PLAN_MAGIC, PLAN_FORMAT, len(header)) + header + plan)


def read_plan(path: Path, key: dict[str, Any] | None = None) -> bytes | None:
    """The plan bytes when ``path`` holds an intact plan built for ``key``
    (any key when None); None (with the reason logged) otherwise."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    reason = _plan_problem(data, key)
    if reason:
        log.warning("TensorRT plan %s %s; it will be rebuilt", path.name, reason)
        return None
    magic, fmt, n = _HEADER.unpack_from(data)
    return data[_HEADER.size + n :]


def _plan_problem(data: bytes, key: dict[str, Any] | None) -> str:
    if len(data) < _HEADER.size:
        return "is truncated"
    magic, fmt, n = _HEADER.unpack_from(data)
    if magic != PLAN_MAGIC or fmt != PLAN_FORMAT:
        return "has no vivicam header"
    try:
        header = json.loads(data[_HEADER.size : _HEADER.size + n])
    except ValueError:
        return "has a damaged header"
    plan = data[_HEADER.size + n :]
    if len(plan) != header.get("size") or hashlib.sha256(plan).hexdigest() != header.get("sha256"):
        return "is corrupt (hash mismatch)"
    if key is not None and header.get("key") != key:
        return "was built for another graph, GPU or TensorRT version"
    return ""


def _make_logger(trt: Any) -> Any:
    """A TensorRT logger that routes to ``logging`` and keeps the errors for
    the one-line message (the class must derive from the flavour's ILogger)."""

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity: Any, msg: str) -> None:
            level = int(severity)
            if level <= int(trt.ILogger.Severity.ERROR):
                self.errors.append(msg)
                log.error("TensorRT: %s", msg)
            elif level == int(trt.ILogger.Severity.WARNING):
                log.warning("TensorRT: %s", msg)
            else:
                log.debug("TensorRT: %s", msg)

    return Logger()


def _progress_monitor(trt: Any, label: str) -> Any | None:
    """A tqdm bar over TensorRT's top-level build phases (TensorRT ≥ 10 has
    IProgressMonitor; older versions build without one)."""
    if not hasattr(trt, "IProgressMonitor"):
        return None
    from tqdm import tqdm

    class Monitor(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)
            self.bars: dict[str, Any] = {}

        def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
            if parent_phase is None:
                self.bars[phase_name] = tqdm(total=num_steps, desc=f"{label}: {phase_name}", leave=False)

        def step_complete(self, phase_name: str, step: int) -> bool:
            bar = self.bars.get(phase_name)
            if bar is not None:
                bar.n = step + 1
                bar.refresh()
            return True  # False would cancel the build

        def phase_finish(self, phase_name: str) -> None:
            bar = self.bars.pop(phase_name, None)
            if bar is not None:
                bar.close()

    return Monitor()


def _timing_cache_path(gpu: GpuInfo, trt: TensorRTInfo) -> Path:
    return cache_dir("plans") / f"timing-{trt.flavour}-{trt.version}-{gpu.slug()}.cache"


def build_plan_bytes(trt: Any, info: TensorRTInfo, onnx_path: Path, spec: ExportSpec, precision: str, gpu: GpuInfo) -> bytes:
    """Parse ``onnx_path`` into a strongly typed network and build the plan."""
    logger = _make_logger(trt)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED")
    if strongly_typed:
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)] or logger.errors
        first = errors[0].splitlines()[0] if errors else "unknown parser error"
        raise BuildError(f"{info.label} cannot parse the {spec.name} graph: {first}")
    config = builder.create_builder_config()
    if precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 matmuls/convs would lose FP32 accuracy
    if not strongly_typed and precision == "fp16" and hasattr(trt.BuilderFlag, "FP16"):
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT < 9: weakly typed networks only
    _add_profile(builder, network, config, spec)
    _target_this_gpu(trt, info, config, gpu)
    cache_file = _timing_cache_path(gpu, info)
    timing_cache = None
    # TensorRT for RTX compiles ahead of time without timing (its timing-cache
    # calls are deprecated no-ops that log errors): full TensorRT only.
    if info.flavour == "tensorrt" and hasattr(config, "create_timing_cache"):
        blob = cache_file.read_bytes() if cache_file.is_file() else b""
        timing_cache = config.create_timing_cache(blob)
        config.set_timing_cache(timing_cache, ignore_mismatch=True)
    monitor = _progress_monitor(trt, f"building {spec.name}")
    if monitor is not None:
        config.progress_monitor = monitor
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        detail = logger.errors[-1].splitlines()[0] if logger.errors else "see the log"
        raise BuildError(f"{info.label} failed to build {spec.name}: {detail}")
    if timing_cache is not None:
        try:
            atomic_write(cache_file, bytes(config.get_timing_cache().serialize()))
        except Exception as exc:  # a lost timing cache only costs time next build
            log.warning("could not save the TensorRT timing cache: %s", exc)
    return bytes(serialized)


def _target_this_gpu(trt: Any, info: TensorRTInfo, config: Any, gpu: GpuInfo) -> None:
    """TensorRT for RTX builds for several compute capabilities by default (a
    portable plan, larger and slower to build); vivicam builds for this GPU
    only, named explicitly so it also works ahead of time without the GPU."""
    if info.flavour != "tensorrt_rtx" or not hasattr(config, "set_compute_capability"):
        return
    major, _, minor = gpu.compute_capability.partition(".")
    target = getattr(trt.ComputeCapability, f"SM{major}{minor}", None)
    if target is None:
        raise DeviceError(
            f"{info.label} does not support {gpu.name} ({gpu.sm}); it runs on compute capability "
            f"{probe.rtx_supported_list()}: use --backend torch"
        )
    config.num_compute_capabilities = 1
    config.set_compute_capability(target, 0)


def _add_profile(builder: Any, network: Any, config: Any, spec: ExportSpec) -> None:
    """One optimisation profile pinned to the spec's shapes (needed when the
    graph has any dynamic dimension; harmless otherwise)."""
    examples = spec.make_inputs()
    profile = builder.create_optimization_profile()
    dynamic = False
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(tensor.shape)
        if any(d < 0 for d in shape):
            dynamic = True
            shape = tuple(examples[tensor.name].shape)
        profile.set_shape(tensor.name, shape, shape, shape)
    if dynamic:
        config.add_optimization_profile(profile)


def ensure_plan(
    spec: ExportSpec,
    precision: str = DEFAULT_PRECISION,
    *,
    flavour: str | None = None,
    force: bool = False,
    notify: Callable[[str], None] | None = None,
) -> PlanFile:
    """A valid plan for ``spec`` on this GPU: the cached one, or built now
    (``notify`` hears "building TensorRT plan for warp (first run, ~1 min)…")."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose fp16 or fp32")
    trt, info = probe.import_tensorrt(flavour)
    gpu = require_gpu()
    if info.flavour == "tensorrt_rtx" and not probe.rtx_supports(gpu.compute_capability, trt):
        raise DeviceError(
            f"{info.label} does not support {gpu.name} ({gpu.sm}); it runs on compute capability "
            f"{probe.rtx_supported_list()}: use --backend torch"
        )
    started = time.perf_counter()
    onnx_file = graph_for(spec, precision)
    key = plan_key(onnx_file, spec, precision, gpu, info)
    path = plan_path(spec, precision, key)
    if not force and path.is_file() and read_plan(path, key) is not None:
        return PlanFile(path, key, info, gpu, built=False, seconds=time.perf_counter() - started)
    message = f"building {info.label} plan for {spec.name} ({precision}, {gpu.name}; first run, ~1 min)…"
    (notify or log.warning)(message)
    plan = build_plan_bytes(trt, info, onnx_file, spec, precision, gpu)
    write_plan(path, key, plan)
    return PlanFile(path, key, info, gpu, built=True, seconds=time.perf_counter() - started)
