"""What a benchmark run costs in CPU: the whole process (user + system time
over wall time, in cores) and each thread's share, sampled from
``/proc/self/task/*/stat`` (Linux; elsewhere only the process figures).

Threads are reported by their Python name (``vivicam-capture``,
``vivicam-render``, …; the sampler also writes those names into
``/proc/self/task/TID/comm`` so ``top -H`` shows them), native threads (BLAS,
OpenCV, MediaPipe) by the kernel's name and id.

:class:`Timeline` records every stage's start, length and thread for
``--profile`` as a Chrome trace (open it in chrome://tracing or Perfetto).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from vivicam.realtime.stats import LoopStats

SAMPLE_S = 0.5  # per-thread sampling period: catches threads that end before the run does
TOP_THREADS = 3


def _tick() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def _read_tasks() -> dict[int, tuple[str, float, float]]:
    """{tid: (kernel name, user s, system s)} of this process's threads; {} off Linux."""
    tick = _tick()
    out: dict[int, tuple[str, float, float]] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            text = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        # "tid (name) state ...": the name may hold spaces and parentheses
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        out[int(tid)] = (name, int(fields[11]) / tick, int(fields[12]) / tick)  # utime, stime
    return out


def name_native_threads() -> None:
    """Give the kernel our Python threads' names (15 bytes at most), so tools
    like ``top -H`` and this report show them."""
    for thread in threading.enumerate():
        tid = getattr(thread, "native_id", None)
        if tid is None or thread is threading.main_thread():
            continue
        try:
            Path(f"/proc/self/task/{tid}/comm").write_text(thread.name[:15])
        except OSError:
            pass


class CpuSampler:
    """Process and per-thread CPU between :meth:`start` and :meth:`stop`; a
    sleeping background thread samples the threads every ``SAMPLE_S``."""

    def __init__(self, period_s: float = SAMPLE_S) -> None:
        self.period_s = period_s
        self._first: dict[int, tuple[float, float]] = {}
        self._last: dict[int, tuple[str, float, float]] = {}
        self._names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = self._times0 = None

    def start(self) -> "CpuSampler":
        self._t0 = time.perf_counter()
        self._times0 = os.times()
        self._first = {tid: (u, s) for tid, (_, u, s) in _read_tasks().items()}
        self._thread = threading.Thread(target=self._run, name="vivicam-cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self._sample()

    def _sample(self) -> None:
        name_native_threads()
        for thread in threading.enumerate():
            if getattr(thread, "native_id", None) is not None:
                self._names[thread.native_id] = thread.name
        self._last.update(_read_tasks())

    def stop(self) -> dict[str, Any]:
        """The report: ``process`` (cores, user and system cores, wall s) and
        ``threads`` (the busiest ``TOP_THREADS``, cores each)."""
        self._sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        wall = max(time.perf_counter() - self._t0, 1e-9)
        t1 = os.times()
        user = t1.user - self._times0.user
        system = t1.system - self._times0.system
        threads = []
        for tid, (kernel_name, u, s) in self._last.items():
            u0, s0 = self._first.get(tid, (0.0, 0.0))
            cpu = (u - u0) + (s - s0)
            if cpu <= 0:
                continue
            name = self._names.get(tid, kernel_name)
            threads.append({"name": name, "tid": tid, "cores": round(cpu / wall, 3),
                            "system_share": round((s - s0) / cpu, 2)})
        threads.sort(key=lambda t: -t["cores"])
        return {
            "process": {
                "cores": round((user + system) / wall, 3),
                "user_cores": round(user / wall, 3),
                "system_cores": round(system / wall, 3),
                "wall_s": round(wall, 2),
            },
            "threads": threads[:TOP_THREADS],
            "threads_seen": len(self._last),
        }


def format_cpu(cpu: dict[str, Any]) -> list[str]:
    """Lines for the benchmark's printed table."""
    p = cpu["process"]
    per_frame = f", {p['ms_per_frame_out']:.1f} ms a frame out" if "ms_per_frame_out" in p else ""
    lines = [f"cpu: {p['cores']:.2f} cores (user {p['user_cores']:.2f}, system {p['system_cores']:.2f}){per_frame}"]
    for t in cpu["threads"]:
        lines.append(f"  {t['name']:<22}{t['cores']:>6.2f} cores ({t['system_share']:.0%} system)")
    return lines


class Timeline(LoopStats):
    """LoopStats that also keeps every stage's interval and thread, for ``--profile``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events: list[tuple[str, str, int, float]] = []  # (stage, thread, end ns, ms)

    def add_stage(self, stage: str, ms: float) -> None:
        end = time.perf_counter_ns()
        super().add_stage(stage, ms)
        self.events.append((stage, threading.current_thread().name, end, ms))  # list.append is atomic

    def trace_json(self) -> str:
        """Chrome trace format: one complete ("X") event per stage and frame."""
        t0 = self.started_ns
        tids: dict[str, int] = {}
        trace = []
        for stage, thread, end, ms in list(self.events):
            tid = tids.setdefault(thread, len(tids) + 1)
            trace.append({"name": stage, "ph": "X", "pid": 1, "tid": tid,
                          "ts": round((end - t0) / 1e3 - ms * 1e3, 1), "dur": round(ms * 1e3, 1)})
        trace += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid, "args": {"name": name}}
                  for name, tid in tids.items()]
        return json.dumps({"traceEvents": trace, "displayTimeUnit": "ms"}) + "\n"
