"""LivePortrait's per-avatar and per-frame steps, on NumPy arrays, for any
backend that provides the seven networks (:class:`Networks`).

This is the original's pipeline (``live_portrait_pipeline.py``, image source,
relative motion) cut into the two halves a live tool needs:

- :func:`prepare_source` once per avatar: crop, appearance feature volume,
  source keypoints, eye / lip ratios;
- :func:`driven_keypoints` (a driver face) or :func:`posed_keypoints` (motion
  given as numbers: idle / demo) every frame, then :func:`render_keypoints`.

With ``retarget_eyes=False, retarget_lips=False, stitching=True``,
:func:`driven_keypoints` is the original's default animation step (relative
motion, stitching, the "normalise lip" correction for an open source mouth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vivicam.engines.liveportrait import crop as cropping
from vivicam.engines.liveportrait import keypoints as kpm
from vivicam.types import Motion

LIP_NORMALIZE_THRESHOLD = 0.03  # the original's: a source mouth this open is closed first
MOUTH_OPEN_GAP = 0.6  # Motion.mouth_open = 1 ↔ inner-lip gap of 0.6 face sizes (types.Motion)
MAX_EYE_RATIO = 0.6  # eyes opened wider than neutral are capped here
_EPS = 1e-6


class Networks(Protocol):
    """The seven LivePortrait networks, NumPy float32 in and out (batch 1).

    - ``appearance(image)``: 1×3×256×256 (0..1) → 1×32×16×64×64 feature volume
      (a backend may return a device array; it is only passed back to ``warp``)
    - ``motion(image)``: 1×3×256×256 → dict ``pitch``/``yaw``/``roll`` 1×66,
      ``t`` 1×3, ``exp`` 1×63, ``scale`` 1×1, ``kp`` 1×63
    - ``warp(feature, kp_driving, kp_source)``: → 1×256×64×64
    - ``generate(warped)``: → 1×3×512×512 (0..1)
    - ``stitching(x)``: 1×126 → 1×65; ``retarget_eye(x)``: 1×66 → 1×63;
      ``retarget_lip(x)``: 1×65 → 1×63
    """

    def appearance(self, image: np.ndarray) -> Any: ...
    def motion(self, image: np.ndarray) -> dict[str, np.ndarray]: ...
    def warp(self, feature: Any, kp_driving: np.ndarray, kp_source: np.ndarray) -> Any: ...
    def generate(self, warped: Any) -> Any: ...
    def stitching(self, x: np.ndarray) -> np.ndarray: ...
    def retarget_eye(self, x: np.ndarray) -> np.ndarray: ...
    def retarget_lip(self, x: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class SourceFace:
    """Everything per avatar that the per-frame step reads."""

    feature: Any  # 1×32×16×64×64 appearance volume (backend array)
    info: kpm.KeypointInfo
    keypoints: np.ndarray  # x_s, 1×21×3
    eye_ratios: np.ndarray  # (2,)
    lip_ratio: float
    face_size: float  # outer-eye-corner distance in normalised crop units (-1..1 = crop)
    mouth_width: float  # mouth-corner distance, same units
    lip_close_delta: np.ndarray | None  # the original's "normalise lip" offset, 1×21×3


@dataclass(frozen=True, eq=False)
class DriverReading:
    """The motion extractor's reading of one driver frame, and its ratios."""

    info: kpm.KeypointInfo
    eye_ratios: np.ndarray  # (2,)
    lip_ratio: float


def _normalised_distance(points: np.ndarray, a: int, b: int, crop_size: int) -> float:
    return float(np.linalg.norm(points[a, :2] - points[b, :2]) * 2.0 / crop_size)


def prepare_source(nets: Networks, crop_rgb: np.ndarray, crop_landmarks: np.ndarray) -> SourceFace:
    """The avatar's crop (uint8 RGB, any square size) and its landmarks in that
    crop's pixels → the per-avatar state (the networks run once here)."""
    from vivicam.calibrate import mesh

    image = cropping.network_input(crop_rgb)
    info = kpm.keypoint_info(nets.motion(image))
    x_s = kpm.transform_keypoints(info)
    eyes = kpm.eye_ratios(crop_landmarks)
    lip = kpm.lip_ratio(crop_landmarks)
    size = crop_rgb.shape[0]
    lip_close = None
    if lip >= LIP_NORMALIZE_THRESHOLD:
        lip_close = _retarget(nets.retarget_lip, x_s, kpm.lip_retarget_input(lip, 0.0))
    return SourceFace(
        feature=nets.appearance(image),
        info=info,
        keypoints=x_s,
        eye_ratios=eyes,
        lip_ratio=lip,
        face_size=_normalised_distance(crop_landmarks, mesh.EYE_OUTER_LEFT, mesh.EYE_OUTER_RIGHT, size),
        mouth_width=_normalised_distance(crop_landmarks, *mesh.MOUTH_CORNERS, size),
        lip_close_delta=lip_close,
    )


def read_driver(nets: Networks, frame_rgb: np.ndarray, landmarks: np.ndarray) -> DriverReading:
    """One driver frame (full image, uint8 RGB) and its 478 landmarks → its reading.
    The driver is cropped as the original crops driving videos (2.2×, shifted up 0.1)."""
    box = cropping.face_box(landmarks, scale=cropping.DRIVER_SCALE, shift_up=cropping.DRIVER_SHIFT_UP)
    crop = cropping.warp_to_crop(frame_rgb, box, cropping.NETWORK_SIZE)
    info = kpm.keypoint_info(nets.motion(cropping.network_input(crop)))
    return DriverReading(info=info, eye_ratios=kpm.eye_ratios(landmarks), lip_ratio=kpm.lip_ratio(landmarks))


def _retarget(mlp: Any, x_s: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    delta = mlp(kpm.retarget_features(x_s, ratios))
    return np.asarray(delta, np.float32).reshape(x_s.shape)


def _finish(
    nets: Networks,
    source: SourceFace,
    kp: np.ndarray,
    deltas: list[np.ndarray],
    *,
    stitching: bool,
    after_stitching: np.ndarray | None = None,
) -> np.ndarray:
    for delta in deltas:
        kp = kp + delta
    if stitching:
        kp = kpm.apply_stitching(kp, nets.stitching(kpm.stitching_features(source.keypoints, kp)))
    if after_stitching is not None:
        kp = kp + after_stitching
    return kp.astype(np.float32)


def driven_keypoints(
    nets: Networks,
    source: SourceFace,
    driver: DriverReading,
    neutral: DriverReading,
    *,
    stitching: bool = True,
    retarget_eyes: bool = False,
    retarget_lips: bool = False,
) -> np.ndarray:
    """Driving keypoints (1×21×3) for a driver frame, relative to the driver's
    neutral frame. Retargeting replaces the driver's expression on the eye / lip
    keypoints by the retargeting MLPs, driven by the change of the driver's
    eye / lip ratios since neutral (so an avatar photographed with half-shut
    eyes or an open mouth follows the user's openness, not their keypoints)."""
    target = kpm.relative_motion(source.info, driver.info, neutral.info)
    deltas: list[np.ndarray] = []
    if retarget_eyes:
        target = kpm.keep_source_expression(target, source.info, kpm.EYE_KEYPOINTS)
        change = float(np.mean(driver.eye_ratios)) / max(float(np.mean(neutral.eye_ratios)), _EPS)
        goal = float(np.clip(np.mean(source.eye_ratios) * change, 0.0, MAX_EYE_RATIO))
        deltas.append(_retarget(nets.retarget_eye, source.keypoints, kpm.eye_retarget_input(source.eye_ratios, goal)))
    if retarget_lips:
        target = kpm.keep_source_expression(target, source.info, kpm.LIP_KEYPOINTS)
        goal = max(0.0, source.lip_ratio + (driver.lip_ratio - neutral.lip_ratio))
        deltas.append(_retarget(nets.retarget_lip, source.keypoints, kpm.lip_retarget_input(source.lip_ratio, goal)))
    kp = target.keypoints(source.info.canonical)
    # The original closes an open source mouth first when it does not retarget lips.
    closing = source.lip_close_delta if not retarget_lips else None
    if closing is not None and not stitching:
        deltas.append(closing)
        closing = None
    return _finish(nets, source, kp, deltas, stitching=stitching, after_stitching=closing)


def posed_keypoints(
    nets: Networks,
    source: SourceFace,
    motion: Motion,
    *,
    stitching: bool = True,
    retarget_eyes: bool = True,
    retarget_lips: bool = True,
) -> np.ndarray:
    """Driving keypoints for motion given as numbers (idle / demo, no driver
    image): head rotation, translation and scale from ``motion`` applied to the
    source pose; eyes and mouth through the retargeting MLPs from
    ``motion.eyes_closed`` / ``motion.mouth_open``. ``motion.expression`` (mesh
    offsets) has no LivePortrait counterpart and is not used."""
    target = kpm.pose_offset_motion(
        source.info,
        rotation_deg=motion.rotation,
        translation=np.asarray(motion.translation, np.float32) * source.face_size,
        scale=float(motion.scale),
    )
    deltas: list[np.ndarray] = []
    if retarget_eyes:
        closed = float(np.clip(np.mean(motion.eyes_closed), -0.5, 1.0))
        goal = float(np.clip(np.mean(source.eye_ratios) * (1.0 - closed), 0.0, MAX_EYE_RATIO))
        deltas.append(_retarget(nets.retarget_eye, source.keypoints, kpm.eye_retarget_input(source.eye_ratios, goal)))
    if retarget_lips:
        gap = max(0.0, float(motion.mouth_open)) * MOUTH_OPEN_GAP * source.face_size
        goal = source.lip_ratio + gap / max(source.mouth_width, _EPS)
        deltas.append(_retarget(nets.retarget_lip, source.keypoints, kpm.lip_retarget_input(source.lip_ratio, goal)))
    kp = target.keypoints(source.info.canonical)
    return _finish(nets, source, kp, deltas, stitching=stitching)


def render_keypoints(nets: Networks, source: SourceFace, kp_driving: np.ndarray) -> Any:
    """Warp the avatar's features to ``kp_driving`` and decode: 512×512×3 uint8
    (where the generator left it: NumPy, or a device array on the GPU)."""
    warped = nets.warp(source.feature, kp_driving, source.keypoints)
    return cropping.to_uint8_image(nets.generate(warped))
