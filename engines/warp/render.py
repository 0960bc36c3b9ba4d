"""The CPU reference render: target mesh → the backward field on the coarse
grid → eye and mouth patches drawn in the target openings. The pixels are
drawn later, once, at the output's resolution (:mod:`draw`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.eyes import Patch, render_eye
from vivicam.engines.warp.draw import WarpFrame
from vivicam.engines.warp.field import backward_field
from vivicam.engines.warp.mesh_motion import soft_move, target_points
from vivicam.engines.warp.mouth import render_mouth
from vivicam.types import Motion


@dataclass
class StepTimes:
    """Per-step milliseconds of the last render (for benchmarks)."""

    ms: dict[str, float] = field(default_factory=dict)


def overlays(state: WarpAvatar, target: np.ndarray, motion: Motion, mouth: str = "synth") -> list[Patch]:
    """Eye and mouth patches for target points ``target`` (M,2); ``mouth``
    "driver" fills an opening mouth with the driver's own interior when the
    motion carries the driver's frame."""
    n = state.crop_size
    size = state.rig.size0 * soft_move(motion.translation, float(motion.scale), state.rig.move_limit)[1]
    patches = [render_eye(eye, target, motion.gaze, n) for eye in state.eyes]
    driver = motion.driver if mouth == "driver" else None
    patches.append(render_mouth(state.mouth, target, size, n, driver))
    return [p for p in patches if p is not None]


def render_cpu(state: WarpAvatar, motion: Motion, times: StepTimes | None = None, mouth: str = "synth") -> WarpFrame:
    t0 = time.perf_counter()
    target = target_points(state.rig, motion)
    t1 = time.perf_counter()
    rig = state.rig
    back = backward_field(state.field, (target - rig.src)[rig.controls])
    t2 = time.perf_counter()
    patches = tuple(overlays(state, target, motion, mouth))
    t3 = time.perf_counter()
    if times is not None:
        times.ms = {"mesh": 1e3 * (t1 - t0), "field": 1e3 * (t2 - t1), "eyes_mouth": 1e3 * (t3 - t2)}
    return WarpFrame(state.sources, back, patches, state.field.cell)
