"""Rendering through the exported graph (``backend="onnxruntime"`` or
``"tensorrt"``): the graph computes the motion (target mesh → coarse backward
field); the eye/mouth patches are drawn on the CPU (small), and the photo is
resampled once at the output's resolution (:mod:`draw`). Per-avatar inputs are
prepared once per avatar (and kept on the GPU for TensorRT)."""

from __future__ import annotations

from typing import Any

import numpy as np

from vivicam.engines.warp import graph
from vivicam.engines.warp.avatar import WarpAvatar
from vivicam.engines.warp.draw import WarpFrame
from vivicam.engines.warp.mesh_motion import target_points
from vivicam.engines.warp.render import overlays
from vivicam.types import Motion


class GraphRenderer:
    """One loaded graph for one crop size; ``render`` like the CPU path."""

    def __init__(self, backend: str, precision: str, crop_size: int) -> None:
        from vivicam.engines.backends import load_runner
        from vivicam.engines.warp.export import export_specs

        self.crop_size = crop_size
        self.spec = export_specs(crop_size=crop_size)[0]
        self.runner = load_runner(self.spec, backend, precision)
        self._avatar_key: int | None = None
        self._avatar: dict[str, Any] = {}

    def _avatar_inputs(self, state: WarpAvatar) -> dict[str, Any]:
        if self._avatar_key != id(state):
            inputs: dict[str, Any] = graph.avatar_inputs(state)
            cp = getattr(self.runner, "cp", None)  # TensorRT runner: upload once, copy on device
            if cp is not None:
                inputs = {k: cp.asarray(v) for k, v in inputs.items()}
            self._avatar, self._avatar_key = inputs, id(state)
        return self._avatar

    def render(self, state: WarpAvatar, motion: Motion, mouth: str = "synth") -> WarpFrame:
        target = target_points(state.rig, motion)
        inputs = dict(self._avatar_inputs(state))
        inputs.update(graph.motion_inputs(motion))
        back = self.runner.run(inputs)["back"]  # stays where the runner made it (a GPU's field is drawn there)
        if isinstance(back, np.ndarray):
            back = np.ascontiguousarray(back, np.float32)
        patches = tuple(overlays(state, target, motion, mouth))
        return WarpFrame(state.sources, back, patches, state.field.cell)

    def close(self) -> None:
        self.runner.close()
