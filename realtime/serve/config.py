"""What ``vivicam serve`` is asked to do, as one frozen value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vivicam.errors import InputError
from vivicam.realtime.config import LIVE_FPS
from vivicam.realtime.loop_state import MAX_OUT_FPS

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MAX_SESSIONS = 4
# A browser that vanished without closing its page stops sending frames; its
# session goes after this long without one (ICE consent failure usually ends
# it sooner). Under the 45 s the server promises, with room for the reaper's period.
SESSION_IDLE_S = 30.0
REAP_EVERY_S = 5.0


@dataclass(frozen=True)
class ServeConfig:
    """``avatar``: a photo or a folder of photos (the page switches between
    them). ``camera``: the server's own camera for ``/overlay`` (index, device,
    video file or ``idle``); None = the overlay shows the newest browser
    session. ``token``: required on every request when set; a non-loopback
    ``host`` without one gets a generated token (see :func:`resolve_token`).
    ``engine_options``: keyword options for ``make_engine`` (backend, weights,
    precision, mouth, camera_motion). ``fps``: each session's steady output
    rate, whatever its camera delivers (in-between frames from predicted motion)."""

    avatar: str | Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    camera: str | None = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    engine: Any = "warp"
    engine_options: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (640, 480)
    background: Any = "keep"
    mirror: bool | None = None
    driver_flow: bool = True
    session_idle_s: float = SESSION_IDLE_S
    fps: float = LIVE_FPS
    # benchmarks only: copy the camera frame's corner stamp onto the avatar so
    # a client can match what it receives to what it sent (end-to-end latency)
    stamp_echo: bool = False

    def __post_init__(self) -> None:
        if not 1.0 <= float(self.fps) <= MAX_OUT_FPS:  # also false for NaN
            raise InputError(f"--fps must be a frame rate from 1 to {MAX_OUT_FPS:g}, got {self.fps}")
