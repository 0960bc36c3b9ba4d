"""Shared CLI helpers: sizes, engine options, and the native-log filter."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from vivicam.realtime.cli.common import add_engine_args, engine_options, parse_size


def test_parse_size() -> None:
    assert parse_size("640x480") == (640, 480)
    assert parse_size(" 1280X720 ") == (1280, 720)
    for bad in ("640", "axb", "641x480", "8x8", "100000x10"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)


def test_engine_arguments_map_onto_engine_options() -> None:
    parser = argparse.ArgumentParser()
    add_engine_args(parser)
    args = parser.parse_args(["--backend", "cpu", "--precision", "fp32", "--weights", "w"])
    assert args.engine == "warp"
    assert engine_options(args) == {"backend": "cpu", "precision": "fp32", "weights": __import__("pathlib").Path("w")}
    with pytest.raises(SystemExit):
        parser.parse_args(["--backend", "cuda"])


def test_native_log_lines_are_filtered_and_the_rest_passes() -> None:
    script = r"""
import os, sys
from vivicam.realtime.cli.common import quiet_native_logs
with quiet_native_logs():
    os.write(2, b"W0000 00:00:1795639547.386006   29417 inference_feedback_manager.cc:114] Feedback manager\n")
    os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    print("keep: python line", file=sys.stderr, flush=True)
    os.write(2, b"progress 50%\r")
    os.write(2, b"keep: native line\n")
print("after", file=sys.stderr)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    err = out.stderr.decode()
    assert out.returncode == 0, err
    assert "W0000" not in err and "TensorFlow Lite" not in err
    assert "keep: python line\n" in err and "progress 50%\r" in err  # \r kept for progress bars
    assert "keep: native line\n" in err and err.endswith("after\n")


def test_harmonize_off_reaches_the_background_spec(tmp_path) -> None:
    import argparse

    import cv2
    import numpy as np

    from vivicam.realtime.cli.common import add_output_args, background_from_args
    from vivicam.realtime.post.background import parse_background

    path = tmp_path / "sunset.png"
    cv2.imwrite(str(path), np.full((20, 30, 3), (60, 140, 230), np.uint8))
    parser = argparse.ArgumentParser()
    add_output_args(parser)
    on = background_from_args(parser.parse_args(["--background", str(path)]))
    off = background_from_args(parser.parse_args(["--background", str(path), "--harmonize", "off"]))
    assert parse_background(on).harmonize and not parse_background(off).harmonize
    assert parse_background(off).kind == "image"
