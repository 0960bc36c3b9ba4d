"""``vivicam calibrate``: save your neutral face as a profile."""

from __future__ import annotations

import argparse
import sys

from vivicam.realtime.app import PROFILE_SECONDS
from vivicam.realtime.cli.common import positive_float, quiet_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="record your neutral face into a profile for run/render --profile",
        description="Watch your relaxed, neutral face for a couple of seconds and save it "
        "as a small JSON profile. Without one, `run` calibrates itself during its first second "
        "(and again on the c hotkey).",
    )
    p.add_argument("-o", "--output", default="vivicam-profile.json", metavar="JSON", help="profile to write (default: vivicam-profile.json)")
    p.add_argument("--camera", default="0", help="camera index, device path, or a video file (default: 0)")
    p.add_argument("--seconds", type=positive_float, default=PROFILE_SECONDS, help=f"how long to watch (default: {PROFILE_SECONDS:g})")
    p.add_argument("--mirror", action="store_true", help="store mirror=true in the profile")
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.realtime.app import calibrate_profile

    path = calibrate_profile(
        args.output,
        source=args.camera,
        seconds=args.seconds,
        mirror=True if args.mirror else None,
        on_status=lambda text: print(text, file=sys.stderr, flush=True),
    )
    print(f"saved profile {path}")
    return 0
