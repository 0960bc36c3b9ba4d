"""The dense backward map from control-point displacements.

Prepare: a Delaunay triangulation of the control points in the photo (source)
space and, for every node of a coarse grid, the 3 control points and
barycentric weights of the triangle it lies in (fixed per avatar).

Per frame: forward displacement of the grid nodes = weighted sum of the
controls' displacements (a gather and a sum); the backward map is found by a
few Newton steps on the coarse grid (each a bilinear sample of the coarse
field and its derivatives; see :func:`backward_field`), then upsampled and
used by one ``cv2.remap``. Nothing here depends on the target mesh's triangulation, which
is what keeps it a fixed, exportable tensor graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Newton steps of the inversion (after the first guess). Plain fixed-point
# steps ``s ← x − D(s)`` converge only where the displacement changes by less
# than a pixel per pixel; a head turn stretches the near cheek and the hair
# beside it by more, and there they oscillated: a painting (s8) driven by a
# talking, turning clip (d12, 60 frames) had on average 2,000 of the 16,384
# grid nodes a frame off their target by over a pixel (up to 60 px), drawn
# as a doubled cheek edge and scattered hair. Newton's step uses the field's
# local derivative: 77 nodes with three steps, nearly all in folds. A
# portrait already turned and driven 26° the other way (s4, s8 by d12) must
# un-squash its far cheek 4×, beside a squeezed band: 314 nodes still off
# after three steps (background patches through the cheek, holes in s8's
# face), 57 after six.
INVERSE_STEPS = 6
# On the CPU the first DENSE_STEPS run on every node, the rest only on nodes
# still over SPARSE_FROM_PX off (the tensor graph runs all on every node;
# from 0.25 px, a node beside a fold went on to move 1.2 px in the graph):
# ~2,000 nodes in a hard frame, none at rest, so six steps cost about what
# three did (render 58.8 fps on 300 frames of s4@512, three steps 54.9 in the
# same hour; six on every node 51.4)
DENSE_STEPS = 3
SPARSE_FROM_PX = 0.05
# below this Jacobian determinant the map folds there (or nearly): no inverse
# to converge to, and a Newton step would walk off to another layer of the
# fold (a pixel of the crop's fixed edge drawn from 50 px inside). There a
# damped least-squares step (JᵀJ + λI)⁻¹ Jᵀ r, λ = LM_DAMP, moves the node
# only along the directions the map does not squash (before, it did not move:
# 53 of the 68 nodes still off after twelve steps of a hard counter-turn sat
# there).
FOLD_DET = 1e-3
# Newton on a piecewise-bilinear map can cycle: where a narrow strip is
# stretched several times between two parts that move rigidly (the hair
# between a face outline and a photo edge 16 px away that holds it, the head
# moved 38 px from the edge: 3.4 times; mesh_motion.EDGE_STRETCH), each step
# takes a rigid part's slope, and the node jumps from one side of the strip
# to the other without entering it (24 px off on a close-up, a swirl in its
# hair). The steps after the dense ones take half the step where the whole
# one would not bring the node BACKTRACK times nearer than it was (and all
# of it where it would, in between a share of it: no node flips at a
# threshold, so the tensor graph's sampling, a hair finer, gives the same),
# only where the node is far off (a cycle's miss is tens of pixels; from
# CONVERGED_PX on, in full from twice that) and stands on unsquashed ground
# (det J ≥ BACKTRACK_DET): in a fold, a squeeze or near its target a node
# steps as before (backtracked there too, some 20 nodes a frame round a
# small face's eyes and mouth moved: phone-d18's pose error 1.23° → 1.68°).
BACKTRACK = 0.5
BACKTRACK_DET = 0.5
STEP_REACH = 2.0
LM_DAMP = 0.1
# A node still over CONVERGED_PX from its target after the steps takes the
# mean map of the converged nodes among its FILL_SIZE² neighbours: a stray
# node otherwise samples another layer of the photo (a hair speck on a
# temple, background through a cheek).
CONVERGED_PX = 1.0
FILL_SIZE = 5
# Where the forward map still folds (det J < UNFOLD_BELOW: a far cheek turned past its
# outline, lips pressed past each other), the displacement is averaged over
# UNFOLD_SIZE² nodes, the fold and UNFOLD_SIZE // 2 nodes around it, up to
# UNFOLD_PASSES times: the far side is squeezed smoothly instead of drawing
# two layers at once (hair specks on a cheek, necklace on the chin). On a
# painting driven through 20° turns, 28 folded nodes a frame (up to 161) -> 0.
# A closing eyelid meets the lower lid at det ≈ 0 (−0.003 at a full blink):
# only folds clearly below that are unfolded.
UNFOLD_PASSES = 4
UNFOLD_SIZE = 5
UNFOLD_BELOW = -0.05


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
    minus the node (crop pixels) — where the output there takes its pixel.

    Solves ``s + D(s) = x`` for every node ``x`` (``D`` the forward
    displacement, bilinear between nodes): first guess ``x − D(x)``, then
    :data:`INVERSE_STEPS` Newton steps ``s ← s − J(s)⁻¹ (s + D(s) − x)`` with
    ``J = I + ∇D`` (central differences on the grid, sampled like ``D``).
    :mod:`vivicam.engines.warp.graph` mirrors this step for step."""
    fwd = unfold(coarse_displacement(field, disp), field.cell)
    nodes = field.nodes()
    # (D_x, D_y, ∂D_x/∂x, ∂D_y/∂x, ∂D_x/∂y, ∂D_y/∂y), derivatives per crop pixel
    table = np.concatenate([fwd, _grid_gradient(fwd, axis=1) / field.cell,
                            _grid_gradient(fwd, axis=0) / field.cell], axis=-1)
    nx, ny = (np.ascontiguousarray(nodes[..., k]) for k in range(2))
    sx, sy = nx - fwd[..., 0], ny - fwd[..., 1]
    offset = (field.cell - 1) / 2.0
    # the outer rings keep the first guess: the crop's edge must match the photo's
    inside = interior(field.grid).astype(np.float32)
    scale = np.float32(1.0 / field.cell)
    for _ in range(DENSE_STEPS):
        dx, dy = _step(table, sx, sy, nx, ny, offset, scale)
        sx, sy = sx - dx * inside, sy - dy * inside
    miss = _miss(fwd, sx, sy, nx, ny, offset, scale)
    # the remaining steps only where the dense ones left a node off (none at
    # rest, about 2,000 of 16,384 in a hard counter-turn): the same steps, the
    # converged nodes would not move by a hundredth of a pixel
    idx = np.flatnonzero((miss > SPARSE_FROM_PX) & (inside > 0.0))
    if idx.size:
        px, py = sx.ravel()[idx][None], sy.ravel()[idx][None]
        qx, qy = nx.ravel()[idx][None], ny.ravel()[idx][None]
        for _ in range(INVERSE_STEPS - DENSE_STEPS):
            dx, dy, det, before = _step(table, px, py, qx, qy, offset, scale, full=True)
            after = _miss(fwd, px - dx, py - dy, qx, qy, offset, scale)
            keep = backtrack(after / np.maximum(before, np.float32(1e-6)), before, det)
            px, py = px - keep * dx, py - keep * dy
        sx.flat[idx], sy.flat[idx] = px[0], py[0]
        miss.flat[idx] = _miss(fwd, px, py, qx, qy, offset, scale)[0]
    back = np.stack([sx - nx, sy - ny], axis=-1)
    # where the steps did not converge, the node takes its converged neighbours' map
    # 1 up to CONVERGED_PX off, 0 from twice that: no node flips at a threshold
    good = np.clip(2.0 - miss / CONVERGED_PX, 0.0, 1.0).astype(np.float32)
    size = (FILL_SIZE, FILL_SIZE)
    weight = cv2.blur(good, size, borderType=cv2.BORDER_REPLICATE)
    mean = cv2.blur(back * good[..., None], size, borderType=cv2.BORDER_REPLICATE) / np.maximum(weight, 1e-6)[..., None]
    take = ((1.0 - good) * inside * (weight > 1e-3))[..., None]
    back = back + take * (mean - back)
    return np.ascontiguousarray(back, dtype=np.float32)


def _step(table: np.ndarray, sx: np.ndarray, sy: np.ndarray, nx: np.ndarray, ny: np.ndarray, offset: float,
          scale: np.float32, full: bool = False) -> tuple[np.ndarray, ...]:
    """One Newton step for source points ``(sx, sy)`` of nodes ``(nx, ny)``
    (and, ``full``, det J where they are and how far they land from their
    nodes, as :func:`_miss` says, from the same sample)."""
    at = cv2.split(cv2.remap(table, (sx - offset) * scale, (sy - offset) * scale, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE))
    rx, ry = sx + at[0] - nx, sy + at[1] - ny
    step = newton_step(rx, ry, *at[2:])
    if not full:
        return step
    return (*step, (at[2] + 1.0) * (at[5] + 1.0) - at[4] * at[3], np.hypot(rx, ry))


def _miss(fwd: np.ndarray, sx: np.ndarray, sy: np.ndarray, nx: np.ndarray, ny: np.ndarray, offset: float,
          scale: np.float32) -> np.ndarray:
    """How far the source points ``(sx, sy)``, moved forward, land from their nodes (px)."""
    at = cv2.remap(fwd, (sx - offset) * scale, (sy - offset) * scale, cv2.INTER_LINEAR,
                   borderMode=cv2.BORDER_REPLICATE)
    return np.hypot(sx + at[..., 0] - nx, sy + at[..., 1] - ny)


def newton_step(rx: np.ndarray, ry: np.ndarray, dxx: np.ndarray, dyx: np.ndarray, dxy: np.ndarray,
                dyy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``J⁻¹·r`` for the residual ``r = (rx, ry)`` and ``J = I + ∇D`` (``dyx``
    = ∂D_y/∂x …), at most :data:`STEP_REACH` × the residual long (near a
    fold J⁻¹ amplifies; a stretch's step is shorter than the residual); where
    ``det J`` < :data:`FOLD_DET`, the damped step of :data:`LM_DAMP` instead."""
    one = np.float32(1.0)
    a, b, c, d = dxx + one, dxy, dyx, dyy + one
    det = a * d - b * c
    ok = det >= FOLD_DET
    inv = np.where(ok, one / np.maximum(det, np.float32(FOLD_DET)), np.float32(0.0))
    sx = (d * rx - b * ry) * inv
    sy = (a * ry - c * rx) * inv
    # where J is (nearly) singular: damped least squares, (JᵀJ + λI)⁻¹ Jᵀ r
    lam = np.float32(LM_DAMP)
    m11, m12, m22 = a * a + c * c + lam, a * b + c * d, b * b + d * d + lam
    g1, g2 = a * rx + c * ry, b * rx + d * ry
    inv_m = one / (m11 * m22 - m12 * m12)
    sx = np.where(ok, sx, (m22 * g1 - m12 * g2) * inv_m)
    sy = np.where(ok, sy, (m11 * g2 - m12 * g1) * inv_m)
    room = np.float32(STEP_REACH * STEP_REACH) * (rx * rx + ry * ry)
    scale = np.sqrt(np.minimum(one, room / np.maximum(sx * sx + sy * sy, np.float32(1e-12))))
    return sx * scale, sy * scale


def backtrack(ratio, before, det, xp=np):
    """The share of a Newton step taken (see :data:`BACKTRACK`), from how far
    the whole step lands over how far the node was (``ratio``), how far that
    was (px) and det J there: 1 up to BACKTRACK, ½ from 1 on, linear between
    — for a node over 2 px off on unsquashed ground; nearer, 1 at 1 px."""
    cut = 0.5 * xp.clip((ratio - BACKTRACK) / (1.0 - BACKTRACK), 0.0, 1.0)
    far = xp.clip(before - CONVERGED_PX, 0.0, 1.0)
    return 1.0 - xp.where(det >= BACKTRACK_DET, cut * far, 0.0 * cut)


def unfold(fwd: np.ndarray, cell: int) -> np.ndarray:
    """``fwd`` (grid, grid, 2) with its folds smoothed away (see UNFOLD_PASSES)."""
    kernel = np.ones((UNFOLD_SIZE, UNFOLD_SIZE), np.uint8)
    for _ in range(UNFOLD_PASSES):
        folded = (jacobian_det(fwd, cell) < UNFOLD_BELOW).astype(np.uint8)
        if not folded.any():  # the graph runs every pass; with no fold a pass changes nothing
            break
        near = cv2.dilate(folded, kernel).astype(bool) & interior(fwd.shape[0])
        mean = cv2.blur(fwd, (UNFOLD_SIZE, UNFOLD_SIZE), borderType=cv2.BORDER_REPLICATE)
        fwd = np.where(near[..., None], mean, fwd)
    return fwd


def interior(grid: int) -> np.ndarray:
    """(grid, grid) bool: all but the outer UNFOLD_SIZE // 2 rings of nodes,
    which stay as they are (the crop's edge must match the photo's)."""
    ring = UNFOLD_SIZE // 2
    inside = np.zeros((grid, grid), bool)
    inside[ring:-ring, ring:-ring] = True
    return inside


def jacobian_det(fwd: np.ndarray, cell: int) -> np.ndarray:
    """det(I + ∇D) at every node of the forward displacement ``fwd``."""
    gx, gy = _grid_gradient(fwd, axis=1) / cell, _grid_gradient(fwd, axis=0) / cell
    return (1.0 + gx[..., 0]) * (1.0 + gy[..., 1]) - gy[..., 0] * gx[..., 1]


def _grid_gradient(values: np.ndarray, axis: int) -> np.ndarray:
    """Per-node difference along ``axis`` (per grid cell): central inside,
    one-sided at the edges (``np.gradient``'s rule)."""
    return np.gradient(values, axis=axis).astype(np.float32)


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
