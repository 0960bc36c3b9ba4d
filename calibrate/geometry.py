"""Pure geometry on face-mesh points: the face's own frame (pose), canonical
space, Euler angles. No I/O, no state.

Canonical face space: the points with the head's translation, rotation and size
removed, ``canon = R.T @ (p - center) / size``; ``size`` is the 3-D distance
between the outer eye corners, so canonical units are "face sizes". A frontal,
upright face has ``R ≈ I``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vivicam.calibrate import mesh


@dataclass(frozen=True, eq=False)
class FacePose:
    """Where a face is: ``points ≈ center + size * rotation @ canon``."""

    rotation: np.ndarray  # (3, 3) float64, columns = face x/y/z axes in camera space
    center: np.ndarray  # (3,) float64 pixels
    size: float  # pixels, outer-eye-corner distance


def _normalise(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    if n < 1e-9:
        raise ValueError("degenerate face mesh (coincident landmarks)")
    return v / n


def face_pose(points: np.ndarray) -> FacePose:
    """The face's frame from rigid landmarks: x from the image-left outer eye
    corner to the image-right one, y from the forehead to below the nose
    (orthogonalised), z = x × y (away from the camera for a frontal face)."""
    p = np.asarray(points, dtype=np.float64)
    x_axis = p[mesh.EYE_OUTER_RIGHT] - p[mesh.EYE_OUTER_LEFT]
    size = float(np.linalg.norm(x_axis))
    x_axis = _normalise(x_axis)
    down = p[mesh.NOSE_BOTTOM] - p[mesh.FOREHEAD]
    y_axis = _normalise(down - x_axis * float(down @ x_axis))
    z_axis = np.cross(x_axis, y_axis)
    rotation = np.stack([x_axis, y_axis, z_axis], axis=1)
    center = p[list(mesh.RIGID)].mean(axis=0)
    return FacePose(rotation=rotation, center=center, size=size)


def to_canonical(points: np.ndarray, pose: FacePose | None = None) -> np.ndarray:
    """(N, 3) points → canonical face space (float32)."""
    p = np.asarray(points, dtype=np.float64)
    pose = pose or face_pose(p)
    return (((p - pose.center) @ pose.rotation) / pose.size).astype(np.float32)


def from_canonical(canon: np.ndarray, pose: FacePose) -> np.ndarray:
    """Canonical points → camera/pixel space of ``pose`` (float32)."""
    c = np.asarray(canon, dtype=np.float64)
    return (pose.center + pose.size * (c @ pose.rotation.T)).astype(np.float32)


def matrix_from_euler(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Degrees → rotation ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (see ``Motion``)."""
    a, b, c = np.radians([pitch, yaw, roll])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def euler_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Inverse of :func:`matrix_from_euler`: (pitch, yaw, roll) in degrees."""
    r = np.asarray(rotation, dtype=np.float64)
    yaw = np.arcsin(np.clip(-r[2, 0], -1.0, 1.0))
    pitch = np.arctan2(r[2, 1], r[2, 2])
    roll = np.arctan2(r[1, 0], r[0, 0])
    return np.degrees(np.array([pitch, yaw, roll], dtype=np.float64)).astype(np.float32)


def relative_rotation(current: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """Rotation taking the neutral head orientation to the current one."""
    return np.asarray(current) @ np.asarray(neutral).T


def fit_pose(points: np.ndarray, canonical: np.ndarray, indices=mesh.RIGID) -> FacePose:
    """Least-squares similarity fit ``points ≈ center + size * rotation @ canon``
    over the rigid landmarks ``indices`` (Umeyama 1991).

    With ``canonical`` from :func:`to_canonical` of a reference face, the
    result's ``center``/``size`` follow :func:`face_pose`'s conventions, and
    ``rotation`` is the head's orientation measured against that reference
    with all rigid points at once (steadier than the four-point frame of
    :func:`face_pose`).
    """
    idx = list(indices)
    p = np.asarray(points, dtype=np.float64)[idx]
    c = np.asarray(canonical, dtype=np.float64)[idx]
    p_mean, c_mean = p.mean(axis=0), c.mean(axis=0)
    p0, c0 = p - p_mean, c - c_mean
    u, s, vt = np.linalg.svd(p0.T @ c0)
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(u @ vt)) or 1.0  # a rotation, never a reflection
    rotation = u @ np.diag(d) @ vt
    var = float((c0**2).sum())
    if var < 1e-12:
        raise ValueError("degenerate canonical mesh (coincident landmarks)")
    size = float((s * d).sum() / var)
    center = p_mean - size * rotation @ c_mean
    return FacePose(rotation=rotation, center=center, size=size)


def head_pose(points: np.ndarray, canonical: np.ndarray, reference: np.ndarray) -> FacePose:
    """The head's pose against a reference face (``canonical``, its rotation
    ``reference``): :func:`fit_pose` over all rigid points, except the nod
    (pitch, relative to ``reference``), which comes from the rigid points
    above the nose alone.

    The lower nose and the cheek outline move with the jaw: fitted with them,
    a talking driver's nods read at 0.56-0.79 of the pitch of :func:`face_pose`
    (eye corners, forehead, nose base; d12, d18, d19), the upper points alone
    at 0.84-1.0, and the avatar nodded less than its driver (generalization
    suite: d12 pitch gain 0.73-0.79 -> 0.77-0.82, d19 0.81 -> 0.92, no PSNR
    change). Yaw and roll keep the wider lever of the cheek points, which a
    mouth barely moves sideways.
    """
    p = np.asarray(points, dtype=np.float64)
    whole = fit_pose(p, canonical)
    upper = fit_pose(p, canonical, mesh.UPPER_RIGID)
    angles = euler_from_matrix(relative_rotation(whole.rotation, reference)).astype(np.float64)
    angles[0] = euler_from_matrix(relative_rotation(upper.rotation, reference))[0]
    rotation = matrix_from_euler(*angles) @ np.asarray(reference, np.float64)
    # the centre as fit_pose places it for this rotation (the rigid points' mean)
    idx = list(mesh.RIGID)
    center = p[idx].mean(axis=0) - whole.size * rotation @ np.asarray(canonical, np.float64)[idx].mean(axis=0)
    return FacePose(rotation=rotation, center=center, size=whole.size)
