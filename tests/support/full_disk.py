"""A fake full disk for the mp4 writer: its output container's writes fail
with ENOSPC from some point on, as a real full disk's do."""

from __future__ import annotations

import errno


class FullDisk:
    """Wraps a PyAV output container; ``mux`` raises ``OSError(ENOSPC)`` from
    the ``after``-th call on (the encoder's first calls may carry no packet)."""

    def __init__(self, real: object, after: int) -> None:
        self.real, self.after, self.calls = real, after, 0

    def mux(self, packets: object) -> None:
        self.calls += 1
        if self.calls > self.after:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.real.mux(packets)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.real.close()  # type: ignore[attr-defined]
