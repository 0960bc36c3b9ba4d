"""Faces, below every layer: the MediaPipe face mesh (``tracker``, used live
and on photos), finding the avatar's face on a still photo (``detect``) and
segmenting the person on it (``segment``). Engines, calibration and the live
loop all import from here; nothing here imports them."""
