"""Runners: one exported graph, ready to run. ``run(inputs) -> outputs`` with
NumPy (or CuPy / torch) arrays by the spec's input and output names.

- :class:`ReferenceRunner` runs the spec's reference (or the torch module) — the
  "cpu" backend for code that wants a runner either way.
- :class:`OnnxRuntimeRunner` runs the ONNX file with ONNX Runtime: the CUDA
  provider when installed, else the CPU. Host arrays in and out.
- :class:`~vivicam.engines.backends.tensorrt_runner.TensorRTRunner` runs a plan
  with device buffers bound once (see that module).

Every runner checks its inputs' names and shapes once, on the first run, and is
a context manager (``close()`` frees what it holds).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol, runtime_checkable

import numpy as np

from vivicam.engines.build.spec import ExportSpec

log = logging.getLogger(__name__)


@runtime_checkable
class Runner(Protocol):
    backend: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]: ...

    def close(self) -> None: ...


class _RunnerBase:
    backend = "?"
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    _input_shapes: dict[str, tuple[int, ...]] = {}
    _checked = False

    def _check_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Names and shapes against the graph, once (the per-frame path stays lean)."""
        if self._checked:
            return
        missing = [n for n in self.input_names if n not in inputs]
        if missing:
            raise KeyError(f"{self.backend} runner: missing inputs {missing} (expects {list(self.input_names)})")
        for name, shape in self._input_shapes.items():
            got = tuple(inputs[name].shape)
            if got != shape:
                raise ValueError(f"{self.backend} runner: input '{name}' has shape {got}, the graph wants {shape}")
        self._checked = True

    def close(self) -> None:
        pass

    def __enter__(self) -> "_RunnerBase":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReferenceRunner(_RunnerBase):
    """The spec's own reference (or its torch module), behind the runner API."""

    backend = "cpu"

    def __init__(self, spec: ExportSpec) -> None:
        examples = spec.make_inputs()
        self.spec = spec
        self.input_names = tuple(examples)
        self.output_names = tuple(spec.output_names)
        self._input_shapes = {k: tuple(v.shape) for k, v in examples.items()}

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        from vivicam.engines.build.check import reference_outputs
        from vivicam.xp import to_host

        self._check_inputs(inputs)
        host = {name: np.ascontiguousarray(to_host(inputs[name])) for name in self.input_names}
        return reference_outputs(self.spec, host)


class OnnxRuntimeRunner(_RunnerBase):
    """An ONNX file in an ONNX Runtime session (CUDA provider first when present)."""

    backend = "onnxruntime"

    def __init__(self, onnx_path: Any, *, providers: list[str] | None = None, threads: int | None = None) -> None:
        from vivicam.optional import require
        from vivicam.threads import onnxruntime_options

        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        onnxruntime_options(options)  # the process's thread policy: sized pools that never spin
        if threads:
            options.intra_op_num_threads = int(threads)
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self.session = ort.InferenceSession(str(onnx_path), options, providers=wanted)
        self.providers = tuple(self.session.get_providers())
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self._input_shapes = {
            i.name: tuple(i.shape) for i in self.session.get_inputs() if all(isinstance(d, int) for d in i.shape)
        }
        self._dtypes = {i.name: _ort_dtype(i.type) for i in self.session.get_inputs()}

    @property
    def on_gpu(self) -> bool:
        return self.providers[:1] == ("CUDAExecutionProvider",)

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        from vivicam.xp import to_host

        self._check_inputs(inputs)
        feed = {
            name: np.ascontiguousarray(to_host(inputs[name]), dtype=self._dtypes[name]) for name in self.input_names
        }
        result = self.session.run(list(self.output_names), feed)
        return dict(zip(self.output_names, result))

    def close(self) -> None:
        self.session = None  # type: ignore[assignment]


def _ort_dtype(type_name: str) -> np.dtype:
    """``"tensor(float)"`` → float32 and friends."""
    table = {
        "tensor(float)": np.float32,
        "tensor(float16)": np.float16,
        "tensor(double)": np.float64,
        "tensor(int64)": np.int64,
        "tensor(int32)": np.int32,
        "tensor(uint8)": np.uint8,
        "tensor(bool)": np.bool_,
    }
    return np.dtype(table.get(type_name, np.float32))
