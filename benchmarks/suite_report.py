"""Reports of the suites (generalization, steadiness): the issue's targets per
case, the table, the JSON and the contact sheets, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vivicam.benchmarks import contact_sheet
from vivicam.benchmarks.quality_report import jsonable
from vivicam.paths import atomic_write

TILE = 112
OVERVIEW_COLUMNS = 6
GAIN_RANGE = (0.8, 1.25)
MIN_DRIVER_RANGE_DEG = 4.0  # a yaw/pitch gain over a smaller range of driver motion is not judged


def case_verdicts(case: dict[str, Any]) -> dict[str, bool | None]:
    """Issue 11's per-clip targets for one case (None = not applicable)."""
    if case["status"] != "ok":
        return {"renders": False}
    v: dict[str, bool | None] = {"renders": True}
    if "psnr" in case:
        v["psnr>static"] = _gt(case["psnr"], case["static_psnr"])
        v["ssim>static"] = _gt(case["ssim"], case["static_ssim"])
    v["mouth_corr>=0.85"] = _gt(case.get("mouth_corr"), 0.85, strict=False)
    v["pose_err<=3"] = _gt(3.0, case.get("pose_err_deg"), strict=False)
    for axis in ("yaw", "pitch"):
        if not _finite(case.get(f"driver_{axis}_range_deg")) or case[f"driver_{axis}_range_deg"] < MIN_DRIVER_RANGE_DEG:
            v[f"{axis}_gain"] = None
        else:
            g = case.get(f"{axis}_gain")
            v[f"{axis}_gain"] = bool(_finite(g) and GAIN_RANGE[0] <= g <= GAIN_RANGE[1])
    return v


def _finite(x: Any) -> bool:
    return x is not None and bool(np.isfinite(x))


def _gt(a: Any, b: Any, *, strict: bool = True) -> bool:
    if not (_finite(a) and _finite(b)):
        return False
    return bool(a > b) if strict else bool(a >= b)


def summarize(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Suite-wide figures: how many render, the mean PSNR gain over the still photo."""
    ok = [c for c in cases if c["status"] == "ok"]
    gains = [c["psnr_gain_db"] for c in ok if _finite(c.get("psnr_gain_db"))]
    return {
        "rendered": f"{len(ok)}/{len(cases)}",
        "mean_psnr_gain_db": float(np.mean(gains)) if gains else None,
        "all_targets_met": all(all(x is not False for x in c["verdicts"].values()) for c in cases),
    }


def _f(value: Any, digits: int = 2) -> str:
    return "n/a" if not _finite(value) else f"{value:.{digits}f}"


def generalization_table(cases: list[dict[str, Any]]) -> str:
    """Markdown: one row per case."""
    lines = [
        "| case | frames | PSNR out / static (gain) | SSIM out / static | mouth r | eye r | pose err ° "
        "| yaw gain (r, range °) | pitch gain (r, range °) | failed targets |",
        "|" + "---|" * 10,
    ]
    for c in cases:
        if c["status"] != "ok":
            reason = str(c.get("reason") or "").replace("|", "/")
            lines.append(f"| {c['case']} | {c.get('frames', 'n/a')} | FAILED: {reason} |" + " |" * 7)
            continue
        psnr = f"{_f(c.get('psnr'))} / {_f(c.get('static_psnr'))} ({_f(c.get('psnr_gain_db'), 1)})" if "psnr" in c else "n/a (cross)"
        ssim = f"{_f(c.get('ssim'), 3)} / {_f(c.get('static_ssim'), 3)}" if "ssim" in c else "n/a"
        gains = [
            f"{_f(c.get(f'{a}_gain'))} ({_f(c.get(f'{a}_corr'))}, {_f(c.get(f'driver_{a}_range_deg'), 1)})"
            for a in ("yaw", "pitch")
        ]
        failed = [k for k, ok in c["verdicts"].items() if ok is False]
        lines.append(
            f"| {c['case']} | {c['frames']} | {psnr} | {ssim} | {_f(c.get('mouth_corr'))} | {_f(c.get('eye_corr'))} "
            f"| {_f(c.get('pose_err_deg'))} | {gains[0]} | {gains[1]} | {', '.join(failed) or '—'} |"
        )
    return "\n".join(lines)


def write_json(path: Path, report: dict[str, Any]) -> Path:
    """``report`` as JSON at ``path``, written beside it and renamed into place."""
    return write_atomic(path, (json.dumps(jsonable(report), indent=1) + "\n").encode())


def write_atomic(path: Path, data: bytes) -> Path:
    path = Path(path)
    atomic_write(path, data)
    return path


def save_png(image: np.ndarray, path: Path, *, max_bytes: int = 250_000) -> Path:
    return write_atomic(path, contact_sheet.png_bytes(image, max_bytes=max_bytes))


def text_tile(text: str, tile: int = TILE) -> np.ndarray:
    """A dark tile with a few words on it (a failed render's place on a sheet)."""
    out = np.full((tile, tile, 3), 40, np.uint8)
    words, line, y = text.split(), "", 20
    for word in words:
        if len(line) + len(word) > 16 and line:
            cv2.putText(out, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 120, 120), 1, cv2.LINE_AA)
            line, y = "", y + 14
            if y > tile - 4:
                break
        line = f"{line} {word}".strip()
    if y <= tile - 4:
        cv2.putText(out, line, (4, y), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (235, 120, 120), 1, cv2.LINE_AA)
    return out


def case_sheet(case: dict[str, Any], tiles: dict[str, list[np.ndarray]]) -> np.ndarray | None:
    """Driver | output | difference at evenly spaced frames, for one case."""
    rows = [name for name in ("driver", "output") if tiles.get(name)] + [n for n in tiles if n.startswith("|diff|")]
    if not rows:
        return None
    cols = len(tiles[rows[0]])
    grid = [(tiles[r] + [text_tile("no frame")] * cols)[:cols] for r in rows]
    status = "" if case["status"] == "ok" else f" - FAILED: {case.get('reason')}"
    title = f"{case['case']}: {case.get('portrait', '')} driven by {case['clip']} {'+'.join(case.get('transforms', []))}{status}"
    return contact_sheet.make_sheet(grid, row_labels=rows, col_labels=[f"#{i + 1}" for i in range(cols)],
                                    title=title[:110], tile=TILE)


def overview_sheet(cases: list[dict[str, Any]], rows: dict[str, dict[str, list[np.ndarray]]], title: str) -> np.ndarray:
    """One row per case: driver and output side by side at three moments."""
    grid, labels = [], []
    picks = (1, 4, 7)
    for case in cases:
        tiles = rows.get(case["case"], {})
        drv, out = tiles.get("driver", []), tiles.get("output", [])
        row = []
        for k in picks:
            row.append(drv[k] if k < len(drv) else text_tile("no frame"))
            row.append(out[k] if k < len(out) else text_tile(f"FAILED: {case.get('reason') or ''}"))
        grid.append(row)
        labels.append(case["case"][:14])
    cols = ["driver", "output"] * len(picks)
    return contact_sheet.make_sheet(grid, row_labels=labels, col_labels=cols, title=title, tile=TILE)
