"""``vivicam demo``: no webcam, no GPU, no download."""

from __future__ import annotations

import argparse

from vivicam.realtime.cli.common import add_engine_args, add_output_args, frame_options, positive_float, quiet_command
from vivicam.realtime.app import DEMO_FPS, DEMO_OUTPUT, DEMO_SECONDS
from vivicam.realtime.stats import format_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="animate the bundled astronaut portrait with procedural motion (no webcam needed)",
        description="Animate a bundled public-domain portrait (NASA's astronaut photo, shipped "
        "with scikit-image) with procedural motion: blinks, head sway, talking.",
    )
    p.add_argument("-o", "--output", default=DEMO_OUTPUT, metavar="OUT.mp4", help=f"video to write (default: {DEMO_OUTPUT})")
    p.add_argument("--seconds", type=positive_float, default=DEMO_SECONDS, help=f"length (default: {DEMO_SECONDS:g})")
    p.add_argument("--fps", type=positive_float, default=DEMO_FPS, help=f"frame rate (default: {DEMO_FPS:g})")
    preview = p.add_mutually_exclusive_group()
    preview.add_argument("--preview", dest="preview", action="store_true", default=None, help="show a preview window (default: when a display exists)")
    preview.add_argument("--no-preview", dest="preview", action="store_false", help="only write the file")
    p.add_argument("--seed", type=int, default=0, help="seed of the procedural motion")
    add_output_args(p)
    add_engine_args(p)
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.realtime.app import run_demo

    summary = run_demo(
        args.output,
        args.seconds,
        fps=args.fps,
        preview=args.preview,
        **frame_options(args),
        seed=args.seed,
        progress=True,
    )
    print(f"wrote {summary['output']} ({summary['frames']} frames, {args.seconds:g} s)")
    print(format_summary(summary))
    return 0
