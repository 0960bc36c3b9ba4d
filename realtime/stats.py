"""Per-stage timings, capture-to-output latency and throughput of the loop.

Every stage reports how long it took; the output stage reports when a frame
left, which (with the frame's capture stamp) gives the latency. Two views are
kept: a short rolling window for the live overlay / ``--stats`` line, and a
longer bounded history for the summary at exit. Thread-safe: the capture,
render and output threads all record into one :class:`LoopStats`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

# The order stages are shown in; stages not listed here follow alphabetically.
STAGE_ORDER = ("decode", "capture", "track", "flow", "motion", "render", "post", "sink")


def percentiles(values: Iterable[float]) -> dict[str, float]:
    """``{"median": …, "p95": …, "mean": …, "max": …}`` of ``values``; NaN when empty."""
    arr = np.asarray(list(values), dtype=np.float64)
    if arr.size == 0:
        nan = float("nan")
        return {"median": nan, "p95": nan, "mean": nan, "max": nan}
    return {
        "median": float(np.median(arr)),
        "p95": float(np.percentile(arr, 95)),
        "mean": float(arr.mean()),
        "max": float(arr.max()),
    }


class Rolling:
    """The last ``window`` samples of one quantity (milliseconds)."""

    def __init__(self, window: int) -> None:
        self._values: deque[float] = deque(maxlen=window)
        self.count = 0  # every sample ever added, not only the kept ones

    def add(self, value: float) -> None:
        self._values.append(float(value))
        self.count += 1

    def values(self) -> list[float]:
        return list(self._values)

    def median(self) -> float:
        return percentiles(self._values)["median"]

    def p95(self) -> float:
        return percentiles(self._values)["p95"]


def _order(names: Iterable[str]) -> list[str]:
    known = [n for n in STAGE_ORDER if n in names]
    return known + sorted(n for n in names if n not in STAGE_ORDER)


class LoopStats:
    """Timings of a running loop.

    ``window`` samples feed the live view (about two seconds at 30 fps);
    ``history`` samples (bounded, so a day-long call does not grow memory)
    feed :meth:`summary`. ``now_ns`` is the clock (the live loop passes its
    own, so tests on a virtual clock get exact rates).
    """

    def __init__(self, *, window: int = 60, history: int = 20000,
                 now_ns: Callable[[], int] = time.perf_counter_ns) -> None:
        self._lock = threading.Lock()
        self.now_ns = now_ns
        self._window = window
        self._history = history
        self._recent: dict[str, Rolling] = {}
        self._all: dict[str, Rolling] = {}
        self._latency_recent = Rolling(window)
        self._latency_all = Rolling(history)
        self._out_times: deque[int] = deque(maxlen=window + 1)
        self._dropped: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._first_out_ns: int | None = None
        self._last_out_ns: int | None = None
        self.frames_out = 0
        self.started_ns = now_ns()

    @property
    def first_out_ns(self) -> int | None:
        """When the first frame left (``now_ns`` clock), None before."""
        return self._first_out_ns

    # -- recording ---------------------------------------------------------
    def add_stage(self, stage: str, ms: float) -> None:
        """``stage`` took ``ms`` milliseconds for one frame."""
        with self._lock:
            if stage not in self._recent:
                self._recent[stage] = Rolling(self._window)
                self._all[stage] = Rolling(self._history)
            self._recent[stage].add(ms)
            self._all[stage].add(ms)

    def use_clock(self, now_ns: Callable[[], int]) -> None:
        """Measure with ``now_ns`` from now on (the loop's clock)."""
        with self._lock:
            self.now_ns = now_ns
            self.started_ns = now_ns()

    def time(self, stage: str) -> "_StageClock":
        """``with stats.time("render"): ...`` records the block's duration."""
        return _StageClock(self, stage)

    def frame_out(self, t_capture_ns: int | None, t_out_ns: int | None = None) -> None:
        """A frame left the loop; latency is measured from its capture stamp."""
        now = self.now_ns() if t_out_ns is None else t_out_ns
        with self._lock:
            self.frames_out += 1
            self._out_times.append(now)
            if self._first_out_ns is None:
                self._first_out_ns = now
            self._last_out_ns = now
            if t_capture_ns is not None:
                latency_ms = (now - t_capture_ns) / 1e6
                self._latency_recent.add(latency_ms)
                self._latency_all.add(latency_ms)

    def drop(self, where: str, n: int = 1) -> None:
        """``n`` stale frames were dropped at queue ``where``."""
        with self._lock:
            self._dropped[where] = self._dropped.get(where, 0) + n

    def count(self, what: str, n: int = 1) -> None:
        """Count an event (lost face, camera stall, render error …)."""
        with self._lock:
            self._counters[what] = self._counters.get(what, 0) + n

    # -- reading -----------------------------------------------------------
    def fps(self) -> float:
        """Output frames per second over the recent window."""
        with self._lock:
            times = list(self._out_times)
        if len(times) < 2 or times[-1] == times[0]:
            return 0.0
        return (len(times) - 1) * 1e9 / (times[-1] - times[0])

    def recent(self) -> dict[str, dict[str, float]]:
        """``{stage: {"median": ms, "p95": ms}}`` over the recent window, plus latency."""
        with self._lock:
            out = {
                name: {"median": r.median(), "p95": r.p95()}
                for name, r in ((n, self._recent[n]) for n in _order(self._recent))
            }
            out["latency"] = {"median": self._latency_recent.median(), "p95": self._latency_recent.p95()}
        return out

    def dropped(self) -> dict[str, int]:
        with self._lock:
            return dict(self._dropped)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)

    def line(self) -> str:
        """One log line: fps, latency and per-stage medians."""
        recent = self.recent()
        latency = recent.pop("latency")
        stages = " ".join(f"{name} {v['median']:.1f}" for name, v in recent.items())
        dropped = sum(self.dropped().values())
        return (
            f"{self.fps():5.1f} fps | latency {latency['median']:.0f} ms (p95 {latency['p95']:.0f}) | "
            f"ms: {stages} | dropped {dropped}"
        )

    def overlay_lines(self) -> list[str]:
        """A few short lines for the preview overlay."""
        recent = self.recent()
        latency = recent.pop("latency")
        lines = [f"{self.fps():.1f} fps  latency {latency['median']:.0f} ms"]
        lines += [f"{name:<7}{v['median']:6.1f} ms" for name, v in recent.items()]
        return lines

    def summary(self) -> dict[str, Any]:
        """Everything measured so far, JSON-ready (milliseconds, NaN → None)."""
        with self._lock:
            stages = {name: _clean(percentiles(self._all[name].values())) for name in _order(self._all)}
            for name in stages:
                stages[name]["count"] = self._all[name].count
            latency = _clean(percentiles(self._latency_all.values()))
            first, last, frames = self._first_out_ns, self._last_out_ns, self.frames_out
            dropped, counters = dict(self._dropped), dict(self._counters)
        span_s = (last - first) / 1e9 if first is not None and last is not None else 0.0
        fps = (frames - 1) / span_s if frames > 1 and span_s > 0 else None
        return {
            "frames_out": frames,
            "duration_s": round((self.now_ns() - self.started_ns) / 1e9, 3),
            "fps": None if fps is None else round(fps, 2),
            "latency_ms": latency,
            "stages_ms": stages,
            "dropped": dropped,
            "events": counters,
        }


def process_age_s() -> float | None:
    """Seconds since this process started (Linux: from ``/proc``, to the
    kernel's clock tick), None where that cannot be read."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])  # both count from boot
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22: starttime
        return uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def _clean(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if v != v else round(v, 3)) for k, v in values.items()}


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a few human lines (the CLI prints it at exit)."""
    lines = []
    fps = summary.get("fps")
    latency = summary.get("latency_ms", {})
    head = f"{summary.get('frames_out', 0)} frames"
    if fps:
        head += f", {fps:.1f} fps" if fps >= 1 else f", {1 / fps:.1f} s per frame"
    if latency.get("median") is not None:
        head += f", capture-to-output latency {latency['median']:.0f} ms (p95 {latency['p95']:.0f} ms)"
    lines.append(head)
    stages = summary.get("stages_ms", {})
    if stages:
        lines.append(f"  {'stage':<8}{'median':>9}{'p95':>9}   (ms)")
        for name, v in stages.items():
            if v.get("median") is None:
                continue
            lines.append(f"  {name:<8}{v['median']:>9.2f}{v['p95']:>9.2f}")
    dropped = summary.get("dropped") or {}
    if any(dropped.values()):
        lines.append("  dropped stale frames: " + ", ".join(f"{k} {v}" for k, v in dropped.items()))
    events = summary.get("events") or {}
    if events:
        lines.append("  events: " + ", ".join(f"{k} {v}" for k, v in sorted(events.items())))
    errors = summary.get("errors") or {}
    if errors:
        lines.append("  errors: " + ", ".join(f"{k} {v}" for k, v in sorted(errors.items())))
    return "\n".join(lines)


class _StageClock:
    __slots__ = ("_stats", "_stage", "_t0")

    def __init__(self, stats: LoopStats, stage: str) -> None:
        self._stats, self._stage, self._t0 = stats, stage, 0

    def __enter__(self) -> "_StageClock":
        self._t0 = self._stats.now_ns()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stats.add_stage(self._stage, (self._stats.now_ns() - self._t0) / 1e6)
