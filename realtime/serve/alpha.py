"""The overlay's alpha: the avatar's person mask in output pixels, moved with
the picture, sent beside the colour (WebRTC video has no alpha channel)."""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from vivicam.engines.base import AvatarState
from vivicam.realtime.post.compose import Fit, fit_to

# avatar state -> {out_size: H×W×3 uint8 mask}; dropped with the state
_masks: "weakref.WeakKeyDictionary[AvatarState, dict[tuple[int, int], np.ndarray]]" = weakref.WeakKeyDictionary()


def _fitted_mask(state: AvatarState, out_size: tuple[int, int]) -> np.ndarray:
    per_state = _masks.setdefault(state, {})
    mask = per_state.get(out_size)
    if mask is None:
        photo_h, photo_w = np.asarray(state.photo).shape[:2]
        person = state.person_mask
        if person is None:  # an engine without a mask: the whole picture is opaque
            gray = np.full((photo_h, photo_w), 255, np.uint8)
        else:
            gray = np.clip(np.rint(np.asarray(person, np.float32) * 255.0), 0, 255).astype(np.uint8)
        mask = per_state[out_size] = np.ascontiguousarray(fit_to(np.repeat(gray[..., None], 3, axis=2), out_size))
    return mask


def shift_picture(image: np.ndarray, fit: Fit, dx: int, dy: int) -> np.ndarray:
    """``image`` with the picture inside ``fit`` moved by whole pixels, its edge
    pixels repeated into what the move uncovers (as compose moves the colour)."""
    if dx == 0 and dy == 0:
        return image
    out = image.copy()
    picture = image[fit.y : fit.y + fit.h, fit.x : fit.x + fit.w]
    rows = np.clip(np.arange(fit.h) - dy, 0, fit.h - 1)
    cols = np.clip(np.arange(fit.w) - dx, 0, fit.w - 1)
    out[fit.y : fit.y + fit.h, fit.x : fit.x + fit.w] = picture[rows][:, cols]
    return out


def person_alpha(state: AvatarState, out_size: tuple[int, int], shift: Any = None) -> np.ndarray:
    """H×W×3 uint8 alpha (0 background and letterbox, 255 person) for a frame
    composed from ``state`` at ``out_size`` and moved by ``shift`` photo pixels."""
    mask = _fitted_mask(state, tuple(out_size))
    if shift is None:
        return mask
    photo_h, photo_w = np.asarray(state.photo).shape[:2]
    fit = Fit.letterbox((photo_w, photo_h), out_size)
    per_photo = fit.w / photo_w
    dx, dy = (int(round(float(v) * per_photo)) for v in shift)
    return shift_picture(mask, fit, dx, dy)


def side_by_side(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The overlay frame: colour on the left, alpha (grey) on the right."""
    return np.ascontiguousarray(np.concatenate([image, alpha], axis=1))
