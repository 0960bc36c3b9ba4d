"""Cross-reenactment for the quality benchmark: a portrait driven by another
person's clip, shown as a contact sheet, with motion fidelity (there is no
ground-truth image for another face, so no PSNR)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vivicam.benchmarks import contact_sheet, metrics
from vivicam.benchmarks.clips import probe, read_frames
from vivicam.benchmarks.stages import (
    FACE_BOX_SCALE,
    SHEET_COLUMNS,
    fidelity,
    motion_signals,
    motion_stages,
    paste_back,
)
from vivicam.errors import NoFaceError
from vivicam.types import Frame, Landmarks

CROSS_STRIDE = 3  # cross-reenactment fidelity tracks the output on every 3rd driver frame


def cross_reenact(
    engine: Any, engine_name: str, portrait: str, photo: np.ndarray, driver_clip: Path, driver: np.ndarray, *,
    columns: int = SHEET_COLUMNS, stride: int = CROSS_STRIDE,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A portrait driven by a clip (driver landmarks precomputed, (N, 478, 3),
    NaN where lost). Returns (contact sheet, motion fidelity).

    The sheet shows driver face | output around the avatar's face for the
    neutral frame, the driver's widest mouth, most closed eyes and largest head
    turn, and evenly spaced frames between. Fidelity tracks the output on every
    ``stride``-th frame and compares it with the driver as for self-reenactment
    (no ground-truth image exists for another face, so no PSNR)."""
    from vivicam.face.tracker import MediaPipeTracker

    if not np.isfinite(driver[0]).all():
        raise NoFaceError(f"no face on the first frame of {driver_clip.name}")
    state = engine.prepare(photo)
    fps, _ = probe(driver_clip)
    picks = _cross_columns(driver, columns)
    view = _crop_region(state)
    stages = None
    tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    tracked: list[np.ndarray | None] = []
    with MediaPipeTracker() as tracker:
        for i, frame in enumerate(read_frames(driver_clip, driver.shape[0])):
            size = (frame.shape[1], frame.shape[0])
            lm = Landmarks(driver[i].astype(np.float32), size) if np.isfinite(driver[i]).all() else None
            if stages is None:
                stages = motion_stages(engine, frame, lm)
                box = metrics.face_box(driver[0], size, scale=FACE_BOX_SCALE)
            motion = stages.motion(Frame(frame, 0, i), lm, i / fps)
            if i in picks or i % stride == 0:
                out = paste_back(state, engine.render(state, motion), engine.frame_shift(state, motion))
            if i % stride == 0:
                found = tracker.track(out)
                tracked.append(None if found is None else found.points)
            if i in picks:
                tiles[i] = (box.crop(frame), view.crop(out))
    order = sorted(tiles)
    sheet = contact_sheet.make_sheet(
        [[tiles[i][0] for i in order], [tiles[i][1] for i in order]],
        row_labels=[driver_clip.stem, portrait],
        col_labels=[f"{i} {picks[i]}".strip() for i in order],
        title=f"{portrait} driven by {driver_clip.stem} ({engine_name}); column = driver frame",
    )
    points = metrics.stack_points(tracked)
    found = fidelity(motion_signals(driver[::stride]), motion_signals(points), points, [])
    del found["jitter"]  # the driver's still runs do not survive the stride
    return sheet, {"portrait": portrait, "driver": driver_clip.stem, "stride": stride, **found}


def _cross_columns(driver: np.ndarray, columns: int) -> dict[int, str]:
    """Frame index → caption: 0 (neutral), the extremes, then evenly spaced."""
    sig = motion_signals(driver)
    picks = {0: "neutral"}
    for name, values in (
        ("mouth open", sig["mouth"]),
        ("eyes shut", -sig["eyes"]),
        ("head turn", np.abs(sig["angles"]).max(axis=1)),
    ):
        if np.isfinite(values).any():
            picks.setdefault(int(np.nanargmax(values)), name)
    for i in contact_sheet.sample_indices(driver.shape[0], columns + 2):
        if len(picks) >= columns:
            break
        if all(abs(i - j) > 2 for j in picks):
            picks[i] = ""
    return picks


def _crop_region(state: Any) -> metrics.Box:
    """The photo region an axis-aligned crop_matrix maps onto the engine crop."""
    m = np.asarray(state.crop_matrix, np.float64)
    s, tx, ty = m[0, 0], m[0, 2], m[1, 2]
    h, w = state.photo.shape[:2]
    x0, y0 = -tx / s, -ty / s
    side = state.crop_size / s
    return metrics.Box(
        int(max(0, x0)), int(max(0, y0)), int(min(w, x0 + side)), int(min(h, y0 + side))
    )
