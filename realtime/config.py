"""One configuration for a live run, built once (from the command line or by
a user's script), validated in one place, passed down whole.

Every default is written here once; the CLI's options map onto these fields
(:func:`from_args`), and :meth:`RunConfig.of` takes the same fields as flat
keywords for scripts (``RunConfig.of("me.jpg", camera=1, size=(1280, 720))``),
so there is no second list of options to drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from vivicam.engines.base import DEFAULT_PRECISION, PRECISIONS
from vivicam.errors import InputError

LIVE_SIZE = (640, 480)  # output and requested camera size of `run`
LIVE_FPS = 30.0  # the output's steady rate (and what the camera is asked for)


def _check_size(name: str, size: Any) -> None:
    if size is None:
        return
    if len(size) != 2 or any(int(v) < 2 or int(v) > 7680 for v in size):
        raise InputError(f"{name} must be WIDTHxHEIGHT between 2 and 7680 pixels, got {size}")


@dataclass(frozen=True)
class SourceConfig:
    """The driver: ``camera`` index, device path, a video file or "idle",
    and the size asked of it (the rate asked is the output's)."""

    camera: str | int = 0
    camera_size: tuple[int, int] = LIVE_SIZE

    def __post_init__(self) -> None:
        _check_size("--camera-size", self.camera_size)


@dataclass(frozen=True)
class TrackingConfig:
    """``driver_flow``: the driver's optical flow (sharper landmarks, hair and
    shoulders that move as the driver's; a few ms a frame)."""

    driver_flow: bool = True


@dataclass(frozen=True)
class MotionSettings:
    """``profile``: a saved neutral face (else calibrated live); ``mirror``:
    mirror the motion (None = the profile's or the default)."""

    profile: str | Path | None = None
    mirror: bool | None = None


@dataclass(frozen=True)
class EngineConfig:
    name: str = "warp"
    backend: str = "auto"
    weights: str | Path | None = None
    precision: str = DEFAULT_PRECISION
    mouth: str | None = None  # warp: "driver" | "synth" (None = the engine's default)
    camera_motion: str | None = None  # warp: "follow" | "still"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"unknown precision '{self.precision}'; choose one of: {', '.join(PRECISIONS)}")

    def options(self) -> dict[str, Any]:
        """Keyword options for ``create_engine`` (warp-only ones when set)."""
        out = {"backend": self.backend, "weights": self.weights, "precision": self.precision}
        out.update({k: v for k, v in (("mouth", self.mouth), ("camera_motion", self.camera_motion)) if v is not None})
        return out


@dataclass(frozen=True)
class OutputConfig:
    """``fps``: the virtual camera's and the recording's steady rate, whatever
    the camera delivers (in-between frames from predicted motion)."""

    size: tuple[int, int] = LIVE_SIZE
    fps: float = LIVE_FPS
    background: Any = "keep"  # see vivicam.realtime.post.background.parse_background
    virtual_camera: bool = True
    virtual_camera_device: str | None = None
    preview: bool | None = None  # None: when a display exists
    record: str | Path | None = None

    def __post_init__(self) -> None:
        from vivicam.realtime.loop_state import MAX_OUT_FPS

        _check_size("--size", self.size)
        if not 1.0 <= float(self.fps) <= MAX_OUT_FPS:
            raise InputError(f"--fps must be a frame rate from 1 to {MAX_OUT_FPS:g}, got {self.fps}")


@dataclass(frozen=True)
class LoopSettings:
    stats_every_s: float | None = None
    overlay: bool = False
    duration_s: float | None = None

    def __post_init__(self) -> None:
        for name in ("stats_every_s", "duration_s"):
            value = getattr(self, name)
            if value is not None and not float(value) > 0:
                raise InputError(f"{name.replace('_', ' ')} must be positive, got {value}")


_PARTS = {
    "source": SourceConfig,
    "tracking": TrackingConfig,
    "motion": MotionSettings,
    "engine": EngineConfig,
    "output": OutputConfig,
    "loop": LoopSettings,
}


@dataclass(frozen=True)
class RunConfig:
    """Everything a live run needs besides callbacks: ``avatar`` (a photo or a
    folder of photos) and one frozen part per stage."""

    avatar: str | Path
    source: SourceConfig = field(default_factory=SourceConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    motion: MotionSettings = field(default_factory=MotionSettings)
    engine: EngineConfig = field(default_factory=EngineConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    loop: LoopSettings = field(default_factory=LoopSettings)

    @classmethod
    def of(cls, avatar: str | Path, **flat: Any) -> "RunConfig":
        """A config from flat keywords named like the parts' fields
        (``camera=1``, ``size=(1280, 720)``, ``engine="liveportrait"`` for
        the engine's name); InputError for a name no part has."""
        parts: dict[str, dict[str, Any]] = {name: {} for name in _PARTS}
        owner = {f.name: part for part, kind in _PARTS.items() for f in fields(kind)}
        owner["engine"] = "engine"  # the engine's name, spelt like the CLI's --engine
        for key, value in flat.items():
            if key not in owner:
                raise InputError(f"unknown run option '{key}'")
            parts[owner[key]]["name" if key == "engine" else key] = value
        return cls(avatar, **{name: _PARTS[name](**values) for name, values in parts.items()})

    def with_(self, **flat: Any) -> "RunConfig":
        """A copy with some flat fields changed (as in :meth:`of`)."""
        current: dict[str, Any] = {}
        for part in _PARTS:
            for f in fields(_PARTS[part]):
                current["engine" if (part, f.name) == ("engine", "name") else f.name] = getattr(getattr(self, part), f.name)
        current.update(flat)
        return RunConfig.of(self.avatar, **current)
