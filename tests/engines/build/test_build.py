"""ONNX export and parity, FP16 graphs, and the TensorRT plan cache (with a
stand-in TensorRT module: the real one needs a GPU, see gpu_accept)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from fake_tensorrt import make_fake_tensorrt  # noqa: E402
from tiny_graph import tiny_spec  # noqa: E402

from vivicam.engines.backends import probe  # noqa: E402
from vivicam.engines.build import export as export_mod  # noqa: E402
from vivicam.engines.build.check import check_onnx, compare, reference_outputs  # noqa: E402
from vivicam.engines.build.export import export_fp16, export_onnx  # noqa: E402
from vivicam.engines.build.tensorrt import (  # noqa: E402
    BuildError,
    ensure_plan,
    read_plan,
    write_plan,
)
from vivicam.errors import DeviceError, MissingExtraError  # noqa: E402


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))
    probe.clear_probes()
    yield tmp_path / "cache"
    probe.clear_probes()


def test_export_has_the_spec_names_and_shapes() -> None:
    path = export_onnx(tiny_spec())
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image", "grid"]
    assert [o.name for o in model.graph.output] == ["features", "mean"]
    dims = [d.dim_value for d in model.graph.input[1].type.tensor_type.shape.dim]
    assert dims == [1, 16, 16, 2]


def test_export_is_cached_and_keyed(monkeypatch: pytest.MonkeyPatch) -> None:
    first = export_onnx(tiny_spec())
    stamp = first.stat().st_mtime_ns

    def no_export(*a, **k):
        raise AssertionError("re-exported a valid cached graph")

    import torch

    monkeypatch.setattr(torch.onnx, "export", no_export)
    assert export_onnx(tiny_spec()) == first and first.stat().st_mtime_ns == stamp
    monkeypatch.undo()
    other = export_onnx(tiny_spec(metadata={"version": "2"}))  # e.g. new weights hash
    assert other != first and other.is_file()


def test_damaged_cached_graph_is_exported_again() -> None:
    path = export_onnx(tiny_spec())
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    again = export_onnx(tiny_spec())
    assert again == path and path.read_bytes() == good


def test_onnx_runtime_matches_the_reference() -> None:
    report = check_onnx(tiny_spec())
    assert report.within_tolerance, report.line()
    assert report.max_abs < 1e-5 and set(report.outputs) == {"features", "mean"}


def test_check_catches_a_graph_that_disagrees() -> None:
    def wrong_reference(inputs):
        out = reference_outputs(tiny_spec(), inputs)
        return {"features": out["features"] + 0.1, "mean": out["mean"]}

    report = check_onnx(tiny_spec(reference=wrong_reference))
    assert not report.within_tolerance
    assert report.max_abs == pytest.approx(0.1, abs=1e-4)
    assert "OUT OF TOLERANCE" in report.line()


def test_compare_flags_nan_and_shape_mismatch() -> None:
    ref = {"y": np.ones((2, 2), np.float32)}
    assert not compare({"y": np.full((2, 2), np.nan)}, ref, (1e-3, 1e-3)).within_tolerance
    with pytest.raises(ValueError, match="shape"):
        compare({"y": np.ones(4)}, ref, (1e-3, 1e-3))


def test_fp16_graph_keeps_io_and_named_layers_in_fp32() -> None:
    path = export_fp16(tiny_spec())
    model = onnx.load(str(path))
    fp32, fp16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    assert {i.type.tensor_type.elem_type for i in model.graph.input} == {fp32}
    assert {o.type.tensor_type.elem_type for o in model.graph.output} == {fp32}
    assert {init.data_type for init in model.graph.initializer} == {fp16}  # conv weights
    grid_sample = next(n for n in model.graph.node if n.op_type == "GridSample")
    casts_before = [n for n in model.graph.node if n.op_type == "Cast" and grid_sample.input[0] in n.output]
    assert not casts_before  # GridSample reads the FP32 inputs directly: kept in FP32
    report = check_onnx(tiny_spec(), precision="fp16")
    assert report.within_tolerance and 1e-6 < report.max_abs < 1e-2, report.line()


def test_fp16_graph_types_are_consistent_around_the_models_own_casts() -> None:
    """A bool→float cast in the model (masks) must produce FP16 in the FP16 graph:
    strongly typed TensorRT rejects a Mul of FP16 by FP32 (seen with LivePortrait)."""
    import torch

    class Masked(torch.nn.Module):
        def forward(self, image, grid):
            mask = (image > 0.5).float()
            warped = torch.nn.functional.grid_sample(image * mask, grid, align_corners=False)
            return warped * (warped < 0.9).float(), mask.mean(dim=(2, 3))

    spec = tiny_spec("masked", make_module=Masked)
    model = onnx.load(str(export_fp16(spec)))  # export_fp16 runs the type check itself
    export_mod.check_types(model)
    casts = [n for n in model.graph.node if n.op_type == "Cast" and n.name.endswith("/Cast")]
    assert casts and all(n.attribute[0].i == onnx.TensorProto.FLOAT16 for n in casts)
    report = check_onnx(spec, precision="fp16")
    assert report.within_tolerance, report.line()


# ---- TensorRT plans (stand-in TensorRT) ------------------------------------

GPU = probe.GpuInfo("NVIDIA GeForce RTX 4070", "8.9", 12.0, "12.4", "12.2")


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch):
    mod = make_fake_tensorrt("tensorrt_rtx", "1.2.0")
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", mod)
    monkeypatch.setattr(probe, "probe_tensorrt", lambda: (probe.TensorRTInfo("tensorrt_rtx", "1.2.0"),))
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(GPU, ""))
    return mod


def test_plan_is_built_strongly_typed_from_the_fp16_graph_and_cached(fake_trt) -> None:
    messages = []
    plan = ensure_plan(tiny_spec(), "fp16", notify=messages.append)
    assert plan.built and plan.path.is_file()
    assert "building TensorRT for RTX 1.2.0 plan for tiny" in messages[0]
    flags = [c[1] for c in fake_trt.calls if c[0] == "create_network"]
    assert flags == [1 << 5]  # STRONGLY_TYPED
    parsed = next(c[1] for c in fake_trt.calls if c[0] == "parse")
    assert parsed["path"].endswith("-fp16.onnx")
    assert set(parsed["elem_types"].values()) == {onnx.TensorProto.FLOAT16}
    again = ensure_plan(tiny_spec(), "fp16", notify=messages.append)
    assert not again.built and again.path == plan.path and len(messages) == 1


def test_fp32_plan_is_separate_and_disables_tf32(fake_trt) -> None:
    fp16 = ensure_plan(tiny_spec(), "fp16")
    fp32 = ensure_plan(tiny_spec(), "fp32")
    assert fp32.path != fp16.path
    builds = [c[1] for c in fake_trt.calls if c[0] == "build"]
    assert builds[0]["cleared"] == [] and builds[1]["cleared"] == [6]


def test_timing_cache_is_saved_and_reused_on_full_tensorrt(fake_trt, monkeypatch) -> None:
    full = make_fake_tensorrt("tensorrt", "10.13.0")
    monkeypatch.setitem(sys.modules, "tensorrt", full)
    ensure_plan(tiny_spec(), "fp16", flavour="tensorrt")
    ensure_plan(tiny_spec(), "fp32", flavour="tensorrt")
    assert [c[1] for c in full.calls if c[0] == "timing_cache_in"] == [b"", b"+"]
    # TensorRT for RTX has no timing (its timing-cache calls are no-ops): none used
    ensure_plan(tiny_spec(), "fp16")
    assert not [c for c in fake_trt.calls if c[0] == "timing_cache_in"]


def test_corrupt_or_foreign_plan_is_rebuilt(fake_trt) -> None:
    plan = ensure_plan(tiny_spec(), "fp16")
    data = bytearray(plan.path.read_bytes())
    data[-1] ^= 0xFF
    plan.path.write_bytes(bytes(data))
    assert read_plan(plan.path, plan.key) is None
    assert ensure_plan(tiny_spec(), "fp16").built
    write_plan(plan.path, {**plan.key, "tensorrt": "0.9"}, b"old plan")
    assert read_plan(plan.path, plan.key) is None
    assert ensure_plan(tiny_spec(), "fp16").built
    plan.path.write_bytes(b"not a plan at all")
    assert read_plan(plan.path) is None


def test_plan_key_changes_with_gpu_and_flavour(fake_trt, monkeypatch: pytest.MonkeyPatch) -> None:
    rtx = ensure_plan(tiny_spec(), "fp16")
    other = probe.GpuInfo("NVIDIA GeForce RTX 3080", "8.6", 10.0, "12.4", "12.2")
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(other, ""))
    ampere = ensure_plan(tiny_spec(), "fp16")
    assert ampere.built and ampere.path != rtx.path
    h100 = probe.GpuInfo("NVIDIA H100 80GB HBM3", "9.0", 80.0, "12.4", "12.2")
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(h100, ""))
    with pytest.raises(DeviceError, match=r"does not support NVIDIA H100 80GB HBM3 \(sm_90\)"):
        ensure_plan(tiny_spec(), "fp16")  # TensorRT for RTX: refused before building
    full = make_fake_tensorrt("tensorrt", "10.13.0")
    monkeypatch.setitem(sys.modules, "tensorrt", full)
    plan = ensure_plan(tiny_spec(), "fp16", flavour="tensorrt")
    assert plan.built and plan.tensorrt.label == "TensorRT 10.13.0" and "tensorrt-" in plan.path.name


def test_parse_and_build_failures_are_one_line(fake_trt) -> None:
    import torch

    class Odd(torch.nn.Module):
        def forward(self, image, grid):
            return image * 2, grid

    spec = tiny_spec("odd", make_module=Odd, output_names=("features", "mean"))
    fake_trt.fail_build = True
    with pytest.raises(BuildError, match="failed to build odd: out of tactics") as err:
        ensure_plan(spec, "fp32")
    assert "\n" not in str(err.value)


def test_without_gpu_or_tensorrt_the_errors_say_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe, "probe_tensorrt", lambda: ())
    for name in ("tensorrt_rtx", "tensorrt"):  # absent even where the gpu extra is installed
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError, match=r"pip install 'vivicam\[gpu\]'"):
        ensure_plan(tiny_spec(), "fp16")
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", make_fake_tensorrt("tensorrt_rtx"))
    monkeypatch.setattr(probe, "probe_tensorrt", lambda: (probe.TensorRTInfo("tensorrt_rtx", "1.2.0"),))
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(None, "no CUDA device found"))
    with pytest.raises(DeviceError, match="needs an NVIDIA GPU: no CUDA device found"):
        ensure_plan(tiny_spec(), "fp16")


def test_cache_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vivicam.paths import cache_dir

    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "c"))
    assert cache_dir("onnx") == tmp_path / "c" / "onnx" and (tmp_path / "c" / "onnx").is_dir()
    monkeypatch.delenv("VIVICAM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_dir(create=False) == tmp_path / "x" / "vivicam"
    assert os.fspath(export_mod.onnx_path(tiny_spec())).startswith(str(tmp_path / "x"))


def test_real_tensorrt_for_rtx_builds_a_plan_ahead_of_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorRT for RTX compiles ahead of time without a GPU, so where its wheel
    is installed the real builder runs here (skipped, visibly, where it is not)."""
    pytest.importorskip("tensorrt_rtx")
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(GPU, ""))  # AOT: only the cache key uses it
    for precision in ("fp16", "fp32"):
        plan = ensure_plan(tiny_spec(), precision, flavour="tensorrt_rtx")
        data = read_plan(plan.path, plan.key)
        assert plan.built and data is not None and len(data) > 1000
