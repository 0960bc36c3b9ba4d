"""The benchmarks' inputs: the test-data folder, its clips and portraits,
decoded frames, driver landmarks, and short videos written for a case."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from vivicam.benchmarks import metrics
from vivicam.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


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


def read_frames(path: Path, max_frames: int | None = None, *, start: int = 0) -> Iterator[np.ndarray]:
    """Decoded RGB uint8 frames ``start``, ``start + 1``, …, at most ``max_frames``."""
    import av

    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start:
                continue
            if max_frames is not None and i >= start + max_frames:
                break
            yield frame.to_ndarray(format="rgb24")


LOSSLESS_CRF = 0


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, *, crf: int = LOSSLESS_CRF) -> Path:
    """Frames (all one size, even sides) into an H.264 mp4 through the project's
    own sink; lossless by default, so a driver made for a case decodes to
    exactly its frames. (At CRF 12, PyAV 18.1's libx264 decoded to other
    pixels on every encode of the same frames, with one thread too, and a
    suite's numbers moved between runs of the same code: low-light mouth r
    0.76-0.86.)"""
    from vivicam.realtime.sinks.mp4 import Mp4Sink

    frames = iter(frames)
    first = next(frames)
    with Mp4Sink(path, fps, (first.shape[1], first.shape[0]), crf=crf) as sink:
        sink.write(first)
        for frame in frames:
            sink.write(frame)
    return path


def write_video_apart(path: Path, frames: Iterable[np.ndarray], fps: float, *, crf: int,
                      timeout_s: float = 600.0) -> Path:
    """:func:`write_video` at a lossy ``crf``, the same pixels on every run:
    the frames go to a raw array beside ``path``, and a fresh Python process
    encodes them. libx264 through PyAV encodes the same frames at CRF 12 to
    other pixels in a process that has done other work first (the
    steadiness suite's drivers differed by up to 18 grey levels between runs,
    and its rest PSNR by 3 dB); a fresh process that only encodes gives the
    same pixels every time."""
    import subprocess
    import sys

    raw = path.with_name(path.stem + ".frames.npy")
    try:
        np.save(raw, np.stack(list(frames)))
    except OSError as e:
        raise InputError(f"could not write {raw}: {e.strerror or e}") from e
    code = ("import sys; import numpy as np; from pathlib import Path; from vivicam.benchmarks.clips import write_video; "
            "write_video(Path(sys.argv[2]), iter(np.load(sys.argv[1])), float(sys.argv[3]), crf=int(sys.argv[4]))")
    try:
        subprocess.run([sys.executable, "-c", code, str(raw), str(path), repr(float(fps)), str(int(crf))],
                       check=True, timeout=timeout_s, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        detail = (getattr(e, "stderr", None) or b"").decode(errors="replace").strip()[-300:]
        raise InputError(f"could not encode {path.name}: {detail or e}") from e
    finally:
        raw.unlink(missing_ok=True)
    return path


def load_portrait(path: Path) -> np.ndarray:
    from vivicam.realtime.sources.photo import load_photo

    return load_photo(path)


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


def track_frames(frames: Iterable[np.ndarray]) -> np.ndarray:
    """Landmarks (N, 478, 3) of a frame sequence (MediaPipe, video mode), NaN where lost."""
    from vivicam.face.tracker import MediaPipeTracker

    with MediaPipeTracker() as tracker:
        found = [tracker.track(f) for f in frames]
    return metrics.stack_points([None if lm is None else lm.points for lm in found])


def track_clip(path: Path, frames: int | None) -> np.ndarray:
    """Driver landmarks (N, 478, 3), NaN where the face is lost."""
    return track_frames(read_frames(path, frames))
