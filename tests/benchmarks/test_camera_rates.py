"""The camera-rate benchmark's parts: a clip decimated as a slower camera
would have seen it, and what counts as frames that differ visibly."""

from __future__ import annotations

import numpy as np
import pytest

from vivicam.benchmarks.camera_rates import Decimated, rate_of
from vivicam.benchmarks.steady_metrics import differs_visibly, distinct_share
from vivicam.types import Frame


class Clip:
    def __init__(self, n: int) -> None:
        self.n = n

    def frames(self):
        for i in range(self.n):
            yield Frame(np.zeros((4, 4, 3), np.uint8), i, i)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("fps", [10.0, 15.0, 24.0, 30.0])
def test_a_slower_camera_sees_the_clip_frame_of_each_of_its_ticks(fps: float) -> None:
    picked = [f.index for f in Decimated(Clip(60), 30.0, fps).frames()]  # two seconds at 30 fps
    assert len(picked) == pytest.approx(2 * fps, abs=1)
    ticks = np.arange(len(picked)) * 30.0 / fps  # where each tick falls in the clip, in frames
    assert np.all(np.abs(np.array(picked) - ticks) <= 0.5)


def test_noise_is_not_a_visible_change_and_a_one_pixel_move_is() -> None:
    from skimage import data

    image = np.ascontiguousarray(data.astronaut()[::2, ::2])
    rng = np.random.default_rng(0)
    noisy = np.clip(image + rng.normal(0, 2, image.shape), 0, 255).astype(np.uint8)  # encoder-like noise
    assert not differs_visibly(image, noisy)
    assert not differs_visibly(image, image.copy())
    moved = np.roll(image, 1, axis=1)
    assert differs_visibly(image, moved)
    assert distinct_share([image, image, moved, noisy]) == pytest.approx(2 / 3)


def test_rate_is_frames_over_their_span() -> None:
    times = np.arange(31) / 30.0
    result = rate_of(times)
    assert result["rate_fps"] == pytest.approx(30.0) and result["frames"] == 31
    assert result["gap_ms"]["median"] == pytest.approx(33.3, abs=0.1)
