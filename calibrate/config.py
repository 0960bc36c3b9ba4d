"""``MotionConfig``: every knob of the motion stage, in one frozen dataclass.

The single source of the defaults; the CLI and the JSON profile map onto it.
Also exported as ``vivicam.calibrate.motion.MotionConfig``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vivicam.calibrate.smoothing import OneEuroParams

# The head pose's one limit, (pitch, yaw, roll) degrees. The motion stage bends
# rotations softly towards it (``MotionConfig``'s limits, which may be lowered,
# never raised) and the warp engine clips any ``Motion`` to it, so what the
# estimator lets through is rendered unchanged. Wide enough for the ±15° nods
# and ±25° turns a 2-D warp must follow at gain 1 (70 % of the limit passes
# unchanged); beyond it a warp of one photo stretches the far cheek too thin.
POSE_LIMITS = (25.0, 36.0, 30.0)
# The iris offsets (half eye widths, along the eye and across it) that
# Motion.gaze ±1 stands for: what the motion stage divides by and the engine
# multiplies back. 0.35 along the eye clipped a hard look to the side (d10:
# 0.47) at three quarters of the way, the iris left near the middle.
GAZE_RANGE = (0.5, 0.2)
KNEE = 0.7  # soft limits pass values unchanged up to this share of the limit


@dataclass(frozen=True)
class MotionConfig:
    """How tracked landmarks become ``Motion``.

    Gains multiply each region's motion (1 = as the driver moves, 0 = frozen,
    >1 exaggerated). Pose limits are soft: an angle up to 70 % of its limit
    passes unchanged, beyond that it bends smoothly towards the limit and
    never exceeds it; they default to ``POSE_LIMITS`` and cannot exceed it.
    One-Euro parameters are per channel because their ``beta`` depends on the
    channel's unit (degrees, face sizes, 0..1).
    """

    head_gain: float = 1.0  # rotation, translation and scale
    eyes_gain: float = 1.0  # eyes_closed, gaze, and eye-region expression
    brows_gain: float = 1.0  # brow/forehead expression
    mouth_gain: float = 1.0  # mouth_open and lower-face expression
    pitch_limit: float = POSE_LIMITS[0]  # degrees
    yaw_limit: float = POSE_LIMITS[1]
    roll_limit: float = POSE_LIMITS[2]
    mirror: bool = False  # swap left/right, like a selfie mirror
    calibration_s: float = 1.0  # seconds of frames averaged into the neutral face
    hold_s: float = 0.5  # after the face is lost: keep the last motion this long
    ease_s: float = 1.0  # then blend into idle motion over this long
    return_s: float = 0.3  # when the face returns: blend back over this long
    # Iris offset (in half eye widths, see features.iris_offset) that counts as
    # gaze ±1 along x and y.
    gaze_range: tuple[float, float] = GAZE_RANGE
    # Eye openness, as a fraction of the neutral openness, at which an eye
    # counts as fully shut (eyes_closed = 1).
    eye_shut_ratio: float = 0.3
    # Inner-lip gap (face sizes) above neutral that counts as mouth_open = 1.
    mouth_open_gap: float = 0.6
    # One-Euro settings per channel, tuned on the test clips for little lag
    # (correlation with the unsmoothed signal ≥ 0.97 on lively clips) and a
    # 3–5× reduction of frame-to-frame noise on calm ones.
    smooth_rotation: OneEuroParams = field(default_factory=lambda: OneEuroParams(0.7, 0.4, 5.0))  # degrees
    smooth_translation: OneEuroParams = field(default_factory=lambda: OneEuroParams(0.7, 10.0, 5.0))  # face sizes, scale
    smooth_expression: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 50.0, 5.0))  # face sizes
    smooth_eyes: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 20.0, 5.0))  # openness ratio
    smooth_gaze: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 10.0, 5.0))  # half eye widths
    smooth_mouth: OneEuroParams = field(default_factory=lambda: OneEuroParams(1.0, 20.0, 5.0))  # face sizes

    def __post_init__(self) -> None:
        for name in ("head_gain", "eyes_gain", "brows_gain", "mouth_gain"):
            if not 0.0 <= getattr(self, name) <= 3.0:
                raise ValueError(f"MotionConfig.{name} must be in 0..3, got {getattr(self, name)}")
        for name, most in zip(("pitch_limit", "yaw_limit", "roll_limit"), POSE_LIMITS):
            if not 0.0 < getattr(self, name) <= most:
                raise ValueError(f"MotionConfig.{name} must be in (0, {most:g}] degrees, got {getattr(self, name)}")
        for name in ("calibration_s", "eye_shut_ratio", "mouth_open_gap"):
            if not getattr(self, name) > 0:
                raise ValueError(f"MotionConfig.{name} must be positive, got {getattr(self, name)}")
        for name in ("hold_s", "ease_s", "return_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"MotionConfig.{name} must not be negative, got {getattr(self, name)}")
        if self.eye_shut_ratio >= 1:
            raise ValueError(f"MotionConfig.eye_shut_ratio must be below 1, got {self.eye_shut_ratio}")
        gaze = tuple(float(v) for v in self.gaze_range)
        if len(gaze) != 2 or min(gaze) <= 0:
            raise ValueError(f"MotionConfig.gaze_range must be two positive numbers, got {self.gaze_range}")
        object.__setattr__(self, "gaze_range", gaze)
        for f in fields(self):
            if f.name.startswith("smooth_"):
                value = getattr(self, f.name)
                if isinstance(value, dict):  # from JSON
                    object.__setattr__(self, f.name, OneEuroParams(**value))
                elif not isinstance(value, OneEuroParams):
                    raise ValueError(f"MotionConfig.{f.name} must be OneEuroParams, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data = asdict(self)
        data["gaze_range"] = list(self.gaze_range)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MotionConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown motion settings: {', '.join(unknown)}")
        values = dict(data)
        if "gaze_range" in values:
            values["gaze_range"] = tuple(values["gaze_range"])
        return cls(**values)
