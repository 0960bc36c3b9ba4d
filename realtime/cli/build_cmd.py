"""``vivicam build``: export an engine's graphs and build its TensorRT plans
ahead of time (``vivicam run`` otherwise builds them on first use)."""

from __future__ import annotations

import argparse

from vivicam.realtime.cli.common import add_engine_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "build",
        help="export ONNX graphs and build TensorRT plans ahead of time",
        description=(
            "Export the engine's tensor graphs to ONNX, check them with ONNX Runtime, "
            "and build TensorRT plans for this GPU (cached; rebuilt when stale)."
        ),
    )
    add_engine_args(parser)
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached plan is valid")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from vivicam.engines.build.engine import build_engine

    result = build_engine(
        args.engine,
        backend=args.backend,
        precision=args.precision,
        weights=args.weights,
        force=args.force,
        echo=print,
    )
    for line in result.summary_lines():
        print(line)
    return 0 if result.ok else 1
