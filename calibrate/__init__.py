"""Neutral-face calibration, motion estimation and retargeting, smoothing,
profiles, procedural idle motion, and the face geometry they share."""
