"""Ask the TensorRT runtime whether a plan can load here *before* loading it
(``Runtime.get_engine_validity``), and turn its verdict into the right action:
a plan for another TensorRT version, or a damaged one, is rebuilt once
(:class:`PlanLoadError`); an unsupported GPU, an old driver or CUDA runtime,
or too little GPU memory stop with one line (:class:`PlanRefusedError`) —
rebuilding would only fail again, and slowly.
"""

from __future__ import annotations

import logging
from typing import Any

from vivicam.engines.backends import probe
from vivicam.engines.backends.tensorrt_runner import PlanLoadError
from vivicam.errors import DeviceError

log = logging.getLogger(__name__)

# EngineInvalidityDiagnostics bits after which a rebuild helps
REBUILD_HELPS = ("VERSION_MISMATCH", "MALFORMED_ENGINE")
_WHAT = {
    "VERSION_MISMATCH": "built by another TensorRT version",
    "UNSUPPORTED_CC": "this GPU's compute capability is not supported",
    "OLD_CUDA_DRIVER": "the NVIDIA driver is too old",
    "OLD_CUDA_RUNTIME": "the CUDA runtime is too old",
    "INSUFFICIENT_GPU_MEMORY": "not enough GPU memory",
    "MALFORMED_ENGINE": "the plan is damaged",
    "CUDA_ERROR": "a CUDA error",
}


class PlanRefusedError(DeviceError):
    """The runtime says the plan cannot run on this machine, and a rebuild
    would not change that."""


def diagnostics(trt: Any, bits: int) -> list[str]:
    """The names of the EngineInvalidityDiagnostics set in ``bits``."""
    enum = getattr(trt, "EngineInvalidityDiagnostics", None)
    members = getattr(enum, "__members__", {}) or {}
    return [name for name, member in members.items() if int(bits) & int(member)]


def plan_verdict(trt: Any, runtime: Any, plan: bytes) -> tuple[str, list[str]]:
    """(``"VALID"`` | ``"SUBOPTIMAL"`` | ``"INVALID"`` | ``"UNKNOWN"``, diagnostics).
    ``UNKNOWN`` when this TensorRT has no ``get_engine_validity`` (older full
    TensorRT): the load itself then decides."""
    check = getattr(runtime, "get_engine_validity", None)
    if check is None:
        return "UNKNOWN", []
    validity, bits = check(plan)
    name = getattr(validity, "name", None) or str(validity).rsplit(".", 1)[-1]
    return name, diagnostics(trt, bits)


def check_plan(plan: bytes, flavour: str, label: str) -> None:
    """Raise before a load that cannot work; return when it may."""
    trt, info = probe.import_tensorrt(flavour)
    from vivicam.engines.build.tensorrt import _make_logger

    runtime = trt.Runtime(_make_logger(trt))
    verdict, why = plan_verdict(trt, runtime, plan)
    if verdict in ("VALID", "UNKNOWN"):
        return
    text = ", ".join(_WHAT.get(w, w.lower()) for w in why) or "no diagnostics"
    if verdict == "SUBOPTIMAL":
        log.info("%s: the %s plan runs, but not at its best here (%s)", info.label, label, text)
        return
    if not why or all(w in REBUILD_HELPS for w in why):
        raise PlanLoadError(f"{info.label} refuses the {label} plan: {text}")
    gpu = probe.probe_gpu().gpu
    where = f" on {gpu.name} ({gpu.sm})" if gpu else ""
    hint = "; use --backend torch" if "UNSUPPORTED_CC" in why else ""
    raise PlanRefusedError(f"{info.label} cannot run the {label} plan{where}: {text}{hint}")
