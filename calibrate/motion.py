"""Landmarks → ``Motion``: the driver's head pose and expression relative to
their neutral face, smoothed, with per-region gains, soft pose limits, an
optional mirror, and a graceful fallback to idle motion when the face is lost.

Conventions are those of ``vivicam.types.Motion`` (read its docstring).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from vivicam.calibrate import features, geometry, mesh
from vivicam.calibrate.config import KNEE, POSE_LIMITS, MotionConfig
from vivicam.calibrate.idle import IdleMotion
from vivicam.calibrate.neutral import Neutral, NeutralCalibrator
from vivicam.calibrate.predict import predict_at
from vivicam.calibrate.smoothing import OneEuroFilter
from vivicam.types import Landmarks, Motion

__all__ = ["MotionConfig", "MotionEstimator", "POSE_LIMITS", "soft_limit", "region_weights", "mirror_motion", "raw_motion"]

# Largest per-point expression offset (face sizes) taken from the tracker. Real
# faces stay below ~0.45 (a wide-open mouth on the test clips); a tracking
# glitch (a hand over the face) can throw points much further, which would
# tear a warp.
MAX_EXPRESSION = 0.6

_MIRROR = np.asarray(mesh.MIRROR)
_FLIP_X = np.array([-1.0, 1.0, 1.0], np.float32)


def soft_limit(value: np.ndarray | float, limit: np.ndarray | float, knee: float = KNEE) -> np.ndarray:
    """Identity up to ``knee × limit``, then a smooth (C¹) bend that approaches
    ``limit`` and never exceeds it. Element-wise, sign-symmetric."""
    v = np.asarray(value, np.float64)
    lim = np.asarray(limit, np.float64)
    k = knee * lim
    room = (1.0 - knee) * lim
    over = np.maximum(np.abs(v) - k, 0.0)
    bent = k + room * np.tanh(over / np.maximum(room, 1e-9))
    return np.where(np.abs(v) <= k, v, np.sign(v) * bent)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def region_weights(canonical: np.ndarray) -> np.ndarray:
    """(478, 3) soft membership of each point in the (eyes, brows, mouth)
    regions, rows summing to 1: below the nose is "mouth" (lips, jaw, chin,
    lower cheeks), above the midline between brows and upper lids is "brows"
    (brows, forehead), the rest is "eyes" (lids, eye corners, upper cheeks).
    The borders are blended over a few hundredths of a face size so a gain
    difference does not tear the mesh."""
    y = np.asarray(canonical, np.float64)[:, 1]
    c = np.asarray(canonical, np.float64)
    y_mouth = c[mesh.NOSE_BOTTOM, 1]
    y_brow = np.mean([c[list(b), 1].mean() for b in mesh.BROWS])
    y_lid = c[list(mesh.LID_UPPER), 1].mean()
    y_split = (y_brow + y_lid) / 2
    mouth = _sigmoid((y - y_mouth) / 0.03)
    brows = _sigmoid((y_split - y) / 0.02) * (1.0 - mouth)
    return np.stack([1.0 - mouth - brows, brows, mouth], axis=1)


def raw_motion(points: np.ndarray, neutral: Neutral) -> dict[str, np.ndarray]:
    """Unsmoothed, ungained motion channels of one frame against ``neutral``.

    rotation (pitch, yaw, roll) degrees; translation (2,) face sizes; scale
    (1,); expression (478, 3) face sizes; eyes (2,) openness / neutral
    openness; gaze (2,) iris offset minus neutral, half eye widths (mean of
    both eyes); mouth (1,) inner-lip gap minus neutral, face sizes.
    """
    p = np.asarray(points, np.float64)
    pose = geometry.head_pose(p, neutral.canonical, neutral.rotation)
    relative = geometry.relative_rotation(pose.rotation, neutral.rotation)
    canon = geometry.to_canonical(p, pose)
    return {
        "rotation": geometry.euler_from_matrix(relative).astype(np.float64),
        "translation": (pose.center[:2] - neutral.center[:2]) / neutral.size,
        "scale": np.array([pose.size / neutral.size]),
        "expression": canon.astype(np.float64) - neutral.canonical,
        "eyes": features.eye_openness(p) / neutral.eye_openness,
        "gaze": (features.iris_offset(p) - neutral.iris_offset).mean(axis=0),
        "mouth": np.array([features.mouth_gap(p) - neutral.mouth_gap]),
    }


def mirror_motion(motion: Motion) -> Motion:
    """The same motion seen in a mirror: left and right swapped."""
    pitch, yaw, roll = motion.rotation
    return motion.with_(
        rotation=np.array([pitch, -yaw, -roll], np.float32),
        translation=motion.translation * np.array([-1.0, 1.0], np.float32),
        expression=motion.expression[_MIRROR] * _FLIP_X,
        eyes_closed=motion.eyes_closed[::-1].copy(),
        gaze=motion.gaze * np.array([-1.0, 1.0], np.float32),
        surround=None if motion.surround is None else motion.surround[:, ::-1] * _FLIP_X,
        camera=motion.camera * np.array([-1.0, 1.0], np.float32),
    )


def _clamp_rows(vectors: np.ndarray, max_norm: float) -> np.ndarray:
    """Shorten the rows longer than ``max_norm`` to that length."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors * np.minimum(1.0, max_norm / np.maximum(norms, 1e-12))


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


class MotionEstimator:
    """Turns a stream of tracked landmarks (or ``None``) into ``Motion``.

    - Calibration: without a ``neutral`` it calibrates over the first
      ``config.calibration_s`` seconds of tracked frames, returning neutral
      motion meanwhile. ``recalibrate()`` starts a new calibration while the
      old neutral stays in use until the new one is ready. When a calibration
      completes, ``just_calibrated`` is True for that one ``update`` call,
      ``neutral_t_s`` is that frame's time and ``on_calibrated(neutral)`` is
      called (the pipeline keeps that frame as ``Motion.driver_neutral``).
    - Lost face (``update(None, t)``): the last tracked motion is held for
      ``hold_s``, then blended into ``idle`` motion over ``ease_s``; when the
      face returns the output blends back over ``return_s``, or over as long
      as it was lost when that was shorter.
    """

    def __init__(
        self,
        config: MotionConfig | None = None,
        neutral: Neutral | None = None,
        idle: IdleMotion | None = None,
        *,
        on_calibrated: Callable[[Neutral], None] | None = None,
    ) -> None:
        self.config = config or MotionConfig()
        self.idle = idle or IdleMotion()
        self.on_calibrated = on_calibrated
        self._neutral = neutral
        self._weights = region_weights(neutral.canonical) if neutral is not None else None
        self._calibrator: NeutralCalibrator | None = None if neutral is not None else NeutralCalibrator(self.config.calibration_s)
        self.just_calibrated = False
        self.neutral_t_s: float | None = None
        self._filters = self._make_filters()
        self._last_output: Motion | None = None
        self._lost_since: float | None = None  # time the face was lost, None while tracked
        self._held: Motion | None = None  # the output when the face was lost
        self._returned_at: float | None = None  # time the face came back (blending back)
        self._return_from: Motion | None = None  # the lost-face output at that time
        self._return_over = self.config.return_s  # seconds the blend back takes
        self._history: tuple[tuple[float, Motion], ...] = ()  # last two tracked outputs, for predict()

    # -- state ------------------------------------------------------------
    @property
    def neutral(self) -> Neutral | None:
        return self._neutral

    @property
    def calibrated(self) -> bool:
        return self._neutral is not None

    @property
    def calibrating(self) -> bool:
        return self._calibrator is not None

    @property
    def calibration_prompt(self) -> str | None:
        """What the user should do while a calibration waits (None when none runs)."""
        calibrator = self._calibrator
        return None if calibrator is None else calibrator.prompt

    def recalibrate(self) -> None:
        """Start a new neutral calibration (the old neutral stays in use meanwhile)."""
        self._calibrator = NeutralCalibrator(self.config.calibration_s)

    def set_neutral(self, neutral: Neutral) -> None:
        """Use this neutral from now on (e.g. loaded from a profile); stops a
        calibration in progress."""
        self._calibrator = None
        self._use_neutral(neutral)

    def _use_neutral(self, neutral: Neutral) -> None:
        self._neutral = neutral
        self._weights = region_weights(neutral.canonical)
        for f in self._filters.values():
            f.reset()

    def _make_filters(self) -> dict[str, OneEuroFilter]:
        c = self.config
        return {
            "rotation": OneEuroFilter.from_params(c.smooth_rotation),
            "translation": OneEuroFilter.from_params(c.smooth_translation),
            "expression": OneEuroFilter.from_params(c.smooth_expression),
            "eyes": OneEuroFilter.from_params(c.smooth_eyes),
            "gaze": OneEuroFilter.from_params(c.smooth_gaze),
            "mouth": OneEuroFilter.from_params(c.smooth_mouth),
            "surround": OneEuroFilter.from_params(c.smooth_translation),
            "camera": OneEuroFilter.from_params(c.smooth_translation),
        }

    # -- per frame ----------------------------------------------------------
    def update(
        self, landmarks: Landmarks | None, t_s: float, surround: np.ndarray | None = None,
        camera: np.ndarray | None = None,
    ) -> Motion:
        """Motion for ``landmarks`` (None: face lost) at time ``t_s``;
        ``surround`` and ``camera`` are the optional flow readings of
        ``Motion.surround`` and ``Motion.camera``."""
        self.just_calibrated = False
        if landmarks is None:
            return self._lost(t_s)
        calibrator = self._calibrator  # recalibrate() may swap it from another thread
        if calibrator is not None:
            done = calibrator.add(landmarks, t_s)
            if done is not None:
                if self._neutral is not None and self._last_output is not None and self._lost_since is None:
                    # A recalibration: glide to the new reference instead of jumping.
                    self._return_from, self._returned_at = self._last_output, t_s
                    self._return_over = self.config.return_s
                self._use_neutral(done)
                if self._calibrator is calibrator:
                    self._calibrator = None
                self.just_calibrated = True
                self.neutral_t_s = t_s
                if self.on_calibrated is not None:
                    self.on_calibrated(done)
        if self._neutral is None:
            tracked = Motion(confidence=landmarks.confidence)
        else:
            tracked = self._tracked(landmarks, t_s, surround, camera)
        return self._found(tracked, t_s)

    def _tracked(
        self, landmarks: Landmarks, t_s: float, surround: np.ndarray | None = None, camera: np.ndarray | None = None
    ) -> Motion:
        assert self._neutral is not None and self._weights is not None
        c = self.config
        raw = raw_motion(landmarks.points, self._neutral)
        f = self._filters
        rotation = f["rotation"](raw["rotation"], t_s)
        position = f["translation"](np.concatenate([raw["translation"], raw["scale"]]), t_s)
        expression = f["expression"](_clamp_rows(raw["expression"], MAX_EXPRESSION), t_s)
        eyes = f["eyes"](raw["eyes"], t_s)
        gaze = f["gaze"](raw["gaze"], t_s)
        mouth = float(f["mouth"](raw["mouth"], t_s)[0])

        limits = np.array([c.pitch_limit, c.yaw_limit, c.roll_limit])
        rotation = soft_limit(rotation * c.head_gain, limits)
        translation = position[:2] * c.head_gain
        scale = max(1.0 + (position[2] - 1.0) * c.head_gain, 0.1)
        gains = self._weights @ np.array([c.eyes_gain, c.brows_gain, c.mouth_gain])
        closed = np.clip((1.0 - eyes) / (1.0 - c.eye_shut_ratio), 0.0, 1.0)
        motion = Motion(
            rotation=rotation,
            translation=translation,
            scale=scale,
            expression=expression * gains[:, None],
            eyes_closed=np.clip(closed * c.eyes_gain, 0.0, 1.0),
            gaze=np.clip(gaze / np.array(c.gaze_range) * c.eyes_gain, -1.0, 1.0),
            mouth_open=float(np.clip(mouth / c.mouth_open_gap * c.mouth_gain, 0.0, 1.0)),
            confidence=float(landmarks.confidence),
            surround=None if surround is None else self._smooth_surround(surround, t_s),
            # the same unit, smoothing and gain as the translation it is part of
            camera=np.zeros(2) if camera is None else f["camera"](np.asarray(camera, np.float64), t_s) * c.head_gain,
        )
        return mirror_motion(motion) if c.mirror else motion

    def _smooth_surround(self, surround: np.ndarray, t_s: float) -> np.ndarray:
        """The flow field smoothed like the head's translation (same unit),
        scaled by the head gain; the person weights pass unchanged."""
        field = np.asarray(surround, np.float32)
        out = field.copy()
        out[..., :2] = self._filters["surround"](field[..., :2], t_s) * self.config.head_gain
        return out

    def _found(self, tracked: Motion, t_s: float) -> Motion:
        if self._lost_since is not None:  # the face is back: blend from where we were
            self._return_from = self._lost_output(t_s)
            self._returned_at = t_s
            # as fast as it went: a head turned fast and far loses the tracker for
            # a few frames, and a 0.3 s glide back from the held pose then lagged
            # the turn's peak by most of its size (d12: -8° shown for -43°)
            self._return_over = min(self.config.return_s, t_s - self._lost_since)
            self._lost_since = None
        out = tracked
        if self._returned_at is not None and self._return_from is not None:
            w = _smoothstep((t_s - self._returned_at) / max(self._return_over, 1e-9))
            if w >= 1.0:
                self._returned_at = self._return_from = None
            else:
                out = self._return_from.blend(tracked, w)
        self._last_output = out
        self._history = (*self._history[-1:], (t_s, out))
        return out

    def predict(self, t_s: float) -> Motion | None:
        """Motion a moment after the last tracked frame (an in-between frame of
        a camera slower than the output), extrapolated from the last two
        outputs without changing any state; None before the first."""
        if self._lost_since is not None:
            return None
        return predict_at(self._history, t_s)

    def _lost(self, t_s: float) -> Motion:
        if self._lost_since is None:
            self._lost_since = t_s
            self._held = self._last_output
            self._returned_at = self._return_from = None
        return self._lost_output(t_s)

    def _lost_output(self, t_s: float) -> Motion:
        """The held motion (at half its confidence) for ``hold_s``, then a
        smooth blend into idle motion (confidence 0) over ``ease_s``."""
        idle = self.idle.at(t_s).with_(confidence=0.0)
        if self._held is None or self._lost_since is None:
            return idle
        c = self.config
        w = _smoothstep((t_s - self._lost_since - c.hold_s) / max(c.ease_s, 1e-9))
        return self._held.with_(confidence=0.5 * self._held.confidence).blend(idle, w)
