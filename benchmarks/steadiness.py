"""Steadiness, detail and colour benchmark (issue 17, items 3 and 5): does a
portrait stay as sharp, as still and as true in colour as the photo when the
driver holds still, when the camera's exposure drifts, and while talking?

Drivers, made from the test data (no new footage): one real frame (d18's
first, a calm frontal face) repeated with webcam-like noise of σ 4 and σ 8
grey levels; the same frame (σ 4) while the camera's auto-exposure ramps its
brightness ×0.5 → ×1.5; and a real clip in motion (d12, talking and
turning). Each portrait is rendered by the public ``render_video`` at the
photo's own size (H.264 CRF 18, its default) and measured in the photo's face
box (1.1× the landmarks' bounding box):

- rest PSNR of the output (σ 4 driver) against the photo, beside the photo's
  own PSNR through the same encoder (the best a render could reach);
- detail: Laplacian variance of the face box, output / photo, at rest and
  in motion;
- jitter: mean DIS optical flow of the face box between frames (px/frame);
- flicker: standard deviation of the face box's mean grey level (grey levels);
- colour: CIELAB ΔE (CIE76) of the face box's mean colour against the photo's.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from vivicam.benchmarks import contact_sheet, metrics
from vivicam.benchmarks import steady_metrics as sm
from vivicam.benchmarks.clips import (
    clip_paths, find_testdata, portrait_photo, read_frames, write_video, write_video_apart,
)
from vivicam.benchmarks.stages import detect_points, render_case
from vivicam.errors import InputError
from vivicam.realtime.sinks.mp4 import CRF as OUTPUT_CRF  # the render's encoder setting, also the reference's

# s2 (2048², a photo) and s1 (1145²) are the largest portraits in the test
# data; s4 and s8 are paintings (720² and 562×1000). No high-resolution
# painting exists there, and upscaling one would only measure the upscaler.
PORTRAITS = ("s1", "s4", "s8", "s2")
STILL_CLIP, MOTION_CLIP = "d18", "d12"
FRAMES = 60
FPS = 30.0
# The still and ramp drivers go through H.264 at CRF 12, as the issue-17
# targets were set: the encoder takes part of the σ 8 noise away, as a
# camera's own encoder would. Written losslessly, the full σ 8 noise shakes
# the largest portrait past the target (s2 2048²: jitter 0.057 px/frame,
# rest PSNR 41.1 against 43.3; s1, s4, s8 stay within every target).
DRIVER_CRF = 12
FACE_BOX_SCALE = 1.1
CROP = 160  # 1:1 crops on the sheet



@dataclass(frozen=True)
class Driver:
    name: str
    sigma: float = 0.0  # grey levels of noise on the still frame
    ramp: tuple[float, float] | None = None  # brightness factor from first to last frame
    clip: str | None = None  # a real clip instead of a still frame

    def frames(self, still: np.ndarray, data: Path, n: int) -> Iterator[np.ndarray]:
        if self.clip is not None:
            yield from read_frames(clip_paths(data, [self.clip])[0], n)
            return
        rng = np.random.default_rng(int(self.sigma * 100) + (7 if self.ramp else 0))
        for i in range(n):
            gain = 1.0 if self.ramp is None else np.interp(i, [0, n - 1], self.ramp)
            yield noisy_frame(still, rng, self.sigma, gain)


DRIVERS = (
    Driver("still-s4", sigma=4.0),
    Driver("still-s8", sigma=8.0),
    Driver("exposure-ramp", sigma=4.0, ramp=(0.5, 1.5)),
    Driver("motion", clip=MOTION_CLIP),
)
STEADY_DRIVERS = ("still-s4", "still-s8", "exposure-ramp")  # the picture should not change


def noisy_frame(frame: np.ndarray, rng: np.random.Generator, sigma: float, gain: float = 1.0) -> np.ndarray:
    """``frame`` × ``gain`` (exposure) plus Gaussian noise of ``sigma`` grey levels per pixel and channel."""
    out = frame.astype(np.float32) * gain + rng.normal(0.0, sigma, frame.shape).astype(np.float32)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def one_to_one(image: np.ndarray, center: tuple[float, float], size: int = CROP) -> np.ndarray:
    """A size×size crop at native resolution around ``center`` (kept inside the image)."""
    h, w = image.shape[:2]
    x0 = int(np.clip(round(center[0] - size / 2), 0, max(0, w - size)))
    y0 = int(np.clip(round(center[1] - size / 2), 0, max(0, h - size)))
    return image[y0 : y0 + size, x0 : x0 + size]


def encoded_reference(photo: np.ndarray, box: metrics.Box, center: tuple[float, float], work: Path,
                      frames: int) -> tuple[float, float, np.ndarray]:
    """The photo through the render's encoder (H.264, the sink's settings) as a video of
    ``frames`` identical frames — as long as a render, because x264 keeps
    refining a static picture frame after frame: (mean face-box PSNR, mean
    detail ratio, 1:1 crop of the last frame)."""
    path = write_video(work / "photo.mp4", (photo for _ in range(frames)), FPS, crf=OUTPUT_CRF)
    ref = box.crop(photo)
    psnr, detail, last = [], [], None
    for frame in read_frames(path):
        psnr.append(min(metrics.psnr(box.crop(frame), ref), metrics.PSNR_CAP_DB))
        detail.append(sm.detail_ratio(box.crop(frame), ref))
        last = frame
    return float(np.mean(psnr)), float(np.mean(detail)), one_to_one(last, center)


def measure_video(path: Path, photo: np.ndarray, box: metrics.Box, center: tuple[float, float],
                  frames: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Every measure of one rendered video against the photo; (numbers, 1:1
    crops of the middle and the last frame)."""
    ref_box = box.crop(photo)
    ref_lab = sm.mean_lab(ref_box)
    meter = sm.FlowMeter()
    psnr, detail, shifts, greys, de = [], [], [], [], []
    middle, last = None, None
    for i, out in enumerate(read_frames(path)):
        if out.shape != photo.shape:
            raise InputError(f"the render is {out.shape[1]}×{out.shape[0]}, the photo {photo.shape[1]}×{photo.shape[0]}")
        face = box.crop(out)
        psnr.append(min(metrics.psnr(face, ref_box), metrics.PSNR_CAP_DB))
        detail.append(sm.detail_ratio(face, ref_box))
        shift = meter.step(face)
        if shift is not None:
            shifts.append(shift)
        greys.append(sm.mean_grey(face))
        de.append(sm.delta_e(sm.mean_lab(face), ref_lab))
        last = one_to_one(out, center)
        if i == frames // 2:
            middle = last
    return {
        "frames": len(psnr),
        "psnr": _mean(psnr),
        "detail": _mean(detail),
        "jitter_px": sm.jitter(shifts),
        "flicker_grey": sm.flicker(greys),
        "delta_e_mean": _mean(de),
        "delta_e_max": float(np.max(de)) if de else None,
    }, [c for c in (middle, last) if c is not None]


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate_portrait(name: str, data: Path, engine: str, *, frames: int, work: Path,
                      drivers: tuple[Driver, ...] = DRIVERS) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One portrait through every driver: (results, sheet row of 1:1 crops)."""
    from PIL import Image

    photo = portrait_photo(data, name)
    photo = photo[: photo.shape[0] // 2 * 2, : photo.shape[1] // 2 * 2]  # H.264 keeps even sides only
    work.mkdir(parents=True, exist_ok=True)
    photo_path = work / "photo.png"
    Image.fromarray(photo).save(photo_path)
    points = detect_points(photo)
    size = (photo.shape[1], photo.shape[0])
    box = metrics.face_box(points, size, scale=FACE_BOX_SCALE)
    center = tuple(float(c) for c in points[:, :2].mean(axis=0))
    still = next(read_frames(clip_paths(data, [STILL_CLIP])[0], 1))
    ref_psnr, ref_detail, ref_crop = encoded_reference(photo, box, center, work, frames)
    result: dict[str, Any] = {
        "portrait": name, "size": list(size), "face_box": [box.x0, box.y0, box.x1, box.y1],
        "photo_encoded_psnr": ref_psnr, "photo_encoded_detail": ref_detail, "drivers": {},
    }
    row = [one_to_one(photo, center), ref_crop]
    for driver in drivers:
        drv_path = write_video_apart(work / f"{driver.name}.mp4", driver.frames(still, data, frames), FPS,
                                     crf=DRIVER_CRF)
        out_path = work / f"out-{driver.name}.mp4"
        summary, reason = render_case(photo_path, drv_path, out_path, engine, size=size)
        if reason is not None:
            result["drivers"][driver.name] = {"status": "failed", "reason": reason}
            row.append(_failed_tile(reason))
            continue
        numbers, crops = measure_video(out_path, photo, box, center, frames)
        result["drivers"][driver.name] = {"status": "ok", **numbers}
        row.append(crops[-1] if driver.ramp or driver.clip is None else crops[0])
    result.update(_headline(result))
    return result, row


def _failed_tile(reason: str) -> np.ndarray:
    from vivicam.benchmarks.suite_report import text_tile

    return text_tile(f"FAILED: {reason}", CROP)


def _headline(result: dict[str, Any]) -> dict[str, Any]:
    """The issue's figures for one portrait, from its drivers' numbers."""
    d = result["drivers"]

    def get(driver: str, key: str) -> Any:
        return d.get(driver, {}).get(key)

    # colour is judged where the picture should not change (still and exposure
    # ramp); in motion the face box's content changes, so its ΔE is only shown
    des = [d[k]["delta_e_max"] for k in STEADY_DRIVERS if d.get(k, {}).get("delta_e_max") is not None]
    rest = get("still-s4", "psnr")
    return {
        "rest_psnr": rest,
        "rest_psnr_below_encoded_photo_db": None if rest is None else result["photo_encoded_psnr"] - rest,
        "detail_rest": get("still-s4", "detail"),
        "detail_motion": get("motion", "detail"),
        "jitter_px": {k: get(k, "jitter_px") for k in STEADY_DRIVERS},
        "flicker_grey": {k: get(k, "flicker_grey") for k in STEADY_DRIVERS},
        "delta_e_max": max(des) if des else None,
        "delta_e_motion_max": get("motion", "delta_e_max"),
    }


def verdicts(p: dict[str, Any]) -> dict[str, bool]:
    """Issue 17's targets for one portrait."""
    def ok(x: Any, test: Callable[[float], bool]) -> bool:
        return x is not None and bool(np.isfinite(x)) and test(x)

    return {
        "rest_psnr_within_1.5dB": ok(p["rest_psnr_below_encoded_photo_db"], lambda v: v <= 1.5),
        "detail_rest_0.8-1.1": ok(p["detail_rest"], lambda v: 0.8 <= v <= 1.1),
        # in motion the box's content changes (teeth, hair), so only the floor is judged
        "detail_motion>=0.7": ok(p["detail_motion"], lambda v: v >= 0.7),
        "jitter<=0.05": all(ok(p["jitter_px"][k], lambda v: v <= 0.05) for k in ("still-s4", "still-s8")),
        "flicker<=0.3": all(ok(p["flicker_grey"][k], lambda v: v <= 0.3) for k in ("still-s4", "still-s8")),
        "delta_e<=2": ok(p["delta_e_max"], lambda v: v <= 2.0),
    }


def run(
    *, testdata: str | Path | None = None, engine: str = "warp", case_names: list[str] | None = None,
    frames_cap: int = FRAMES, json_path: Path, sheet_path: Path, progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every portrait (or those in ``case_names``); writes the JSON and the sheet."""
    from vivicam.benchmarks import suite_report
    from vivicam.benchmarks.quality_report import machine_info

    say = progress or (lambda line: None)
    data = find_testdata(testdata)
    started = time.perf_counter()
    results, rows = [], []
    with tempfile.TemporaryDirectory(prefix="vivicam-steady-") as tmp:
        for name in case_names or PORTRAITS:
            t0 = time.perf_counter()
            result, row = evaluate_portrait(name, data, engine, frames=frames_cap, work=Path(tmp) / name)
            result["verdicts"] = verdicts(result)
            results.append(result)
            rows.append(row)
            say(f"{name}: {time.perf_counter() - t0:.0f} s")
    sheet = contact_sheet.make_sheet(
        rows, row_labels=[r["portrait"] for r in results],
        col_labels=["photo", "photo CRF18"] + [f"{d.name}{' (end)' if d.ramp else ''}" for d in DRIVERS],
        title=f"1:1 crops of the face ({CROP} px), engine {engine}: photo | photo encoded | output per driver",
        tile=CROP,
    )
    suite_report.save_png(sheet, Path(sheet_path), max_bytes=600_000)
    report = {
        "suite": "steadiness", "engine": engine, "machine": machine_info(),
        "config": {
            "frames": frames_cap, "fps": FPS, "still_frame": f"{STILL_CLIP} frame 0", "motion_clip": MOTION_CLIP,
            "drivers": [vars(d) for d in DRIVERS], "face_box_scale": FACE_BOX_SCALE, "output_crf": OUTPUT_CRF, "driver_crf": DRIVER_CRF,
            "render": "vivicam.realtime.app.render_video, size = the photo's (even sides)",
            "portraits_note": "s2 (2048², photo) and s1 (1145²) are the largest test-data portraits; "
                              "no high-resolution painting exists there (s4 720², s8 562×1000)",
        },
        "seconds": time.perf_counter() - started, "portraits": results, "sheet": Path(sheet_path).name,
    }
    suite_report.write_json(Path(json_path), report)
    return report


def table(report: dict[str, Any]) -> str:
    def f(x: Any, digits: int = 2) -> str:
        return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"

    lines = [
        "| portrait | size | rest PSNR / photo encoded (dB) | detail rest / motion | jitter px σ4 / σ8 / ramp "
        "| flicker σ4 / σ8 / ramp | ΔE max | failed targets |",
        "|" + "---|" * 8,
    ]
    for p in report["portraits"]:
        jit = " / ".join(f(v, 3) for v in p["jitter_px"].values())
        fl = " / ".join(f(v) for v in p["flicker_grey"].values())
        failed = [k for k, ok in p["verdicts"].items() if not ok]
        lines.append(
            f"| {p['portrait']} | {p['size'][0]}×{p['size'][1]} | {f(p['rest_psnr'], 1)} / {f(p['photo_encoded_psnr'], 1)} "
            f"| {f(p['detail_rest'])} / {f(p['detail_motion'])} | {jit} | {fl} | {f(p['delta_e_max'])} | {', '.join(failed) or '—'} |"
        )
    return "\n".join(lines)
