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
    # frames out: the camera's, plus in-between frames where a camera frame came late
    made_up = result["events"].get("frames without camera", 0)
    assert result["frames_in"] == 30 and 0 < result["frames_out"] - made_up <= 30
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


def test_bench_reports_process_and_thread_cpu_and_writes_a_timeline(tmp_path, capsys) -> None:
    import sys

    from vivicam.realtime.cli.main import main

    out, profile = tmp_path / "bench.json", tmp_path / "timeline.json"
    assert main(["bench", "--driving", "idle", "--frames", "20", "--size", "160x120", "--threads", "1",
                 "--out", str(out), "--profile", str(profile)]) == 0
    text = capsys.readouterr().out
    result = json.loads(out.read_text())
    cpu = result["cpu"]
    process = cpu["process"]
    assert process["cores"] > 0 and process["wall_s"] > 0 and process["ms_per_frame_out"] > 0
    assert abs(process["cores"] - process["user_cores"] - process["system_cores"]) < 0.01
    assert "cpu:" in text and "cores" in text
    assert result["config"]["threads"]["pool"] == 1 and result["config"]["threads"]["source"] == "option"
    if sys.platform.startswith("linux"):
        names = [t["name"] for t in cpu["threads"]]
        assert 1 <= len(names) <= 3 and all(t["cores"] > 0 for t in cpu["threads"])
        assert "vivicam-render" in names  # our busiest thread, by its name
    trace = json.loads(profile.read_text())["traceEvents"]
    stages = {e["name"] for e in trace if e["ph"] == "X"}
    assert {"render", "post", "sink"} <= stages
    threads = {e["args"]["name"] for e in trace if e["ph"] == "M"}
    assert "vivicam-render" in threads
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in trace if e["ph"] == "X")


def test_thread_sampler_counts_a_busy_thread_by_name() -> None:
    import sys
    import threading
    import time

    import pytest

    from vivicam.benchmarks.cpu_report import CpuSampler

    if not sys.platform.startswith("linux"):
        pytest.skip("per-thread figures come from /proc")
    stop = threading.Event()

    def spin() -> None:  # a deliberately busy thread (test only)
        while not stop.is_set():
            sum(range(1000))

    sampler = CpuSampler(period_s=0.05).start()
    worker = threading.Thread(target=spin, name="busy-test-thread")
    worker.start()
    time.sleep(0.4)
    stop.set()
    worker.join()
    report = sampler.stop()
    assert report["threads"][0]["name"] == "busy-test-thread"
    assert report["process"]["cores"] >= report["threads"][0]["cores"] * 0.8
