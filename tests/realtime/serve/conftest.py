"""Shared fixtures of the `vivicam serve` tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from serve_fakes import write_avatar


@pytest.fixture(scope="session")
def avatar_photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_avatar(tmp_path_factory.mktemp("serve") / "astronaut.png")


@pytest.fixture(scope="session")
def shared(avatar_photo: Path):
    """The engine and prepared avatar every server in these tests shares."""
    from vivicam.realtime.serve import ServeConfig
    from vivicam.realtime.serve.server import prepare

    return prepare(ServeConfig(avatar=avatar_photo))
