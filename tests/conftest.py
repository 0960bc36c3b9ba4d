"""Shared fixtures: the real-data folder (skipped when absent) and GPU skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _testdata_dir() -> Path | None:
    env = os.environ.get("VIVICAM_TESTDATA")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "testdata")
    for candidate in candidates:
        if (candidate / "clips").is_dir() and (candidate / "portraits").is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def testdata() -> Path:
    """../shared/testdata (or $VIVICAM_TESTDATA); the test is skipped without it."""
    found = _testdata_dir()
    if found is None:
        pytest.skip("real test data not found (../shared/testdata or $VIVICAM_TESTDATA)")
    return found


def pytest_configure(config: pytest.Config) -> None:
    # the same thread policy as every entry point: native pools sized to the
    # machine, one BLAS thread (OpenBLAS workers spin between calls)
    from vivicam.threads import apply

    apply()


def _has_cuda_gpu() -> bool:
    try:
        import cupy  # noqa: F401

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # any failure means: no usable GPU here
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_cuda_gpu():
        return
    skip_gpu = pytest.mark.skip(reason="no CUDA GPU here (GPU test skipped)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # not item.keywords: a folder named gpu is one
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def lp_random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LivePortrait weights folder (official layout, random values, seed 0),
    written once per test session (~520 MB, a few seconds); skipped without torch."""
    pytest.importorskip("torch")
    from vivicam.engines.liveportrait.random_weights import write_random_weights

    return write_random_weights(tmp_path_factory.mktemp("lp_weights"), seed=0)
