"""Arguments shared by several sub-commands, and how they turn into objects.

One place for each option's name, choices and default, so ``run``, ``render``,
``demo``, ``bench`` and ``build`` cannot drift apart.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from vivicam.engines.base import Engine
from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS

DEFAULT_ENGINE = "warp"
BACKENDS = ("auto", "cpu", "onnxruntime", "tensorrt", "torch")
BACKGROUNDS = ("keep", "blur", "color")

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` → ``(640, 480)``; an argparse ``type=`` (bad text → usage error)."""
    match = _SIZE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got '{text}'")
    width, height = int(match.group(1)), int(match.group(2))
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise argparse.ArgumentTypeError(f"size {width}x{height} is out of range (16..8192 per side)")
    if width % 2 or height % 2:
        # H.264 yuv420p and most virtual cameras need even sides.
        raise argparse.ArgumentTypeError(f"size {width}x{height}: width and height must be even")
    return width, height


def positive_float(text: str) -> float:
    """An argparse ``type=`` for seconds, fps and the like."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got '{text}'")
    return value


def output_fps(text: str) -> float:
    """An argparse ``type=`` for an output frame rate (1 to MAX_OUT_FPS frames a second)."""
    from vivicam.realtime.loop_state import MAX_OUT_FPS

    value = positive_float(text)
    if not 1.0 <= value <= MAX_OUT_FPS:
        raise argparse.ArgumentTypeError(f"expected a frame rate from 1 to {MAX_OUT_FPS:g}, got '{text}'")
    return value


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """``--engine``, ``--backend``, ``--weights``, ``--precision``."""
    from vivicam.engines.registry import engine_names

    group = parser.add_argument_group("engine")
    group.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        help=f"generator engine: {', '.join(engine_names())} (default: {DEFAULT_ENGINE})",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="where the engine runs; auto picks TensorRT where it supports the GPU, else PyTorch on CUDA, else the CPU (vivicam doctor shows why; default: auto)",
    )
    group.add_argument(
        "--weights",
        metavar="DIR",
        type=Path,
        default=None,
        help="folder with the engine's weights (liveportrait needs it; warp has none)",
    )
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=DEFAULT_PRECISION,
        help="compiled-engine precision on the GPU (default: fp16)",
    )
    group.add_argument(
        "--mouth",
        choices=("driver", "synth"),
        default=None,
        help="warp: what an opening mouth shows: your own mouth's inside, colour-matched "
        "(default), or a synthesised one (teeth, tongue, cavity in the portrait's colours)",
    )
    group.add_argument(
        "--camera-motion",
        choices=("follow", "still"),
        default=None,
        help="warp: when your camera moves (hand-held, panning), move the whole picture with it "
        "(follow, default) or keep the portrait's background still and move only the head (still)",
    )


def add_flow_arg(parser: argparse.ArgumentParser) -> None:
    """``--no-flow`` (sets ``args.driver_flow`` False) for commands that drive an engine from a face."""
    parser.add_argument(
        "--no-flow", dest="driver_flow", action="store_false",
        help="skip the driver's optical flow (saves ~3 ms a frame; hair and shoulders then follow "
        "the head only, and the camera counts as still)",
    )


def add_threads_arg(parser: argparse.ArgumentParser) -> None:
    """``--threads N``: the native libraries' thread pools (see :mod:`vivicam.threads`)."""
    from vivicam.threads import ENV, OWN_THREADS

    if "--threads" in parser._option_string_actions:  # a command that added it itself
        return
    parser.add_argument(
        "--threads", metavar="N", default=None,
        help=f"threads for OpenCV, ONNX Runtime, torch and OpenMP (NumPy's BLAS always uses one); "
        f"default: ${ENV} if set, else the cores less {OWN_THREADS}, at least 1",
    )


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword options every engine factory accepts, from parsed args."""
    options = {
        "backend": getattr(args, "backend", "auto"),
        "weights": getattr(args, "weights", None),
        "precision": getattr(args, "precision", DEFAULT_PRECISION),
    }
    for name in ("mouth", "camera_motion"):  # warp only: not every engine takes them
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    return options


def engine_from_args(args: argparse.Namespace) -> Engine:
    """The engine the user asked for (InputError for an unknown name)."""
    from vivicam.engines.registry import create_engine

    return create_engine(getattr(args, "engine", DEFAULT_ENGINE), **engine_options(args))


def add_output_args(parser: argparse.ArgumentParser, *, default_size: str | None = None) -> None:
    """``--size WxH`` and ``--background`` for commands that produce frames."""
    group = parser.add_argument_group("output")
    group.add_argument(
        "--size",
        type=parse_size,
        default=parse_size(default_size) if default_size else None,
        metavar="WxH",
        help="output frame size, letterboxed (default: "
        + (default_size if default_size else "the avatar photo's size, even, at most 2048 px a side")
        + ")",
    )
    group.add_argument(
        "--background",
        default="keep",
        metavar="MODE",
        help="keep | blur | color | color:#RRGGBB (solid key colour for OBS chroma key, default green) "
        "| path to an image (default: keep)",
    )
    group.add_argument(
        "--harmonize",
        choices=("on", "off"),
        default="on",
        help="with --background IMAGE: shift the person's tone a little toward the new "
        "background's light (default: on)",
    )


def background_from_args(args: argparse.Namespace) -> Any:
    """``"keep"``/``"blur"``/``"color"`` as is; anything else is an image path,
    loaded (InputError on a bad file) so compose gets an RGB array."""
    value = getattr(args, "background", "keep") or "keep"
    if value in BACKGROUNDS or value.startswith("color:"):
        chosen: Any = value
    else:
        from vivicam.realtime.sources.photo import load_photo

        chosen = load_photo(value)
    if getattr(args, "harmonize", "on") == "off":
        from dataclasses import replace

        from vivicam.realtime.post.background import parse_background

        return replace(parse_background(chosen), harmonize=False)
    return chosen


def frame_options(args: argparse.Namespace) -> dict[str, Any]:
    """What every frame-producing command passes to the library API: the engine
    and its options, the output size and the background."""
    return {
        "engine": getattr(args, "engine", DEFAULT_ENGINE),
        **engine_options(args),
        "size": getattr(args, "size", None),
        "background": background_from_args(args),
    }


# MediaPipe's C++ side (glog/absl, TFLite) writes lines like
# "W0000 00:00:1795639547.386006   29417 inference_feedback_manager.cc:114] ..."
# straight to file descriptor 2 on every graph start. Environment variables
# do not silence them (they are printed before absl's logging is set up).
_NATIVE_NOISE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]]+\]|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog)"
)
_NOISE_STARTS = (b"I0", b"W0", b"E0", b"F0", b"INFO: Created", b"WARNING: All log")


def _is_noise_start(data: bytes) -> bool:
    return any(data.startswith(p[: len(data)]) or data.startswith(p) for p in _NOISE_STARTS)


@contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    """Drop MediaPipe's native log lines from stderr while the block runs;
    everything else (our messages, progress bars) passes through unchanged.
    Works on the file descriptor, so it catches C++ writes too."""
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
    except (OSError, ValueError):  # no real fd 2 (embedded, some IDEs): leave it
        yield
        return

    def pump() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(read_end, 65536)
            except OSError:
                break
            if not chunk:
                break
            *lines, pending = (pending + chunk).split(b"\n")
            out = [line + b"\n" for line in lines if not _NATIVE_NOISE.match(line)]
            if pending and not _is_noise_start(pending):  # e.g. a progress bar redrawn with \r
                out.append(pending)
                pending = b""
            if out:
                os.write(saved, b"".join(out))
        if pending and not _NATIVE_NOISE.match(pending):
            os.write(saved, pending)

    thread = threading.Thread(target=pump, name="vivicam-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)  # closes the pipe's last write end: the pump sees EOF
        thread.join(timeout=2.0)
        os.close(read_end)
        os.close(saved)


def quiet_command(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """A sub-command's ``func`` with MediaPipe's native log lines filtered
    (kept with ``vivicam -v``)."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        with quiet_native_logs(not getattr(args, "verbose", False)):
            return func(args)

    return wrapper
