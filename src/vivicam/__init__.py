"""vivicam: animate a still portrait from your webcam and send it to a virtual camera.

The import package groups the repository's top-level folders:
``vivicam.realtime`` (live loop, sources, tracking, post-processing, sinks, CLI),
``vivicam.engines`` (generator engines and their backends),
``vivicam.calibrate`` (neutral face, motion, smoothing) and ``vivicam.benchmarks``.

The scriptable API is re-exported here (imported on first use, so
``import vivicam`` stays light)::

    import vivicam
    vivicam.render_video("me.jpg", "talking.mp4", "out.mp4")
    vivicam.run_demo("demo.mp4", seconds=8)
    vivicam.run_live("me.jpg", camera=0)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_API = ("render_video", "run_demo", "run_live", "calibrate_profile")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name == "run_live":
        from vivicam.realtime import live

        return live.run_live
    if name in _API:
        from vivicam.realtime import app

        return getattr(app, name)
    raise AttributeError(f"module 'vivicam' has no attribute {name!r}")
