"""What the driver's reference (``render --neutral``) does to a render.

Self-reenactment through the real ``render_video``: a clip of
../shared/testdata started mid-motion (its first second has a turn or a nod)
drives a later frame of itself as the portrait, once with ``--neutral first``
(the clip's first steady second), once with ``auto`` (which recognises the
portrait as one of the driver's frames and measures from it) and once with
``auto`` by pose and expression alone (``auto_pose``: the frame recognition
switched off, as for a portrait that is not a frame of the clip). Each output frame is compared with the real frame on the
portrait's face box (1.6× the face, as ``benchmarks.quality``); the still
portrait is the baseline.

    python -m vivicam.benchmarks.neutral_choice [--out neutral_choice.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
import numpy as np

from vivicam.benchmarks import metrics

# (clip, first frame of the driving clip, portrait frame) — the first second
# after the start turns or nods; the portrait is a calm later frame, or the
# driving clip's own first frame (mid-turn).
CASES = (("d12", 35, 105), ("d12", 35, 35), ("d20", 65, 150), ("d10", 95, 300))


def trimmed(src: Path, dst: Path, start: int) -> tuple[Path, list[np.ndarray]]:
    """``src`` from frame ``start`` on, re-encoded near-losslessly; its frames."""
    frames = []
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        rate = inp.streams.video[0].average_rate
        stream = out.add_stream("libx264", rate=rate, options={"crf": "10"})
        for i, frame in enumerate(inp.decode(video=0)):
            if i < start:
                continue
            image = frame.to_ndarray(format="rgb24")
            if not frames:
                stream.width, stream.height, stream.pix_fmt = image.shape[1], image.shape[0], "yuv420p"
            frames.append(image)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return dst, frames


def face_psnr(video: Path, real: list[np.ndarray], box: metrics.Box) -> float:
    with av.open(str(video)) as container:
        out = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    n = min(len(out), len(real))
    return float(np.mean([min(metrics.psnr(box.crop(out[i]), box.crop(real[i])), metrics.PSNR_CAP_DB)
                          for i in range(n)]))


def run_case(testdata: Path, clip: str, start: int, portrait_at: int, work: Path) -> dict[str, Any]:
    from PIL import Image

    from vivicam.face.detect import find_avatar_face
    from vivicam.realtime.app import render_video

    driving, real = trimmed(testdata / "clips" / f"{clip}.mp4", work / f"{clip}_from{start}.mp4", start)
    photo = real[portrait_at - start]
    portrait = work / f"{clip}_{portrait_at}.png"
    Image.fromarray(photo).save(portrait)
    points = find_avatar_face(photo).landmarks.points
    box = metrics.face_box(points, (photo.shape[1], photo.shape[0]), scale=1.6)
    static = float(np.mean([min(metrics.psnr(box.crop(photo), box.crop(f)), metrics.PSNR_CAP_DB) for f in real]))
    row: dict[str, Any] = {"clip": clip, "driving_starts_at": start, "portrait_frame": portrait_at,
                           "portrait_index_in_driving": portrait_at - start, "frames": len(real),
                           "static_psnr": static}
    from vivicam.realtime import driver_neutral

    for mode in ("first", "auto", "auto_pose"):
        out = work / f"{clip}_{mode}.mp4"
        saved = driver_neutral.SAME_FRAME_DB
        if mode == "auto_pose":
            driver_neutral.SAME_FRAME_DB = float("inf")  # never "the portrait is that frame"
        try:
            summary = render_video(portrait, driving, out, neutral=mode.split("_")[0], audio=False, progress=False)
        finally:
            driver_neutral.SAME_FRAME_DB = saved
        row[f"{mode}_psnr"] = face_psnr(out, real, box)
        row[f"{mode}_neutral"] = summary["neutral"]
        row[f"{mode}_neutral_frames"] = summary["neutral_frames"]
    return row


def main(argv: list[str] | None = None) -> int:
    from vivicam.benchmarks.quality import find_testdata
    from vivicam.benchmarks.quality_report import machine_info

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="JSON to write")
    parser.add_argument("--testdata", default=None, help="../shared/testdata by default")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    testdata = find_testdata(args.testdata)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip, start, portrait_at in CASES:
            row = run_case(testdata, clip, start, portrait_at, Path(tmp))
            rows.append(row)
            print(f"{clip} from {start}, portrait {portrait_at}: face PSNR static {row['static_psnr']:.2f} dB, "
                  f"first {row['first_psnr']:.2f} dB (frames {row['first_neutral_frames']}), "
                  f"auto {row['auto_psnr']:.2f} dB (frames {row['auto_neutral_frames']}), "
                  f"auto by pose and expression only {row['auto_pose_psnr']:.2f} dB "
                  f"(frames {row['auto_pose_neutral_frames']})", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"machine": machine_info(), "cases": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
