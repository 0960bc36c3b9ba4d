"""The CPU reference render: target mesh → backward map → one remap of the
crop and its matte → composite over the still background plate → eyes and
mouth interior drawn in the target openings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.eyes import Patch, render_eye
from vivicam.engines.warp.field import backward_map
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
    size = state.rig.size0 * soft_move(motion.translation, float(motion.scale))[1]
    patches = [render_eye(eye, target, motion.gaze, n) for eye in state.eyes]
    driver = motion.driver if mouth == "driver" else None
    patches.append(render_mouth(state.mouth, target, size, n, driver))
    return [p for p in patches if p is not None]


def warp_layer(field, disp: np.ndarray, layer: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """Backward map from control displacements, one remap, composite."""
    back = backward_map(field, disp, layer.shape[0])
    map1, map2 = cv2.convertMaps(back, None, cv2.CV_16SC2)  # fixed-point maps remap much faster
    warped = cv2.remap(layer, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return composite(warped, plate)


def composite(warped: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """``rgb·a + plate·(1−a)`` for an RGBA ``warped`` (uint8, a in channel 3)."""
    rgb = cv2.cvtColor(warped, cv2.COLOR_RGBA2RGB)
    a = warped[..., 3]
    a3 = cv2.merge([a, a, a])
    fg = cv2.multiply(rgb, a3, scale=1.0 / 255.0)
    bg = cv2.multiply(plate, cv2.bitwise_not(a3), scale=1.0 / 255.0)
    return cv2.add(fg, bg)


def paste(image: np.ndarray, patches: list[Patch]) -> np.ndarray:
    """Alpha-blend patches into ``image`` (in place) and return it."""
    for p in patches:
        h, w = p.alpha.shape
        roi = image[p.y0 : p.y0 + h, p.x0 : p.x0 + w]
        a = p.alpha[..., None]
        roi[...] = np.clip(roi * (1.0 - a) + p.rgb * a + 0.5, 0, 255).astype(np.uint8)
    return image


def render_cpu(state: WarpAvatar, motion: Motion, times: StepTimes | None = None, mouth: str = "synth") -> np.ndarray:
    t0 = time.perf_counter()
    target = target_points(state.rig, motion)
    t1 = time.perf_counter()
    rig = state.rig
    back = backward_map(state.field, (target - rig.src)[rig.controls], state.crop_size)
    t2 = time.perf_counter()
    map1, map2 = cv2.convertMaps(back, None, cv2.CV_16SC2)  # fixed-point maps remap much faster
    warped = cv2.remap(state.layer, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = composite(warped, state.plate)
    t3 = time.perf_counter()
    out = paste(out, overlays(state, target, motion, mouth))
    t4 = time.perf_counter()
    if times is not None:
        times.ms = {
            "mesh": 1e3 * (t1 - t0),
            "map": 1e3 * (t2 - t1),
            "remap_composite": 1e3 * (t3 - t2),
            "eyes_mouth": 1e3 * (t4 - t3),
        }
    return out
