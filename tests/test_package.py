"""The installed package: every module imports without the optional GPU
extras, and every folder with Python code is installed."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest

import vivicam

ROOT = Path(__file__).resolve().parents[1]


def _all_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(vivicam.__path__, "vivicam."):
        names.append(info.name)
    for sub in ("realtime", "engines", "calibrate", "benchmarks"):
        pkg = importlib.import_module(f"vivicam.{sub}")
        for info in pkgutil.walk_packages(pkg.__path__, f"vivicam.{sub}."):
            names.append(info.name)
    return sorted(set(names))


@pytest.mark.parametrize("name", _all_modules())
def test_every_module_imports_without_gpu_extras(name: str) -> None:
    # a test that really builds a plan (where the gpu extra is installed) may
    # have loaded one already; the check is for what this import pulls in
    loaded = {heavy for heavy in ("tensorrt", "tensorrt_rtx", "cupy") if heavy in sys.modules}
    importlib.import_module(name)
    for heavy in ("tensorrt", "tensorrt_rtx", "cupy"):
        assert heavy in loaded or heavy not in sys.modules, f"importing {name} pulled in {heavy}"


def test_every_code_folder_is_listed_as_a_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            name = ".".join((package, *rel))
            assert name in listed, f"{init.parent} has Python code but {name} is not in pyproject's packages"


def test_python_dash_m_vivicam_shows_help() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "vivicam", "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    for command in ("run", "render", "demo", "doctor"):
        assert command in out.stdout
