"""LivePortrait's implicit-keypoint algebra, in NumPy (float32).

Conventions are the original's (``src/utils/camera.py``, the wrapper's
``transform_keypoint``, the pipeline's relative motion), so that keypoints fed
to the official networks are the ones the original would feed:

- Keypoints are row vectors, ``B×K×3`` (K = 21), in the normalised crop frame
  (x right, y down, both -1..1 across the 256² crop).
- Head pose comes as 66 classification bins per angle (3° each); the angle is
  the softmax expectation ``Σ p_i·i·3 − 97.5`` degrees.
- A pose's "rotation matrix" ``R`` is ``(Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ``; it is
  applied on the right: ``kp @ R``.
- Keypoints of a pose: ``x = s·(x_c @ R + exp) + t`` with ``t_z = 0``.
- Relative motion (the driver's change since its neutral frame, applied to the
  source): ``R = R_d·R_d0ᵀ·R_s``, ``exp = exp_s + (exp_d − exp_d0)``,
  ``s = s_s·s_d/s_d0``, ``t = t_s + (t_d − t_d0)``.

Eye and lip ratios are the original's ``calc_eye_close_ratio`` /
``calc_lip_close_ratio`` measured on MediaPipe's 478-point mesh instead of the
original's 203-point landmarks: eye height / eye width per eye (lid mid points
over eye corners) and inner-lip gap / mouth width (see ``EYE_RATIO_POINTS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vivicam.calibrate import mesh

NUM_BINS = 66  # pose bins per angle
BIN_DEGREES = 3.0
BIN_OFFSET = 97.5  # degrees; the original's (modified) centre of the bins

# 203-point → MediaPipe mapping of the points the original's ratios read.
# Original eye ratio: |p6 − p18| / |p0 − p12| (upper/lower lid mid over the
# corners), eyes in image order; lip ratio: |p90 − p102| / |p48 − p66| (inner
# upper/lower lip mid over the mouth corners).
EYE_RATIO_POINTS = (
    (mesh.LID_UPPER[0], mesh.LID_LOWER[0], *mesh.EYE_CORNERS[0]),
    (mesh.LID_UPPER[1], mesh.LID_LOWER[1], *mesh.EYE_CORNERS[1]),
)
LIP_RATIO_POINTS = (mesh.LIP_INNER_UPPER_MID, mesh.LIP_INNER_LOWER_MID, *mesh.MOUTH_CORNERS)

# Expression keypoints the original's ``animation_region`` "eyes" / "lip" move.
EYE_KEYPOINTS = (11, 13, 15, 16, 18)
LIP_KEYPOINTS = (6, 12, 14, 17, 19, 20)

_EPS = 1e-6


@dataclass(frozen=True, eq=False)
class KeypointInfo:
    """The motion extractor's reading of one face (batch B).

    ``canonical`` B×K×3; ``pitch``/``yaw``/``roll`` (B,) degrees; ``exp`` B×K×3;
    ``t`` B×3; ``scale`` B×1.
    """

    canonical: np.ndarray
    pitch: np.ndarray
    yaw: np.ndarray
    roll: np.ndarray
    exp: np.ndarray
    t: np.ndarray
    scale: np.ndarray

    @property
    def rotation(self) -> np.ndarray:
        """B×3×3, the original's (transposed) convention: apply as ``kp @ R``."""
        return rotation_matrix(self.pitch, self.yaw, self.roll)


def headpose_degrees(bins: np.ndarray) -> np.ndarray:
    """(B, 66) pose logits → (B,) degrees (softmax expectation over the bins)."""
    bins = np.asarray(bins, np.float32)
    if bins.ndim != 2 or bins.shape[1] != NUM_BINS:
        raise ValueError(f"pose bins must be (B, {NUM_BINS}), got {bins.shape}")
    shifted = bins - bins.max(axis=1, keepdims=True)
    prob = np.exp(shifted)
    prob /= prob.sum(axis=1, keepdims=True)
    index = np.arange(NUM_BINS, dtype=np.float32)
    return (prob * index).sum(axis=1) * np.float32(BIN_DEGREES) - np.float32(BIN_OFFSET)


def keypoint_info(outputs: dict[str, np.ndarray]) -> KeypointInfo:
    """The motion extractor's raw outputs (``kp`` B×63, ``pitch``/``yaw``/
    ``roll`` B×66, ``exp`` B×63, ``t`` B×3, ``scale`` B×1) as a KeypointInfo."""
    kp = np.asarray(outputs["kp"], np.float32)
    batch = kp.shape[0]
    return KeypointInfo(
        canonical=kp.reshape(batch, -1, 3),
        pitch=headpose_degrees(outputs["pitch"]),
        yaw=headpose_degrees(outputs["yaw"]),
        roll=headpose_degrees(outputs["roll"]),
        exp=np.asarray(outputs["exp"], np.float32).reshape(batch, -1, 3),
        t=np.asarray(outputs["t"], np.float32).reshape(batch, 3),
        scale=np.asarray(outputs["scale"], np.float32).reshape(batch, 1),
    )


def rotation_matrix(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Degrees (B,) each → B×3×3 ``(Rz(roll)·Ry(yaw)·Rx(pitch))ᵀ`` (apply as ``kp @ R``)."""
    x, y, z = (np.deg2rad(np.asarray(a, np.float32).reshape(-1)) for a in (pitch, yaw, roll))
    batch = x.shape[0]
    rx = _batched(batch)
    rx[:, 1, 1], rx[:, 1, 2], rx[:, 2, 1], rx[:, 2, 2] = np.cos(x), -np.sin(x), np.sin(x), np.cos(x)
    ry = _batched(batch)
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 2, 0], ry[:, 2, 2] = np.cos(y), np.sin(y), -np.sin(y), np.cos(y)
    rz = _batched(batch)
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1] = np.cos(z), -np.sin(z), np.sin(z), np.cos(z)
    return np.transpose(rz @ ry @ rx, (0, 2, 1)).astype(np.float32)


def _batched(batch: int) -> np.ndarray:
    return np.repeat(np.eye(3, dtype=np.float32)[None], batch, axis=0)


def compose_keypoints(
    canonical: np.ndarray, rotation: np.ndarray, exp: np.ndarray, scale: np.ndarray, t: np.ndarray
) -> np.ndarray:
    """``s·(x_c @ R + exp) + (t_x, t_y, 0)`` → B×K×3 (the original's Eqn. 2)."""
    batch = canonical.shape[0]
    shift = np.asarray(t, np.float32).reshape(batch, 1, 3).copy()
    shift[..., 2] = 0.0  # the original never moves keypoints in depth
    scale = np.asarray(scale, np.float32).reshape(batch, 1, 1)
    return (scale * (canonical @ rotation + exp) + shift).astype(np.float32)


def transform_keypoints(info: KeypointInfo) -> np.ndarray:
    """The keypoints of the face as it is (the original's ``transform_keypoint``)."""
    return compose_keypoints(info.canonical, info.rotation, info.exp, info.scale, info.t)


@dataclass(frozen=True, eq=False)
class PoseExpression:
    """A target pose and expression for the source's canonical keypoints."""

    rotation: np.ndarray  # B×3×3, original convention
    exp: np.ndarray  # B×K×3
    scale: np.ndarray  # B×1
    t: np.ndarray  # B×3 (t_z ignored)

    def keypoints(self, canonical: np.ndarray) -> np.ndarray:
        return compose_keypoints(canonical, self.rotation, self.exp, self.scale, self.t)


def relative_motion(
    source: KeypointInfo, driver: KeypointInfo, driver_neutral: KeypointInfo
) -> PoseExpression:
    """The driver's change since its neutral frame, applied to the source."""
    r_neutral_t = np.transpose(driver_neutral.rotation, (0, 2, 1))
    t_new = source.t + (driver.t - driver_neutral.t)
    t_new = t_new.copy()
    t_new[..., 2] = 0.0
    return PoseExpression(
        rotation=(driver.rotation @ r_neutral_t @ source.rotation).astype(np.float32),
        exp=(source.exp + (driver.exp - driver_neutral.exp)).astype(np.float32),
        scale=(source.scale * (driver.scale / driver_neutral.scale)).astype(np.float32),
        t=t_new.astype(np.float32),
    )


def pose_offset_motion(
    source: KeypointInfo,
    *,
    rotation_deg: np.ndarray,
    translation: np.ndarray,
    scale: float,
) -> PoseExpression:
    """A head-pose change given directly (procedural/idle motion, no driver
    image): rotate by ``rotation_deg`` (pitch, yaw, roll) on top of the source
    pose — the relative formula with a neutral driver pose — move by
    ``translation`` (x, y in normalised crop units) and scale by ``scale``."""
    pitch, yaw, roll = (np.full(source.pitch.shape, v, np.float32) for v in rotation_deg)
    delta = rotation_matrix(pitch, yaw, roll)
    t_new = source.t.copy()
    t_new[..., 0:2] += np.asarray(translation, np.float32).reshape(1, 2)
    t_new[..., 2] = 0.0
    return PoseExpression(
        rotation=(delta @ source.rotation).astype(np.float32),
        exp=source.exp.copy(),
        scale=(source.scale * np.float32(scale)).astype(np.float32),
        t=t_new,
    )


def keep_source_expression(
    target: PoseExpression, source: KeypointInfo, keypoints: tuple[int, ...]
) -> PoseExpression:
    """``target`` with the source's expression on ``keypoints`` (used when eye or
    lip retargeting drives those regions instead of the driver's expression)."""
    exp = target.exp.copy()
    exp[:, list(keypoints), :] = source.exp[:, list(keypoints), :]
    return PoseExpression(rotation=target.rotation, exp=exp, scale=target.scale, t=target.t)


def _distance_ratio(points: np.ndarray, a: int, b: int, c: int, d: int) -> float:
    p = np.asarray(points, np.float64)[:, :2]
    return float(np.linalg.norm(p[a] - p[b]) / (np.linalg.norm(p[c] - p[d]) + _EPS))


def eye_ratios(points: np.ndarray) -> np.ndarray:
    """(478, 3) mesh points → (2,) eye height / width, image-left eye first
    (the original's ``calc_eye_close_ratio``; ~0.3 open, ~0 shut)."""
    return np.array([_distance_ratio(points, *idx) for idx in EYE_RATIO_POINTS], np.float32)


def lip_ratio(points: np.ndarray) -> float:
    """(478, 3) mesh points → inner-lip gap / mouth width (the original's
    ``calc_lip_close_ratio``; 0 closed)."""
    return _distance_ratio(points, *LIP_RATIO_POINTS)


def eye_retarget_input(source_eyes: np.ndarray, target: float) -> np.ndarray:
    """(1, 3) ``[c_s,left, c_s,right, c_d]``: the eye-retargeting MLP's ratio input."""
    return np.array([[source_eyes[0], source_eyes[1], target]], np.float32)


def lip_retarget_input(source_lip: float, target: float) -> np.ndarray:
    """(1, 2) ``[c_s,lip, c_d,lip]``: the lip-retargeting MLP's ratio input."""
    return np.array([[source_lip, target]], np.float32)


def retarget_features(keypoints: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """B×K×3 keypoints and B×R ratios → B×(3K+R), the retargeting MLP input."""
    batch = keypoints.shape[0]
    return np.concatenate([keypoints.reshape(batch, -1), ratios.reshape(batch, -1)], axis=1).astype(
        np.float32
    )


def stitching_features(source_kp: np.ndarray, driving_kp: np.ndarray) -> np.ndarray:
    """B×K×3 twice → B×6K, the stitching MLP input (source first)."""
    batch = source_kp.shape[0]
    return np.concatenate(
        [source_kp.reshape(batch, -1), driving_kp.reshape(batch, -1)], axis=1
    ).astype(np.float32)


def apply_stitching(driving_kp: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The stitching MLP's output (B×(3K+2)) applied to the driving keypoints:
    per-keypoint offsets plus a shared (tx, ty)."""
    batch, k, _ = driving_kp.shape
    out = driving_kp + delta[:, : 3 * k].reshape(batch, k, 3)
    out = out.copy()
    out[..., :2] += delta[:, 3 * k : 3 * k + 2].reshape(batch, 1, 2)
    return out.astype(np.float32)
