"""vivicam: animate a still portrait from your webcam and send it to a virtual camera.

The import package groups the repository's top-level folders:
``vivicam.realtime`` (live loop, sources, tracking, post-processing, sinks, CLI),
``vivicam.engines`` (generator engines and their backends),
``vivicam.calibrate`` (neutral face, motion, smoothing) and ``vivicam.benchmarks``.
"""

__version__ = "0.1.0"
