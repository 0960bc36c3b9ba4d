"""Quality benchmark: self-reenactment on real talking-head clips, against two
baselines measured in the same run, plus cross-reenactment contact sheets.

For each clip the first frame is the avatar photo; the clip drives it through
the live pipeline's own stages (MediaPipe tracker → MotionEstimator with the
first frame as the neutral face → ``engine.render`` → paste-back), and each
output frame is compared with the real frame on a fixed face box (1.6× the
first frame's face): PSNR, SSIM, L1. Motion fidelity tracks the output with
MediaPipe and compares it with the driver (mouth-opening and eye-closure
correlation, head-pose error); jitter compares landmark noise of output and
driver where the driver holds still.

    python -m vivicam.benchmarks.quality [--clips d10 d12] [--frames N] [--quick]
        [--engine warp] [--out docs/quality]

Writes ``quality.json`` (numbers + machine) and contact-sheet PNGs to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vivicam.benchmarks import contact_sheet, metrics
from vivicam.benchmarks.baselines import PoseOnlyWarp, StaticPhoto
from vivicam.benchmarks.quality_report import (
    ENGINE_KEY,
    Thresholds,
    format_cross_table,
    format_table,
    jsonable,
    machine_info,
    results_markdown,
    verdicts,
)
from vivicam.calibrate import mesh
from vivicam.errors import InputError, NoFaceError, VivicamError
from vivicam.types import DriverFrame, Frame, Landmarks, Motion


ROOT = Path(__file__).resolve().parents[1]
QUICK_CLIPS = ("d10", "d12", "d18")
QUICK_FRAMES = 60
# photos, paintings, a statue, a printed photo held in a hand, and a
# cartoon-style face made from s1 (benchmarks/portrait_styles.py)
CROSS_PORTRAITS = ("s0", "s1", "s2", "s5", "s6", "s11", "s1+cartoon")
CROSS_DRIVERS = ("d10", "d12")
SHEET_COLUMNS = 8
CROSS_STRIDE = 3  # cross-reenactment fidelity tracks the output on every 3rd driver frame
FACE_BOX_SCALE = 1.6
# A driver frame counts as "holding still" when its landmarks move less than
# this many face sizes per frame (about 0.3 px for a 100 px face); runs of at
# least STILL_MIN_FRAMES such frames are where jitter is measured.
STILL_SPEED = 0.004
STILL_MIN_FRAMES = 8
DIFF_GAIN = 3  # the contact sheet's difference row shows |output - real| × this


# --------------------------------------------------------------------------- inputs


def find_testdata(explicit: str | Path | None = None) -> Path:
    """The test-data folder: ``explicit``, $VIVICAM_TESTDATA or ../shared/testdata."""
    candidates = [Path(explicit)] if explicit else []
    if os.environ.get("VIVICAM_TESTDATA"):
        candidates.append(Path(os.environ["VIVICAM_TESTDATA"]))
    candidates += [ROOT.parent / "shared" / "testdata", Path.cwd().parent / "shared" / "testdata"]
    for candidate in candidates:
        if (candidate / "clips").is_dir():
            return candidate
    raise InputError("test data not found: pass --testdata DIR or set VIVICAM_TESTDATA")


def clip_paths(testdata: Path, names: list[str] | None) -> list[Path]:
    """Clips by name (``d10`` or ``d10.mp4``); all clips when ``names`` is empty."""
    folder = testdata / "clips"
    if not names:
        return sorted(folder.glob("*.mp4"), key=lambda p: _natural(p.stem))
    paths = []
    for name in names:
        path = folder / (name if name.endswith(".mp4") else f"{name}.mp4")
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(folder.glob("*.mp4")))
            raise InputError(f"no clip '{name}' in {folder} (have: {known})")
        paths.append(path)
    return paths


def _natural(stem: str) -> tuple[str, int]:
    digits = "".join(ch for ch in stem if ch.isdigit())
    return stem.rstrip("0123456789"), int(digits or 0)


def probe(path: Path) -> tuple[float, int]:
    """(fps, frame count) of a video file."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate or 25), int(stream.frames or 0)


def read_frames(path: Path, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames, at most ``max_frames``."""
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and i >= max_frames:
                break
            yield frame.to_ndarray(format="rgb24")


def load_portrait(path: Path) -> np.ndarray:
    try:
        from vivicam.realtime.sources.photo import load_photo
    except ImportError:  # S's loader not in this tree yet: plain decode
        from PIL import Image, ImageOps

        return np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    return load_photo(path)


# --------------------------------------------------------------------------- pipeline stages


def paste_back(state: Any, crop: Any, shift: Any = None) -> np.ndarray:
    """The engine crop pasted into the full photo and the frame moved by
    ``shift`` (the engine's ``frame_shift``), as the live pipeline does."""
    from vivicam.realtime.post import compose

    return np.asarray(compose(state, crop, shift=shift))


def make_estimator(first: Landmarks) -> Any:
    """The live pipeline's motion stage (default config, smoothing included),
    with the neutral face taken from ``first``: the avatar IS the first frame,
    so its face is the neutral, given directly instead of calibrating over a
    second of video."""
    from vivicam.calibrate.motion import MotionEstimator
    from vivicam.calibrate.neutral import Neutral

    return MotionEstimator(neutral=Neutral.from_points(first.points, first.image_size))


def motion_stages(engine: Any, first: np.ndarray, first_lm: Landmarks) -> Any:
    """The live pipeline's motion stages (driver flow when the engine wants
    it, then the motion estimator) with the first frame as the driver's
    neutral frame; ``.motion(frame, landmarks, t_s)`` gives each frame's Motion."""
    from vivicam.realtime.pipeline import Pipeline

    stages = Pipeline(engine, None, estimator=make_estimator(first_lm))
    stages.set_driver_neutral(DriverFrame(first, first_lm))
    return stages


def motion_signals(points: np.ndarray) -> dict[str, np.ndarray]:
    """(N, 478, 3) landmarks (NaN = lost) → per-frame mouth gap, eye openness
    (mean of both eyes) and head angles relative to the first tracked frame."""
    from vivicam.calibrate import features

    n = points.shape[0]
    mouth, eyes = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        if np.isfinite(points[i]).all():
            mouth[i] = features.mouth_gap(points[i])
            eyes[i] = float(np.mean(features.eye_openness(points[i])))
    return {"mouth": mouth, "eyes": eyes, "angles": metrics.head_angles(points)}


# --------------------------------------------------------------------------- one clip


@dataclass
class _Method:
    """One thing being measured on a clip: the engine or a baseline."""

    name: str
    renderer: Any
    state: Any
    tracker: Any = None  # MediaPipe on its output, for motion fidelity
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    l1: list[float] = field(default_factory=list)
    render_ms: list[float] = field(default_factory=list)
    points: list[np.ndarray | None] = field(default_factory=list)
    tiles: list[np.ndarray] = field(default_factory=list)
    diffs: list[np.ndarray] = field(default_factory=list)  # |output - real| ×DIFF_GAIN
    parts: dict[str, list[float]] = field(default_factory=dict)  # region name -> per-frame PSNR


@dataclass(frozen=True, eq=False)
class ClipOutcome:
    results: dict[str, Any]  # the numbers that go into the JSON
    sheet: np.ndarray  # contact sheet, RGB
    driver: np.ndarray  # (N, 478, 3) driver landmarks, NaN where lost (reused for cross sheets)
    signals: dict[str, np.ndarray]  # per-frame mouth/eyes/angles/psnr, for diagnosis


def evaluate_clip(
    path: Path, engine: Any, engine_name: str, *, max_frames: int | None, columns: int = SHEET_COLUMNS
) -> ClipOutcome:
    """Self-reenactment of one clip."""
    from vivicam.face.tracker import MediaPipeTracker

    fps, count = probe(path)
    count = min(count, max_frames) if max_frames else count
    sampled = set(contact_sheet.sample_indices(count, columns))
    driver_tracker = MediaPipeTracker()
    frames = read_frames(path, max_frames)
    first = next(frames)
    first_lm = driver_tracker.track(first)
    if first_lm is None:
        raise NoFaceError(f"no face on the first frame of {path.name}")
    box = metrics.face_box(first_lm.points, (first.shape[1], first.shape[0]), scale=FACE_BOX_SCALE)
    methods = [
        _Method(ENGINE_KEY, engine, engine.prepare(first), MediaPipeTracker()),
        _Method("static", StaticPhoto(), StaticPhoto().prepare(first, first_lm.points)),
        _Method("pose-only", PoseOnlyWarp(), PoseOnlyWarp().prepare(first, first_lm.points), MediaPipeTracker()),
    ]
    stages = motion_stages(engine, first, first_lm)
    driver_points: list[np.ndarray | None] = []
    driver_tiles: list[np.ndarray] = []
    try:
        for i, frame in enumerate(_chain(first, frames)):
            landmarks = first_lm if i == 0 else driver_tracker.track(frame)
            driver_points.append(None if landmarks is None else landmarks.points)
            motion = stages.motion(Frame(frame, 0, i), landmarks, i / fps)
            real = box.crop(frame)
            if i in sampled:
                driver_tiles.append(real)
            parts = region_boxes(landmarks.points, box) if landmarks is not None else {}
            for method in methods:
                _step(method, motion, real, box, parts, measure=i > 0, keep_tile=i in sampled)
    finally:
        driver_tracker.close()
        for method in methods:
            if method.tracker is not None:
                method.tracker.close()
    driver = metrics.stack_points(driver_points)
    results, signals = _clip_results(path, fps, driver, methods)
    labels = [f"frame {i}" for i in sorted(sampled)]
    sheet = contact_sheet.make_sheet(
        [driver_tiles, methods[0].tiles, methods[0].diffs],
        row_labels=["driver", engine_name, f"|diff| x{DIFF_GAIN}"],
        col_labels=labels,
        title=f"{path.stem}: self-reenactment (avatar = frame 0), face box",
    )
    return ClipOutcome(results, sheet, driver, signals)


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def region_boxes(points: np.ndarray, box: metrics.Box) -> dict[str, metrics.Box]:
    """Mouth and eyes(+brows) boxes of this driver frame, in face-box pixels."""
    local = np.asarray(points, np.float64) - np.array([box.x0, box.y0, 0.0])
    size = box.size
    return {
        "mouth": metrics.face_box(local[list(mesh.LIPS_OUTER)], size, scale=1.5),
        "eyes": metrics.face_box(local[list(sum(mesh.EYE_CONTOUR, ()))], size, scale=1.1),
    }


def _step(
    method: _Method, motion: Motion, real: np.ndarray, box: metrics.Box, parts: dict[str, metrics.Box], *,
    measure: bool, keep_tile: bool,
) -> None:
    t0 = time.perf_counter()
    crop = method.renderer.render(method.state, motion)
    method.render_ms.append((time.perf_counter() - t0) * 1e3)
    out = paste_back(method.state, crop, method.renderer.frame_shift(method.state, motion))
    face = box.crop(out)
    if measure:
        method.psnr.append(min(metrics.psnr(face, real), metrics.PSNR_CAP_DB))
        method.ssim.append(metrics.ssim(face, real))
        method.l1.append(metrics.l1(face, real))
        for name, part in parts.items():
            psnr = metrics.psnr(part.crop(face), part.crop(real))
            method.parts.setdefault(name, []).append(min(psnr, metrics.PSNR_CAP_DB))
    if method.tracker is not None:
        found = method.tracker.track(out)
        method.points.append(None if found is None else found.points)
    if keep_tile:
        method.tiles.append(face)
        method.diffs.append(np.clip(np.abs(face.astype(np.int16) - real) * DIFF_GAIN, 0, 255).astype(np.uint8))


def _clip_results(
    path: Path, fps: float, driver: np.ndarray, methods: list[_Method]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(summary numbers, per-frame signals for diagnosis)."""
    drv = motion_signals(driver)
    signals = {f"driver_{k}": v for k, v in drv.items()}
    speed = metrics.landmark_speed(driver)
    runs = metrics.still_runs(speed, STILL_SPEED, min_length=STILL_MIN_FRAMES)
    out: dict[str, Any] = {
        "clip": path.stem,
        "frames": int(driver.shape[0]),
        "fps": fps,
        "driver_tracked": float(np.isfinite(driver).all(axis=(1, 2)).mean()),
        "still_frames": int(sum(b - a for a, b in runs)),
        "driver_jitter": metrics.jitter(driver, runs),
        "methods": {},
    }
    for method in methods:
        entry: dict[str, Any] = {
            "psnr": metrics.summary(method.psnr)["mean"],
            "ssim": metrics.summary(method.ssim)["mean"],
            "l1": metrics.summary(method.l1)["mean"],
            **{f"psnr_{name}": metrics.summary(v)["mean"] for name, v in method.parts.items()},
            "render_ms": metrics.summary(method.render_ms),
        }
        signals[f"{method.name}_psnr"] = np.asarray(method.psnr)
        if method.tracker is not None:
            points = metrics.stack_points(method.points)
            sig = motion_signals(points)
            signals.update({f"{method.name}_{k}": v for k, v in sig.items()})
            entry.update(_fidelity(drv, sig, points, runs))
        out["methods"][method.name] = entry
    return out, signals


def _fidelity(
    drv: dict[str, np.ndarray], sig: dict[str, np.ndarray], points: np.ndarray, runs: list[tuple[int, int]]
) -> dict[str, Any]:
    pose = metrics.pose_error(drv["angles"], sig["angles"])
    return {
        "output_tracked": float(np.isfinite(points).all(axis=(1, 2)).mean()),
        "mouth_corr": metrics.pearson(drv["mouth"], sig["mouth"]),
        "eye_corr": metrics.pearson(drv["eyes"], sig["eyes"]),
        "pose_err_deg": pose.mean_deg,
        "pose_err_axes_deg": {"pitch": pose.pitch_deg, "yaw": pose.yaw_deg, "roll": pose.roll_deg},
        "jitter": metrics.jitter(points, runs),
    }


# --------------------------------------------------------------------------- cross-reenactment


def portrait_photo(data: Path, name: str) -> np.ndarray:
    """A test-data portrait by name (``s1``, ``s1.jpg``), restyled when the
    name asks for it (``s1+cartoon``, see portrait_styles)."""
    from vivicam.benchmarks.portrait_styles import STYLES, split_name

    try:
        base, style = split_name(name)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    path = data / "portraits" / (base if "." in base else f"{base}.jpg")
    if not path.is_file():
        raise InputError(f"no portrait '{base}' in {data / 'portraits'}")
    photo = load_portrait(path)
    return photo if style is None else STYLES[style](photo)


def cross_reenact(
    engine: Any, engine_name: str, portrait: str, photo: np.ndarray, driver_clip: Path, driver: np.ndarray, *,
    columns: int = SHEET_COLUMNS, stride: int = CROSS_STRIDE,
) -> tuple[np.ndarray, dict[str, Any]]:
    """A portrait driven by a clip (driver landmarks precomputed, (N, 478, 3),
    NaN where lost). Returns (contact sheet, motion fidelity).

    The sheet shows driver face | output around the avatar's face for the
    neutral frame, the driver's widest mouth, most closed eyes and largest head
    turn, and evenly spaced frames between. Fidelity tracks the output on every
    ``stride``-th frame and compares it with the driver as for self-reenactment
    (no ground-truth image exists for another face, so no PSNR)."""
    from vivicam.face.tracker import MediaPipeTracker

    if not np.isfinite(driver[0]).all():
        raise NoFaceError(f"no face on the first frame of {driver_clip.name}")
    state = engine.prepare(photo)
    fps, _ = probe(driver_clip)
    picks = _cross_columns(driver, columns)
    view = _crop_region(state)
    stages = None
    tiles: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    tracked: list[np.ndarray | None] = []
    with MediaPipeTracker() as tracker:
        for i, frame in enumerate(read_frames(driver_clip, driver.shape[0])):
            size = (frame.shape[1], frame.shape[0])
            lm = Landmarks(driver[i].astype(np.float32), size) if np.isfinite(driver[i]).all() else None
            if stages is None:
                stages = motion_stages(engine, frame, lm)
                box = metrics.face_box(driver[0], size, scale=FACE_BOX_SCALE)
            motion = stages.motion(Frame(frame, 0, i), lm, i / fps)
            if i in picks or i % stride == 0:
                out = paste_back(state, engine.render(state, motion), engine.frame_shift(state, motion))
            if i % stride == 0:
                found = tracker.track(out)
                tracked.append(None if found is None else found.points)
            if i in picks:
                tiles[i] = (box.crop(frame), view.crop(out))
    order = sorted(tiles)
    sheet = contact_sheet.make_sheet(
        [[tiles[i][0] for i in order], [tiles[i][1] for i in order]],
        row_labels=[driver_clip.stem, portrait],
        col_labels=[f"{i} {picks[i]}".strip() for i in order],
        title=f"{portrait} driven by {driver_clip.stem} ({engine_name}); column = driver frame",
    )
    points = metrics.stack_points(tracked)
    fidelity = _fidelity(motion_signals(driver[::stride]), motion_signals(points), points, [])
    del fidelity["jitter"]  # the driver's still runs do not survive the stride
    return sheet, {"portrait": portrait, "driver": driver_clip.stem, "stride": stride, **fidelity}


def _cross_columns(driver: np.ndarray, columns: int) -> dict[int, str]:
    """Frame index → caption: 0 (neutral), the extremes, then evenly spaced."""
    sig = motion_signals(driver)
    picks = {0: "neutral"}
    for name, values in (
        ("mouth open", sig["mouth"]),
        ("eyes shut", -sig["eyes"]),
        ("head turn", np.abs(sig["angles"]).max(axis=1)),
    ):
        if np.isfinite(values).any():
            picks.setdefault(int(np.nanargmax(values)), name)
    for i in contact_sheet.sample_indices(driver.shape[0], columns + 2):
        if len(picks) >= columns:
            break
        if all(abs(i - j) > 2 for j in picks):
            picks[i] = ""
    return picks


def _crop_region(state: Any) -> metrics.Box:
    """The photo region an axis-aligned crop_matrix maps onto the engine crop."""
    m = np.asarray(state.crop_matrix, np.float64)
    s, tx, ty = m[0, 0], m[0, 2], m[1, 2]
    h, w = state.photo.shape[:2]
    x0, y0 = -tx / s, -ty / s
    side = state.crop_size / s
    return metrics.Box(
        int(max(0, x0)), int(max(0, y0)), int(min(w, x0 + side)), int(min(h, y0 + side))
    )


# --------------------------------------------------------------------------- run + CLI


def build_engine(name: str) -> Any:
    """The engine under test: a registered engine, or a baseline by name."""
    if name == PoseOnlyWarp.name:
        return PoseOnlyWarp()
    if name == StaticPhoto.name:
        return StaticPhoto()
    from vivicam.engines.registry import create_engine

    return create_engine(name)


def run(
    *, clips: list[str] | None = None, frames: int | None = None, engine_name: str = "warp",
    out_dir: Path = Path("docs/quality"), testdata: str | Path | None = None, cross: bool = True,
    portraits: tuple[str, ...] = CROSS_PORTRAITS, cross_drivers: tuple[str, ...] = CROSS_DRIVERS,
    progress: Any = None, save_signals: bool = False,
) -> dict[str, Any]:
    """Run the benchmark; writes ``quality.json`` and sheets to ``out_dir`` and
    returns the results. ``progress(str)`` receives one line per step."""
    say = progress or (lambda line: None)
    data = find_testdata(testdata)
    paths = clip_paths(data, clips)
    engine = build_engine(engine_name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results, drivers = [], {}
    for path in paths:
        t0 = time.perf_counter()
        outcome = evaluate_clip(path, engine, engine_name, max_frames=frames)
        clip = outcome.results
        clip["verdicts"] = verdicts(clip)
        clip["sheet"] = contact_sheet.save_sheet(outcome.sheet, out_dir / f"self_{path.stem}.png").name
        if save_signals:
            np.savez_compressed(out_dir / f"signals_{path.stem}.npz", **outcome.signals)
        results.append(clip)
        drivers[path.stem] = outcome.driver
        say(f"{path.stem}: {clip['frames']} frames in {time.perf_counter() - t0:.0f} s")
    crossed: list[dict[str, Any]] = []
    if cross:
        for drv in cross_drivers:
            drv_path = clip_paths(data, [drv])[0]
            driver = drivers.get(drv)
            if driver is None:
                driver = track_clip(drv_path, frames)
            for name in portraits:
                sheet, fidelity = cross_reenact(engine, engine_name, name, portrait_photo(data, name), drv_path, driver)
                fidelity["sheet"] = contact_sheet.save_sheet(sheet, out_dir / f"cross_{name.replace('+', '-')}_{drv}.png").name
                crossed.append(fidelity)
                say(f"cross {name} × {drv}")
    report = {
        "engine": engine_name,
        "machine": machine_info(),
        "config": {
            "frames_cap": frames, "face_box_scale": FACE_BOX_SCALE, "psnr_cap_db": metrics.PSNR_CAP_DB,
            "still_speed": STILL_SPEED, "still_min_frames": STILL_MIN_FRAMES, "thresholds": vars(Thresholds()),
            "motion": "MotionEstimator(default MotionConfig, neutral = first frame)",
        },
        "seconds": time.perf_counter() - started,
        "clips": results,
        "all_pass": all(all(c["verdicts"].values()) for c in results),
        "cross": crossed,
        "cross_sheets": [c["sheet"] for c in crossed],
    }
    (out_dir / "quality.json").write_text(json.dumps(jsonable(report), indent=1) + "\n")
    (out_dir / "results.md").write_text(results_markdown(report))
    return report


def track_clip(path: Path, frames: int | None) -> np.ndarray:
    """Driver landmarks (N, 478, 3), NaN where the face is lost."""
    from vivicam.face.tracker import MediaPipeTracker

    with MediaPipeTracker() as tracker:
        found = [tracker.track(f) for f in read_frames(path, frames)]
    return metrics.stack_points([None if lm is None else lm.points for lm in found])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", nargs="+", help="clip names (default: every clip in the test data)")
    parser.add_argument("--frames", type=int, help="at most this many frames per clip (default: all)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES} frames of {', '.join(QUICK_CLIPS)}")
    parser.add_argument("--engine", default="warp", help="engine under test (default: warp)")
    parser.add_argument("--out", type=Path, default=Path("docs/quality"), help="output folder (default: docs/quality)")
    parser.add_argument("--testdata", help="test-data folder (default: $VIVICAM_TESTDATA or ../shared/testdata)")
    parser.add_argument("--no-cross", action="store_true", help="skip the cross-reenactment sheets")
    parser.add_argument("--portraits", nargs="+", default=list(CROSS_PORTRAITS), help="portraits for cross-reenactment")
    parser.add_argument("--cross-drivers", nargs="+", default=list(CROSS_DRIVERS), help="clips that drive them")
    parser.add_argument("--signals", action="store_true", help="also save per-frame signals (signals_<clip>.npz)")
    args = parser.parse_args(argv)
    clips, frames = args.clips, args.frames
    if args.quick:
        clips, frames = clips or list(QUICK_CLIPS), frames or QUICK_FRAMES
    if frames is not None and frames < 2:
        parser.error("--frames must be at least 2")
    logging.basicConfig(level=logging.WARNING)
    try:
        report = run(
            clips=clips, frames=frames, engine_name=args.engine, out_dir=args.out, testdata=args.testdata,
            cross=not args.no_cross, portraits=tuple(args.portraits), cross_drivers=tuple(args.cross_drivers),
            save_signals=args.signals, progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except VivicamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(report["clips"]))
    if report["cross"]:
        print("\ncross-reenactment (motion fidelity only):\n" + format_cross_table(report["cross"]))
    print(f"\nall targets met: {'yes' if report['all_pass'] else 'no'}; wrote {args.out / 'quality.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
