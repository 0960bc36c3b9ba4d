"""The quality benchmark's verdicts and reports: pass/fail against the issue's
targets, the printed/Markdown table, machine info, JSON-safe values."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ENGINE_KEY = "engine"  # results key of the engine under test (its name is in the report)


@dataclass(frozen=True)
class Thresholds:
    """The issue's "done when" targets for every clip."""

    psnr_gain_over_static_db: float = 3.0
    mouth_corr: float = 0.9
    eye_corr: float = 0.8
    pose_err_deg: float = 3.0


def verdicts(clip: dict[str, Any], thresholds: Thresholds = Thresholds()) -> dict[str, bool]:
    """Pass/fail of each "done when" target for one clip's results."""
    m = clip["methods"]
    eng, static, pose = m[ENGINE_KEY], m["static"], m["pose-only"]

    def ge(value: float, limit: float) -> bool:
        return bool(np.isfinite(value) and value >= limit)

    return {
        "psnr>=static+3": ge(eng["psnr"], static["psnr"] + thresholds.psnr_gain_over_static_db),
        "psnr>pose-only": bool(eng["psnr"] > pose["psnr"]),
        "ssim>both": bool(eng["ssim"] > static["ssim"] and eng["ssim"] > pose["ssim"]),
        "mouth_corr>=0.9": ge(eng.get("mouth_corr", np.nan), thresholds.mouth_corr),
        "eye_corr>=0.8": ge(eng.get("eye_corr", np.nan), thresholds.eye_corr),
        "pose_err<=3": bool(np.isfinite(eng.get("pose_err_deg", np.nan)) and eng["pose_err_deg"] <= thresholds.pose_err_deg),
    }


def format_table(clips: list[dict[str, Any]]) -> str:
    """A plain-text (and Markdown) table of the headline numbers per clip."""
    head = (
        "| clip | frames | PSNR eng / static / pose | SSIM eng / static / pose | L1 eng | mouth r | eye r "
        "| pose err ° | jitter out/drv | pass |"
    )
    lines = [head, "|" + "---|" * 10]
    for clip in clips:
        m = clip["methods"]
        e, s, p = m[ENGINE_KEY], m["static"], m["pose-only"]
        v = clip["verdicts"]
        failed = [k for k, ok in v.items() if not ok]
        jit = f"{_f(e.get('jitter'), 4)}/{_f(clip['driver_jitter'], 4)}"
        lines.append(
            f"| {clip['clip']} | {clip['frames']} | {_f(e['psnr'])} / {_f(s['psnr'])} / {_f(p['psnr'])} "
            f"| {_f(e['ssim'], 3)} / {_f(s['ssim'], 3)} / {_f(p['ssim'], 3)} | {_f(e['l1'], 3)} "
            f"| {_f(e.get('mouth_corr'), 2)} | {_f(e.get('eye_corr'), 2)} | {_f(e.get('pose_err_deg'), 2)} "
            f"| {jit} | {'PASS' if not failed else 'fail: ' + ', '.join(failed)} |"
        )
    return "\n".join(lines)


def results_markdown(report: dict[str, Any]) -> str:
    """The run as Markdown: conditions, the table, region PSNR, and the sheets."""
    machine = report["machine"]
    clips = report["clips"]
    lines = [
        f"# Quality results: engine `{report['engine']}`",
        "",
        f"{machine['utc']}, commit {machine.get('git_commit')}, {machine['cpu']} ({machine['cpu_count']} cores), "
        f"frames per clip: {report['config']['frames_cap'] or 'all'}, {report['seconds']:.0f} s.",
        "",
        format_table(clips),
        "",
        "PSNR (dB) on the mouth and on the eyes+brows of each driver frame, engine / static / pose-only:",
        "",
        "| clip | mouth | eyes |",
        "|---|---|---|",
    ]
    for clip in clips:
        m = [clip["methods"][k] for k in (ENGINE_KEY, "static", "pose-only")]
        cells = [" / ".join(_f(x.get(f"psnr_{part}")) for x in m) for part in ("mouth", "eyes")]
        lines.append(f"| {clip['clip']} | {cells[0]} | {cells[1]} |")
    lines += ["", "## Self-reenactment sheets (driver | output | difference ×3)", ""]
    lines += [f"![{c['clip']}]({c['sheet']})\n" for c in clips]
    if report.get("cross"):
        lines += ["", "## Cross-reenactment", "", format_cross_table(report["cross"]), ""]
        lines += [f"![{c['sheet']}]({c['sheet']})\n" for c in report["cross"]]
    return "\n".join(lines) + "\n"


def format_cross_table(cross: list[dict[str, Any]]) -> str:
    """Motion fidelity of portraits driven by other people's clips (no ground
    truth image, so no PSNR; the self-reenactment thresholds as a yardstick)."""
    lines = [
        "| portrait | driver | output tracked | mouth r | eye r | pose err ° (pitch / yaw / roll) |",
        "|---|---|---|---|---|---|",
    ]
    for c in cross:
        axes = c.get("pose_err_axes_deg") or {}
        lines.append(
            f"| {c['portrait']} | {c['driver']} | {_f(c.get('output_tracked'))} | {_f(c.get('mouth_corr'))} "
            f"| {_f(c.get('eye_corr'))} | {_f(c.get('pose_err_deg'))} "
            f"({' / '.join(_f(axes.get(k), 1) for k in ('pitch', 'yaw', 'roll'))}) |"
        )
    return "\n".join(lines)


def _f(value: Any, digits: int = 2) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def machine_info() -> dict[str, Any]:
    import cv2

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        import mediapipe

        info["mediapipe"] = mediapipe.__version__
    except ImportError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        )
        info["git_commit"] = commit.stdout.strip() or None
        # The tree is shared and edited while the benchmark runs: say what was uncommitted.
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "engines", "calibrate", "realtime", "benchmarks"],
            capture_output=True, text=True, timeout=10,
        )
        info["uncommitted"] = [line[3:] for line in dirty.stdout.splitlines()]
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
