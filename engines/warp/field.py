"""The dense backward map from control-point displacements.

Prepare: a Delaunay triangulation of the control points in the photo (source)
space and, for every node of a coarse grid, the 3 control points and
barycentric weights of the triangle it lies in (fixed per avatar).

Per frame: forward displacement of the grid nodes = weighted sum of the
controls' displacements (a gather and a sum); the backward map is found by a
few fixed-point steps ``s ← x − D(s)`` on the coarse grid (each a bilinear
sample of the coarse field), then upsampled to the crop and used by one
``cv2.remap``. Nothing here depends on the target mesh's triangulation, which
is what keeps it a fixed, exportable tensor graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FIXED_POINT_STEPS = 3


@dataclass(frozen=True, eq=False)
class FieldRig:
    grid: int  # coarse grid side (nodes)
    cell: int  # crop pixels per grid cell
    index: np.ndarray  # (G,3) int64 control indices (into the rig's controls)
    weight: np.ndarray  # (G,3) float32 barycentric weights
    matrix: object  # the same as a scipy CSR matrix (G × controls), for speed

    def nodes(self) -> np.ndarray:
        """(grid, grid, 2) float32 crop-pixel positions of the grid nodes."""
        return grid_nodes(self.grid, self.cell)


def grid_nodes(grid: int, cell: int) -> np.ndarray:
    c = np.arange(grid, dtype=np.float32) * cell + (cell - 1) / 2.0
    gx, gy = np.meshgrid(c, c)
    return np.stack([gx, gy], axis=-1)


def build_field(control_src: np.ndarray, crop_size: int, cell: int = 4) -> FieldRig:
    """Barycentric weights of the coarse grid in the triangulated controls."""
    from scipy.spatial import Delaunay

    grid = crop_size // cell
    nodes = grid_nodes(grid, cell).reshape(-1, 2).astype(np.float64)
    tri = Delaunay(np.asarray(control_src, np.float64))
    simplex = tri.find_simplex(nodes)
    inside = simplex >= 0
    simplex = np.where(inside, simplex, 0)
    trans = tri.transform[simplex]
    bary2 = np.einsum("nij,nj->ni", trans[:, :2], nodes - trans[:, 2])
    bary = np.concatenate([bary2, 1.0 - bary2.sum(1, keepdims=True)], axis=1)
    index = tri.simplices[simplex].astype(np.int64)
    if not inside.all():  # outside the hull (should not happen: border points surround the crop)
        nearest = np.argmin(((nodes[~inside, None] - control_src[None]) ** 2).sum(-1), axis=1)
        index[~inside] = nearest[:, None]
        bary[~inside] = (1.0, 0.0, 0.0)
    from scipy.sparse import csr_matrix

    bary = bary.astype(np.float32)
    rows = np.repeat(np.arange(len(nodes)), 3)
    matrix = csr_matrix((bary.ravel(), (rows, index.ravel())), shape=(len(nodes), len(control_src)))
    return FieldRig(grid=grid, cell=cell, index=index, weight=bary, matrix=matrix)


def coarse_displacement(field: FieldRig, disp: np.ndarray) -> np.ndarray:
    """(grid, grid, 2) forward displacement at the grid nodes."""
    d = field.matrix @ np.asarray(disp, np.float32)
    return d.reshape(field.grid, field.grid, 2).astype(np.float32)


def backward_field(field: FieldRig, disp: np.ndarray) -> np.ndarray:
    """(grid, grid, 2) float32: at each coarse-grid node, the source position
    minus the node (crop pixels) — where the output there takes its pixel."""
    fwd = coarse_displacement(field, disp)
    nodes = field.nodes()
    src = nodes - fwd
    offset = (field.cell - 1) / 2.0
    for _ in range(FIXED_POINT_STEPS - 1):
        u = (src - offset) / field.cell
        sampled = cv2.remap(fwd, u[..., 0], u[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        src = nodes - sampled
    return np.ascontiguousarray(src - nodes, dtype=np.float32)


def backward_map(field: FieldRig, disp: np.ndarray, crop_size: int) -> np.ndarray:
    """(crop, crop, 2) float32 source pixel for every crop pixel."""
    back = cv2.resize(backward_field(field, disp), (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
    return back + full_nodes(crop_size)


_FULL: dict[int, np.ndarray] = {}


def full_nodes(n: int) -> np.ndarray:
    """(n, n, 2) pixel coordinates (cached: the same every frame)."""
    if n not in _FULL:
        _FULL[n] = grid_nodes(n, 1)
    return _FULL[n]
