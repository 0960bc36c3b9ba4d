"""The live-loop benchmark runs and writes the figures it promises."""

from __future__ import annotations

import json

from PIL import Image


def test_live_loop_benchmark_writes_per_stage_figures(tmp_path, capsys) -> None:
    from skimage import data

    from vivicam.benchmarks.live_loop import main

    avatar = tmp_path / "astronaut.png"
    Image.fromarray(data.astronaut()).save(avatar)
    out = tmp_path / "live.json"
    rc = main(["--driving", "idle", "--avatar", str(avatar), "--frames", "30", "--fps", "30",
               "--size", "320x240", "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert result["machine"]["cores"] >= 1 and result["machine"]["cpu"]
    assert result["frames_in"] == 30 and 0 < result["frames_out"] <= 30
    for stage in ("decode", "render", "post", "sink"):
        figures = result["stages_ms"][stage]
        assert 0 <= figures["median"] <= figures["p95"]
    assert result["latency_ms"]["median"] > 0 and result["fps"] > 0
    assert "render" in capsys.readouterr().out  # the table


def test_benchmark_reports_a_bad_video_in_one_line(tmp_path, capsys) -> None:
    from vivicam.benchmarks.live_loop import main

    rc = main(["--driving", str(tmp_path / "nope.mp4"), "--frames", "5"])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.mp4" in err and "Traceback" not in err


def test_vivicam_bench_prints_the_table(tmp_path, capsys) -> None:
    from vivicam.realtime.cli.main import main

    out = tmp_path / "bench.json"
    assert main(["bench", "--driving", "idle", "--frames", "15", "--size", "160x120", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "median ms" in text and "throughput" in text and f"wrote {out}" in text
    assert json.loads(out.read_text())["benchmark"] == "live_loop"
