"""Where engines run: backend selection (``--backend auto|cpu|onnxruntime|
tensorrt``), runners for exported graphs, and the GPU report for ``vivicam doctor``.

Nothing heavy is imported here: ONNX Runtime, CuPy and TensorRT load only when
a runner is made or a probe runs.
"""

from __future__ import annotations

from vivicam.engines.backends.doctor import doctor_lines
from vivicam.engines.backends.load import load_runner
from vivicam.engines.backends.runners import Runner
from vivicam.engines.backends.select import BACKENDS, BackendChoice, select_backend

__all__ = ["BACKENDS", "BackendChoice", "Runner", "doctor_lines", "load_runner", "select_backend"]
