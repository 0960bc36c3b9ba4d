"""``vivicam serve``: the avatar in a browser and as a transparent OBS overlay."""

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
    quiet_command,
)
from vivicam.realtime.config import LIVE_FPS, LIVE_SIZE
from vivicam.realtime.loop_state import MAX_OUT_FPS


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got '{text}'") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is out of range (0..65535)")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    from vivicam.realtime.serve.config import DEFAULT_HOST, DEFAULT_MAX_SESSIONS, DEFAULT_PORT

    p = sub.add_parser(
        "serve",
        help="the avatar in a browser (WebRTC) and as a transparent OBS overlay",
        description="Serve the avatar over WebRTC: open / in a browser, allow the camera and see "
        "yourself as the avatar; add /overlay as an OBS browser source for the avatar with real "
        "transparency. Loopback only by default; another --host needs a token (generated when not given).",
    )
    p.add_argument("--avatar", required=True, metavar="PHOTO", help="portrait photo, or a folder of photos (the page switches)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT})")
    p.add_argument("--token", default=None, help="access token every request must carry (required off loopback; generated when not given)")
    p.add_argument("--camera", default=None, metavar="SRC",
                   help="the server's own camera for /overlay: index, /dev/videoN, a video file or 'idle' "
                   "(default: none, the overlay shows the newest browser session)")
    p.add_argument("--max-sessions", type=_count, default=DEFAULT_MAX_SESSIONS,
                   help=f"browser sessions at once; the next one is refused (default: {DEFAULT_MAX_SESSIONS})")
    p.add_argument("--mirror", action="store_true", help="mirror the motion (your left is the avatar's left on screen)")
    p.add_argument("--fps", type=output_fps, default=LIVE_FPS,
                   help=f"each session's output frame rate, 1-{MAX_OUT_FPS:g} (default: {LIVE_FPS:g}); steady whatever "
                   "the browser's camera delivers (in-between frames from predicted motion)")
    add_flow_arg(p)
    add_output_args(p, default_size=f"{LIVE_SIZE[0]}x{LIVE_SIZE[1]}")
    add_engine_args(p)
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.optional import require

    require("aiortc", "vivicam serve")
    require("aiohttp", "vivicam serve")
    from vivicam.realtime.serve import ServeConfig, serve

    def status(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    config = ServeConfig(
        avatar=args.avatar,
        host=args.host,
        port=args.port,
        token=args.token,
        camera=args.camera,
        max_sessions=args.max_sessions,
        engine=args.engine,
        engine_options=engine_options(args),
        size=tuple(args.size),
        background=background_from_args(args),
        mirror=True if args.mirror else None,
        driver_flow=args.driver_flow,
        fps=args.fps,
    )
    serve(config, on_status=status)
    return 0
