"""Stand-ins for CuPy and the TensorRT runtime, backed by NumPy, so the
TensorRT runner's control flow (binding buffers once, host and device inputs,
CUDA-graph capture and replay, runtime cache, refused plans) is tested on a
machine without a GPU. Device "pointers" are ids in a registry; a "kernel" is a
Python closure; a captured "graph" replays the closures it recorded."""

from __future__ import annotations

import json
import types
from typing import Any, Callable

import numpy as np

_memory: dict[int, "FakeArray"] = {}
_streams: dict[int, "FakeStream"] = {}


class _Data:
    def __init__(self, arr: "FakeArray") -> None:
        self.ptr = id(arr)
        _memory[self.ptr] = arr


class FakeArray(np.ndarray):
    """A NumPy array that pretends to live on the GPU."""

    @property
    def data(self) -> _Data:  # type: ignore[override]
        return _Data(self)

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        self[...] = arr

    def get(self, stream: Any = None) -> np.ndarray:
        return np.array(self)


class FakeGraph:
    def __init__(self, ops: list[Callable[[], None]]) -> None:
        self.ops, self.launches = ops, 0

    def launch(self, stream: Any = None) -> None:
        self.launches += 1
        for op in self.ops:
            op()


class FakeStream:
    def __init__(self, non_blocking: bool = False) -> None:
        self.ptr = id(self)
        _streams[self.ptr] = self
        self.recording: list[Callable[[], None]] | None = None

    def __enter__(self) -> "FakeStream":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def begin_capture(self) -> None:
        self.recording = []

    def end_capture(self) -> FakeGraph:
        ops, self.recording = self.recording or [], None
        return FakeGraph(ops)

    def enqueue(self, op: Callable[[], None]) -> None:
        """Run now, or record while capturing (what a CUDA stream does)."""
        if self.recording is not None:
            self.recording.append(op)
        else:
            op()


def make_fake_cupy() -> types.ModuleType:
    cp = types.ModuleType("cupy")
    cp.__version__ = "13.99-fake"
    cp.ndarray = FakeArray
    cp.float32, cp.uint8, cp.int64 = np.float32, np.uint8, np.int64
    cp.empty = lambda shape, dtype=np.float32: np.empty(shape, dtype).view(FakeArray)
    cp.asarray = lambda x, dtype=None: np.array(x, dtype=dtype).view(FakeArray)
    cp.from_dlpack = lambda x: np.from_dlpack(x).view(FakeArray)
    cp.asnumpy = lambda x: np.array(x)
    cp.cuda = types.SimpleNamespace(Stream=FakeStream)
    return cp


def add_fake_runtime(trt: types.ModuleType) -> types.ModuleType:
    """Give a fake ``tensorrt`` module (tests/fake_tensorrt.py) a runtime whose
    engines double their first input into the output ``doubled``."""
    trt.runtime_log = []

    class DataType:
        FLOAT = "float32"

    class TensorIOMode:
        INPUT, OUTPUT = "in", "out"

    class CudaGraphStrategy:
        DISABLED, WHOLE_GRAPH_CAPTURE = 0, 1

    class RuntimeCache:
        def __init__(self) -> None:
            self.blob = b""

        def deserialize(self, blob: bytes) -> bool:
            trt.runtime_log.append(("cache_in", bytes(blob)))
            if not bytes(blob).startswith(b"JIT"):
                return False
            self.blob = bytes(blob)
            return True

        def serialize(self) -> bytes:
            return self.blob or b"JIT-kernels"

    class RuntimeConfig:
        def __init__(self) -> None:
            self.cuda_graph_strategy = CudaGraphStrategy.DISABLED
            self.cache = None

        def create_runtime_cache(self) -> RuntimeCache:
            return RuntimeCache()

        def set_runtime_cache(self, cache: RuntimeCache) -> None:
            self.cache = cache

    class Context:
        def __init__(self, engine: "Engine", config: RuntimeConfig | None) -> None:
            self.engine, self.config, self.addresses = engine, config, {}
            self.enqueues = 0

        def set_tensor_address(self, name: str, ptr: int) -> None:
            self.addresses[name] = ptr

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.engine.shapes[name]

        def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
            return True

        def execute_async_v3(self, stream_ptr: int) -> bool:
            self.enqueues += 1
            first = self.engine.inputs[0]
            src, dst = self.addresses[first], self.addresses["doubled"]

            def kernel() -> None:  # reads the bound buffers when it runs, as a GPU kernel would
                np.multiply(_memory[src], 2, out=_memory[dst])

            _streams[stream_ptr].enqueue(kernel)
            return True

    class Engine:
        def __init__(self, inputs: dict[str, list[int]]) -> None:
            self.inputs = list(inputs)
            self.shapes = {k: tuple(v) for k, v in inputs.items()}
            self.shapes["doubled"] = self.shapes[self.inputs[0]]
            self.names = self.inputs + ["doubled"]
            self.num_io_tensors = len(self.names)
            self.contexts: list[Context] = []

        def get_tensor_name(self, i: int) -> str:
            return self.names[i]

        def get_tensor_mode(self, name: str) -> str:
            return TensorIOMode.OUTPUT if name == "doubled" else TensorIOMode.INPUT

        def get_tensor_shape(self, name: str) -> tuple[int, ...]:
            return self.shapes[name]

        def get_tensor_dtype(self, name: str) -> str:
            return DataType.FLOAT

        def create_runtime_config(self) -> RuntimeConfig:
            return RuntimeConfig()

        def create_execution_context(self, config: RuntimeConfig | None = None) -> Context:
            ctx = Context(self, config)
            self.contexts.append(ctx)
            return ctx

    class Runtime:
        def __init__(self, logger: Any) -> None:
            self.logger = logger

        def deserialize_cuda_engine(self, plan: bytes) -> Engine | None:
            if not bytes(plan).startswith(b"FAKEPLAN"):
                self.logger.log(trt.ILogger.Severity.ERROR, "Serialization assertion: magic tag does not match")
                return None
            engine = Engine(json.loads(bytes(plan)[8:].decode()))
            trt.engines.append(engine)
            return engine

    trt.DataType, trt.TensorIOMode, trt.CudaGraphStrategy = DataType, TensorIOMode, CudaGraphStrategy
    trt.Runtime = Runtime
    trt.nptype = lambda dtype: np.float32
    trt.engines = []
    return trt


def fake_plan(inputs: dict[str, tuple[int, ...]]) -> bytes:
    return b"FAKEPLAN" + json.dumps({k: list(v) for k, v in inputs.items()}).encode()
