"""``vivicam render``: animate a photo from a driving video, offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vivicam.realtime.cli.common import (
    add_engine_args,
    add_flow_arg,
    add_output_args,
    frame_options,
    output_fps,
    quiet_command,
)
from vivicam.realtime.stats import format_summary


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="offline: animate a photo from a driving video into an mp4",
        description="Animate PHOTO with the face in VIDEO. The output has the driving video's "
        "frame count and frame rate (or --fps), and its audio.",
    )
    p.add_argument("--avatar", required=True, metavar="PHOTO", help="portrait photo")
    p.add_argument("--driving", required=True, metavar="VIDEO", help="video of a face to follow")
    p.add_argument("-o", "--output", required=True, metavar="OUT.mp4", help="where to write the result")
    p.add_argument(
        "--neutral", default="auto", metavar="auto|first|PROFILE.json",
        help="what the motion is measured from: auto (default) the driver frames whose head pose and "
        "expression are closest to the portrait's; first the video's first steady second with a face; "
        "or a profile saved by `vivicam calibrate`",
    )
    p.add_argument("--profile", metavar="JSON", help="same as --neutral JSON")
    p.add_argument("--mirror", action="store_true", help="mirror the motion")
    add_flow_arg(p)
    p.add_argument("--no-audio", dest="audio", action="store_false", help="do not copy the driving video's audio")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument(
        "--fps", type=output_fps, default=None,
        help="render at this frame rate instead of the driving video's (e.g. a 25 fps clip at 30 or 60): "
        "in-between frames from interpolated motion; the same length, the audio in sync",
    )
    p.add_argument("--summary-json", metavar="FILE.json",
                   help="also write the run's summary (frames, fps, start-up seconds, per-stage ms) as JSON")
    add_output_args(p)
    add_engine_args(p)
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.realtime.app import render_video
    from vivicam.realtime.outputs import check_output, file_inputs

    if args.summary_json:  # checked before minutes of work, like the video
        check_output(args.summary_json, inputs=[*file_inputs(args.avatar, args.driving, args.profile, args.neutral),
                                               args.output])

    summary = render_video(
        args.avatar,
        args.driving,
        args.output,
        **frame_options(args),
        neutral=args.profile or args.neutral,
        mirror=True if args.mirror else None,
        driver_flow=args.driver_flow,
        audio=args.audio,
        progress=args.progress,
        fps=args.fps,
        on_status=lambda text: print(text, file=sys.stderr, flush=True),
    )
    startup = "" if summary.get("startup_s") is None else f"; first frame {summary['startup_s']:.1f} s after start"
    print(f"wrote {summary['output']} ({summary['frames']} frames at {summary['video_fps']:g} fps{startup})")
    print(format_summary(summary))
    if args.summary_json:
        Path(args.summary_json).write_text(json.dumps(summary, indent=1) + "\n")
    return 0
