"""Every TensorRT-for-RTX attribute vivicam's code uses exists in the real
``tensorrt_rtx`` module (it imports without a GPU), so a renamed or missing
call fails here on the CPU instead of on a user's GPU. The list is checked
against the code too: a new ``trt.X`` in the code that is not listed here fails."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CODE = [ROOT / "engines/build/tensorrt.py", ROOT / "engines/backends/tensorrt_runner.py", ROOT / "engines/backends/plan_check.py"]

# module attributes (``trt.X`` in the code)
MODULE_ATTRS = {
    "Builder", "BuilderFlag", "ComputeCapability", "CudaGraphStrategy", "EngineInvalidityDiagnostics",
    "ILogger", "IProgressMonitor", "NetworkDefinitionCreationFlag", "OnnxParser", "Runtime", "TensorIOMode", "nptype",
}
# class.attribute for the objects the code calls methods on
MEMBERS = {
    "Builder": ("create_network", "create_builder_config", "create_optimization_profile", "build_serialized_network"),
    "IBuilderConfig": ("clear_flag", "set_flag", "add_optimization_profile", "set_compute_capability",
                       "num_compute_capabilities", "progress_monitor"),
    "IOptimizationProfile": ("set_shape",),
    "OnnxParser": ("parse_from_file", "num_errors", "get_error"),
    "INetworkDefinition": ("num_inputs", "get_input"),
    "Runtime": ("deserialize_cuda_engine", "get_engine_validity"),
    "ICudaEngine": ("create_execution_context", "create_runtime_config", "num_io_tensors", "get_tensor_name",
                    "get_tensor_mode", "get_tensor_shape", "get_tensor_profile_shape", "get_tensor_dtype"),
    "IRuntimeConfig": ("cuda_graph_strategy", "create_runtime_cache", "set_runtime_cache"),
    "IRuntimeCache": ("serialize", "deserialize"),
    "IExecutionContext": ("set_input_shape", "set_tensor_address", "get_tensor_shape", "execute_async_v3"),
}
ENUM_MEMBERS = {
    "NetworkDefinitionCreationFlag": ("STRONGLY_TYPED",),
    "BuilderFlag": ("TF32",),
    "TensorIOMode": ("INPUT",),
    "CudaGraphStrategy": ("WHOLE_GRAPH_CAPTURE",),
    "EngineValidity": ("VALID", "SUBOPTIMAL", "INVALID"),
    "EngineInvalidityDiagnostics": ("VERSION_MISMATCH", "UNSUPPORTED_CC", "MALFORMED_ENGINE"),
    "ComputeCapability": ("SM75", "SM86", "SM89", "SM120"),
}


def _module_attrs_in_code() -> set[str]:
    found = set()
    for path in CODE:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "trt":
                found.add(node.attr)
    return found


def test_the_list_covers_every_module_attribute_the_code_uses() -> None:
    import dataclasses

    from vivicam.engines.backends.probe import TensorRTInfo

    info_fields = {f.name for f in dataclasses.fields(TensorRTInfo)}  # plan_key's `trt` is a TensorRTInfo
    missing = _module_attrs_in_code() - MODULE_ATTRS - info_fields
    assert not missing, f"add these to MODULE_ATTRS (and check them): {sorted(missing)}"


def test_every_used_attribute_exists_in_the_real_tensorrt_rtx() -> None:
    trt = pytest.importorskip("tensorrt_rtx", reason="tensorrt_rtx not installed (pip install 'vivicam[test]' on Linux x86-64)")
    absent = [name for name in MODULE_ATTRS if not hasattr(trt, name)]
    for cls, members in MEMBERS.items():
        owner = getattr(trt, cls, None)
        absent += [f"{cls}.{m}" for m in members if owner is None or not hasattr(owner, m)]
    for enum, members in ENUM_MEMBERS.items():
        owner = getattr(trt, enum, None)
        absent += [f"{enum}.{m}" for m in members if owner is None or not hasattr(owner, m)]
    assert not absent, f"tensorrt_rtx {trt.__version__} lacks {absent}"
    assert not hasattr(trt.ComputeCapability, "SM90")  # why H100/H200 take the torch backend


def test_the_real_runtime_judges_a_plan_without_a_gpu() -> None:
    trt = pytest.importorskip("tensorrt_rtx")
    from vivicam.engines.backends.plan_check import plan_verdict
    from vivicam.engines.build.tensorrt import _make_logger

    assert plan_verdict(trt, trt.Runtime(_make_logger(trt)), b"not a plan" * 100) == ("INVALID", ["MALFORMED_ENGINE"])


@pytest.mark.slow
def test_the_real_builder_makes_a_plan_for_one_named_gpu(monkeypatch, tmp_path) -> None:
    """TensorRT for RTX compiles ahead of time without a GPU: the tiny graph,
    targeted at an RTX 4070 (SM89) only, through vivicam's build code."""
    trt = pytest.importorskip("tensorrt_rtx")
    pytest.importorskip("torch")
    from tiny_graph import tiny_spec

    from vivicam.engines.backends import probe
    from vivicam.engines.build.export import graph_for
    from vivicam.engines.build.tensorrt import build_plan_bytes

    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path))
    targets: list = []
    real = trt.IBuilderConfig.set_compute_capability
    gpu = probe.GpuInfo("NVIDIA GeForce RTX 4070", "8.9", 12.0, "12.4", "12.2")
    spec = tiny_spec()
    info = probe.TensorRTInfo("tensorrt_rtx", trt.__version__)
    monkeypatch.setattr(trt.IBuilderConfig, "set_compute_capability", lambda self, cc, i: targets.append(cc) or real(self, cc, i))
    plan = build_plan_bytes(trt, info, graph_for(spec, "fp16"), spec, "fp16", gpu)
    assert len(plan) > 1000 and targets == [trt.ComputeCapability.SM89]
