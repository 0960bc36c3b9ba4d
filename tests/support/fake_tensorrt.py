"""A stand-in for the ``tensorrt`` / ``tensorrt_rtx`` Python module: just the
builder API that ``vivicam.engines.build.tensorrt`` uses, recording the calls.
It lets the build logic (strong typing, FP16 graph, profiles, timing cache,
plan cache and rebuilds) be tested on a machine without a GPU; the real
TensorRT runs only in ``python -m vivicam.benchmarks.gpu_accept``."""

from __future__ import annotations

import json
import types
from pathlib import Path


def make_fake_tensorrt(name: str = "tensorrt", version: str = "10.99.0") -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__version__ = version
    mod.calls = []  # (what, details) in call order

    class ILogger:
        class Severity:
            INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = range(5)

        def __init__(self) -> None:
            pass

    class NetworkDefinitionCreationFlag:
        STRONGLY_TYPED = 5

    class BuilderFlag:
        TF32 = 6

    class Tensor:
        def __init__(self, name: str, shape: tuple[int, ...]) -> None:
            self.name, self.shape = name, shape

    class Network:
        def __init__(self, flags: int) -> None:
            self.flags = flags
            self.inputs: list[Tensor] = []
            self.onnx_bytes = b""

        @property
        def num_inputs(self) -> int:
            return len(self.inputs)

        def get_input(self, i: int) -> Tensor:
            return self.inputs[i]

    class OnnxParser:
        def __init__(self, network: Network, logger: ILogger) -> None:
            self.network, self.errors = network, []

        def parse_from_file(self, path: str) -> bool:
            import onnx

            data = Path(path).read_bytes()
            model = onnx.load_from_string(data)
            if any(n.op_type == "Unsupported" for n in model.graph.node):
                self.errors.append("In node 3 (Unsupported): UNSUPPORTED_NODE: no importer for op Unsupported\nmore")
                return False
            self.network.onnx_bytes = data
            for inp in model.graph.input:
                dims = tuple(d.dim_value if d.dim_value else -1 for d in inp.type.tensor_type.shape.dim)
                self.network.inputs.append(Tensor(inp.name, dims))
            mod.calls.append(("parse", {"path": path, "elem_types": _elem_types(model)}))
            return True

        @property
        def num_errors(self) -> int:
            return len(self.errors)

        def get_error(self, i: int) -> str:
            return self.errors[i]

    class TimingCache:
        def __init__(self, blob: bytes) -> None:
            self.blob = blob

        def serialize(self) -> bytes:
            return self.blob + b"+"

    class Config:
        def __init__(self) -> None:
            self.flags_cleared, self.flags_set, self.profiles = [], [], []
            self.timing_cache = None
            self.progress_monitor = None

        def clear_flag(self, flag: int) -> None:
            self.flags_cleared.append(flag)

        def set_flag(self, flag: int) -> None:
            self.flags_set.append(flag)

        def add_optimization_profile(self, profile: object) -> None:
            self.profiles.append(profile)

        def create_timing_cache(self, blob: bytes) -> TimingCache:
            mod.calls.append(("timing_cache_in", bytes(blob)))
            return TimingCache(bytes(blob))

        def set_timing_cache(self, cache: TimingCache, ignore_mismatch: bool) -> None:
            self.timing_cache = cache

        def get_timing_cache(self) -> TimingCache:
            return self.timing_cache

    class Profile:
        def __init__(self) -> None:
            self.shapes = {}

        def set_shape(self, name: str, lo: tuple, opt: tuple, hi: tuple) -> None:
            self.shapes[name] = (lo, opt, hi)

    class Builder:
        def __init__(self, logger: ILogger) -> None:
            self.logger = logger

        def create_network(self, flags: int) -> Network:
            mod.calls.append(("create_network", flags))
            return Network(flags)

        def create_builder_config(self) -> Config:
            return Config()

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
            mod.calls.append(("build", {"flags": network.flags, "cleared": list(config.flags_cleared)}))
            if mod.fail_build:
                self.logger.log(ILogger.Severity.ERROR, "out of tactics for node /conv/Conv")
                return None
            shapes = {t.name: list(t.shape) for t in network.inputs}  # what the fake runtime reads back
            return b"FAKEPLAN" + json.dumps(shapes).encode()

    mod.ILogger = ILogger
    mod.NetworkDefinitionCreationFlag = NetworkDefinitionCreationFlag
    mod.BuilderFlag = BuilderFlag
    mod.OnnxParser = OnnxParser
    mod.Builder = Builder
    mod.fail_build = False
    return mod


def _elem_types(model) -> dict[str, int]:
    return {init.name: init.data_type for init in model.graph.initializer}
