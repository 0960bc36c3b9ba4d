"""The ``vivicam`` command line: a thin layer over the library.

Each sub-command lives in its own module of this package and exposes
``add_parser(subparsers)`` (which sets ``func`` on its parser) ; ``main`` turns
every :class:`~vivicam.errors.VivicamError` into one line on stderr and a
non-zero exit code, never a traceback.

After Ctrl-C every command exits with 130 (128 + SIGINT, the shell's
convention), whether the command stopped by itself (``run`` ends its loop
cleanly) or was cut short; a second Ctrl-C while it stops is noted and does
not cut the clean-up short (a recording is being finished), a third quits at
once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import NoReturn

from vivicam import __version__
from vivicam.errors import VivicamError
from vivicam.realtime.cli.common import add_threads_arg
from vivicam.threads import apply as apply_thread_policy

COMMANDS = ("run", "render", "demo", "calibrate", "serve", "build", "bench", "doctor")
INTERRUPTED = 130  # exit code after Ctrl-C


class OneLineErrors(argparse.ArgumentParser):
    """Bad options are one line (``vivicam render: error: …``) and exit 2 —
    argparse's default puts the whole usage block above it, ten lines a user
    has to read past to find what was wrong. ``--help`` still shows it.
    Subcommands inherit the class (``add_subparsers`` uses the parent's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(
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
    with Interrupts() as interrupts:
        try:
            apply_thread_policy(getattr(args, "threads", None))
            code = int(args.func(args) or 0)
        except VivicamError as exc:
            print(f"vivicam {args.command}: error: {exc}", file=sys.stderr)
            return exc.exit_code
        except KeyboardInterrupt:
            print(f"vivicam {args.command}: interrupted", file=sys.stderr)
            return INTERRUPTED
    return INTERRUPTED if interrupts.count else code


class Interrupts:
    """Counts Ctrl-C while a command runs (see the module docstring): the
    first raises ``KeyboardInterrupt`` as usual, the second only says that the
    command is stopping, the third exits at once. Outside the main thread
    (where signals cannot be handled) it only counts nothing."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: object = None

    def __enter__(self) -> "Interrupts":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)  # type: ignore[arg-type]

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        if self.count == 1:
            raise KeyboardInterrupt
        if self.count == 2:
            print("vivicam: stopping (finishing the output); Ctrl-C once more to quit at once",
                  file=sys.stderr, flush=True)
            return
        os._exit(INTERRUPTED)
