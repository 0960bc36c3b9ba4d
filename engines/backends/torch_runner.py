"""The ``torch`` backend: an engine's graph run directly by PyTorch.

For data-centre GPUs (A100, H100, H200: TensorRT for RTX does not run there and
full TensorRT is not on PyPI) and as a reference on any NVIDIA GPU. The same
torch modules the ONNX export traces (:class:`~vivicam.engines.build.spec.ExportSpec`)
run here with:

- weights moved to the device once (channels-last on CUDA, where convolutions
  prefer it);
- FP16 / BF16 through ``torch.autocast`` on CUDA (convolutions and matmuls in
  half precision, reductions and grid sampling in FP32, as the original
  LivePortrait runs), except the graphs in :data:`FP32_GRAPHS`;
- ``torch.compile(mode="reduce-overhead")`` on CUDA: Inductor kernels replayed
  as CUDA graphs (one launch per frame instead of hundreds);
- eager FP32 on the CPU (what the CPU tests run).

Inputs may be NumPy arrays, CuPy arrays (shared through DLPack, no copy) or
torch tensors; outputs stay on the device (:meth:`TorchRunner.run_tensors`), or
as the array the rest of the pipeline works with (:meth:`TorchRunner.run`):
NumPy on the CPU, CuPy on CUDA when CuPy is installed (again DLPack, no copy).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np

from vivicam.engines.backends.runners import _RunnerBase
from vivicam.engines.build.spec import ExportSpec
from vivicam.errors import DeviceError

log = logging.getLogger(__name__)

TORCH_PRECISIONS = ("fp32", "fp16", "bf16")
# Graphs that stay FP32 at every precision, for the reasons their TensorRT
# FP16 plans keep them FP32 (each spec's fp32_layers): the warp graph's pixel
# coordinates need more than FP16's 11-bit mantissa (and it is memory-bound),
# and LivePortrait's motion extractor drifts visibly (pose bins, keypoints).
FP32_GRAPHS = ("warp-", "liveportrait-motion_extractor")
COMPILE_MODE = "reduce-overhead"  # Inductor + CUDA graphs


def keeps_fp32(name: str) -> bool:
    return any(name.startswith(prefix) for prefix in FP32_GRAPHS)


def half_dtype(torch: Any, precision: str) -> Any:
    """The autocast dtype for ``precision`` (None for FP32)."""
    if precision not in TORCH_PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; choose one of: {', '.join(TORCH_PRECISIONS)}")
    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]


def channels_last(torch: Any, module: Any) -> Any:
    """The module's 4-D weights in channels-last layout, in place (cuDNN's
    fast layout for 2-D convolutions). ``module.to(memory_format=...)`` would
    refuse LivePortrait's 5-D (Conv3d) weights, so 4-D ones are converted alone."""
    for param in module.parameters():
        if param.dim() == 4:
            param.data = param.data.contiguous(memory_format=torch.channels_last)
    return module


def to_tensor(torch: Any, value: Any, device: Any) -> Any:
    """``value`` as a tensor on ``device``: CuPy arrays and CUDA tensors by
    DLPack (no copy when already there), host arrays copied once."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, np.ndarray):
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        return tensor.to(device, non_blocking=True) if device.type != "cpu" else tensor
    if hasattr(value, "__dlpack__"):  # CuPy and friends
        return torch.from_dlpack(value).to(device)
    return torch.as_tensor(np.asarray(value), device=device)


def from_tensor(value: Any) -> Any:
    """A runner output as the pipeline's array: NumPy for CPU tensors (no
    copy), CuPy for CUDA tensors when CuPy is installed (DLPack, no copy),
    else the CUDA tensor itself."""
    if not value.is_cuda:
        return value.numpy()
    try:
        import cupy
    except ImportError:
        return value
    return cupy.from_dlpack(value.contiguous())


class TorchModule:
    """One torch module on a device with the backend's precision and
    compilation policy (shared by :class:`TorchRunner` and the LivePortrait
    networks). ``__call__`` takes tensors already on the device and returns a
    tuple of FP32 tensors that the next call does not overwrite."""

    def __init__(self, module: Any, *, name: str, device: str = "cuda", precision: str = "fp16", compile: bool | None = None) -> None:
        from vivicam.optional import require

        torch = require("torch", "the torch backend")
        self.torch, self.name = torch, name
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError("the torch backend on CUDA needs a CUDA build of PyTorch and an NVIDIA GPU")
        on_cuda = self.device.type == "cuda"
        half_dtype(torch, precision)  # ValueError for an unknown precision, wherever it runs
        self.precision = "fp32" if keeps_fp32(name) or not on_cuda else precision
        self.autocast = half_dtype(torch, self.precision)
        module = module.eval().to(self.device)
        if on_cuda:
            channels_last(torch, module)
        self.module = module
        self.compiled = on_cuda if compile is None else bool(compile)
        self._fn = torch.compile(module, mode=COMPILE_MODE, dynamic=False) if self.compiled else module

    def __call__(self, *tensors: Any) -> tuple[Any, ...]:
        torch = self.torch
        if self.device.type == "cuda":
            tensors = tuple(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t for t in tensors)
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            if self.compiled:
                torch.compiler.cudagraph_mark_step_begin()  # a new frame: earlier outputs may be reused
            outs = self._fn(*tensors)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        # CUDA-graph outputs live in the graph's memory pool and are
        # overwritten by the next replay: copy them out (the FP32 cast is that copy for half outputs)
        return tuple(o.float() if o.dtype != torch.float32 else (o.clone() if self.compiled else o) for o in outs)

    def eager(self, *tensors: Any) -> tuple[Any, ...]:
        """The same module, never compiled (what the CUDA-graph check compares with)."""
        torch = self.torch
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None):
            outs = self.module(*tensors)
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        return tuple(o.float() for o in outs)


class TorchRunner(_RunnerBase):
    """An ExportSpec's torch module behind the runner API (see the module docstring)."""

    backend = "torch"

    def __init__(self, spec: ExportSpec, *, device: str = "cuda", precision: str = "fp16", compile: bool | None = None) -> None:
        examples = spec.make_inputs()
        self.spec = spec
        self.input_names = tuple(examples)
        self.output_names = tuple(spec.output_names)
        self._input_shapes = {k: tuple(v.shape) for k, v in examples.items()}
        self._dtypes = {k: v.dtype for k, v in examples.items()}
        self.net = TorchModule(spec.make_module(), name=spec.name, device=device, precision=precision, compile=compile)
        self.device = self.net.device
        if self.device.type == "cuda":
            try:
                import cupy

                self.cp = cupy  # graph_runner uploads per-avatar inputs once when a runner has this
            except ImportError:
                pass

    def _tensors(self, inputs: Mapping[str, Any]) -> list[Any]:
        torch = self.net.torch
        out = []
        for name in self.input_names:
            t = to_tensor(torch, inputs[name], self.device)
            want = self._dtypes[name]
            if want.kind == "f" and t.dtype != torch.float32:
                t = t.float()
            elif want.kind == "i" and t.dtype != torch.int64:
                t = t.long()
            out.append(t)
        return out

    def run_tensors(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The outputs as torch tensors on the runner's device."""
        self._check_inputs(inputs)
        return dict(zip(self.output_names, self.net(*self._tensors(inputs))))

    def run_eager(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The uncompiled module on the same inputs (tensors on the device)."""
        self._check_inputs(inputs)
        return dict(zip(self.output_names, self.net.eager(*self._tensors(inputs))))

    def run(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {name: from_tensor(value) for name, value in self.run_tensors(inputs).items()}

    def close(self) -> None:
        self.net = None  # type: ignore[assignment]
