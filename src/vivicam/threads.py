"""One thread policy for the whole process, applied once at start-up.

vivicam's own threads (the live loop's capture and processing threads, the
offline render's decode/track and render threads) already keep the cores of a
laptop busy. Every native library underneath would otherwise start a pool of
its own, sized to the whole machine: NumPy's OpenBLAS, OpenMP (torch, SciPy),
OpenCV, ONNX Runtime. On a 2-core machine those pools oversubscribe the cores,
and worse, OpenBLAS and ONNX Runtime workers *spin* between calls — in the live
loop one OpenBLAS worker burned most of a core in kernel time (1.68 cores for
the process; 0.80 with one BLAS thread).

The policy:

- **BLAS: one thread, always.** NumPy's matrices here are small (landmarks,
  poses, per-node fields); a pool buys nothing, and its workers busy-wait.
- **Every other pool** (OpenMP, OpenCV, ONNX Runtime intra-op, torch):
  ``pool`` threads, by default the machine's cores less ``OWN_THREADS`` (our
  own busy threads), at least 1. ONNX Runtime runs its inter-op work on one
  thread and never spins; OpenMP runtimes loaded later are asked to wait
  passively.
- **Override**: ``--threads N`` on the command line or the environment
  variable ``VIVICAM_THREADS`` (the option wins) sets ``pool``.

:func:`apply` is called by every entry point (the CLI's ``main`` for all
sub-commands, the benchmarks, the tests' ``conftest``); :func:`ensure_applied`
by library code that may run without one (it applies the default once).
Engines read :func:`current` when they build a session.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any

from vivicam.errors import InputError

log = logging.getLogger(__name__)

ENV = "VIVICAM_THREADS"
# Our own threads that keep a core busy: the live loop's capture (decoding)
# and processing threads, or the offline render's decode/track and render
# threads. Output threads mostly wait.
OWN_THREADS = 2
MAX_THREADS = 256


@dataclass(frozen=True)
class ThreadPolicy:
    """How many threads each native pool may run.

    - ``cores``: the cores this process may run on.
    - ``pool``: threads for OpenMP, OpenCV, ONNX Runtime (intra-op) and torch.
    - ``blas``: threads for BLAS (NumPy's OpenBLAS); always 1, see the module docstring.
    - ``source``: where ``pool`` came from: "auto", "env" or "option".
    """

    cores: int
    pool: int
    blas: int = 1
    source: str = "auto"

    def as_dict(self) -> dict[str, Any]:
        return {"cores": self.cores, "pool": self.pool, "blas": self.blas, "source": self.source}


_lock = threading.Lock()
_applied: ThreadPolicy | None = None


def machine_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. a container's share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def parse_threads(value: Any, *, what: str = "--threads") -> int | None:
    """A thread count from an option or the environment; None/"" = automatic.
    InputError (one line, exit 2) for anything but a whole number 1..256."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text.lower() == "auto":
        return None
    try:
        number = int(text)
    except ValueError:
        raise InputError(f"{what} must be a whole number of threads (1..{MAX_THREADS}) or 'auto', got '{value}'") from None
    if not 1 <= number <= MAX_THREADS:
        raise InputError(f"{what} must be between 1 and {MAX_THREADS}, got {number}")
    return number


def resolve(threads: Any = None, *, environ: dict[str, str] | None = None, cores: int | None = None) -> ThreadPolicy:
    """The policy for an option value (None: the environment, else automatic)."""
    env = os.environ if environ is None else environ
    cores = machine_cores() if cores is None else cores
    chosen = parse_threads(threads)
    if chosen is not None:
        return ThreadPolicy(cores=cores, pool=chosen, source="option")
    chosen = parse_threads(env.get(ENV), what=ENV)
    if chosen is not None:
        return ThreadPolicy(cores=cores, pool=chosen, source="env")
    return ThreadPolicy(cores=cores, pool=max(1, cores - OWN_THREADS), source="auto")


def apply(threads: Any = None) -> ThreadPolicy:
    """Resolve the policy (``threads``: the ``--threads`` value, or None) and
    apply it to every native pool loaded now; libraries loaded later pick it
    up from the environment or through :func:`current`. Returns it."""
    global _applied
    policy = resolve(threads)
    with _lock:
        _set_environment(policy)
        _set_blas_and_openmp(policy)
        _set_opencv(policy)
        if "torch" in sys.modules:
            configure_torch(sys.modules["torch"], policy)
        _applied = policy
    log.debug("thread policy: %s", policy)
    return policy


def ensure_applied() -> ThreadPolicy:
    """The applied policy; applies the default (environment or automatic) the first time."""
    return _applied if _applied is not None else apply()


def current() -> ThreadPolicy:
    """The applied policy, or the one :func:`apply` would apply (without applying it)."""
    return _applied if _applied is not None else resolve()


def _set_environment(policy: ThreadPolicy) -> None:
    # Read when a library first loads (torch's OpenMP pool, an OpenMP runtime
    # not loaded yet, OpenBLAS in a child process); the calls below cover the
    # ones already loaded.
    pool = str(policy.pool)
    os.environ["OMP_NUM_THREADS"] = pool
    os.environ["MKL_NUM_THREADS"] = pool
    os.environ["OPENBLAS_NUM_THREADS"] = str(policy.blas)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # idle OpenMP workers sleep instead of spinning


def _set_blas_and_openmp(policy: ThreadPolicy) -> None:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # a dependency; without it the environment above still covers new pools
        log.warning("threadpoolctl is not installed: BLAS and OpenMP pools keep their sizes")
        return
    threadpool_limits(limits=policy.blas, user_api="blas")
    threadpool_limits(limits=policy.pool, user_api="openmp")


def _set_opencv(policy: ThreadPolicy) -> None:
    import cv2

    cv2.setNumThreads(policy.pool)


def configure_torch(torch: Any, policy: ThreadPolicy | None = None) -> None:
    """Size torch's intra-op pool (called when torch is imported through
    :func:`vivicam.optional.require`, and by :func:`apply` when it is loaded)."""
    policy = policy or current()
    if torch.get_num_threads() != policy.pool:
        torch.set_num_threads(policy.pool)
    try:
        if torch.get_num_interop_threads() != 1:
            torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before torch's first parallel work
        pass


def onnxruntime_options(options: Any, policy: ThreadPolicy | None = None) -> Any:
    """Set an ``onnxruntime.SessionOptions``'s threads: ``pool`` intra-op
    threads that sleep when idle (ONNX Runtime's spin by default), one inter-op."""
    policy = policy or current()
    options.intra_op_num_threads = policy.pool
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def blas_threads() -> list[int]:
    """The thread counts of every BLAS library loaded (for tests and reports)."""
    from threadpoolctl import threadpool_info

    return [int(info["num_threads"]) for info in threadpool_info() if info.get("user_api") == "blas"]
