"""Trilinear sampling of a 5-D feature volume, natively or as 4-D GridSample.

LivePortrait's warping step samples 3-D feature volumes (N×C×D×H×W) with a
dense 3-D grid. ONNX opset 20 has a 5-D GridSample, but TensorRT only supports
it from 11.2 on; :func:`grid_sample_3d` with ``decompose=True`` computes the
same result from ops every TensorRT version has: one 4-D bilinear GridSample,
GatherElements and elementwise arithmetic.

The decomposition: fold depth into channels (N, C·D, H, W) and sample every
depth slice bilinearly at each output point's (x, y) with a 4-D GridSample; the
x/y interpolation (and its zero padding) is then exactly the 5-D op's. Per
output point, gather the two depth slices around its z and blend them by the
depth fraction; a slice index outside 0..D-1 contributes zero, which is what
``padding_mode="zeros"`` does at the depth borders. The price is sampling all D
slices instead of two (D=16 in LivePortrait): cheap on a GPU, and the only
target of this path is TensorRT older than 11.2.

Both paths use ``mode="bilinear"``, ``padding_mode="zeros"``,
``align_corners=False`` — the settings LivePortrait's networks use.
"""

from __future__ import annotations

from typing import Any

from vivicam.optional import require


def grid_sample_3d(input: Any, grid: Any, *, decompose: bool = False) -> Any:
    """Sample ``input`` (N×C×D×H×W float) at ``grid`` (N×Do×Ho×Wo×3, normalised
    (x, y, z) in -1..1, align_corners=False) trilinearly with zero padding.

    Returns N×C×Do×Ho×Wo. ``decompose=True`` gives the same values (to float32
    rounding) from 4-D GridSample + GatherElements + elementwise ops only.
    """
    torch = require("torch")
    if not decompose:
        return torch.nn.functional.grid_sample(
            input, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
    return _grid_sample_3d_by_slices(input, grid)


def _grid_sample_3d_by_slices(volume: Any, grid: Any) -> Any:
    torch = require("torch")
    f = torch.nn.functional
    # Shapes are fixed per exported graph: plain ints keep the trace static.
    n, c, d, h, w = (int(s) for s in volume.shape)
    do, ho, wo = (int(s) for s in grid.shape[1:4])
    points = do * ho * wo

    # Every depth slice sampled at every output point's (x, y): N×(C·D)×(Do·Ho)×Wo.
    planes = volume.reshape(n, c * d, h, w)
    grid_xy = grid[..., 0:2].reshape(n, do * ho, wo, 2)
    sampled = f.grid_sample(
        planes, grid_xy, mode="bilinear", padding_mode="zeros", align_corners=False
    ).reshape(n, c, d, points)

    # Depth coordinate in voxel units, the align_corners=False convention.
    z = grid[..., 2].reshape(n, 1, 1, points)
    iz = ((z + 1.0) * d - 1.0) * 0.5
    # Far outside values only ever hit zero padding; clamping keeps floor() and
    # the integer cast well defined (and NaN-free for +-inf inputs).
    iz = torch.clamp(iz, -2.0, float(d + 1))
    z0 = torch.floor(iz)
    frac = iz - z0
    z1 = z0 + 1.0

    lower = _slice(sampled, z0, d, c) * (1.0 - frac)
    upper = _slice(sampled, z1, d, c) * frac
    return (lower + upper).reshape(n, c, do, ho, wo)


def _slice(sampled: Any, index: Any, depth: int, channels: int) -> Any:
    """Values of depth slice ``index`` (float, N×1×1×P) at each point, zero
    where the slice lies outside 0..depth-1."""
    torch = require("torch")
    inside = ((index >= 0.0) & (index <= depth - 1.0)).to(sampled.dtype)
    safe = torch.clamp(index, 0.0, depth - 1.0).to(torch.int64)
    n, points = int(index.shape[0]), int(index.shape[3])
    picked = torch.gather(sampled, 2, safe.expand(n, channels, 1, points))
    return picked * inside
