"""``vivicam doctor``: what this machine has, in a few readable lines."""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Callable

# distribution name -> what it is for (shown when missing)
PACKAGES = (
    ("mediapipe", "face tracking"),
    ("numpy", "arrays"),
    ("opencv-contrib-python", "image I/O, preview window"),
    ("av", "mp4 files"),
    ("pyvirtualcam", "virtual camera"),
    ("scikit-image", "demo portrait"),
    ("torch", "export extra: tensor graphs"),
    ("onnx", "export extra"),
    ("onnxruntime", "export extra: ONNX Runtime backend"),
    ("onnxruntime-gpu", "ONNX Runtime on CUDA (optional)"),
    ("cupy-cuda12x", "gpu-cu12 extra"),
    ("cupy-cuda13x", "gpu-cu13 extra"),
    ("tensorrt-rtx-cu12", "gpu-cu12 extra: TensorRT for RTX"),
    ("tensorrt-rtx-cu13", "gpu-cu13 extra: TensorRT for RTX"),
    ("tensorrt", "full TensorRT (optional)"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check Python, packages, cameras, virtual camera, display and GPU")
    p.add_argument("--weights", metavar="DIR",
                   help="also check a LivePortrait weights folder (exit code 2 when it is not usable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    sections: list[tuple[str, Callable[[], list[str]]]] = [
        ("python", _python_lines),
        ("packages", _package_lines),
        ("cameras", _camera_lines),
        ("virtual camera", _virtual_camera_lines),
        ("display", _display_lines),
        ("gpu", _gpu_lines),
    ]
    if args.weights:
        sections.append(("weights", lambda: _weights_lines(Path(args.weights))))
    weights_ok = True
    for title, lines in sections:
        try:
            found = lines()
        except Exception as exc:  # doctor reports; it never fails on what it inspects
            found = [f"could not check ({type(exc).__name__}: {exc})"]
        print(f"{title}:")
        for line in found:
            print(f"  {line}")
        if title == "weights":
            weights_ok = not any("FAIL" in line or "could not check" in line for line in found)
    # Scripts can test a weights folder with the exit code; the rest is information.
    return 0 if weights_ok else 2


def _python_lines() -> list[str]:
    from vivicam import __version__

    return [
        f"vivicam {__version__}, Python {platform.python_version()} ({sys.executable})",
        f"{platform.system()} {platform.release()} {platform.machine()}",
    ]


def _package_lines() -> list[str]:
    lines = []
    for name, why in PACKAGES:
        try:
            lines.append(f"{name:<22} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{name:<22} -  ({why})")
    return lines


def _camera_lines() -> list[str]:
    if sys.platform.startswith("linux"):
        devices = sorted(Path("/dev").glob("video*"), key=lambda p: (len(p.name), p.name))
        if not devices:
            return ["no /dev/video* device (no webcam connected, or no permission in this container)"]
        return [f"{dev}  {_v4l2_name(dev)}" for dev in devices]
    return ["camera listing is Linux-only here; `vivicam run --camera N` picks camera N (default 0)"]


def _v4l2_name(dev: Path) -> str:
    name_file = Path("/sys/class/video4linux") / dev.name / "name"
    try:
        return name_file.read_text().strip()
    except OSError:
        return ""


def _virtual_camera_lines() -> list[str]:
    lines = []
    try:
        lines.append(f"pyvirtualcam {metadata.version('pyvirtualcam')}")
    except metadata.PackageNotFoundError:
        return ["pyvirtualcam is not installed (pip install pyvirtualcam)"]
    if sys.platform.startswith("linux"):
        if Path("/sys/module/v4l2loopback").exists():
            loopbacks = [
                f"/dev/{p.parent.name} ({p.read_text().strip()})"
                for p in Path("/sys/class/video4linux").glob("video*/name")
                if "loopback" in p.read_text().lower() or "vivicam" in p.read_text().lower()
            ]
            lines.append("v4l2loopback loaded" + (f": {', '.join(sorted(loopbacks))}" if loopbacks else ""))
        else:
            lines.append(
                "v4l2loopback is not loaded: sudo apt install v4l2loopback-dkms && "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=vivicam"
            )
    else:
        lines.append("uses OBS Virtual Camera: install OBS Studio and start its Virtual Camera once")
    return lines


def _display_lines() -> list[str]:
    from vivicam.realtime.sinks.preview import has_display

    if has_display():
        return ["available (preview window will open)"]
    return ["none (headless): use --no-preview; `vivicam demo` still writes its mp4"]


def _gpu_lines() -> list[str]:
    try:
        from vivicam.engines.backends import doctor_lines
    except ImportError:
        return ["GPU check not available in this build"]
    return list(doctor_lines())


def _weights_lines(folder: Path) -> list[str]:
    try:
        from vivicam.engines.liveportrait.checkpoints import check_weights_dir
    except ImportError:
        return ["LivePortrait weight check not available in this build"]
    from vivicam.errors import VivicamError

    try:
        result = check_weights_dir(folder)
    except VivicamError as exc:
        return [f"{folder}: {exc}"]
    if isinstance(result, (list, tuple)):
        return [str(x) for x in result] or [f"{folder}: ok"]
    return [f"{folder}: {result if result is not None else 'ok'}"]
