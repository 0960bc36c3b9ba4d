"""The README's before/after strip: the demo portrait as given, then frames
of ``vivicam demo`` (procedural blinks, head sway, talking).

    python -m vivicam.benchmarks.make_readme_figure [--out docs/before_after.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "before_after.png"


def demo_frames(times_s: list[float], *, fps: float = 25.0, engine: str = "warp", seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """The demo photo and the demo's output at ``times_s`` seconds."""
    from vivicam.realtime.app import demo_photo, make_engine
    from vivicam.realtime.pipeline import Pipeline
    from vivicam.realtime.sources.idle import IdleSource

    photo = demo_photo()
    eng = make_engine(engine)
    pipeline = Pipeline(eng, eng.prepare(photo))
    wanted = {int(round(t * fps)) for t in times_s}
    source = IdleSource(fps=fps, seconds=max(times_s) + 1.0 / fps, seed=seed, talk=True, realtime=False)
    frames: dict[int, np.ndarray] = {}
    try:
        for frame in source.frames():
            result = pipeline.step(frame, t_s=frame.index / fps)
            if frame.index in wanted:
                frames[frame.index] = result.image
            if len(frames) == len(wanted):
                break
    finally:
        source.close()
    return photo, [frames[i] for i in sorted(frames)]


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, out.shape[0] - 30), (out.shape[1], out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (8, out.shape[0] - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def strip(before: np.ndarray, after: list[np.ndarray], times_s: list[float], *, height: int = 256) -> np.ndarray:
    """One row: the photo, a gap, the animated frames; each labelled."""

    def fit(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height), interpolation=cv2.INTER_AREA)

    tiles = [label(fit(before), "photo")]
    gap = np.full((height, 12, 3), 255, np.uint8)
    tiles.append(gap)
    for img, t in zip(after, times_s):
        tiles.append(label(fit(img), f"vivicam {t:.1f} s"))
        tiles.append(np.full((height, 2, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--times", type=float, nargs="+", default=[0.8, 2.2, 3.6, 5.0, 6.4])
    parser.add_argument("--engine", default="warp")
    args = parser.parse_args(argv)
    photo, frames = demo_frames(args.times, engine=args.engine)
    image = strip(photo, frames, args.times)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
