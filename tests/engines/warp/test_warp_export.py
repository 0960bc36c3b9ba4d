"""The warp engine's tensor graph: ONNX export and ONNX Runtime agreement
with the CPU (OpenCV/NumPy) reference within the spec's stated tolerance."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("skimage")

from vivicam.engines.base import crop_image  # noqa: E402
from vivicam.engines.warp import graph  # noqa: E402
from vivicam.engines.warp.export import export_specs  # noqa: E402


@pytest.fixture(scope="module")
def spec():
    (only,) = export_specs()
    return only


def test_spec_names_its_graph(spec):
    assert spec.name == "warp-512"
    assert spec.output_names == ("back",)
    assert spec.input_names == graph.INPUT_NAMES
    assert spec.reference is not None
    inputs = spec.make_inputs()
    # the graph computes motion, not pixels: no image goes in (any photo size, any output size)
    assert all(v.ndim < 3 or v.shape[-1] != 4 for v in inputs.values())
    assert inputs["canon0"].shape == (graph.RIG_POINTS, 3)


def test_torch_graph_matches_the_cpu_path(spec):
    import torch

    inputs = spec.make_inputs()
    with torch.no_grad():
        out = spec.make_module()(*[torch.from_numpy(np.ascontiguousarray(v)) for v in inputs.values()])
    ref = spec.reference(inputs)["back"]
    assert out.shape == ref.shape == (128, 128, 2)
    diff = np.abs(out.numpy() - ref)
    assert diff.max() <= spec.tolerance[0] and diff.mean() < 0.05
    # the example motion really moves things (the check is not identity vs identity)
    assert np.abs(ref).mean() > 2


def test_onnxruntime_matches_the_cpu_path(spec, tmp_path):
    from vivicam.engines.build.check import check_onnx

    report = check_onnx(spec, out_dir=tmp_path)
    assert report.within_tolerance, report.line()
    assert report.mean_abs < 0.05


def test_engine_onnxruntime_backend_renders_like_cpu(tmp_path, monkeypatch):
    from skimage import data

    from vivicam.engines.registry import create_engine
    from vivicam.types import Motion

    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path))
    cpu = create_engine("warp", backend="cpu")
    ort = create_engine("warp", backend="onnxruntime")
    state = cpu.prepare(data.astronaut())
    motion = Motion(rotation=np.array([4, -15, 2], np.float32), mouth_open=0.5, eyes_closed=np.full(2, 0.5, np.float32))
    a, b = crop_image(cpu.render(state, motion), state), crop_image(ort.render(state, motion), state)
    assert b.shape == a.shape and b.dtype == np.uint8
    diff = np.abs(a.astype(int) - b.astype(int))
    # sub-pixel differences of the motion: invisible on average, a few levels on sharp edges
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 24


def test_fp16_graph_converts_and_stays_within_tolerance(spec, tmp_path):
    """`vivicam build` makes FP16 graphs by default: every op of this graph
    must be kept FP32 (a comparison left out once broke the conversion)."""
    from vivicam.engines.build.check import check_onnx

    report = check_onnx(spec, out_dir=tmp_path, precision="fp16")
    assert report.within_tolerance, report.line()


def test_the_graph_limits_a_turned_photos_turn_like_the_cpu_path():
    """A photo turned from the camera turns less away from it
    (MeshRig.turn_limit): the graph's target mesh bends the yaw as the CPU
    path's does, on the limited side and not on the other."""
    import dataclasses

    import torch

    from vivicam.engines.warp.export import _example_state
    from vivicam.engines.warp.mesh_motion import target_points
    from vivicam.types import Motion

    state = _example_state(512, 4)
    module = graph.make_module()
    targets = {}
    for limit, yaw in (([36.0, 14.0], 24.0), ([36.0, 14.0], -24.0), ([36.0, 36.0], 24.0)):
        rig = dataclasses.replace(state.rig, turn_limit=np.array(limit, np.float32))
        motion = Motion(rotation=np.array([6.0, yaw, -5.0], np.float32))
        inputs = {**graph.avatar_inputs(dataclasses.replace(state, rig=rig)), **graph.motion_inputs(motion)}
        del inputs["field_index"], inputs["field_weight"]  # the target mesh does not use the field
        with torch.no_grad():
            got = module.target(**{k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}).numpy()
        want = target_points(rig, motion)
        assert np.abs(got[: len(want)] - want).max() < 0.05
        targets[limit[1], yaw] = want
    assert np.abs(targets[14.0, 24.0] - targets[36.0, 24.0]).max() > 5  # the limited side turned less


def test_the_graph_holds_the_photo_edge_like_the_cpu_path():
    """A photo cut through the hair (MeshRig.bound_lo/hi): the graph's target
    mesh keeps the edge points and the hair beside the edge where the CPU
    path does, and the field the graph inverts from it matches too."""
    import torch
    from skimage import data

    from vivicam.engines.warp.export import cpu_reference
    from vivicam.engines.warp.mesh_motion import FREE, target_points
    from vivicam.engines.warp.prepare import prepare_avatar
    from vivicam.types import Motion

    state = prepare_avatar(np.ascontiguousarray(data.astronaut()[:, :290]))  # the right edge cuts her hair
    rig = state.rig
    assert (rig.bound_lo[:, 0] > -FREE).sum() > 20  # the edge holds points
    motion = Motion(rotation=np.array([3.0, -12.0, 2.0], np.float32), translation=np.array([-0.4, 0.1], np.float32))
    inputs = {**graph.avatar_inputs(state), **graph.motion_inputs(motion)}
    module = graph.make_module()
    with torch.no_grad():
        torch_in = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
        got = module.target(**{k: v for k, v in torch_in.items() if k not in ("field_index", "field_weight")}).numpy()
        back = module(*[torch_in[k] for k in graph.INPUT_NAMES]).numpy()
    want = target_points(rig, motion)
    assert np.abs(got[: len(want)] - want).max() < 0.05
    held = rig.bound_lo[:, 0] > -FREE
    assert np.abs(want[held, 0] - rig.bound_lo[held, 0]).min() < 1e-3  # some points sit on their bound
    ref = cpu_reference(inputs)["back"]
    assert np.abs(back - ref).max() <= 0.5 and np.abs(back - ref).mean() < 0.05


def test_the_graph_drags_the_skin_below_a_rising_lip_like_the_cpu_path():
    """A lower lip lifted far above the skin below it (MeshRig.lip_rows): the
    graph moves that skin where the CPU path does."""
    import torch
    from skimage import data

    from vivicam.calibrate import mesh
    from vivicam.engines.warp.mesh_motion import keep_lip_skin, target_points
    from vivicam.engines.warp.prepare import prepare_avatar
    from vivicam.types import Motion

    state = prepare_avatar(data.astronaut())
    rig = state.rig
    expression = np.zeros((478, 3), np.float32)
    expression[list(mesh.LIPS_OUTER[11:]) + list(mesh.LIPS_BODY[22:]) + list(mesh.LIPS_INNER[11:]), 1] = -0.35
    motion = Motion(expression=expression, rotation=np.array([4.0, 10.0, 0.0], np.float32))
    canon = rig.canon0 + rig.expr_map @ expression
    assert np.abs(keep_lip_skin(rig, canon) - canon).max() > 0.05  # the skin is dragged
    inputs = {**graph.avatar_inputs(state), **graph.motion_inputs(motion)}
    with torch.no_grad():
        torch_in = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in inputs.items()}
        got = graph.make_module().target(
            **{k: v for k, v in torch_in.items() if k not in ("field_index", "field_weight")}).numpy()
    want = target_points(rig, motion)
    assert np.abs(got[: len(want)] - want).max() < 0.05
