"""One configuration for a live run: every default once, validated in one
place with one-line errors, the same from the CLI and from a script."""

from __future__ import annotations

import pytest

from vivicam.errors import InputError
from vivicam.realtime.config import LIVE_FPS, LIVE_SIZE, RunConfig


def test_flat_keywords_land_in_their_part() -> None:
    config = RunConfig.of("me.jpg", camera=1, size=(1280, 720), fps=25, engine="liveportrait", mouth="synth",
                          driver_flow=False, duration_s=3.0)
    assert config.source.camera == 1 and config.output.size == (1280, 720) and config.output.fps == 25
    assert config.engine.name == "liveportrait" and config.engine.options()["mouth"] == "synth"
    assert not config.tracking.driver_flow and config.loop.duration_s == 3.0
    assert config.output.virtual_camera and config.source.camera_size == LIVE_SIZE  # the defaults, written once
    assert config.with_(fps=60).output.fps == 60 and config.with_(fps=60).source.camera == 1


@pytest.mark.parametrize("bad, word", [
    ({"fps": 0}, "--fps"), ({"fps": 1000}, "--fps"), ({"size": (0, 480)}, "--size"),
    ({"camera_size": (100000, 2)}, "--camera-size"), ({"precision": "int4"}, "precision"),
    ({"duration_s": -1}, "duration"), ({"colour": "red"}, "unknown run option"),
])
def test_bad_values_are_refused_in_one_line(bad, word) -> None:
    with pytest.raises(InputError, match=word) as info:
        RunConfig.of("me.jpg", **bad)
    assert "\n" not in str(info.value)


def test_the_cli_builds_the_same_config() -> None:
    from vivicam.realtime.cli.main import build_parser
    from vivicam.realtime.cli.run_cmd import run_config

    args = build_parser().parse_args(["run", "--avatar", "me.jpg", "--camera", "2", "--fps", "24", "--no-flow",
                                      "--mirror", "--record", "out.mp4", "--seconds", "5"])
    config = run_config(args)
    assert config == RunConfig.of("me.jpg", camera="2", fps=24.0, driver_flow=False, mirror=True, record="out.mp4",
                                  duration_s=5.0, preview=config.output.preview, stats_every_s=None)
    assert RunConfig.of("me.jpg").output.fps == LIVE_FPS
