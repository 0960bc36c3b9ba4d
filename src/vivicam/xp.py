"""The array module behind post-processing: NumPy on the CPU, CuPy on the GPU.

Post-processing is written once against ``xp`` (the module of the arrays it is
given). Engine outputs may be NumPy arrays, CuPy arrays, torch tensors (CPU or
CUDA) or anything that speaks DLPack; :func:`as_array` turns them into an
``xp`` array without a host copy when they already live on the GPU.

CuPy is never imported here unless the caller already has CuPy arrays (it is
then in ``sys.modules``) or asks for it, so CPU-only installs never touch it.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType
from typing import Any

import numpy as np


def _cupy_if_loaded() -> ModuleType | None:
    return sys.modules.get("cupy")


def _is_torch_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def array_module(x: Any) -> ModuleType:
    """``cupy`` for CuPy arrays and CUDA tensors, else ``numpy``."""
    cp = _cupy_if_loaded()
    if cp is not None and isinstance(x, cp.ndarray):
        return cp
    if _is_torch_tensor(x) and x.is_cuda:
        from vivicam.optional import require

        return require("cupy", "GPU post-processing of CUDA tensors")
    return np


def as_array(x: Any, xp: ModuleType | None = None) -> Any:
    """``x`` as an array of ``xp`` (default: where ``x`` lives).

    CUDA tensors and CuPy arrays are shared through DLPack (no copy); moving
    between host and device copies, which is what the caller asked for.
    """
    target = xp or array_module(x)
    if _is_torch_tensor(x):
        x = x.detach()
        if x.is_cuda:
            if target is np:
                return x.cpu().numpy()
            return target.from_dlpack(x.contiguous())
        x = x.numpy()
    if target is np:
        return to_host(x)
    cp = _cupy_if_loaded()
    if cp is not None and isinstance(x, cp.ndarray):
        return x
    if hasattr(x, "__dlpack__") and not isinstance(x, np.ndarray):
        return target.from_dlpack(x)
    return target.asarray(x)


class HostCopies:
    """Device → host copies made through :func:`to_host` in this process:
    the GPU path promises one per output frame (the finished frame), and the
    benchmarks report this count per frame."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.count = 0
        self.bytes = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            self.count += 1
            self.bytes += int(nbytes)

    def snapshot(self) -> tuple[int, int]:
        """(copies, bytes) so far."""
        with self._lock:
            return self.count, self.bytes

    def reset(self) -> None:
        with self._lock:
            self.count = self.bytes = 0


host_copies = HostCopies()


def to_host(x: Any) -> np.ndarray:
    """A NumPy array with the data of ``x`` (device → host copy when needed,
    counted in :data:`host_copies`)."""
    if isinstance(x, np.ndarray):
        return x
    cp = _cupy_if_loaded()
    if cp is not None and isinstance(x, cp.ndarray):
        host_copies.add(x.nbytes)
        return cp.asnumpy(x)
    if _is_torch_tensor(x):
        if x.is_cuda:
            host_copies.add(x.numel() * x.element_size())
        return x.detach().cpu().numpy()
    return np.asarray(x)


def xp_name(xp: ModuleType) -> str:
    """``"numpy"`` or ``"cupy"``: part of cache keys."""
    return xp.__name__.split(".")[0]
