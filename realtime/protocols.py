"""The seams of the live loop. Implementations live in ``sources/``,
``tracking/`` and ``sinks/``; the loop only knows these protocols."""

from __future__ import annotations

from typing import Iterator, Protocol, runtime_checkable

import numpy as np

from vivicam.types import Frame, Landmarks


@runtime_checkable
class Source(Protocol):
    """Yields frames until the input ends (a live camera never ends by itself)."""

    fps: float  # nominal frame rate

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


@runtime_checkable
class Tracker(Protocol):
    """Finds the face in a frame; ``None`` when there is none."""

    def track(self, image: np.ndarray) -> Landmarks | None: ...

    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """Receives output frames (H×W×3 uint8 RGB)."""

    def write(self, image: np.ndarray, frame: Frame) -> None: ...

    def close(self) -> None: ...
