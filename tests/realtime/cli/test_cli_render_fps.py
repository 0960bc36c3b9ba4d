"""`vivicam render --fps N`: a driving video rendered at another frame rate,
the same length (so its audio stays in sync); bad rates refused in one line."""

from __future__ import annotations

import pytest
from loop_fakes import write_clip

from vivicam.realtime.cli.main import main


@pytest.fixture()
def avatar(tmp_path):
    from PIL import Image
    from skimage import data

    path = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


def test_render_at_another_rate_keeps_the_length(tmp_path, avatar, capsys) -> None:
    from vivicam.realtime.sources.video import probe_video

    clip = write_clip(tmp_path / "clip25.mp4", 25)  # one second at 25 fps
    out = tmp_path / "out.mp4"
    rc = main(["render", "--avatar", str(avatar), "--driving", str(clip), "-o", str(out), "--no-progress",
               "--fps", "30", "--size", "128x128", "--no-flow"])
    assert rc == 0, capsys.readouterr().err
    info = probe_video(out)
    assert info.fps == pytest.approx(30.0) and info.frame_count == 30
    assert info.frame_count / info.fps == pytest.approx(25 / 25.0)


@pytest.mark.parametrize("bad", ["0", "1000", "abc", "-5"])
def test_a_bad_rate_is_refused_in_one_line(tmp_path, avatar, capsys, bad) -> None:
    clip = write_clip(tmp_path / "clip.mp4", 5)
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit) as exit_info:
        main(["render", "--avatar", str(avatar), "--driving", str(clip), "-o", str(out), "--fps", bad])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--fps" in err[-1] and not out.exists()
