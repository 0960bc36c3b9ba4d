"""The TensorRT runner's control flow with NumPy-backed stand-ins for CuPy and
the TensorRT runtime (tests/fake_cuda.py): buffers bound once, host and device
inputs, CUDA-graph capture and replay, TensorRT for RTX's runtime cache, and a
refused plan rebuilt once. The real thing runs in gpu_accept / `pytest -m gpu`."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fake_cuda import FakeArray, add_fake_runtime, fake_plan, make_fake_cupy  # noqa: E402
from fake_tensorrt import make_fake_tensorrt  # noqa: E402

from vivicam.engines.backends import probe  # noqa: E402
from vivicam.engines.backends.tensorrt_runner import WARMUP_RUNS, PlanLoadError, TensorRTRunner  # noqa: E402

GPU = probe.GpuInfo("NVIDIA GeForce RTX 4070", "8.9", 12.0, "12.4", "12.2")
SHAPES = {"image": (1, 3, 4, 4)}


@pytest.fixture
def fake_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """CuPy + both TensorRT flavours, faked; returns {flavour: module}."""
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "cupy", make_fake_cupy())
    mods = {}
    for name, version in (("tensorrt", "10.13.0"), ("tensorrt_rtx", "1.7.1")):
        mods[name] = add_fake_runtime(make_fake_tensorrt(name, version))
        monkeypatch.setitem(sys.modules, name, mods[name])
    infos = (probe.TensorRTInfo("tensorrt", "10.13.0"), probe.TensorRTInfo("tensorrt_rtx", "1.7.1"))
    monkeypatch.setattr(probe, "probe_tensorrt", lambda: infos)
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(GPU, ""))
    return mods


def image(value: float) -> np.ndarray:
    return np.full(SHAPES["image"], value, np.float32)


def test_outputs_follow_inputs_before_and_after_graph_capture(fake_gpu) -> None:
    runner = TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt", label="test")
    assert runner.input_names == ("image",) and runner.output_names == ("doubled",)
    context = fake_gpu["tensorrt"].engines[-1].contexts[-1]
    for i in range(WARMUP_RUNS + 3):
        out = runner.run({"image": image(i)})["doubled"]
        assert isinstance(out, FakeArray)  # stays on the "GPU"
        np.testing.assert_array_equal(np.asarray(out), image(2 * i))
    assert runner.captured and runner._graph.launches == 3
    assert context.enqueues == WARMUP_RUNS + 1  # warm-up runs + the captured one, then replays only


def test_device_inputs_and_returned_outputs_are_independent(fake_gpu) -> None:
    cp = sys.modules["cupy"]
    runner = TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt", cuda_graph=False)
    first = runner.run({"image": cp.asarray(image(1.0))})["doubled"]
    second = runner.run({"image": image(5.0)})["doubled"]
    assert float(first.max()) == 2.0 and float(second.max()) == 10.0  # a copy, not the bound buffer
    assert not runner.captured


def test_inputs_are_checked_once(fake_gpu) -> None:
    runner = TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt")
    with pytest.raises(ValueError, match="input 'image' has shape \\(1, 3, 2, 2\\)"):
        runner.run({"image": np.zeros((1, 3, 2, 2), np.float32)})
    with pytest.raises(KeyError, match="missing inputs"):
        runner.run({})


def test_failed_capture_falls_back_to_plain_enqueue(fake_gpu, monkeypatch) -> None:
    from fake_cuda import FakeStream

    def broken(self) -> None:
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(FakeStream, "begin_capture", broken)
    runner = TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt")
    for i in range(WARMUP_RUNS + 2):
        np.testing.assert_array_equal(np.asarray(runner.run({"image": image(i)})["doubled"]), image(2 * i))
    assert not runner.captured


def test_tensorrt_for_rtx_uses_its_own_graph_capture_and_runtime_cache(fake_gpu, tmp_path) -> None:
    cache = tmp_path / "warp.runtime-cache"
    runner = TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt_rtx", runtime_cache=cache)
    context = fake_gpu["tensorrt_rtx"].engines[-1].contexts[-1]
    assert context.config.cuda_graph_strategy == fake_gpu["tensorrt_rtx"].CudaGraphStrategy.WHOLE_GRAPH_CAPTURE
    for i in range(WARMUP_RUNS + 2):
        runner.run({"image": image(i)})
    assert runner.captured and runner._graph is None  # no second capture on top of TensorRT's
    assert cache.read_bytes() == b"JIT-kernels"  # saved once the JIT kernels exist
    runner.close()
    TensorRTRunner(fake_plan(SHAPES), flavour="tensorrt_rtx", runtime_cache=cache)
    assert ("cache_in", b"JIT-kernels") in fake_gpu["tensorrt_rtx"].runtime_log


def test_refused_plan_is_a_one_line_device_error(fake_gpu) -> None:
    with pytest.raises(PlanLoadError, match="cannot load the warp plan .*magic tag does not match$"):
        TensorRTRunner(b"garbage", flavour="tensorrt", label="warp")


def test_load_runner_builds_then_runs_and_rebuilds_a_refused_plan(fake_gpu, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from tiny_graph import tiny_spec

    from vivicam.engines.backends import load_runner

    messages: list[str] = []
    runner = load_runner(tiny_spec(), "tensorrt", "fp16", notify=messages.append)
    assert runner.backend == "tensorrt" and runner.tensorrt.flavour == "tensorrt"  # preferred flavour
    assert runner.input_names == ("image", "grid") and len(messages) == 1
    inputs = tiny_spec().make_inputs()
    np.testing.assert_array_equal(np.asarray(runner.run(inputs)["doubled"]), inputs["image"] * 2)
    # a plan whose header is fine but which the runtime refuses (e.g. after a
    # driver update): rebuilt once, then loaded
    runtime = fake_gpu["tensorrt"].Runtime
    real = runtime.deserialize_cuda_engine
    calls = {"n": 0}

    def refuse_first(self, plan):
        calls["n"] += 1
        return real(self, b"refused" if calls["n"] == 1 else plan)

    monkeypatch.setattr(runtime, "deserialize_cuda_engine", refuse_first)
    runner = load_runner(tiny_spec(), "tensorrt", "fp16", notify=messages.append)
    assert runner.backend == "tensorrt" and calls["n"] == 2
    assert len(messages) == 2 and messages[1].startswith("building TensorRT 10.13.0 plan for tiny")


# ---- the runtime's verdict before loading (Runtime.get_engine_validity) ----------------
def _with_verdict(monkeypatch, mod, verdict: str, bits: int) -> list:
    """Give the fake runtime TensorRT's validity API, answering ``verdict``."""
    import enum

    class EngineValidity(enum.IntEnum):
        VALID, SUBOPTIMAL, INVALID = 0, 1, 2

    class EngineInvalidityDiagnostics(enum.IntEnum):
        VERSION_MISMATCH, UNSUPPORTED_CC, OLD_CUDA_DRIVER, OLD_CUDA_RUNTIME = 1, 2, 4, 8
        INSUFFICIENT_GPU_MEMORY, MALFORMED_ENGINE, CUDA_ERROR = 16, 32, 64

    monkeypatch.setattr(mod, "EngineValidity", EngineValidity, raising=False)
    monkeypatch.setattr(mod, "EngineInvalidityDiagnostics", EngineInvalidityDiagnostics, raising=False)
    asked: list = []

    def get_engine_validity(self, plan):
        asked.append(bytes(plan[:8]))
        return EngineValidity[verdict], bits

    monkeypatch.setattr(mod.Runtime, "get_engine_validity", get_engine_validity, raising=False)
    return asked


def test_unsupported_gpu_verdict_stops_without_a_rebuild(fake_gpu, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from tiny_graph import tiny_spec

    from vivicam.engines.backends import load_runner
    from vivicam.engines.backends.plan_check import PlanRefusedError

    messages: list[str] = []
    asked = _with_verdict(monkeypatch, fake_gpu["tensorrt"], "INVALID", 2)  # UNSUPPORTED_CC
    with pytest.raises(PlanRefusedError, match=r"cannot run the tiny plan on NVIDIA GeForce RTX 4070 \(sm_89\): this GPU's compute capability is not supported; use --backend torch$"):
        load_runner(tiny_spec(), "tensorrt", "fp16", notify=messages.append)
    assert len(asked) == 1 and len(messages) == 1  # built once, asked once, never rebuilt


def test_version_mismatch_verdict_rebuilds_once_and_valid_loads(fake_gpu, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from tiny_graph import tiny_spec

    from vivicam.engines.backends import load_runner
    from vivicam.engines.backends.tensorrt_runner import PlanLoadError

    messages: list[str] = []
    asked = _with_verdict(monkeypatch, fake_gpu["tensorrt"], "INVALID", 1)  # VERSION_MISMATCH
    with pytest.raises(PlanLoadError, match="built by another TensorRT version"):
        load_runner(tiny_spec(), "tensorrt", "fp16", notify=messages.append)
    assert len(asked) == 2 and len(messages) == 2  # rebuilt once, then the one-line error
    _with_verdict(monkeypatch, fake_gpu["tensorrt"], "SUBOPTIMAL", 0)
    assert load_runner(tiny_spec(), "tensorrt", "fp16").backend == "tensorrt"


def test_rtx_plans_target_this_gpu_only_and_refuse_unsupported_ones(fake_gpu, monkeypatch) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    import enum

    from tiny_graph import tiny_spec

    from vivicam.engines.build.tensorrt import ensure_plan
    from vivicam.errors import DeviceError

    rtx = fake_gpu["tensorrt_rtx"]

    class ComputeCapability(enum.IntEnum):
        NONE, CURRENT, SM75, SM80, SM86, SM89, SM120 = 0, 1, 75, 80, 86, 89, 120

    monkeypatch.setattr(rtx, "ComputeCapability", ComputeCapability, raising=False)
    targets: list = []
    config_cls = type(rtx.Builder(None).create_builder_config())
    monkeypatch.setattr(config_cls, "set_compute_capability", lambda self, cc, i: targets.append((cc, i, self.num_compute_capabilities)) or True, raising=False)
    ensure_plan(tiny_spec(), "fp16", flavour="tensorrt_rtx")
    assert targets == [(ComputeCapability.SM89, 0, 1)]
    h100 = probe.GpuInfo("NVIDIA H100 80GB HBM3", "9.0", 79.2, "13.0", "13.0")
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(h100, ""))
    with pytest.raises(DeviceError, match=r"does not support NVIDIA H100 80GB HBM3 \(sm_90\).*--backend torch"):
        ensure_plan(tiny_spec(), "fp16", flavour="tensorrt_rtx", force=True)
    assert len(targets) == 1
