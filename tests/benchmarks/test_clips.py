"""The benchmarks' video writing: a lossy driver encoded apart comes out the
same on every run, close to its frames, and leaves nothing beside it."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.benchmarks.clips import read_frames, write_video_apart
from vivicam.errors import InputError


def _noisy_frames(n: int = 12, size: int = 96) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    base = np.zeros((size, size, 3), np.float32)
    base[:, :, 0] = np.linspace(40, 220, size)[None, :]
    base[:, :, 1] = np.linspace(200, 60, size)[:, None]
    base[:, :, 2] = 128
    return [np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def test_a_driver_encoded_apart_is_repeatable_close_and_leaves_nothing_beside_it(tmp_path) -> None:
    frames = _noisy_frames()
    first = np.stack(list(read_frames(write_video_apart(tmp_path / "a.mp4", iter(frames), 30.0, crf=12))))
    # work in this process between the two (decoding, large arrays) does not reach the encoder
    scratch = np.random.default_rng(0).random((2048, 2048, 3))
    again = np.stack(list(read_frames(write_video_apart(tmp_path / "b.mp4", iter(frames), 30.0, crf=12))))
    assert scratch.shape and np.array_equal(first, again)
    # a lossy encode of those frames: close, not equal
    error = np.abs(first.astype(np.int16) - np.stack(frames)).mean()
    assert 0.5 < error < 8.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "b.mp4"]  # no raw frames left beside them


def test_a_driver_that_cannot_be_written_is_a_one_line_error(tmp_path) -> None:
    target = tmp_path / "missing" / "d.mp4"
    with pytest.raises(InputError, match="could not write"):
        write_video_apart(target, iter(_noisy_frames(3)), 30.0, crf=12)
    assert not (tmp_path / "missing").exists()
