"""``python -m vivicam`` and the ``vivicam`` console script."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    import signal

    from vivicam.realtime.cli.main import INTERRUPTED, main as cli_main

    code = cli_main(argv)
    if code == INTERRUPTED:
        # Stopped by Ctrl-C: another press while the interpreter tears down
        # (threads, MediaPipe) must not turn 130 into a death by signal.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(main())
