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
    state = eng.prepare(photo)
    pipeline = Pipeline(eng, state)
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
    return photo, [frames[i] for i in sorted(frames)], face_box(state.crop_matrix, state.crop_size, photo.shape)


def face_box(crop_matrix: np.ndarray, crop_size: int, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in the photo of the engine's (axis-aligned) face crop."""
    m = np.asarray(crop_matrix, np.float64)
    x0, y0 = -m[0, 2] / m[0, 0], -m[1, 2] / m[1, 1]
    x1, y1 = x0 + crop_size / m[0, 0], y0 + crop_size / m[1, 1]
    h, w = shape[:2]
    return max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, out.shape[0] - 30), (out.shape[1], out.shape[0]), (0, 0, 0), -1)
    cv2.putText(out, text, (8, out.shape[0] - 9), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def strip(before: np.ndarray, after: list[np.ndarray], times_s: list[float], box: tuple[int, int, int, int],
          *, height: int = 256) -> np.ndarray:
    """One row: the whole photo, a gap, then the face region of the photo and
    of each animated frame (zoomed so the motion shows); each labelled."""
    x0, y0, x1, y1 = box

    def fit(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, (round(img.shape[1] * height / img.shape[0]), height), interpolation=cv2.INTER_AREA)

    gap = np.full((height, 12, 3), 255, np.uint8)
    tiles = [label(fit(before), "photo"), gap, label(fit(before[y0:y1, x0:x1]), "photo (face)"), gap]
    for img, t in zip([a[y0:y1, x0:x1] for a in after], times_s):
        tiles.append(label(fit(img), f"vivicam {t:.1f} s"))
        tiles.append(np.full((height, 2, 3), 255, np.uint8))
    return np.concatenate(tiles[:-1], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    # seed 0 of the idle driver: talking throughout, a blink at about 4.5 s
    parser.add_argument("--times", type=float, nargs="+", default=[0.8, 2.2, 3.6, 4.52])
    parser.add_argument("--engine", default="warp")
    args = parser.parse_args(argv)
    photo, frames, box = demo_frames(args.times, engine=args.engine)
    image = strip(photo, frames, args.times, box)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out} ({image.shape[1]}x{image.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
