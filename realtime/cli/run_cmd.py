"""``vivicam run``: webcam → avatar → virtual camera + preview."""

from __future__ import annotations

import argparse
import sys

from vivicam.realtime.cli.common import (
    add_engine_args,
    add_flow_arg,
    add_output_args,
    background_from_args,
    engine_options,
    output_fps,
    parse_size,
    positive_float,
    quiet_command,
)
from vivicam.realtime.config import (
    LIVE_FPS,
    LIVE_SIZE,
    EngineConfig,
    LoopSettings,
    MotionSettings,
    OutputConfig,
    RunConfig,
    SourceConfig,
    TrackingConfig,
)
from vivicam.realtime.loop_state import MAX_OUT_FPS
from vivicam.realtime.stats import format_summary

_SIZE = f"{LIVE_SIZE[0]}x{LIVE_SIZE[1]}"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="live: webcam → avatar → virtual camera (+ preview)",
        description="Animate a portrait from your webcam and send it to a virtual camera. "
        "Hotkeys in the preview: c recalibrate, n/p next/previous avatar, space pause (camera "
        "passthrough), s stats overlay, q or Esc quit.",
    )
    p.add_argument("--avatar", required=True, metavar="PHOTO", help="portrait photo, or a folder of photos (n/p switch)")
    p.add_argument("--camera", default="0", help="camera index or device path; a video file or 'idle' also work (default: 0)")
    p.add_argument("--camera-size", type=parse_size, default=LIVE_SIZE, metavar="WxH", help=f"requested camera size (default: {_SIZE})")
    p.add_argument("--fps", type=output_fps, default=LIVE_FPS, help=f"output frame rate of the virtual camera and the recording, 1-{MAX_OUT_FPS:g} (default: {LIVE_FPS:g}); steady whatever the camera delivers (in-between frames from predicted motion); the camera is asked for it too")
    p.add_argument("--profile", metavar="JSON", help="neutral-face profile saved by `vivicam calibrate`")
    p.add_argument("--mirror", action="store_true", help="mirror the motion (your left is the avatar's left on screen)")
    add_flow_arg(p)
    p.add_argument("--no-virtual-camera", dest="virtual_camera", action="store_false", help="do not open a virtual camera")
    p.add_argument("--device", default=None, help="virtual camera device (e.g. /dev/video10 on Linux)")
    preview = p.add_mutually_exclusive_group()
    preview.add_argument("--preview", dest="preview", action="store_true", default=None, help="show the preview window (default: when a display exists)")
    preview.add_argument("--no-preview", dest="preview", action="store_false", help="no preview window")
    p.add_argument("--record", metavar="OUT.mp4", help="also record the output to a file")
    p.add_argument("--stats", nargs="?", const=2.0, type=positive_float, metavar="SECONDS", help="print a timing line every SECONDS (default 2)")
    p.add_argument("--overlay", action="store_true", help="start with the stats overlay shown in the preview (toggle: s)")
    p.add_argument("--seconds", type=positive_float, default=None, help="stop after this many seconds")
    add_output_args(p, default_size=_SIZE)
    add_engine_args(p)
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.realtime.guard import LoopError

    try:
        return _run(args)
    except LoopError as exc:  # the loop stopped on an error: its summary, then main's one-line reason
        print(format_summary(exc.summary))
        recording = exc.summary.get("recording")
        if recording and recording["frames"]:
            print(f"recorded {recording['path']} ({recording['frames']} frames)")
        raise


def run_config(args: argparse.Namespace) -> RunConfig:
    """The one configuration of a live run, from parsed ``vivicam run`` arguments."""
    return RunConfig(
        avatar=args.avatar,
        source=SourceConfig(camera=args.camera, camera_size=tuple(args.camera_size)),
        tracking=TrackingConfig(driver_flow=args.driver_flow),
        motion=MotionSettings(profile=args.profile, mirror=True if args.mirror else None),
        engine=EngineConfig(name=args.engine, **engine_options(args)),
        output=OutputConfig(size=tuple(args.size) if args.size else LIVE_SIZE, fps=args.fps,
                            background=background_from_args(args), virtual_camera=args.virtual_camera,
                            virtual_camera_device=args.device, preview=args.preview, record=args.record),
        loop=LoopSettings(stats_every_s=args.stats, overlay=args.overlay, duration_s=args.seconds),
    )


def _run(args: argparse.Namespace) -> int:
    from vivicam.realtime.live import run_live

    def status(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    summary = run_live(run_config(args), on_status=status)
    print(format_summary(summary))
    recording = summary.get("recording")
    if recording:
        if recording["error"]:
            print(f"vivicam run: error: {recording['error']}", file=sys.stderr)
            return 2
        if recording["frames"]:
            print(f"recorded {recording['path']} ({recording['frames']} frames)")
    return 0
