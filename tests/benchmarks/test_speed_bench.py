"""The speed benchmark's pieces on the CPU (a tiny graph and a tiny engine, so
it stays fast). No speed is asserted. (The GPU acceptance run: test_gpu_accept.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from tiny_graph import tiny_spec  # noqa: E402

from vivicam.benchmarks import speed  # noqa: E402
from vivicam.engines.backends import probe  # noqa: E402
from vivicam.engines.base import AvatarState  # noqa: E402


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIVICAM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(probe, "probe_gpu", lambda: probe.GpuProbe(None, "no CUDA device found"))
    monkeypatch.setattr(probe, "probe_tensorrt", lambda: ())


def test_stats_are_median_and_p95() -> None:
    out = speed.stats_ms([0.001] * 19 + [0.1])
    assert out["median"] == 1.0 and out["n"] == 20 and 1.0 < out["p95"] <= 100.0
    assert speed.stats_ms([]) is None


def test_graph_row_on_onnxruntime(no_gpu) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    row = speed.bench_graph(tiny_spec(), "onnxruntime", "fp32", repeat=3)
    assert row["engine_ms"]["n"] == 3 and row["h2d_ms"] is None
    assert row["within_tolerance"] and row["max_abs_vs_reference"] < 1e-4
    assert row["providers"] == ["CPUExecutionProvider"]


class _FlatEngine:
    """Renders a grey crop; enough to time render → compose → host."""

    name: ClassVar[str] = "flat"
    backends: ClassVar[tuple[str, ...]] = ("cpu",)

    def __init__(self, **_: object) -> None:
        self.backend = "cpu"

    def prepare(self, photo: np.ndarray) -> AvatarState:
        matrix = np.array([[1.0, 0, -100], [0, 1.0, -100]], np.float32)
        return AvatarState(photo, matrix, 128, np.ones((128, 128), np.float32))

    def render(self, state: AvatarState, motion: object) -> np.ndarray:
        return np.full((128, 128, 3), 128, np.uint8)


def test_engine_row_times_every_stage(no_gpu, monkeypatch) -> None:
    from vivicam.engines import registry

    monkeypatch.setitem(registry._registered, "flat", _FlatEngine)  # registered for this test only
    row = speed.bench_engine("flat", "cpu", "fp32", frames=4, weights=None)
    for stage in ("render_ms", "post_ms", "d2h_ms", "frame_ms"):
        assert row[stage]["n"] == 4
    assert row["fps"] > 0 and row["resolved_backend"] == "cpu"


def test_post_section_covers_compose_and_pixel_formats(no_gpu) -> None:
    rows = speed.bench_post(repeat=2)
    ops = {r["op"] for r in rows}
    assert {r["xp"] for r in rows} == {"numpy"}
    assert "compose 512 crop → 640×640" in ops and "to_pixel_format 1280×720 NV12" in ops


@pytest.mark.slow
@pytest.mark.testdata
def test_render_speed_runs_whole_processes_and_reports_their_start_up(testdata) -> None:
    from vivicam.benchmarks import render_speed

    result = render_speed.run(["s4@256:128x128"], frames=20, runs=2, data=testdata, echo=lambda _: None)
    (row,) = result["cases"]
    assert row["frames"] == 20 and row["size"] == [128, 128] and len(row["samples"]) == 2
    for s in row["samples"]:
        assert 0 < s["startup_s"] < s["wall_s"] and s["cpu_s"] > 0
        assert s["fps_with_startup"] == pytest.approx(20 / s["wall_s"], rel=0.01)
    assert row["startup_s"]["n"] == 2 and row["cores"]["median"] > 0
    assert result["machine"]["cores"] and "render" in result["command"]
    assert render_speed.table(result)[-1].startswith("s4@256:128x128")
