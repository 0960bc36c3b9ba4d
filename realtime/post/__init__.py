"""Post-processing after the engine: paste the rendered crop back into the full
photo, background modes, fit to the output size, and the sink's pixel format.

Written once against an array module (NumPy on the CPU, CuPy on the GPU) so the
same code runs on both; see :mod:`vivicam.xp`.
"""

from vivicam.realtime.post.compose import compose, fit_to, paste_crop
from vivicam.realtime.post.pixel_format import to_pixel_format
from vivicam.xp import array_module

__all__ = ["array_module", "compose", "fit_to", "paste_crop", "to_pixel_format"]
