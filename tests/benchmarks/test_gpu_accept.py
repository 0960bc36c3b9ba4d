"""The GPU acceptance run's machinery on the CPU: the real command here (no
GPU: the machine step, then every GPU step skipped with its reason), the JSON
rewritten after every step, failures and timeouts that stop nothing, and the
budget. The GPU steps themselves run on a GPU machine (docs/gpu.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from vivicam.benchmarks import gpu_accept, gpu_steps

STATUSES = {"ok", "failed", "skipped"}


def _check_shape(report: dict) -> None:
    assert set(report) >= {"steps"}
    for step in report["steps"]:
        assert set(step) == {"name", "status", "seconds", "reason", "data"}
        assert step["status"] in STATUSES and isinstance(step["seconds"], float)
        assert step["status"] == "ok" or step["reason"], step  # a reason unless ok
        assert isinstance(step["data"], dict)


def test_the_command_without_a_gpu_skips_every_gpu_step_with_its_reason(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no tests/ folder here: the gpu_tests step says so
    out = tmp_path / "gpu.json"
    code = gpu_accept.main(["--out", str(out), "--budget-s", "200"])
    report = json.loads(out.read_text())
    _check_shape(report)
    assert [s["name"] for s in report["steps"]] == [s.name for s in gpu_accept.STEPS]
    machine = report["steps"][0]
    assert machine["status"] == "ok" and machine["data"]["auto"] in ("cpu", "torch", "tensorrt", "onnxruntime")
    assert machine["data"]["auto_reason"] and any(line.startswith("auto walk 1.") for line in machine["data"]["doctor"])
    if machine["data"]["facts"]["gpu"] is None:
        assert code == 0
        for step in report["steps"][1:]:
            assert step["status"] == "skipped" and step["reason"].startswith(("no ", "the tests/")), step
    assert report["seconds"] < 200


def _fake_child(results: dict, out: Path, seen: list):
    def child(step, workdir, weights, timeout_s):
        seen.append(json.loads(out.read_text()) if out.exists() else None)  # what was on disk before this step
        if step.name == "machine":
            return "ok", "", {"facts": {"gpu": "fake", "torch_cuda": True, "cupy": True, "tensorrt": [], "mediapipe": True, "av": True}}
        return results.get(step.name, ("ok", "", {"timeout_s": timeout_s}))

    return child


def test_report_is_rewritten_after_every_step_and_a_failure_stops_nothing(tmp_path, monkeypatch) -> None:
    out = tmp_path / "gpu.json"
    seen: list = []
    results = {"dlpack_zero_copy": ("failed", "TypeError: boom", {})}
    monkeypatch.setattr(gpu_accept, "_child", _fake_child(results, out, seen))
    monkeypatch.setattr(gpu_accept, "_gpu_tests", lambda timeout_s: ("ok", "", {}))
    report = gpu_accept.accept(out, 540, None)
    _check_shape(report)
    names = [s["name"] for s in report["steps"]]
    assert names == [s.name for s in gpu_accept.STEPS]
    on_disk = [len(r["steps"]) if r else 0 for r in seen]  # before each step run in a process
    assert on_disk[:3] == [0, 1, 2] and on_disk == sorted(set(on_disk))  # every step written before the next
    assert json.loads(out.read_text()) == json.loads(json.dumps(report, default=str))
    status = {s["name"]: s["status"] for s in report["steps"]}
    assert status["dlpack_zero_copy"] == "failed" and status["warp_torch_vs_cpu"] == "ok"
    assert status["tensorrt"] == "skipped" and report["steps"][names.index("tensorrt")]["reason"] == "no TensorRT flavour imports here"


def test_budget_cuts_step_timeouts_and_skips_what_no_longer_fits(tmp_path, monkeypatch) -> None:
    out = tmp_path / "gpu.json"
    clock = {"t": 0.0}
    monkeypatch.setattr(gpu_accept.time, "perf_counter", lambda: clock["t"])

    def child(step, workdir, weights, timeout_s):
        clock["t"] += min(timeout_s, 50.0)  # every step takes 50 s of the budget
        if step.name == "machine":
            return "ok", "", {"facts": {"gpu": "fake", "torch_cuda": True, "cupy": True, "tensorrt": ["x"], "mediapipe": True, "av": True}}
        return "ok", "", {"timeout_s": timeout_s}

    monkeypatch.setattr(gpu_accept, "_child", child)
    monkeypatch.setattr(gpu_accept, "_gpu_tests", lambda timeout_s: ("ok", "", {"timeout_s": timeout_s}))
    report = gpu_accept.accept(out, 200, None)
    steps = report["steps"]
    ran = [s for s in steps if s["status"] == "ok"]
    assert all(s["data"].get("timeout_s", 0) <= 200 for s in ran)
    skipped = [s for s in steps if s["status"] == "skipped"]
    assert skipped and all(s["reason"].startswith("not enough budget left") for s in skipped)
    assert clock["t"] <= 200


def test_a_hung_process_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    code, _, _ = gpu_accept._run([sys.executable, "-c", "import time; time.sleep(60)"], 1.0)
    assert code is None and time.monotonic() - started < 30


def test_a_crashing_step_is_a_failure_with_a_reason(tmp_path) -> None:
    step = gpu_accept.Step("no_such_step", (), 60, 1)
    status, reason, data = gpu_accept._child(step, tmp_path, None, 120)
    assert status == "failed" and reason.startswith("KeyError") and "traceback" in data


def test_unknown_step_or_budget_is_bad_input(capsys) -> None:
    assert gpu_accept.main(["--steps", "warp,nope"]) == 2
    assert "unknown step" in capsys.readouterr().err
    assert gpu_accept.main(["--budget-s", "1"]) == 2


def test_post_parity_cases_cover_every_background_shift_size_and_format() -> None:
    rows = gpu_steps.post_parity(np)  # NumPy against itself: the cases and rows, not the GPU
    compose_rows = [r for r in rows if r["op"] == "compose"]
    assert len(compose_rows) == len(gpu_steps.BACKGROUNDS) * len(gpu_steps.SHIFTS) * len(gpu_steps.OUT_SIZES)
    from vivicam.realtime.post.pixel_format import PIXEL_FORMATS

    assert {r["format"] for r in rows if r["op"] == "pixel_format"} == set(PIXEL_FORMATS)
    assert all(r["ok"] and r["max_diff"] == 0 for r in rows)


def test_video_comparison_flags_different_or_missing_frames() -> None:
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(5)]
    near = [np.clip(f.astype(int) + rng.integers(-1, 2, f.shape), 0, 255).astype(np.uint8) for f in a]
    assert gpu_steps.compare_videos(a, near)["ok"]
    assert not gpu_steps.compare_videos(a, near[:4])["ok"]
    far = [np.clip(f.astype(int) + 20, 0, 255).astype(np.uint8) for f in a]
    result = gpu_steps.compare_videos(a, far)
    assert not result["ok"] and result["mean_abs_max"] > 10
    json.dumps(result)


@pytest.mark.gpu
def test_cupy_post_processing_matches_numpy() -> None:
    import cupy

    bad = [r for r in gpu_steps.post_parity(cupy) if not r["ok"]]
    assert not bad, bad[:5]
