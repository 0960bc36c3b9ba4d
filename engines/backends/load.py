"""``load_runner(spec, backend, precision)``: the exported graph of one
ExportSpec, ready to run on the chosen backend (exported, converted and built
on first use, cached afterwards)."""

from __future__ import annotations

import logging
from typing import Callable

from vivicam.engines.backends.plan_check import check_plan
from vivicam.engines.backends.runners import OnnxRuntimeRunner, ReferenceRunner, Runner
from vivicam.engines.backends.select import select_backend
from vivicam.engines.build.spec import ExportSpec
from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS

log = logging.getLogger(__name__)


def load_runner(
    spec: ExportSpec,
    backend: str = "auto",
    precision: str = DEFAULT_PRECISION,
    *,
    flavour: str | None = None,
    cuda_graph: bool = True,
    notify: Callable[[str], None] | None = None,
) -> Runner:
    """A runner for ``spec``.

    - ``"cpu"``: the spec's reference implementation (or its torch module).
    - ``"onnxruntime"``: the FP32 graph on the CPU; on ONNX Runtime's CUDA
      provider the graph of ``precision``.
    - ``"tensorrt"``: a TensorRT plan for this GPU (built on first use, which
      ``notify`` is told about). The plan is checked with the runtime's
      ``get_engine_validity`` before loading: a plan for another TensorRT
      version or a damaged one is rebuilt once; an unsupported GPU, an old
      driver or too little memory is a one-line DeviceError (a rebuild would
      not help).
    - ``"torch"``: the spec's torch module on CUDA (compiled, CUDA graphs,
      half precision) or, without CUDA, eager on the CPU.
    - ``"auto"``: whichever :func:`select_backend` picks.
    """
    if precision not in (*PRECISIONS, "bf16"):
        raise ValueError(f"unknown precision '{precision}'; choose fp16 or fp32")
    if backend in ("auto", "tensorrt"):
        choice = select_backend(backend)  # one-line DeviceError / MissingExtraError when tensorrt cannot run
        backend, flavour = choice.name, flavour or choice.flavour
    if precision == "bf16" and backend != "torch":
        precision = "fp16"  # bf16 exists only on the torch backend
    if backend == "torch":
        from vivicam.engines.backends.torch_runner import TorchRunner

        return TorchRunner(spec, device=select_backend("torch").device, precision=precision)
    if backend == "cpu":
        return ReferenceRunner(spec)
    if backend == "onnxruntime":
        return _onnxruntime(spec, precision)
    if backend == "tensorrt":
        return _tensorrt(spec, precision, flavour=flavour, cuda_graph=cuda_graph, notify=notify)
    return select_backend(backend)  # raises the unknown-backend InputError


def _onnxruntime(spec: ExportSpec, precision: str) -> OnnxRuntimeRunner:
    from vivicam.engines.backends.probe import probe_onnxruntime
    from vivicam.engines.build.export import graph_for

    found = probe_onnxruntime()
    on_cuda = found is not None and "CUDAExecutionProvider" in found[1]
    # FP16 graphs only pay off on the GPU; ONNX Runtime's CPU kernels are FP32.
    path = graph_for(spec, precision if on_cuda else "fp32")
    return OnnxRuntimeRunner(path)


def _tensorrt(spec: ExportSpec, precision: str, **opts) -> Runner:
    from vivicam.engines.backends.tensorrt_runner import PlanLoadError, TensorRTRunner
    from vivicam.engines.build.tensorrt import ensure_plan, read_plan

    flavour, notify = opts.pop("flavour"), opts.pop("notify")
    plan = ensure_plan(spec, precision, flavour=flavour, notify=notify)
    for attempt in (1, 2):
        data = read_plan(plan.path, plan.key)
        try:
            if data is None:
                raise PlanLoadError(f"the plan for {spec.name} vanished or was damaged")
            check_plan(data, plan.tensorrt.flavour, spec.name)  # PlanLoadError (rebuild) or DeviceError (stop)
            cache = plan.path.with_suffix(".runtime-cache")
            return TensorRTRunner(data, flavour=plan.tensorrt.flavour, label=spec.name, runtime_cache=cache, **opts)
        except PlanLoadError as exc:
            if attempt == 2:
                raise
            log.warning("%s; rebuilding", exc)
            plan = ensure_plan(spec, precision, flavour=flavour, force=True, notify=notify)
    raise AssertionError("unreachable")
