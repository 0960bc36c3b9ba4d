"""What an engine hands to the build machinery: one :class:`ExportSpec` per
tensor graph (the warp engine has one; LivePortrait has one per module)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass(frozen=True)
class ExportSpec:
    """One exportable graph.

    - ``name``: unique and file-name safe, e.g. ``"warp"`` or
      ``"liveportrait-motion_extractor"``; part of every cache key.
    - ``make_module``: returns the ``torch.nn.Module`` in eval mode (called only
      when exporting or checking, so torch stays optional).
    - ``make_inputs``: example inputs by name, float32/int NumPy arrays with the
      fixed shapes the graph is built for (the reference outputs are computed
      from these, so they should be realistic, not zeros).
    - ``output_names``: the graph's outputs, in the module's return order.
    - ``reference``: optional ``inputs -> outputs`` of the engine's own reference
      implementation (e.g. the OpenCV/NumPy path); when absent the torch module
      itself is the reference.
    - ``fp32_layers``: ONNX node-name substrings that TensorRT keeps in FP32
      when building FP16 plans.
    - ``tolerance``: ``(atol, rtol)`` the backends must meet against the reference.
    - ``opset``: ONNX opset (20 has GridSample for 4-D and 5-D inputs).
    - ``metadata``: anything else that must change the cache key (weights hash…).
    """

    name: str
    make_module: Callable[[], Any]
    make_inputs: Callable[[], dict[str, np.ndarray]]
    output_names: tuple[str, ...]
    reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None
    fp32_layers: tuple[str, ...] = ()
    tolerance: tuple[float, float] = (1e-3, 1e-3)
    opset: int = 17
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.make_inputs().keys())
