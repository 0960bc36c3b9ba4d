"""The live pipeline's stages as the quality benchmarks drive them (motion,
paste-back) and the motion-fidelity signals read from tracked landmarks."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from vivicam.benchmarks import metrics
from vivicam.errors import VivicamError
from vivicam.types import DriverFrame, Landmarks

log = logging.getLogger(__name__)

SHEET_COLUMNS = 8  # frames shown per contact-sheet row
FACE_BOX_SCALE = 1.6  # the measured face box: this many times the landmarks' bounding box


def paste_back(state: Any, crop: Any, shift: Any = None) -> np.ndarray:
    """The engine crop pasted into the full photo and the frame moved by
    ``shift`` (the engine's ``frame_shift``), as the live pipeline does."""
    from vivicam.realtime.post import compose

    return np.asarray(compose(state, crop, shift=shift))


def make_estimator(first: Landmarks) -> Any:
    """The live pipeline's motion stage (default config, smoothing included),
    with the neutral face taken from ``first``: the avatar IS the first frame,
    so its face is the neutral, given directly instead of calibrating over a
    second of video."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.calibrate.neutral import Neutral

    return MotionEstimator(neutral=Neutral.from_points(first.points, first.image_size))


def motion_stages(engine: Any, first: np.ndarray, first_lm: Landmarks) -> Any:
    """The live pipeline's motion stages (driver flow when the engine wants
    it, then the motion estimator) with the first frame as the driver's
    neutral frame; ``.motion(frame, landmarks, t_s)`` gives each frame's Motion."""
    from vivicam.realtime.pipeline import Pipeline

    stages = Pipeline(engine, None, estimator=make_estimator(first_lm))
    stages.set_driver_neutral(DriverFrame(first, first_lm))
    return stages


def motion_signals(points: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 478, 3) landmarks (NaN = lost) → per-frame mouth gap, eye openness
    (mean of both eyes) and head angles relative to the first tracked frame."""
    from vivicam.calibrate import features

    n = points.shape[0]
    mouth, eyes = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        if np.isfinite(points[i]).all():
            mouth[i] = features.mouth_gap(points[i])
            eyes[i] = float(np.mean(features.eye_openness(points[i])))
    return {"mouth": mouth, "eyes": eyes, "angles": metrics.head_angles(points)}


def fidelity(
    drv: dict[str, np.ndarray], sig: dict[str, np.ndarray], points: np.ndarray, runs: list[tuple[int, int]]
) -> dict[str, Any]:
    """How well the output (``sig``, its landmarks ``points``) follows the
    driver (``drv``): mouth/eye correlation, head-pose error, jitter on the
    driver's still ``runs``."""
    pose = metrics.pose_error(drv["angles"], sig["angles"])
    return {
        "output_tracked": float(np.isfinite(points).all(axis=(1, 2)).mean()),
        "mouth_corr": metrics.pearson(drv["mouth"], sig["mouth"]),
        "eye_corr": metrics.pearson(drv["eyes"], sig["eyes"]),
        "pose_err_deg": pose.mean_deg,
        "pose_err_axes_deg": {"pitch": pose.pitch_deg, "yaw": pose.yaw_deg, "roll": pose.roll_deg},
        "jitter": metrics.jitter(points, runs),
    }


def detect_points(image: np.ndarray) -> np.ndarray:
    """(478, 3) landmarks of the largest face on a still image (NoFaceError without)."""
    from vivicam.face.detect import find_avatar_face

    return find_avatar_face(image).landmarks.points


def render_case(portrait: Path, driver: Path, output: Path, engine: str, *,
                size: tuple[int, int] | None = None) -> tuple[dict | None, str | None]:
    """``render_video`` with its defaults (``size`` None = its own choice);
    (summary, None) or (None, reason)."""
    from vivicam.realtime.app import render_video

    extra = {} if size is None else {"size": size}
    try:
        return render_video(portrait, driver, output, engine=engine, progress=False, audio=False, **extra), None
    except VivicamError as exc:
        return None, str(exc)
    except Exception as exc:  # a suite records an engine's crash as that case's failure
        log.warning("%s: render crashed", portrait.parent.name, exc_info=True)
        return None, f"crashed: {type(exc).__name__}: {exc}"
