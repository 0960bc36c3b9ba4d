"""``vivicam bench``: the live-loop benchmark (per-stage time, FPS, latency)."""

from __future__ import annotations

import argparse

from vivicam.realtime.cli.common import quiet_command


def add_parser(sub: argparse._SubParsersAction) -> None:
    from vivicam.benchmarks.live_loop import add_arguments

    p = sub.add_parser(
        "bench",
        help="measure the live loop on a video (per-stage ms, FPS, latency) and write JSON",
        description="Run the live loop with a video file as the camera and a null sink; print "
        "per-stage median/p95 times, FPS and capture-to-output latency, and write them as JSON.",
    )
    add_arguments(p)
    p.set_defaults(func=quiet_command(run))


def run(args: argparse.Namespace) -> int:
    from vivicam.benchmarks.live_loop import format_table, run_benchmark

    result = run_benchmark(args)
    print(format_table(result))
    if args.out:
        print(f"wrote {args.out}")
    return 0
