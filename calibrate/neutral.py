"""The driver's neutral face: what "no motion" looks like for this user.

``NeutralCalibrator`` averages about a second of tracked frames (robustly:
frames where the head moves fast are dropped, and the per-point median is
taken, so a blink or a twitch during calibration does not end up in the
neutral). ``save_profile``/``load_profile`` keep it as a small JSON file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vivicam.calibrate import features, geometry
from vivicam.calibrate.config import MotionConfig
from vivicam.errors import InputError
from vivicam.paths import temp_beside
from vivicam.types import NUM_LANDMARKS, Landmarks

log = logging.getLogger(__name__)

PROFILE_FORMAT = "vivicam-profile"
PROFILE_VERSION = 1


@dataclass(frozen=True, eq=False)
class Neutral:
    """The neutral face of a driver.

    ``canonical`` is the face in canonical space (face sizes, pose removed, see
    ``geometry``); ``rotation``/``center``/``size`` are where the head was in
    the camera image (``points ≈ center + size * rotation @ canonical``).
    The feature values are those of ``vivicam.calibrate.features`` at neutral.
    """

    canonical: np.ndarray  # (478, 3) float32
    rotation: np.ndarray  # (3, 3) float64
    center: np.ndarray  # (3,) float64 pixels
    size: float  # pixels
    eye_openness: np.ndarray  # (2,)
    mouth_gap: float
    mouth_width: float
    iris_offset: np.ndarray  # (2, 2)
    brow_raise: np.ndarray  # (2,)
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the driver's frames

    def __post_init__(self) -> None:
        shapes = {
            "canonical": (NUM_LANDMARKS, 3),
            "rotation": (3, 3),
            "center": (3,),
            "eye_openness": (2,),
            "iris_offset": (2, 2),
            "brow_raise": (2,),
        }
        for name, shape in shapes.items():
            value = np.asarray(getattr(self, name), dtype=np.float32 if name == "canonical" else np.float64)
            if value.shape != shape:
                raise ValueError(f"Neutral.{name} must have shape {shape}, got {value.shape}")
            if not np.all(np.isfinite(value)):
                raise ValueError(f"Neutral.{name} has non-finite values")
            object.__setattr__(self, name, value)
        for name in ("size", "mouth_gap", "mouth_width"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"Neutral.{name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if self.size <= 0 or np.any(self.eye_openness <= 0):
            raise ValueError("Neutral.size and eye_openness must be positive")
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    @classmethod
    def from_points(cls, points: np.ndarray, image_size: tuple[int, int] = (0, 0)) -> "Neutral":
        """The neutral of a single frame (a photo, or a test)."""
        return cls.from_frames([np.asarray(points, np.float64)], image_size)

    @classmethod
    def from_frames(cls, frames: list[np.ndarray], image_size: tuple[int, int] = (0, 0)) -> "Neutral":
        """The neutral of several frames of one face (robust medians)."""
        # Canonical shape: median of each frame in its own four-point frame,
        # then once more after aligning every frame to that median with all
        # rigid points (steadier than four points).
        canon = np.median([geometry.to_canonical(p) for p in frames], axis=0)
        poses = [geometry.fit_pose(p, canon) for p in frames]
        canon = np.median([geometry.to_canonical(p, pose) for p, pose in zip(frames, poses)], axis=0)
        poses = [geometry.fit_pose(p, canon) for p in frames]
        rotation = _project_to_rotation(np.median([pose.rotation for pose in poses], axis=0))
        feats = [_features(p) for p in frames]

        def med(key: str) -> np.ndarray:
            return np.median([f[key] for f in feats], axis=0)

        # A driver who talks while calibrating closes the lips between
        # syllables: the neutral mouth is the lower quartile of the gap.
        mouth_gap = float(np.percentile([f["mouth_gap"] for f in feats], 25))

        return cls(
            canonical=canon.astype(np.float32),
            rotation=rotation,
            center=np.median([pose.center for pose in poses], axis=0),
            size=float(np.median([pose.size for pose in poses])),
            eye_openness=med("eye_openness"),
            mouth_gap=mouth_gap,
            mouth_width=float(med("mouth_width")),
            iris_offset=med("iris_offset"),
            brow_raise=med("brow_raise"),
            image_size=image_size,
        )

    def points(self) -> np.ndarray:
        """The neutral face's 478 points where it was in the driver's image."""
        return geometry.from_canonical(self.canonical, geometry.FacePose(self.rotation, self.center, self.size))

    def landmarks(self, image_size: tuple[int, int]) -> "Landmarks":
        """:meth:`points` as the landmarks of a driver frame of ``image_size``:
        the landmarks the driver's flow counts from on the frame where this
        neutral was measured. A frame's own tracked landmarks are off the
        window's median by the tracker's noise, and a driver who then held
        still read that difference as motion for the whole render (a still
        driver: the avatar 0.4° turned, moved and its face reshaped, 2 dB off
        the photo at rest)."""
        from vivicam.types import Landmarks

        return Landmarks(self.points().astype(np.float32), tuple(int(v) for v in image_size))

    def to_dict(self) -> dict:
        return {
            "canonical": np.round(self.canonical.astype(np.float64), 6).tolist(),
            "rotation": self.rotation.tolist(),
            "center": self.center.tolist(),
            "size": self.size,
            "eye_openness": self.eye_openness.tolist(),
            "mouth_gap": self.mouth_gap,
            "mouth_width": self.mouth_width,
            "iris_offset": self.iris_offset.tolist(),
            "brow_raise": self.brow_raise.tolist(),
            "image_size": list(self.image_size),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Neutral":
        return cls(
            canonical=np.asarray(data["canonical"], np.float32),
            rotation=np.asarray(data["rotation"], np.float64),
            center=np.asarray(data["center"], np.float64),
            size=float(data["size"]),
            eye_openness=np.asarray(data["eye_openness"], np.float64),
            mouth_gap=float(data["mouth_gap"]),
            mouth_width=float(data["mouth_width"]),
            iris_offset=np.asarray(data["iris_offset"], np.float64),
            brow_raise=np.asarray(data["brow_raise"], np.float64),
            image_size=tuple(data.get("image_size", (0, 0))),
        )


def _features(points: np.ndarray) -> dict[str, np.ndarray | float]:
    return {
        "eye_openness": features.eye_openness(points),
        "mouth_gap": features.mouth_gap(points),
        "mouth_width": features.mouth_width(points),
        "iris_offset": features.iris_offset(points),
        "brow_raise": features.brow_raise(points),
    }


def _project_to_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation matrix nearest to ``m`` (e.g. an element-wise median)."""
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of the rotation between two orientations, degrees."""
    cos = (np.trace(np.asarray(a) @ np.asarray(b).T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


CALIBRATION_PROMPT = "Hold still, look at the camera, relaxed face"
# A calm frame: lips together (an inner-lip gap of at most this many face
# sizes, or a little above the smallest gap seen: some faces rest with parted
# lips) and eyes open (at least this share of the widest opening seen).
MOUTH_CLOSED_GAP = 0.06
MOUTH_SLACK = 0.04
EYES_OPEN_SHARE = 0.7
RESTLESS_S = 0.08  # restless for longer than this (two frames: a glitch, a jerk) starts the calm window again


class NeutralCalibrator:
    """Collects frames for ``seconds`` and returns the neutral face.

    ``add(landmarks, t_s)`` returns ``None`` until enough calm frames span
    ``seconds``, then the ``Neutral`` (and the same one on later calls).
    A frame is restless when the head turns faster than ``max_turn_deg_s`` or
    moves faster than ``max_move_face_s`` face sizes per second, or (with
    ``calm``, the default) when the mouth is open; such frames are left out,
    and restlessness lasting over ``RESTLESS_S`` starts the window again, so
    the neutral comes from one still, closed-mouth stretch. Frames with closed
    eyes (with ``calm``) are left out without restarting it: a blink is short.
    ``prompt`` says what the user should do meanwhile.

    If no such stretch comes within ``give_up_factor`` × ``seconds``, the
    neutral is made from the calm frames seen (scattered), or every frame seen
    when too few, and ``warning`` says so (also logged): the neutral may then
    carry a turn or an open mouth, and recalibrating helps.

    Without ``calm`` (an offline clip's "first steady second"), steady frames
    add up however scattered, and giving up uses every frame seen.
    """

    MIN_FRAMES = 5

    def __init__(
        self,
        seconds: float = 1.0,
        *,
        max_turn_deg_s: float = 40.0,
        max_move_face_s: float = 0.6,
        give_up_factor: float = 3.0,
        calm: bool = True,
    ) -> None:
        if seconds <= 0:
            raise ValueError(f"calibration needs a positive duration, got {seconds}")
        self.seconds = float(seconds)
        self.max_turn_deg_s = max_turn_deg_s
        self.max_move_face_s = max_move_face_s
        self.give_up_factor = give_up_factor
        self.calm = calm
        self._window: list[tuple[float, np.ndarray]] = []  # the current calm stretch
        self._calm: list[tuple[float, np.ndarray]] = []  # every calm frame
        self._seen: list[tuple[float, np.ndarray]] = []
        self._last: tuple[float, geometry.FacePose] | None = None
        self._restless_since: float | None = None
        self._min_gap = math.inf
        self._max_eyes = 0.0
        self._image_size = (0, 0)
        self.result: Neutral | None = None
        self.rejected = 0  # frames left out (moving, mouth open, eyes closed)
        self.reason: str | None = None  # why the latest frame was left out
        self.warning: str | None = None  # set when calibrated without a calm stretch

    @property
    def done(self) -> bool:
        return self.result is not None

    @property
    def prompt(self) -> str | None:
        """What to show the user while calibrating (None once done)."""
        if self.result is not None:
            return None
        return CALIBRATION_PROMPT + (f" ({self.reason})" if self.reason else "")

    def add(self, landmarks: Landmarks, t_s: float) -> Neutral | None:
        if self.result is not None:
            return self.result
        points = np.asarray(landmarks.points, np.float64)
        self._image_size = landmarks.image_size
        self._seen.append((t_s, points))
        self.reason = self._left_out_because(points, t_s)
        if self.reason is None:
            self._window.append((t_s, points))
            self._calm.append((t_s, points))
            self._restless_since = None
        else:
            self.rejected += 1
            if self.calm and self.reason != "eyes open":
                self._restless_since = t_s if self._restless_since is None else self._restless_since
                if t_s - self._restless_since > RESTLESS_S:
                    self._window = []
        if len(self._window) >= self.MIN_FRAMES and self._window[-1][0] - self._window[0][0] >= self.seconds * 0.95:
            return self._finish(self._window)
        if len(self._seen) >= self.MIN_FRAMES and t_s - self._seen[0][0] >= self.seconds * self.give_up_factor:
            calm = self.calm and len(self._calm) >= self.MIN_FRAMES
            what = "still, closed-mouth" if self.calm else "still"
            self.warning = (
                f"calibrated on {'scattered calm moments' if calm else 'a moving face'}: the face was never "
                f"{what} for {self.seconds:g} s within {t_s - self._seen[0][0]:.0f} s "
                f"(last: {self.reason or 'too short'}); recalibrate with a relaxed face"
            )
            (log.warning if self.calm else log.info)("%s", self.warning)  # calm: a live user can act on it
            return self._finish(self._calm if calm else self._seen)
        return None

    def _finish(self, frames: list[tuple[float, np.ndarray]]) -> Neutral:
        self.result = Neutral.from_frames([p for _, p in frames], self._image_size)
        self.reason = None
        return self.result

    def _left_out_because(self, points: np.ndarray, t_s: float) -> str | None:
        """None for a calm frame, else what the user should do about it."""
        pose = geometry.face_pose(points)
        last, self._last = self._last, (t_s, pose)
        if last is not None and t_s > last[0]:
            dt = t_s - last[0]
            turn = rotation_angle_deg(pose.rotation, last[1].rotation) / dt
            move = float(np.linalg.norm(pose.center[:2] - last[1].center[:2])) / pose.size / dt
            scale = abs(math.log(pose.size / last[1].size)) / dt
            if turn > self.max_turn_deg_s or move > self.max_move_face_s or scale > self.max_move_face_s:
                return "hold still"
        if not self.calm:
            return None
        gap = features.mouth_gap(points)
        eyes = float(np.mean(features.eye_openness(points)))
        self._min_gap = min(self._min_gap, gap)
        self._max_eyes = max(self._max_eyes, eyes)
        if gap > max(MOUTH_CLOSED_GAP, self._min_gap + MOUTH_SLACK):
            return "close your mouth"
        if eyes < EYES_OPEN_SHARE * self._max_eyes:
            return "eyes open"
        return None


def save_profile(path: str | Path, neutral: Neutral, config: MotionConfig | None = None) -> Path:
    """Write the calibration (and optionally the motion settings) as JSON."""
    path = Path(path)
    data = {
        "format": PROFILE_FORMAT,
        "version": PROFILE_VERSION,
        "neutral": neutral.to_dict(),
        "config": config.to_dict() if config is not None else None,
    }
    # Written beside the target and renamed over it, so an interrupted save
    # never leaves a half-written profile behind.
    tmp = None
    try:
        tmp = temp_beside(path)
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        raise InputError(f"cannot write the profile {path}: {exc.strerror or exc}") from exc
    return path


def load_profile(path: str | Path) -> tuple[Neutral, MotionConfig | None]:
    """Read a profile written by :func:`save_profile`; ``InputError`` (one line,
    naming the file) when it is missing, unreadable or not a vivicam profile."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"profile {path} does not exist")
    if path.is_dir():
        raise InputError(f"profile {path} is a directory, not a file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"profile {path} is not a readable JSON file ({type(exc).__name__})") from exc
    if not isinstance(data, dict) or data.get("format") != PROFILE_FORMAT:
        raise InputError(f"{path} is not a vivicam profile")
    if data.get("version") != PROFILE_VERSION:
        raise InputError(
            f"profile {path} has version {data.get('version')!r}; this vivicam reads version {PROFILE_VERSION}"
            " (recalibrate and save it again)"
        )
    try:
        neutral = Neutral.from_dict(data["neutral"])
        config = MotionConfig.from_dict(data["config"]) if data.get("config") is not None else None
    except KeyError as exc:
        raise InputError(f"profile {path} is damaged: {exc.args[0]!r} is missing") from exc
    except (TypeError, ValueError) as exc:
        raise InputError(f"profile {path} is damaged: {exc}") from exc
    return neutral, config
