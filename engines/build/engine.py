"""``build_engine``: everything ``vivicam build`` does for one engine: export
its graphs to ONNX, check them with ONNX Runtime against the reference, and on
a GPU build (or reuse) the TensorRT plans and check those too."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vivicam.engines.backends.select import BackendChoice, select_backend
from vivicam.engines.build.check import ParityReport
from vivicam.engines.build.spec import ExportSpec
from vivicam.errors import InputError
from vivicam.engines.base import DEFAULT_PRECISION


def engine_specs(engine: str, weights: str | Path | None = None) -> list[ExportSpec]:
    """The engine's ExportSpecs, from ``vivicam.engines.<engine>.export:export_specs``
    (``weights=`` is passed only when given)."""
    from vivicam.engines.registry import engine_names

    if engine not in engine_names():
        raise InputError(f"unknown engine '{engine}'; choose one of: {', '.join(engine_names())}")
    try:
        module = importlib.import_module(f"vivicam.engines.{engine}.export")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"vivicam.engines.{engine}"):
            raise InputError(f"the {engine} engine has no exportable graphs") from exc
        raise
    kwargs: dict[str, Any] = {} if weights is None else {"weights": Path(weights)}
    return list(module.export_specs(**kwargs))


@dataclass
class BuildResult:
    engine: str
    backend: BackendChoice
    precision: str
    onnx: dict[str, Path] = field(default_factory=dict)
    parity: list[ParityReport] = field(default_factory=list)
    plans: dict[str, Any] = field(default_factory=dict)  # spec name -> PlanFile
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(p.within_tolerance for p in self.parity)

    def summary_lines(self) -> list[str]:
        lines = [f"{self.engine}: backend {self.backend.line()}"]
        if self.backend.name == "torch":
            lines.append(
                "nothing to build for the torch backend (it compiles the torch modules on first run); "
                "`vivicam build --backend onnxruntime` exports and checks the ONNX graphs"
            )
        if self.backend.name == "cpu":
            lines.append(
                "nothing to build for the cpu backend (it runs the engine's own code); "
                "`vivicam build --backend onnxruntime` exports and checks the ONNX graphs"
            )
        for name, path in self.onnx.items():
            lines.append(f"ONNX {name}: {path}")
        lines.extend(report.line() for report in self.parity)
        for name, plan in self.plans.items():
            verb = f"built in {plan.seconds:.0f} s" if plan.built else "cached"
            lines.append(f"plan {name} ({self.precision}, {plan.tensorrt.label}, {plan.gpu.name}): {verb} → {plan.path}")
        if self.parity:
            verdict = "all within tolerance" if self.ok else "SOME OUTPUTS OUT OF TOLERANCE"
            lines.append(f"{verdict} ({self.seconds:.0f} s)")
        return lines


def build_engine(
    engine: str,
    *,
    backend: str = "auto",
    precision: str = DEFAULT_PRECISION,
    weights: str | Path | None = None,
    force: bool = False,
    check: bool = True,
    flavour: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> BuildResult:
    """Export (and check) the engine's graphs; on the tensorrt backend build
    the plans for this GPU and check them against the reference."""
    say = echo or (lambda _msg: None)
    started = time.perf_counter()
    choice = select_backend(backend)
    result = BuildResult(engine, choice, precision)
    if choice.name in ("cpu", "torch"):
        result.seconds = time.perf_counter() - started
        return result
    from vivicam.engines.build.check import check_onnx
    from vivicam.engines.build.export import export_onnx

    specs = engine_specs(engine, weights)
    for spec in specs:
        say(f"exporting {spec.name} to ONNX…")
        result.onnx[spec.name] = export_onnx(spec, force=force)
        if check:
            result.parity.append(check_onnx(spec))
    if choice.name == "tensorrt":
        for spec in specs:
            plan, report = build_and_check_plan(spec, precision, flavour=flavour or choice.flavour, force=force, check=check, echo=say)
            result.plans[spec.name] = plan
            if report is not None:
                result.parity.append(report)
    result.seconds = time.perf_counter() - started
    return result


def build_and_check_plan(
    spec: ExportSpec,
    precision: str,
    *,
    flavour: str | None = None,
    force: bool = False,
    check: bool = True,
    echo: Callable[[str], None] | None = None,
) -> tuple[Any, ParityReport | None]:
    """Build (or reuse) the plan, then run it once on the example inputs and
    compare with the reference (None when ``check`` is False)."""
    from vivicam.engines.backends.tensorrt_runner import TensorRTRunner
    from vivicam.engines.build.check import compare, reference_outputs, tolerance_for
    from vivicam.engines.build.tensorrt import ensure_plan, read_plan

    plan = ensure_plan(spec, precision, flavour=flavour, force=force, notify=echo)
    if not check:
        return plan, None
    inputs = spec.make_inputs()
    with TensorRTRunner(read_plan(plan.path, plan.key), flavour=plan.tensorrt.flavour, label=spec.name, cuda_graph=False) as runner:
        outputs = runner.run(inputs)
        runner.stream.synchronize()
    report = compare(
        outputs,
        reference_outputs(spec, inputs),
        tolerance_for(spec, precision),
        name=spec.name,
        backend=plan.tensorrt.flavour,
        precision=precision,
    )
    return plan, report
