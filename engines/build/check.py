"""Parity of a compiled graph with the engine's reference implementation.

``check_onnx(spec)`` exports the spec, runs it with ONNX Runtime on the CPU on
the spec's example inputs, and compares every output with ``spec.reference``
(or the torch module when the spec has no separate reference). The same
:func:`compare` judges TensorRT outputs on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vivicam.engines.build.spec import ExportSpec

# FP16 has ~3 significant digits: its tolerance is the spec's (FP32) tolerance
# widened to at least this, unless the spec states "fp16_tolerance" ("atol,rtol")
# in its metadata.
FP16_MIN_TOLERANCE = (2e-2, 2e-2)


@dataclass(frozen=True)
class OutputError:
    max_abs: float
    mean_abs: float
    worst_excess: float  # max(|a - b| - (atol + rtol |b|)); <= 0 means within tolerance


@dataclass(frozen=True)
class ParityReport:
    """How far a backend's outputs are from the reference, over all outputs."""

    name: str
    backend: str
    precision: str
    max_abs: float
    mean_abs: float
    atol: float
    rtol: float
    within_tolerance: bool
    outputs: dict[str, OutputError] = field(default_factory=dict)

    def line(self) -> str:
        verdict = "ok" if self.within_tolerance else "OUT OF TOLERANCE"
        return (
            f"{self.name} [{self.backend} {self.precision}]: max |err| {self.max_abs:.3g}, "
            f"mean {self.mean_abs:.3g} (atol {self.atol:g}, rtol {self.rtol:g}) {verdict}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "precision": self.precision,
            "max_abs": self.max_abs,
            "mean_abs": self.mean_abs,
            "atol": self.atol,
            "rtol": self.rtol,
            "within_tolerance": self.within_tolerance,
            "outputs": {k: vars(v) for k, v in self.outputs.items()},
        }


def tolerance_for(spec: ExportSpec, precision: str) -> tuple[float, float]:
    atol, rtol = spec.tolerance
    if precision != "fp16":
        return float(atol), float(rtol)
    stated = spec.metadata.get("fp16_tolerance")
    if stated:
        a, r = (float(x) for x in str(stated).split(","))
        return a, r
    return max(atol, FP16_MIN_TOLERANCE[0]), max(rtol, FP16_MIN_TOLERANCE[1])


def reference_outputs(spec: ExportSpec, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``spec.reference(inputs)``, or the torch module run on the inputs."""
    if spec.reference is not None:
        out = spec.reference(inputs)
        return {name: np.asarray(out[name]) for name in spec.output_names}
    from vivicam.optional import require

    torch = require("torch")
    module = spec.make_module()
    tensors = [torch.from_numpy(np.ascontiguousarray(arr)) for arr in inputs.values()]
    with torch.no_grad():
        result = module(*tensors)
    if not isinstance(result, (tuple, list)):
        result = (result,)
    return {name: t.detach().cpu().numpy() for name, t in zip(spec.output_names, result)}


def compare(
    outputs: dict[str, Any],
    reference: dict[str, np.ndarray],
    tolerance: tuple[float, float],
    *,
    name: str = "",
    backend: str = "",
    precision: str = "fp32",
) -> ParityReport:
    """Element-wise ``|out - ref| <= atol + rtol * |ref|`` over every reference output."""
    from vivicam.xp import to_host

    atol, rtol = tolerance
    per: dict[str, OutputError] = {}
    for key, ref in reference.items():
        if key not in outputs:
            raise KeyError(f"{name}: backend output '{key}' missing (got {sorted(outputs)})")
        got = to_host(outputs[key]).astype(np.float64)
        ref64 = np.asarray(ref, dtype=np.float64)
        if got.shape != ref64.shape:
            raise ValueError(f"{name}: output '{key}' has shape {got.shape}, reference {ref64.shape}")
        diff = np.abs(got - ref64)
        excess = diff - (atol + rtol * np.abs(ref64))
        per[key] = OutputError(
            max_abs=float(diff.max(initial=0.0)),
            mean_abs=float(diff.mean()) if diff.size else 0.0,
            worst_excess=float(excess.max(initial=-np.inf)) if diff.size else 0.0,
        )
    finite = all(np.isfinite(e.max_abs) for e in per.values())
    return ParityReport(
        name=name,
        backend=backend,
        precision=precision,
        max_abs=max((e.max_abs for e in per.values()), default=0.0),
        mean_abs=float(np.mean([e.mean_abs for e in per.values()])) if per else 0.0,
        atol=float(atol),
        rtol=float(rtol),
        within_tolerance=finite and all(e.worst_excess <= 0 for e in per.values()),
        outputs=per,
    )


def check_onnx(spec: ExportSpec, *, precision: str = "fp32", out_dir: Any = None) -> ParityReport:
    """Export ``spec`` (FP32, or the mixed FP16 graph) and compare ONNX Runtime
    on the CPU with the reference on the spec's example inputs."""
    from vivicam.engines.build.export import graph_for
    from vivicam.optional import require

    ort = require("onnxruntime")
    path = graph_for(spec, precision, out_dir)
    inputs = spec.make_inputs()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # FP16 graphs run on CPU with inserted casts: no warnings wanted
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {i.name: np.ascontiguousarray(inputs[i.name]) for i in session.get_inputs()}
    result = session.run(list(spec.output_names), feed)
    outputs = dict(zip(spec.output_names, result))
    return compare(
        outputs,
        reference_outputs(spec, inputs),
        tolerance_for(spec, precision),
        name=spec.name,
        backend="onnxruntime-cpu",
        precision=precision,
    )
