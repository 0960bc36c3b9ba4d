"""Ctrl-C on a real ``vivicam`` process: exit 130 after one press or two, and
a live recording kept (the in-process tests fake the signal's arrival)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image


def _start(args: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vivicam", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc: subprocess.Popen, limit_s: float = 120.0) -> None:
    end = time.monotonic() + limit_s  # a bound on a hang, not a timing assertion
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the command never got going"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("presses", [1, 2])
def test_run_exits_130_after_ctrl_c_and_keeps_the_recording(tmp_path: Path, presses: int) -> None:
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "me.png")
    proc = _start(["run", "--avatar", "me.png", "--camera", "idle", "--no-virtual-camera", "--no-preview",
                   "--record", "rec.mp4", "--size", "128x96"], tmp_path)
    # recording: its temporary file has frames in it
    _wait_for(lambda: any(p.stat().st_size > 2000 for p in tmp_path.glob(".rec.*.partial.mp4")), proc)
    for _ in range(presses):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert (tmp_path / "rec.mp4").stat().st_size > 0 and not list(tmp_path.glob(".rec.*"))
    assert "recorded" in out


@pytest.mark.slow
def test_render_exits_130_after_ctrl_c_and_keeps_the_previous_output(tmp_path: Path) -> None:
    from loop_fakes import write_clip
    from skimage import data

    Image.fromarray(data.astronaut()).save(tmp_path / "me.png")
    write_clip(tmp_path / "talk.mp4", 2000)
    (tmp_path / "out.mp4").write_bytes(b"yesterday's render")
    proc = _start(["render", "--avatar", "me.png", "--driving", "talk.mp4", "-o", "out.mp4", "--neutral", "first",
                   "--no-audio"], tmp_path)
    _wait_for(lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(".out.*.partial.mp4")), proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert (tmp_path / "out.mp4").read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["me.png", "out.mp4", "talk.mp4"]
