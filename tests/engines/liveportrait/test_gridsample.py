"""The 5-D grid sampling LivePortrait's warping needs, native and decomposed
into 4-D GridSample (for TensorRT older than 11.2)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from vivicam.engines.liveportrait.gridsample import grid_sample_3d  # noqa: E402


def _reference(volume, grid):
    return torch.nn.functional.grid_sample(
        volume, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )


def _case(seed, n, c, d, h, w, do, ho, wo, spread):
    gen = torch.Generator().manual_seed(seed)
    volume = torch.randn(n, c, d, h, w, generator=gen)
    grid = (torch.rand(n, do, ho, wo, 3, generator=gen) * 2 - 1) * spread
    return volume, grid


@pytest.mark.parametrize(
    "shape, spread",
    [
        ((1, 3, 4, 5, 6, 2, 3, 4), 1.0),  # inside the volume
        ((2, 4, 5, 7, 9, 3, 6, 8), 1.6),  # a third of the points outside: zero padding
        ((1, 2, 16, 8, 8, 16, 8, 8), 1.1),  # LivePortrait-like depth 16, near the borders
        ((3, 1, 1, 4, 4, 2, 2, 2), 1.3),  # a single depth slice
    ],
)
def test_decomposed_sampling_equals_native_5d(shape, spread):
    volume, grid = _case(sum(shape), *shape, spread)
    expected = _reference(volume, grid)
    got = grid_sample_3d(volume, grid, decompose=True)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=2e-6, rtol=1e-5), (got - expected).abs().max()


def test_native_path_is_torch_grid_sample():
    volume, grid = _case(1, 1, 2, 3, 4, 5, 2, 2, 2, 1.2)
    assert torch.equal(grid_sample_3d(volume, grid), _reference(volume, grid))


def test_exact_voxel_centres_and_depth_borders():
    # Voxel centres return the voxel; half a voxel beyond the first/last slice
    # blends with zero padding; a full voxel beyond gives exactly zero.
    d, h, w = 4, 3, 3
    volume = torch.arange(d * h * w, dtype=torch.float32).reshape(1, 1, d, h, w) + 1.0

    def z_of(k):  # normalised z of (fractional) slice index k, align_corners=False
        return (2 * k + 1) / d - 1

    zs = torch.tensor([z_of(0), z_of(3), z_of(-0.5), z_of(3.5), z_of(-1), z_of(4), 5.0, -7.0])
    grid = torch.zeros(1, len(zs), 1, 1, 3)
    grid[0, :, 0, 0, 2] = zs  # x = y = 0: the centre pixel of each slice
    got = grid_sample_3d(volume, grid, decompose=True).flatten()
    centre = volume[0, 0, :, 1, 1]
    expected = torch.tensor(
        [centre[0], centre[3], 0.5 * centre[0], 0.5 * centre[3], 0, 0, 0, 0]
    )
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got, _reference(volume, grid).flatten(), atol=1e-5)


def test_decomposed_graph_exports_without_5d_gridsample(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")

    class Sampler(torch.nn.Module):
        def forward(self, volume, grid):
            return grid_sample_3d(volume, grid, decompose=True)

    volume, grid = _case(7, 1, 4, 6, 8, 8, 6, 8, 8, 1.3)
    path = tmp_path / "sampler.onnx"
    torch.onnx.export(
        Sampler(), (volume, grid), str(path), input_names=["volume", "grid"],
        output_names=["out"], opset_version=17, dynamo=False,
    )
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    ranks = {
        vi.name: len(vi.type.tensor_type.shape.dim)
        for vi in list(model.graph.value_info) + list(model.graph.input)
    }
    samplers = [node for node in model.graph.node if node.op_type == "GridSample"]
    assert len(samplers) == 1
    assert ranks[samplers[0].input[0]] == 4  # 4-D GridSample only (opset 16+)

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"volume": volume.numpy(), "grid": grid.numpy()})
    np.testing.assert_allclose(out, _reference(volume, grid).numpy(), atol=1e-5, rtol=1e-5)
