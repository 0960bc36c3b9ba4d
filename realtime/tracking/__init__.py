"""The live tracking stage's extras: the driver's optical flow (``flow``).
The face mesh tracker itself lives in :mod:`vivicam.face.tracker` (photos use
it too)."""
