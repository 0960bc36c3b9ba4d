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

The suites (docs/quality.md) run instead with ``--suite``:

    python -m vivicam.benchmarks.quality --suite generalization --out X.json --sheet X.png
    python -m vivicam.benchmarks.quality --suite steadiness --out Y.json --sheet Y.png
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from vivicam.benchmarks import contact_sheet, metrics
from vivicam.benchmarks.baselines import PoseOnlyWarp, StaticPhoto
from vivicam.benchmarks.clips import clip_paths, find_testdata, portrait_photo, probe, read_frames, track_clip
from vivicam.benchmarks.cross import cross_reenact
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
from vivicam.benchmarks.stages import (
    FACE_BOX_SCALE,
    SHEET_COLUMNS,
    fidelity,
    motion_signals,
    motion_stages,
    paste_back,
)
from vivicam.calibrate import mesh
from vivicam.errors import InputError, NoFaceError, VivicamError
from vivicam.types import Frame, Motion


QUICK_CLIPS = ("d10", "d12", "d18")
QUICK_FRAMES = 60
# photos, paintings, a statue, a printed photo held in a hand, and a
# cartoon-style face made from s1 (benchmarks/portrait_styles.py)
CROSS_PORTRAITS = ("s0", "s1", "s2", "s5", "s6", "s11", "s1+cartoon")
CROSS_DRIVERS = ("d10", "d12")
# A driver frame counts as "holding still" when its landmarks move less than
# this many face sizes per frame (about 0.3 px for a 100 px face); runs of at
# least STILL_MIN_FRAMES such frames are where jitter is measured.
STILL_SPEED = 0.004
STILL_MIN_FRAMES = 8
DIFF_GAIN = 3  # the contact sheet's difference row shows |output - real| × this


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
            entry.update(fidelity(drv, sig, points, runs))
        out["methods"][method.name] = entry
    return out, signals


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


SUITES = ("generalization", "steadiness")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vivicam.benchmarks.quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", choices=SUITES,
                        help="run a suite instead of the self/cross-reenactment benchmark (docs/quality.md)")
    parser.add_argument("--clips", nargs="+", help="clip names (default: every clip in the test data)")
    parser.add_argument("--frames", type=int, help="at most this many frames per clip or case (default: all; suites: their own)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FRAMES} frames of {', '.join(QUICK_CLIPS)}")
    parser.add_argument("--engine", default="warp", help="engine under test (default: warp)")
    parser.add_argument("--out", type=Path, help="output folder (default: docs/quality); with --suite, the JSON file")
    parser.add_argument("--sheet", type=Path, help="with --suite: the contact sheet PNG (default: beside --out)")
    parser.add_argument("--cases", nargs="+", help="with --suite: only these cases or portraits")
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
    if args.suite:
        return _run_suite(args)
    out = args.out or Path("docs/quality")
    try:
        report = run(
            clips=clips, frames=frames, engine_name=args.engine, out_dir=out, testdata=args.testdata,
            cross=not args.no_cross, portraits=tuple(args.portraits), cross_drivers=tuple(args.cross_drivers),
            save_signals=args.signals, progress=_say,
        )
    except VivicamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(report["clips"]))
    if report["cross"]:
        print("\ncross-reenactment (motion fidelity only):\n" + format_cross_table(report["cross"]))
    print(f"\nall targets met: {'yes' if report['all_pass'] else 'no'}; wrote {out / 'quality.json'}")
    return 0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def suite_paths(suite: str, out: Path | None, sheet: Path | None) -> tuple[Path, Path]:
    """(JSON, sheet) of a suite run: ``--out`` is the JSON file, or a folder
    to hold ``<suite>.json``; the sheet defaults to the JSON's name as .png."""
    out = out or Path("docs/quality") / suite
    json_path = out if out.suffix.lower() == ".json" else out / f"{suite}.json"
    return json_path, sheet or json_path.with_suffix(".png")


def _run_suite(args: argparse.Namespace) -> int:
    json_path, sheet_path = suite_paths(args.suite, args.out, args.sheet)
    try:
        for path in (json_path, sheet_path):
            if not path.parent.is_dir():
                raise InputError(f"cannot write {path}: folder {path.parent} does not exist")
        if args.suite == "generalization":
            from vivicam.benchmarks import generalization as suite
        else:
            from vivicam.benchmarks import steadiness as suite
        kwargs = {"frames_cap": args.frames} if args.frames else {}
        report = suite.run(testdata=args.testdata, engine=args.engine, case_names=args.cases,
                           json_path=json_path, sheet_path=sheet_path, progress=_say, **kwargs)
    except VivicamError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(suite.table(report))
    print(f"\nwrote {json_path} and {sheet_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
