"""The ``warp`` engine: animates a photo by warping it with the face mesh (see docs/warp.md)."""
