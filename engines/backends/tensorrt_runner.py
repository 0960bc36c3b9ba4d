"""Run a TensorRT plan (TensorRT for RTX or full TensorRT) on the GPU.

Device buffers for every input and output are allocated once and bound to the
execution context at construction; each run copies the inputs into them (host
→ device for NumPy, device → device for CuPy arrays and CUDA torch tensors,
shared through DLPack), enqueues the engine on the runner's own CUDA stream,
and returns CuPy arrays that stay on the GPU (post-processing consumes them
there; only the final frame goes back to the host). After a warm-up run the
enqueue is captured into a CUDA graph and replayed, which removes most of the
per-launch CPU overhead; where capture is not possible it runs uncaptured.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from vivicam.engines.backends import probe
from vivicam.engines.backends.runners import _RunnerBase
from vivicam.errors import DeviceError

log = logging.getLogger(__name__)

WARMUP_RUNS = 2  # runs before capturing a CUDA graph (lazy allocations, JIT kernels in TensorRT for RTX)


class PlanLoadError(DeviceError):
    """The runtime refused a plan (built for another GPU or TensorRT version, or damaged)."""


class TensorRTRunner(_RunnerBase):
    backend = "tensorrt"

    def __init__(
        self,
        plan: bytes,
        *,
        flavour: str | None = None,
        cuda_graph: bool = True,
        label: str = "plan",
        runtime_cache: Path | None = None,
    ) -> None:
        from vivicam.engines.build.tensorrt import _make_logger
        from vivicam.optional import require

        cp = require("cupy", "the tensorrt backend")
        trt, info = probe.import_tensorrt(flavour)
        self.cp, self.trt, self.tensorrt = cp, trt, info
        self.label = label
        self.stream = cp.cuda.Stream(non_blocking=False)  # also makes the CUDA context current
        self._logger = _make_logger(trt)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(plan)
        if engine is None:
            detail = self._logger.errors[-1].splitlines()[0] if self._logger.errors else "no detail"
            raise PlanLoadError(f"{info.label} cannot load the {label} plan (built for another GPU or version?): {detail}")
        self.engine = engine
        self.cuda_graph = cuda_graph
        self._builtin_graph = False
        self._runtime_cache: Any = None
        self._runtime_cache_path = runtime_cache
        config = self._runtime_config(trt, info)
        self.context = engine.create_execution_context(config) if config is not None else engine.create_execution_context()
        if self.context is None:
            raise DeviceError(f"cannot create a TensorRT execution context for {label} (out of GPU memory?)")
        self.buffers: dict[str, Any] = {}
        self._bind(trt, cp)
        self._graph: Any = None
        self._runs = 0

    def _runtime_config(self, trt: Any, info: Any) -> Any:
        """TensorRT for RTX compiles kernels just in time on first run: keep them
        in a runtime cache file (fast second start) and let it capture its own
        CUDA graph. Full TensorRT needs neither (the runner captures the graph)."""
        if info.flavour != "tensorrt_rtx" or not hasattr(self.engine, "create_runtime_config"):
            return None
        config = self.engine.create_runtime_config()
        if self.cuda_graph and hasattr(trt, "CudaGraphStrategy"):
            config.cuda_graph_strategy = trt.CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
            self._builtin_graph = True
        path = self._runtime_cache_path
        if path is not None and hasattr(config, "create_runtime_cache"):
            cache = config.create_runtime_cache()
            if path.is_file() and not cache.deserialize(path.read_bytes()):
                log.info("%s: the runtime cache is for another GPU/driver; starting a new one", self.label)
            config.set_runtime_cache(cache)
            self._runtime_cache = cache
        return config

    def _save_runtime_cache(self) -> None:
        if self._runtime_cache is None or self._runtime_cache_path is None:
            return
        try:
            from vivicam.paths import atomic_write

            atomic_write(self._runtime_cache_path, bytes(self._runtime_cache.serialize()))
        except Exception as exc:  # a lost cache only costs JIT time next start
            log.warning("%s: could not save the TensorRT runtime cache: %s", self.label, exc)

    def _bind(self, trt: Any, cp: Any) -> None:
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        is_input = {n: self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = tuple(n for n in names if is_input[n])
        self.output_names = tuple(n for n in names if not is_input[n])
        for name in self.input_names:  # inputs first: output shapes follow from them
            shape = tuple(self.engine.get_tensor_shape(name))
            if any(d < 0 for d in shape):  # dynamic: the plan's profile pins the shape used
                shape = tuple(self.engine.get_tensor_profile_shape(name, 0)[1])
                self.context.set_input_shape(name, shape)
            self._alloc(name, shape, trt, cp)
        self._input_shapes = {n: tuple(self.buffers[n].shape) for n in self.input_names}
        for name in self.output_names:
            self._alloc(name, tuple(self.context.get_tensor_shape(name)), trt, cp)

    def _alloc(self, name: str, shape: tuple[int, ...], trt: Any, cp: Any) -> None:
        dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
        buf = cp.empty(shape, dtype=dtype)
        self.context.set_tensor_address(name, int(buf.data.ptr))
        self.buffers[name] = buf

    def set_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Copy ``inputs`` into the bound buffers on the runner's stream."""
        from vivicam.xp import array_module, as_array, to_host

        cp = self.cp
        with self.stream:
            for name in self.input_names:
                value, dst = inputs[name], self.buffers[name]
                if array_module(value) is cp:  # already on the GPU: device copy (+ cast)
                    dst[...] = as_array(value, cp)
                else:
                    dst.set(np.ascontiguousarray(to_host(value), dtype=dst.dtype), stream=self.stream)

    def execute(self) -> None:
        """Enqueue the engine (or replay its CUDA graph) on the runner's stream."""
        if self._graph is not None:
            try:
                self._graph.launch(stream=self.stream)
                return
            except Exception as exc:  # never let the optimisation break a frame
                log.warning("%s: CUDA graph replay failed (%s); running uncaptured", self.label, exc)
                self._graph, self.cuda_graph = None, False
        if not self.context.execute_async_v3(self.stream.ptr):
            raise DeviceError(f"TensorRT failed to run {self.label}")
        self._runs += 1
        if self._runs == WARMUP_RUNS:
            self._save_runtime_cache()  # the JIT kernels exist by now
            if self.cuda_graph and not self._builtin_graph:
                self._capture()

    def _capture(self) -> None:
        try:
            self.stream.begin_capture()
            try:
                ok = self.context.execute_async_v3(self.stream.ptr)
            finally:
                graph = self.stream.end_capture()
            if not ok:
                raise RuntimeError("enqueue failed during capture")
            self._graph = graph
            log.info("%s: running as a CUDA graph", self.label)
        except Exception as exc:  # capture is an optimisation: never fatal
            self.cuda_graph = False
            self._graph = None
            log.info("%s: CUDA graph capture not possible (%s); running uncaptured", self.label, exc)

    def outputs(self, *, copy: bool = True) -> dict[str, Any]:
        """The outputs as CuPy arrays; ``copy=False`` returns the bound buffers
        themselves (overwritten by the next run)."""
        with self.stream:
            return {n: (self.buffers[n].copy() if copy else self.buffers[n]) for n in self.output_names}

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        self._check_inputs(inputs)
        self.set_inputs(inputs)
        self.execute()
        return self.outputs()

    @property
    def captured(self) -> bool:
        """Runs as a CUDA graph (captured here, or by TensorRT for RTX itself)."""
        return self._graph is not None or self._builtin_graph

    def close(self) -> None:
        if self.engine is None:
            return
        self.stream.synchronize()
        self._save_runtime_cache()
        self._graph = None
        self.context = None
        self.engine = None
        self.buffers.clear()
