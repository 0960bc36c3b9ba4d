"""LivePortrait's networks exported to ONNX: every module's graph, run by ONNX
Runtime on the CPU, reproduces the PyTorch networks (random weights in the
official layout) within the spec's stated tolerance; the warping module both
with native 5-D GridSample (opset 20) and decomposed into 4-D GridSample."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from vivicam.engines.liveportrait import export as lp_export  # noqa: E402
from vivicam.errors import WeightsError  # noqa: E402

SHAPES = {
    "appearance_feature_extractor": ({"image": (1, 3, 256, 256)}, {"feature": (1, 32, 16, 64, 64)}),
    "motion_extractor": (
        {"image": (1, 3, 256, 256)},
        {"pitch": (1, 66), "yaw": (1, 66), "roll": (1, 66), "t": (1, 3), "exp": (1, 63), "scale": (1, 1), "kp": (1, 63)},
    ),
    "warping_module": (
        {"feature": (1, 32, 16, 64, 64), "kp_driving": (1, 21, 3), "kp_source": (1, 21, 3)},
        {"warped": (1, 256, 64, 64)},
    ),
    "spade_generator": ({"warped": (1, 256, 64, 64)}, {"image": (1, 3, 512, 512)}),
    "stitching": ({"features": (1, 126)}, {"delta": (1, 65)}),
    "retarget_eye": ({"features": (1, 66)}, {"delta": (1, 63)}),
    "retarget_lip": ({"features": (1, 65)}, {"delta": (1, 63)}),
}


@pytest.fixture(scope="module")
def specs(lp_random_weights):
    return {s.name: s for s in lp_export.export_specs(weights=lp_random_weights, decompose_grid_sample=False)}


@pytest.fixture(scope="module")
def specs_4d(lp_random_weights):
    return {s.name: s for s in lp_export.export_specs(weights=lp_random_weights, decompose_grid_sample=True)}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """spec → ONNX path, each spec exported once per module."""
    folder = tmp_path_factory.mktemp("lp_onnx")
    paths: dict[str, Path] = {}

    def get(spec) -> Path:
        if spec.name not in paths:
            paths[spec.name] = _export(spec, folder)
        return paths[spec.name]

    return get


def _export(spec, folder: Path) -> Path:
    try:  # the project's export machinery once it exists
        from vivicam.engines.build.export import export_onnx
    except ImportError:
        export_onnx = None
    if export_onnx is not None:
        return Path(export_onnx(spec, folder))
    inputs = spec.make_inputs()
    path = folder / f"{spec.name}.onnx"
    torch.onnx.export(
        spec.make_module(), tuple(torch.from_numpy(v) for v in inputs.values()), str(path),
        input_names=list(inputs), output_names=list(spec.output_names),
        opset_version=spec.opset, dynamo=False,
    )
    return path


_REFERENCE: dict[str, list[np.ndarray]] = {}


def _torch_outputs(spec) -> list[np.ndarray]:
    """The PyTorch module's outputs on the spec's example inputs (cached: the
    native and decomposed warping share the native reference)."""
    key = spec.name.removesuffix("-gs4d")
    if key not in _REFERENCE:
        module = spec.make_module()
        if hasattr(module, "decompose_grid_sample"):
            module.decompose_grid_sample = False  # the reference is the native 5-D sampling
        with torch.inference_mode():
            outs = module(*(torch.from_numpy(v) for v in spec.make_inputs().values()))
        _REFERENCE[key] = [o.numpy() for o in outs]
    return _REFERENCE[key]


def _assert_onnx_matches(spec, path: Path) -> float:
    inputs = spec.make_inputs()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(spec.output_names), inputs)
    atol, rtol = spec.tolerance
    worst = 0.0
    for name, a, b in zip(spec.output_names, got, _torch_outputs(spec)):
        assert a.shape == b.shape, name
        assert np.isfinite(a).all(), name
        np.testing.assert_allclose(a, b, atol=atol, rtol=rtol, err_msg=f"{spec.name}:{name}")
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def _node_names(path: Path) -> list[str]:
    return [node.name for node in onnx.load(str(path), load_external_data=False).graph.node]


def _gridsample_ranks(path: Path) -> list[int]:
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in list(model.graph.value_info) + list(model.graph.input)}
    return [ranks[n.input[0]] for n in model.graph.node if n.op_type == "GridSample"]


# ------------------------------------------------------------------ specs

def test_specs_need_a_weights_folder():
    with pytest.raises(WeightsError, match="needs --weights DIR"):
        lp_export.export_specs()


def test_missing_checkpoint_is_named(tmp_path):
    (tmp_path / "base_models").mkdir()
    with pytest.raises(WeightsError, match="appearance_feature_extractor"):
        lp_export.export_specs(weights=tmp_path)


def test_one_spec_per_module_with_documented_names_and_shapes(specs, specs_4d):
    assert list(specs) == [f"liveportrait-{m}" for m in lp_export.MODULES]
    for module, (inputs, outputs) in SHAPES.items():
        spec = specs[f"liveportrait-{module}"]
        example = spec.make_inputs()
        assert {k: v.shape for k, v in example.items()} == inputs
        assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in example.values())
        assert spec.output_names == tuple(outputs)
    assert specs["liveportrait-warping_module"].opset == 20  # native 5-D GridSample
    decomposed = specs_4d["liveportrait-warping_module-gs4d"]
    assert decomposed.opset < 20 and decomposed.metadata["grid_sample"] == "4d"
    assert specs["liveportrait-motion_extractor"].fp32_layers


@pytest.mark.parametrize(
    "installed, decomposed",
    [({}, False), ({"tensorrt": "11.3.0"}, False), ({"tensorrt": "10.13.2"}, True), ({"tensorrt_rtx": "1.2.0"}, True)],
)
def test_grid_sample_decomposed_when_the_installed_tensorrt_needs_it(lp_random_weights, monkeypatch, installed, decomposed):
    import sys
    import types

    for name in ("tensorrt", "tensorrt_rtx"):
        if name in installed:
            module = types.ModuleType(name)
            module.__version__ = installed[name]
            monkeypatch.setitem(sys.modules, name, module)
        else:
            monkeypatch.setitem(sys.modules, name, None)  # import fails: not installed
    names = [s.name for s in lp_export.export_specs(weights=lp_random_weights)]
    assert ("liveportrait-warping_module-gs4d" in names) is decomposed
    assert ("liveportrait-warping_module" in names) is not decomposed


def test_weights_change_changes_every_cache_key(lp_random_weights, tmp_path):
    import shutil

    copy = tmp_path / "w"
    shutil.copytree(lp_random_weights, copy)
    before = {s.name: s.metadata["weights"] for s in lp_export.export_specs(weights=copy)}
    target = copy / "retargeting_models" / "stitching_retargeting_module.pth"
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    after = {s.name: s.metadata["weights"] for s in lp_export.export_specs(weights=copy)}
    assert all(before[name] != after[name] for name in before)


# ------------------------------------------------------------------ parity

@pytest.mark.parametrize("module", ["stitching", "retarget_eye", "retarget_lip", "appearance_feature_extractor"])
def test_onnx_runtime_matches_pytorch(specs, exported, module):
    spec = specs[f"liveportrait-{module}"]
    _assert_onnx_matches(spec, exported(spec))


def test_motion_extractor_matches_and_fp32_layers_name_its_nodes(specs, exported):
    spec = specs["liveportrait-motion_extractor"]
    path = exported(spec)
    _assert_onnx_matches(spec, path)
    names = _node_names(path)
    kept = [n for n in names if any(s in n for s in spec.fp32_layers)]
    # TensorRT keeps these in FP32: they must be the network's nodes, not nothing.
    assert len(kept) > 0.9 * len(names)


@pytest.mark.slow
def test_warping_native_5d_gridsample_matches(specs, exported):
    spec = specs["liveportrait-warping_module"]
    path = exported(spec)
    assert _gridsample_ranks(path) and all(rank == 5 for rank in _gridsample_ranks(path))
    _assert_onnx_matches(spec, path)


@pytest.mark.slow
def test_warping_decomposed_into_4d_gridsample_matches_native(specs_4d, exported):
    spec = specs_4d["liveportrait-warping_module-gs4d"]
    path = exported(spec)
    ranks = _gridsample_ranks(path)
    assert ranks and all(rank == 4 for rank in ranks)  # builds on TensorRT < 11.2
    assert any(s in n for n in _node_names(path) for s in spec.fp32_layers)
    _assert_onnx_matches(spec, path)  # against the native 5-D PyTorch module


@pytest.mark.slow
def test_spade_generator_matches(specs, exported):
    spec = specs["liveportrait-spade_generator"]
    _assert_onnx_matches(spec, exported(spec))


@pytest.mark.parametrize("module", ["motion_extractor", "stitching", "retarget_eye", "retarget_lip"])
def test_mixed_fp16_graphs_convert_and_stay_within_the_fp16_tolerance(specs, module, tmp_path):
    """The graphs TensorRT FP16 plans are built from (FP16 with the spec's
    fp32_layers kept FP32), run by ONNX Runtime on the CPU."""
    pytest.importorskip("onnxconverter_common")
    from vivicam.engines.build.check import check_onnx

    report = check_onnx(specs[f"liveportrait-{module}"], precision="fp16", out_dir=tmp_path)
    assert report.within_tolerance, report
