"""No data loss, through the CLI: an output that names an input (however
spelt, or linked) is refused before any work; a failed or interrupted render
leaves the previous output as it was and no temporary file behind; after
Ctrl-C every command exits 130."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from loop_fakes import write_clip

import vivicam.realtime.app as app
from vivicam.realtime.cli.main import INTERRUPTED, main


@pytest.fixture()
def inputs(tmp_path: Path) -> dict[str, Path]:
    from skimage import data

    folder = tmp_path / "in"
    folder.mkdir()
    photo = folder / "me.png"
    Image.fromarray(data.astronaut()).save(photo)
    clip = write_clip(folder / "talk.mp4", 12)
    return {"photo": photo, "clip": clip}


@pytest.fixture()
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if a command gets as far as building an engine."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("work started before the output was checked")

    # `run` holds its own reference, bound when it is first imported: imported
    # before the patch (else it would keep `refuse` for later tests) and patched too
    import vivicam.realtime.live as live

    monkeypatch.setattr(app, "make_engine", refuse)
    monkeypatch.setattr(live, "make_engine", refuse)


def _snapshot(*paths: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in paths}


def _one_line_refusal(rc: int, err: str) -> None:
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "input" in err and "Traceback" not in err, err


def _spellings(inputs: dict[str, Path], tmp_path: Path, target: Path) -> list[Path]:
    """``target`` as the same path, a relative spelling, a symbolic link and a hard link."""
    symlink = tmp_path / "link.mp4"
    symlink.symlink_to(target)
    hardlink = tmp_path / "hard.mp4"
    os.link(target, hardlink)
    relative = Path(os.path.relpath(target.parent, Path.cwd())) / ".." / target.parent.name / target.name
    return [target, relative, symlink, hardlink]


def test_render_never_writes_over_its_driving_video(inputs, tmp_path, capsys, no_work) -> None:
    before = _snapshot(inputs["photo"], inputs["clip"])
    for out in _spellings(inputs, tmp_path, inputs["clip"]):
        rc = main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]),
                   "-o", str(out), "--no-progress"])
        _one_line_refusal(rc, capsys.readouterr().err)
    assert _snapshot(inputs["photo"], inputs["clip"]) == before


def test_render_never_writes_over_its_photo_or_profile(inputs, tmp_path, capsys, no_work) -> None:
    profile = inputs["photo"].parent / "profile.json"
    profile.write_text("{}")
    before = _snapshot(inputs["photo"], profile)
    for target, extra in ((inputs["photo"], []), (profile, ["--neutral", str(profile)])):
        link = tmp_path / f"to-{target.name}.mp4"
        link.symlink_to(target)
        rc = main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]),
                   "-o", str(link), "--no-progress", *extra])
        _one_line_refusal(rc, capsys.readouterr().err)
    assert _snapshot(inputs["photo"], profile) == before


def test_render_never_writes_its_summary_over_an_input(inputs, tmp_path, capsys, no_work) -> None:
    before = _snapshot(inputs["photo"], inputs["clip"])
    for target in (inputs["photo"], inputs["clip"]):
        rc = main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]),
                   "-o", str(tmp_path / "out.mp4"), "--no-progress", "--summary-json", str(target)])
        _one_line_refusal(rc, capsys.readouterr().err)
    assert _snapshot(inputs["photo"], inputs["clip"]) == before


def test_render_says_its_start_up_and_writes_its_summary(inputs, tmp_path, capsys) -> None:
    import json

    summary = tmp_path / "summary.json"
    rc = main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]),
               "-o", str(tmp_path / "out.mp4"), "--no-progress", "--summary-json", str(summary)])
    out = capsys.readouterr().out
    assert rc == 0
    written = json.loads(summary.read_text())
    assert written["frames"] == 12 and written["output"] == str(tmp_path / "out.mp4")
    # from the process's start (the test session's, here) to the first frame
    assert 0 < written["startup_s"] and f"first frame {written['startup_s']:.1f} s after start" in out


def test_render_says_when_it_uses_a_big_photo_smaller(inputs, tmp_path, capsys) -> None:
    """The output has the photo's size, as loaded: a user who gave a photo
    over 2048 px a side hears that the video is smaller, and at what size."""
    import cv2
    from skimage import data

    from vivicam.realtime.sources.video import probe_video

    big = tmp_path / "big.png"
    Image.fromarray(cv2.resize(data.astronaut(), (2600, 2600), interpolation=cv2.INTER_LINEAR)).save(big)
    out = tmp_path / "out.mp4"
    rc = main(["render", "--avatar", str(big), "--driving", str(inputs["clip"]), "-o", str(out), "--no-progress"])
    said = capsys.readouterr().err
    assert rc == 0
    assert "big.png: 2600×2600 px, used at 2048×2048 (a photo is used at most 2048 px a side)" in said
    info = probe_video(out)
    assert (info.width, info.height) == (2048, 2048)
    rc = main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]),
               "-o", str(tmp_path / "small.mp4"), "--no-progress"])
    assert rc == 0 and "used at" not in capsys.readouterr().err  # a photo used at its own size: nothing to say


def test_run_never_records_over_its_photo_or_camera_video(inputs, tmp_path, capsys, no_work) -> None:
    before = _snapshot(inputs["photo"], inputs["clip"])
    for target in (inputs["photo"], inputs["clip"]):
        link = tmp_path / f"rec-{target.stem}.mp4"
        link.symlink_to(target)
        rc = main(["run", "--avatar", str(inputs["photo"]), "--camera", str(inputs["clip"]),
                   "--no-virtual-camera", "--no-preview", "--record", str(link), "--seconds", "1"])
        _one_line_refusal(rc, capsys.readouterr().err)
    # a photo inside a folder given as --avatar is an input too
    in_folder = tmp_path / "from-folder.mp4"
    in_folder.symlink_to(inputs["photo"])
    rc = main(["run", "--avatar", str(inputs["photo"].parent), "--camera", "idle", "--no-virtual-camera",
               "--no-preview", "--record", str(in_folder), "--seconds", "1"])
    _one_line_refusal(rc, capsys.readouterr().err)
    assert _snapshot(inputs["photo"], inputs["clip"]) == before


def test_calibrate_never_saves_over_its_video(inputs, tmp_path, capsys) -> None:
    before = _snapshot(inputs["clip"])
    link = tmp_path / "me.json"
    link.symlink_to(inputs["clip"])
    rc = main(["calibrate", "--camera", str(inputs["clip"]), "-o", str(link)])
    _one_line_refusal(rc, capsys.readouterr().err)
    assert _snapshot(inputs["clip"]) == before


class _Failing:
    """The real engine, failing (``error``) on its ``after``-th render."""

    def __init__(self, real: Any, error: BaseException, after: int = 3) -> None:
        self.real, self.error, self.after, self.calls = real, error, after, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def render(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls >= self.after:
            raise self.error
        return self.real.render(*args, **kwargs)


def _failing_engine(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    real_make = app.make_engine
    monkeypatch.setattr(app, "make_engine", lambda *a, **k: _Failing(real_make(*a, **k), error))


def _render(inputs: dict[str, Path], out: Path) -> int:
    return main(["render", "--avatar", str(inputs["photo"]), "--driving", str(inputs["clip"]), "-o", str(out),
                 "--no-progress", "--no-audio", "--neutral", "first", "--no-flow"])


def test_a_render_that_fails_midway_leaves_the_previous_output(inputs, tmp_path, monkeypatch) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"yesterday's render")
    _failing_engine(monkeypatch, RuntimeError("the engine broke"))
    with pytest.raises(RuntimeError, match="the engine broke"):
        _render(inputs, out)
    assert out.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.mp4"]


def test_an_interrupted_render_exits_130_and_leaves_the_previous_output(inputs, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"yesterday's render")
    _failing_engine(monkeypatch, KeyboardInterrupt())
    assert _render(inputs, out) == INTERRUPTED
    assert "interrupted" in capsys.readouterr().err
    assert out.read_bytes() == b"yesterday's render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.mp4"]


def test_an_interrupted_demo_exits_130_without_a_partial_video(tmp_path, monkeypatch) -> None:
    out = tmp_path / "demo.mp4"
    _failing_engine(monkeypatch, KeyboardInterrupt())
    assert main(["demo", "-o", str(out), "--no-preview", "--seconds", "1", "--size", "128x128"]) == INTERRUPTED
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("presses", [1, 2])
def test_run_stopped_by_ctrl_c_exits_130(inputs, tmp_path, monkeypatch, capsys, presses) -> None:
    """The live loop ends cleanly on Ctrl-C (it catches it): still 130, also
    when Ctrl-C is pressed again while it stops; the recording is kept."""
    from vivicam.realtime.loop import LiveLoop

    real_run = LiveLoop.run

    def run_then_ctrl_c(self: LiveLoop, **kwargs: Any) -> dict[str, Any]:
        summary = real_run(self, max_frames=5)
        try:
            os.kill(os.getpid(), signal.SIGINT)  # what the loop's own except clause sees
        except KeyboardInterrupt:
            pass
        for _ in range(presses - 1):
            os.kill(os.getpid(), signal.SIGINT)  # while stopping: noted, not fatal
        return summary

    monkeypatch.setattr(LiveLoop, "run", run_then_ctrl_c)
    record = tmp_path / "rec.mp4"
    rc = main(["run", "--avatar", str(inputs["photo"]), "--camera", "idle", "--no-virtual-camera",
               "--no-preview", "--record", str(record), "--size", "128x96"])
    captured = capsys.readouterr()
    assert rc == INTERRUPTED, captured.err
    assert ("stopping" in captured.err) == (presses == 2)
    assert f"recorded {record}" in captured.out and record.stat().st_size > 0


def test_a_full_disk_during_run_record_is_reported_and_keeps_what_was_written(inputs, tmp_path, monkeypatch,
                                                                               capsys) -> None:
    """The recording stops when the disk fills, says so at once, keeps what it
    wrote; the run goes on to its end, prints its summary and exits non-zero."""
    import av

    from full_disk import FullDisk
    from vivicam.realtime.sinks.mp4 import Mp4Sink

    real_init = Mp4Sink.__init__

    def init(self: Mp4Sink, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        self._out = FullDisk(self._out, after=20)

    monkeypatch.setattr(Mp4Sink, "__init__", init)
    record = tmp_path / "rec.mp4"
    rc = main(["run", "--avatar", str(inputs["photo"]), "--camera", "idle", "--fps", "25", "--no-virtual-camera",
               "--no-preview", "--record", str(record), "--size", "128x96", "--seconds", "2"])
    captured = capsys.readouterr()
    assert rc == 2, captured.err
    assert "frames" in captured.out  # the summary is not lost
    assert "No space left on device" in captured.err and str(record) in captured.err
    with av.open(str(record)) as container:
        assert sum(1 for _ in container.decode(video=0)) >= 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "rec.mp4"]
