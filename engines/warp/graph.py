"""The warp engine's per-frame math as a PyTorch module (exportable to ONNX,
buildable with TensorRT), mirroring the CPU reference step for step:
:func:`~vivicam.engines.warp.mesh_motion.target_points` →
:func:`~vivicam.engines.warp.field.backward_field`. Its output is the motion,
not pixels: the photo is resampled once, at the output's resolution, by
:mod:`vivicam.engines.warp.draw` (so the graph is the same for any photo and
any output size).

Inputs (all float32 unless said; n = crop size, M = rig points, G = grid nodes):

- avatar: ``canon0`` M×3, ``src`` M×2, ``pose_weight`` M×2 (move, turn), ``expr_map`` M×478,
  ``lid_upper_sel``/``lid_lower_sel``/``lid_inner_sel`` 14×M one-hot, ``lid_gap0`` 14×3,
  ``lid_eye_sel`` 14×2 one-hot, ``lid_spread`` M×42 (upper lid, lower lid, eye interior), ``mouth_sel`` 2×M one-hot
  (upper, lower inner-lip mid point), ``jaw_weight`` M, ``face`` 5
  (size0, mouth_gap0, centre x, y, z), ``rotation0`` 3×3, ``field_index`` G×3
  int64 (rig point indices), ``field_weight`` G×3, ``surround_map`` M×S
  (S = surround-grid nodes), ``band_sel``/``band_inner_sel`` B×M one-hot
  (a band point, the point it stays outside of; zero rows pad), ``band_normal``
  B×2, ``band_gap0`` B, ``move_limit`` 2×2 (head travel, face sizes: rows x, y; towards -, +),
  ``turn_limit`` 2 (yaw, degrees: towards -, +), ``bound_lo``/``bound_hi`` M×2
  (crop pixels: each target point is clipped to them; ±FREE pads), ``lip_sel`` L×M one-hot, ``lip_anchor``
  L×M, ``lip_limit`` L×3 (the points beside the lips, MeshRig.lip_rows/lip_anchor/lip_limit; zero rows pad).
- motion: ``rotation`` 3 (degrees), ``translation`` 2, ``scale`` 1,
  ``expression`` 478×3, ``eyes_closed`` 2, ``mouth_open`` 1, ``surround`` S×3
  (``Motion.surround``; zeros when None, which leaves the target unchanged).
Output: ``back`` G×G×2 float32 (G = n / cell): at each coarse-grid node,
the source position minus the node, in crop pixels.
"""

from __future__ import annotations

import math

import numpy as np

from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.field import (
    CONVERGED_PX, DENSE_STEPS, FILL_SIZE, FOLD_DET, INVERSE_STEPS, LM_DAMP, STEP_REACH, UNFOLD_BELOW, UNFOLD_PASSES, UNFOLD_SIZE, backtrack, grid_nodes, interior,
)
from vivicam.engines.warp.mesh_motion import (
    BAND_KEEP,
    BAND_PASSES,
    FREE,
    LOG_SCALE_LIMIT,
    EYE_INNER_FRACTION,
    KNEE,
    LOWER_LID_RAISE,
    MAX_EDGE_POINTS,
    MAX_LIP_POINTS,
    MAX_SURROUND_POINTS,
    MOUTH_FULL_GAP,
    PARALLAX,
    POSE_LIMITS,
    SURROUND_REACH,
)
from vivicam.calibrate import mesh
from vivicam.optional import require
from vivicam.types import SURROUND_SHAPE, Motion

AVATAR_INPUTS = (
    "canon0", "src", "pose_weight", "expr_map", "lid_upper_sel",
    "lid_lower_sel", "lid_inner_sel", "lid_gap0", "lid_eye_sel", "lid_spread", "mouth_sel", "jaw_weight",
    "face", "rotation0", "field_index", "field_weight", "surround_map",
    "band_sel", "band_inner_sel", "band_normal", "band_gap0", "move_limit",
    "turn_limit", "bound_lo", "bound_hi", "lip_sel", "lip_anchor", "lip_limit",
)
MOTION_INPUTS = ("rotation", "translation", "scale", "expression", "eyes_closed", "mouth_open", "surround")
INPUT_NAMES = AVATAR_INPUTS + MOTION_INPUTS
OUTPUT_NAMES = ("back",)


RIG_POINTS = 1024  # rig arrays are zero-padded to this many points so one graph fits every avatar
# band constraints, zero-padded likewise: two rings round the 36-point face oval, the surround points, the photo's edge points
BAND_POINTS = 96 + MAX_SURROUND_POINTS + MAX_EDGE_POINTS


def avatar_inputs(state: WarpAvatar) -> dict[str, np.ndarray]:
    """The per-avatar graph inputs (constant while the avatar stays)."""
    rig, fld = state.rig, state.field
    m = RIG_POINTS
    if rig.num_points > m:
        raise ValueError(f"rig has {rig.num_points} points, the graph takes {m}")

    def pad(a: np.ndarray, rows: int = m, fill: float = 0.0) -> np.ndarray:
        out = np.full((rows, *a.shape[1:]), fill, np.float32)
        out[: a.shape[0]] = a
        return out

    def onehot(idx: np.ndarray) -> np.ndarray:
        out = np.zeros((len(idx), m), np.float32)
        out[np.arange(len(idx)), idx] = 1.0
        return out

    if len(rig.band_rows) > BAND_POINTS:
        raise ValueError(f"rig has {len(rig.band_rows)} band points, the graph takes {BAND_POINTS}")

    eye_sel = np.zeros((len(rig.lid_eye), 2), np.float32)
    eye_sel[np.arange(len(rig.lid_eye)), rig.lid_eye] = 1.0
    face = np.array([rig.size0, rig.mouth_gap0, *rig.center0], np.float32)
    return {
        "canon0": pad(rig.canon0),
        "src": pad(rig.src),
        "pose_weight": pad(rig.pose_weight),
        "expr_map": pad(rig.expr_map),
        "lid_upper_sel": onehot(rig.lid_upper),
        "lid_lower_sel": onehot(rig.lid_lower),
        "lid_inner_sel": onehot(rig.lid_inner),
        "lid_gap0": rig.lid_gap0,
        "lid_eye_sel": eye_sel,
        "lid_spread": pad(rig.lid_spread),
        "mouth_sel": onehot(np.array([mesh.LIP_INNER_UPPER_MID, mesh.LIP_INNER_LOWER_MID])),
        "jaw_weight": pad(rig.jaw_weight),
        "face": face,
        "rotation0": rig.rotation0,
        "field_index": rig.controls[fld.index].astype(np.int64),
        "field_weight": fld.weight,
        "surround_map": pad(rig.surround_map.toarray()),
        "band_sel": pad(onehot(rig.band_rows), BAND_POINTS),
        "band_inner_sel": pad(onehot(rig.band_inner), BAND_POINTS),
        "band_normal": pad(rig.band_normal, BAND_POINTS),
        "band_gap0": pad(rig.band_gap0, BAND_POINTS),
        "move_limit": rig.move_limit.astype(np.float32),
        "turn_limit": rig.turn_limit.astype(np.float32),
        "bound_lo": pad(rig.bound_lo, fill=-FREE),
        "bound_hi": pad(rig.bound_hi, fill=FREE),
        "lip_sel": pad(onehot(rig.lip_rows), MAX_LIP_POINTS),
        "lip_anchor": pad(np.pad(rig.lip_anchor, ((0, 0), (0, m - rig.lip_anchor.shape[1]))), MAX_LIP_POINTS),
        "lip_limit": pad(rig.lip_limit, MAX_LIP_POINTS),
    }


def motion_inputs(motion: Motion) -> dict[str, np.ndarray]:
    return {
        "rotation": motion.rotation.astype(np.float32),
        "translation": motion.translation.astype(np.float32),
        "scale": np.array([motion.scale], np.float32),
        "expression": motion.expression.astype(np.float32),
        "eyes_closed": motion.eyes_closed.astype(np.float32),
        "mouth_open": np.array([motion.mouth_open], np.float32),
        "surround": (np.zeros(SURROUND_SHAPE, np.float32) if motion.surround is None else motion.surround).reshape(-1, 3),
    }


def make_module(crop_size: int = 512, cell: int = 4):
    """The torch module (eval mode) for one crop size and grid cell."""
    torch = require("torch")
    F = torch.nn.functional

    class WarpGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            grid = crop_size // cell
            self.crop_size, self.grid, self.cell = crop_size, grid, cell
            self.register_buffer("nodes", torch.from_numpy(grid_nodes(grid, cell)))
            self.register_buffer("interior", torch.from_numpy(interior(grid).astype(np.float32))[None])
            self.register_buffer("limits", torch.tensor(POSE_LIMITS, dtype=torch.float32))
            self.register_buffer("parallax", torch.from_numpy(PARALLAX.copy()))

        def target(self, canon0, src, pose_weight, expr_map, lid_upper_sel, lid_lower_sel, lid_inner_sel,
                   lid_gap0, lid_eye_sel, lid_spread, mouth_sel, jaw_weight, face, rotation0, surround_map,
                   band_sel, band_inner_sel, band_normal, band_gap0, move_limit, turn_limit, bound_lo, bound_hi,
                   lip_sel, lip_anchor, lip_limit, rotation, translation, scale, expression, eyes_closed, mouth_open, surround):
            canon = canon0 + expr_map @ expression
            closed = lid_eye_sel @ eyes_closed.clamp(-0.5, 1.0)
            upper, lower = lid_upper_sel @ canon, lid_lower_sel @ canon
            norm = (lid_gap0 * lid_gap0).sum(dim=1).clamp(min=1e-9)
            geometric = ((upper - lower) * lid_gap0).sum(dim=1) / norm
            opening = torch.where(closed > 0.0, torch.minimum(1.0 - closed, geometric), geometric).clamp(min=0.0)
            lower_fix = lid_gap0 * (LOWER_LID_RAISE * closed.clamp(min=0.0))[:, None]
            upper_fix = lower + lower_fix + lid_gap0 * opening[:, None] - upper
            f = EYE_INNER_FRACTION
            place = torch.maximum(f - (1.0 - opening), f * opening)
            inner_fix = lower + lower_fix + lid_gap0 * place[:, None] - lid_inner_sel @ canon
            canon = canon + lid_spread @ torch.cat([upper_fix, lower_fix, inner_fix], dim=0)
            lips_y = mouth_sel @ canon[:, 1]
            gap = lips_y[1] - lips_y[0]
            opening = MOUTH_FULL_GAP * mouth_open.clamp(0.0, 1.5)[0]
            wanted = torch.maximum(torch.maximum(gap, opening + torch.minimum(face[1], gap)), torch.zeros_like(gap))
            drop = (wanted - gap) * jaw_weight
            canon = canon + torch.stack([torch.zeros_like(drop), drop, torch.zeros_like(drop)], dim=1)
            side = lip_limit[:, 0]  # mesh_motion.keep_lip_skin; pad rows (side 0) move nothing
            gap = side * (lip_sel @ canon[:, 1] - lip_anchor @ canon[:, 1])
            held = torch.minimum(torch.maximum(gap, lip_limit[:, 1]), lip_limit[:, 2])
            lift = lip_sel.transpose(0, 1) @ (side * (held - gap))
            canon = canon + torch.stack([torch.zeros_like(lift), lift, torch.zeros_like(lift)], dim=1)
            angles = torch.minimum(torch.maximum(rotation, -self.limits), self.limits)
            side = torch.where(angles[1:2] < 0.0, turn_limit[0:1], turn_limit[1:2])  # mesh_motion.limit_turn
            yaw = torch.where(side >= self.limits[1], angles[1:2], _knee(torch, angles[1:2], side))
            angles = torch.cat([angles[0:1], yaw, angles[2:3]]) * (math.pi / 180.0)
            rot = _euler(torch, angles) @ rotation0
            translation = _knee(torch, translation, torch.where(translation < 0.0, move_limit[:, 0], move_limit[:, 1]))
            size = torch.exp(_knee(torch, torch.log(scale[0]), LOG_SCALE_LIMIT))
            turned = (canon @ rot.transpose(0, 1))[:, 0:2]
            turned = turned + (self.parallax - 1.0) * canon[:, 2:3] * (rot[0:2, 2] - rotation0[0:2, 2])
            turned = turned + (src - face[2:4]) / face[0] - (canon0 @ rotation0.transpose(0, 1))[:, 0:2]
            offset = translation * face[0]
            full = turned * (face[0] * size) + face[2:4] + offset
            shifted = src + offset + (size - 1.0) * (src - face[2:4])
            target = src + pose_weight[:, 0:1] * (shifted - src) + pose_weight[:, 1:2] * (full - shifted)
            at = surround_map @ surround  # (M, 3): displacement, weight
            moved = src + at[:, 0:2] * face[0]
            correction = _knee(torch, (moved - target) / face[0], SURROUND_REACH) * face[0]
            target = target + at[:, 2:3] * correction
            for _ in range(BAND_PASSES):  # mesh_motion.keep_band_outside
                gap = ((band_sel @ target - band_inner_sel @ target) * band_normal).sum(dim=1)
                push = torch.clamp(BAND_KEEP * band_gap0 - gap, min=0.0)
                target = target + band_sel.transpose(0, 1) @ (band_normal * push[:, None])
            return torch.minimum(torch.maximum(target, bound_lo), bound_hi)  # MeshRig.bound_lo/hi

        def backward(self, disp, field_index, field_weight):
            g, c = self.grid, self.cell
            fwd = (disp[field_index] * field_weight[..., None]).sum(dim=1).reshape(1, g, g, 2)
            fwd = self.unfold(fwd)
            table = torch.cat([fwd, _grid_gradient(torch, fwd, 2) / c, _grid_gradient(torch, fwd, 1) / c], dim=3)
            table_img = table.permute(0, 3, 1, 2)
            src = self.nodes[None] - fwd
            offset = (c - 1) / 2.0

            def sample(image, at):  # ``image`` (channels first) bilinearly at crop-pixel points ``at``
                norm = ((at - offset) / c) * (2.0 / (g - 1)) - 1.0
                found = F.grid_sample(image, norm, mode="bilinear", padding_mode="border", align_corners=True)
                return found.permute(0, 2, 3, 1)

            for k in range(INVERSE_STEPS):
                at = sample(table_img, src)
                residual = src + at[..., 0:2] - self.nodes[None]
                step = _newton_step(torch, residual, at[..., 2:6]) * self.interior[..., None]
                if k >= DENSE_STEPS:  # field.backtrack: less of the step where the whole one gains too little
                    ahead = src - step
                    after = ahead + sample(table_img[:, 0:2], ahead) - self.nodes[None]
                    before = torch.sqrt((residual * residual).sum(dim=-1, keepdim=True))
                    ratio = torch.sqrt((after * after).sum(dim=-1, keepdim=True)) / torch.clamp(before, min=1e-6)
                    j = at[..., 2:6]
                    det = (j[..., 0:1] + 1.0) * (j[..., 3:4] + 1.0) - j[..., 2:3] * j[..., 1:2]
                    step = step * backtrack(ratio, before, det, torch)
                src = src - step
            back = src - self.nodes[None]
            # the field module's fill of nodes that did not converge
            miss = src + sample(table_img[:, 0:2], src) - self.nodes[None]
            good = torch.clamp(2.0 - torch.sqrt((miss * miss).sum(dim=-1)) / CONVERGED_PX, 0.0, 1.0)
            half = FILL_SIZE // 2
            both = torch.cat([back * good[..., None], good[..., None]], dim=-1).permute(0, 3, 1, 2)
            both = F.avg_pool2d(F.pad(both, (half, half, half, half), mode="replicate"), FILL_SIZE, stride=1)
            both = both.permute(0, 2, 3, 1)
            weight = both[..., 2:3]
            mean = both[..., 0:2] / torch.clamp(weight, min=1e-6)
            some = torch.where(weight > 1e-3, torch.ones_like(weight), torch.zeros_like(weight))
            take = (1.0 - good[..., None]) * self.interior[..., None] * some
            return (back + take * (mean - back))[0]

        def unfold(self, fwd):
            """:func:`~vivicam.engines.warp.field.unfold`, every pass."""
            c, half = self.cell, UNFOLD_SIZE // 2
            for _ in range(UNFOLD_PASSES):
                gx, gy = _grid_gradient(torch, fwd, 2) / c, _grid_gradient(torch, fwd, 1) / c
                det = (1.0 + gx[..., 0]) * (1.0 + gy[..., 1]) - gy[..., 0] * gx[..., 1]
                folded = torch.where(det < UNFOLD_BELOW, torch.ones_like(det), torch.zeros_like(det))
                near = F.max_pool2d(folded[:, None], UNFOLD_SIZE, stride=1, padding=half)[:, 0] * self.interior
                padded = F.pad(fwd.permute(0, 3, 1, 2), (half, half, half, half), mode="replicate")
                mean = F.avg_pool2d(padded, UNFOLD_SIZE, stride=1).permute(0, 2, 3, 1)
                fwd = torch.where(near[..., None] > 0.5, mean, fwd)
            return fwd

        def forward(self, canon0, src, pose_weight, expr_map, lid_upper_sel, lid_lower_sel, lid_inner_sel,
                    lid_gap0, lid_eye_sel, lid_spread, mouth_sel, jaw_weight, face, rotation0, field_index,
                    field_weight, surround_map, band_sel, band_inner_sel, band_normal, band_gap0, move_limit,
                    turn_limit, bound_lo, bound_hi, lip_sel, lip_anchor, lip_limit, rotation, translation, scale,
                    expression, eyes_closed, mouth_open, surround):
            q = self.target(canon0, src, pose_weight, expr_map, lid_upper_sel, lid_lower_sel, lid_inner_sel,
                            lid_gap0, lid_eye_sel, lid_spread, mouth_sel, jaw_weight, face, rotation0, surround_map,
                            band_sel, band_inner_sel, band_normal, band_gap0, move_limit, turn_limit, bound_lo,
                            bound_hi, lip_sel, lip_anchor, lip_limit, rotation, translation, scale, expression,
                            eyes_closed, mouth_open, surround)
            return self.backward(q - src, field_index, field_weight)

    return WarpGraph().eval()


def _grid_gradient(torch, values, dim):
    """:func:`numpy.gradient` along ``dim``: central inside, one-sided at the edges."""
    n = values.shape[dim]
    first = values.narrow(dim, 1, 1) - values.narrow(dim, 0, 1)
    inner = (values.narrow(dim, 2, n - 2) - values.narrow(dim, 0, n - 2)) * 0.5
    last = values.narrow(dim, n - 1, 1) - values.narrow(dim, n - 2, 1)
    return torch.cat([first, inner, last], dim=dim)


def _newton_step(torch, residual, grad):
    """:func:`~vivicam.engines.warp.field.newton_step` in torch."""
    a, c = 1.0 + grad[..., 0], grad[..., 1]
    b, d = grad[..., 2], 1.0 + grad[..., 3]
    det = a * d - b * c
    ok = det >= FOLD_DET
    safe = torch.where(ok, det, torch.ones_like(det))
    rx, ry = residual[..., 0], residual[..., 1]
    step = torch.stack([(d * rx - b * ry) / safe, (a * ry - c * rx) / safe], dim=-1)
    m11, m12, m22 = a * a + c * c + LM_DAMP, a * b + c * d, b * b + d * d + LM_DAMP
    g1, g2 = a * rx + c * ry, b * rx + d * ry
    damped = torch.stack([m22 * g1 - m12 * g2, m11 * g2 - m12 * g1], dim=-1) / (m11 * m22 - m12 * m12)[..., None]
    step = torch.where(ok[..., None], step, damped)
    room = STEP_REACH * torch.sqrt(rx * rx + ry * ry)
    length = torch.sqrt((step * step).sum(dim=-1))
    return step * torch.clamp(room / torch.clamp(length, min=1e-6), max=1.0)[..., None]


def _knee(torch, value, limit):
    """:func:`~vivicam.engines.warp.mesh_motion.knee_limit` in torch."""
    k, room = KNEE * limit, (1.0 - KNEE) * limit
    over = (value.abs() - k).clamp(min=0.0)
    return torch.where(value.abs() <= k, value, torch.sign(value) * (k + room * torch.tanh(over / room)))


def _euler(torch, angles):
    """``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` from radians (pitch, yaw, roll)."""
    c, s = torch.cos(angles), torch.sin(angles)
    one, zero = torch.ones_like(c[0]), torch.zeros_like(c[0])
    rx = torch.stack([one, zero, zero, zero, c[0], -s[0], zero, s[0], c[0]]).reshape(3, 3)
    ry = torch.stack([c[1], zero, s[1], zero, one, zero, -s[1], zero, c[1]]).reshape(3, 3)
    rz = torch.stack([c[2], -s[2], zero, s[2], c[2], zero, zero, zero, one]).reshape(3, 3)
    return rz @ ry @ rx
