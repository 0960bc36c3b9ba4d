"""The ``vivicam`` command line: a thin layer over the library.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser) ; ``main`` turns
every :class:`~vivicam.errors.VivicamError` into one line on stderr and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from vivicam import __version__
from vivicam.errors import VivicamError
from vivicam.realtime.cli.common import add_threads_arg
from vivicam.threads import apply as apply_thread_policy

COMMANDS = ("run", "render", "demo", "calibrate", "build", "bench", "doctor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vivicam",
        description="Animate a still portrait from your webcam and send it to a virtual camera.",
    )
    parser.add_argument("--version", action="version", version=f"vivicam {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"vivicam.realtime.cli.{name}_cmd")
        module.add_parser(sub)
    for command in sub.choices.values():  # one place: every command takes --threads
        add_threads_arg(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        apply_thread_policy(getattr(args, "threads", None))
        return int(args.func(args) or 0)
    except VivicamError as exc:
        print(f"vivicam {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"vivicam {args.command}: interrupted", file=sys.stderr)
        return 130
