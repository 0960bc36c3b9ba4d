"""Background modes for streaming overlays: keep the photo's, blur it, a solid
key colour (OBS's chroma key removes it), or another image. Each gives a static
plate at the photo's size that the person is composited over; plates are
computed once per avatar (see :mod:`vivicam.realtime.post.compose`)."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

from vivicam.errors import InputError
from vivicam.realtime.post.resample import axis_table, resample, resize, to_uint8

KEY_GREEN = (0, 255, 0)


HARMONIZE_STRENGTH = 0.25  # share of the way (in log light) the person's tone moves toward the new light
HARMONIZE_RANGE = (0.9, 1.12)  # per-channel gain limits: restrained, never a recolouring


@dataclass(frozen=True, eq=False)
class BackgroundSpec:
    """``kind``: "keep" | "blur" | "color" | "image"; ``harmonize``: shift the
    person's tone a little toward a new background's light (blur, image)."""

    kind: str
    color: tuple[int, int, int] = KEY_GREEN
    image: Any = None
    harmonize: bool = True

    @property
    def key(self) -> tuple:
        """Hashable identity for caches (an image by identity, not content)."""
        return (self.kind, self.color, id(self.image), self.harmonize)

    @property
    def pad_rgb(self) -> tuple[int, int, int]:
        """Letterbox padding: the key colour in colour mode (so the bars are
        keyed out too), black otherwise."""
        return self.color if self.kind == "color" else (0, 0, 0)


def parse_color(text: str) -> tuple[int, int, int]:
    """``"#00ff00"`` / ``"00ff00"`` → ``(0, 255, 0)``; InputError otherwise."""
    value = text.strip().lstrip("#")
    if len(value) != 6:
        raise InputError(f"background colour must look like #00ff00, got '{text}'")
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError:
        raise InputError(f"background colour must look like #00ff00, got '{text}'") from None


def parse_background(background: Any) -> BackgroundSpec:
    """``"keep"``, ``"blur"``, ``"color"``, ``"color:#rrggbb"``, an H×W×3 image,
    or a :class:`BackgroundSpec` (as it is)."""
    if isinstance(background, BackgroundSpec):
        return background
    if background is None:
        return BackgroundSpec("keep")
    if isinstance(background, str):
        name, _, arg = background.partition(":")
        name = name.strip().lower()
        if name in ("keep", "blur") and not arg:
            return BackgroundSpec(name)
        if name in ("color", "colour"):
            return BackgroundSpec("color", parse_color(arg) if arg else KEY_GREEN)
        raise InputError(f"unknown background '{background}'; use keep, blur, color[:#rrggbb] or an image")
    shape = getattr(background, "shape", None)
    if shape is None or len(shape) != 3 or shape[2] != 3:
        raise InputError("a background image must be an H×W×3 RGB array")
    return BackgroundSpec("image", image=background)


def _box_blur_axis(img: Any, radius: int, axis: int, xp: ModuleType) -> Any:
    """Mean over ``2 * radius + 1`` pixels along ``axis`` (edges repeated), via a cumulative sum."""
    pad = [(0, 0)] * img.ndim
    pad[axis] = (radius + 1, radius)
    c = xp.cumsum(xp.pad(img, pad, mode="edge"), axis=axis, dtype=xp.float32)
    n = img.shape[axis]
    hi = xp.take(c, xp.arange(2 * radius + 1, 2 * radius + 1 + n), axis=axis)
    lo = xp.take(c, xp.arange(0, n), axis=axis)
    return (hi - lo) / (2 * radius + 1)


def blur(photo: Any, xp: ModuleType, *, strength: float = 0.03) -> Any:
    """A soft, strong blur (≈ Gaussian of σ ≈ ``strength`` × the long side):
    downscale 8×, three box passes per axis, upscale. uint8 out."""
    return to_uint8(blur_float(photo, xp, strength=strength), xp)


def blur_float(image: Any, xp: ModuleType, *, strength: float = 0.03) -> Any:
    """:func:`blur` of any H×W×C image, float32 out (no rounding)."""
    h, w = image.shape[:2]
    small_w, small_h = max(4, w // 8), max(4, h // 8)
    small = resize(image, (small_w, small_h), xp).astype(xp.float32)
    radius = max(1, round(strength * max(small_w, small_h)))
    for _ in range(3):
        for axis in (0, 1):
            small = _box_blur_axis(small, radius, axis, xp)
    return resize(small, (w, h), xp).astype(xp.float32)


def _cover(image: Any, size: tuple[int, int], xp: ModuleType) -> Any:
    """``image`` scaled to cover ``size = (w, h)`` and centre-cropped."""
    h, w = image.shape[:2]
    ow, oh = size
    scale = max(ow / w, oh / h)
    # output pixel o reads source (o + 0.5) / scale - 0.5 + shift, centred
    sx = (w - ow / scale) / 2
    sy = (h - oh / scale) / 2
    cols = axis_table(w, ow, 1 / scale, 0.5 / scale - 0.5 + sx, xp=xp)
    rows = axis_table(h, oh, 1 / scale, 0.5 / scale - 0.5 + sy, xp=xp)
    return to_uint8(resample(image, rows, cols, xp), xp)


def background_plate(spec: BackgroundSpec, photo: Any, xp: ModuleType, person: Any = None) -> Any:
    """The H×W×3 uint8 plate behind the person for ``spec`` (not for "keep").
    With a ``person`` mask the blur averages the background only, so the
    person's colours do not bleed into a halo around them."""
    h, w = photo.shape[:2]
    if spec.kind == "blur":
        if person is None:
            return blur(photo, xp)
        back = 1.0 - xp.asarray(person, dtype=xp.float32)[..., None]
        weighted = blur_float(xp.asarray(photo, dtype=xp.float32) * back, xp)
        weight = blur_float(back, xp)
        mean = (xp.asarray(photo, dtype=xp.float32) * back).sum(axis=(0, 1)) / xp.maximum(back.sum(), 1.0)
        # where no background is near (inside a large person), the background's mean colour
        filled = xp.where(weight > 1e-3, weighted / xp.maximum(weight, 1e-3), mean)
        return to_uint8(filled, xp)
    if spec.kind == "color":
        plate = xp.empty((h, w, 3), dtype=xp.uint8)
        plate[...] = xp.asarray(spec.color, dtype=xp.uint8)
        return plate
    if spec.kind == "image":
        from vivicam.xp import as_array

        return _cover(as_array(spec.image, xp).astype(xp.uint8, copy=False), (w, h), xp)
    raise ValueError(f"no plate for background kind '{spec.kind}'")


def harmonize_gain(spec: BackgroundSpec, photo: Any, person: Any, plate: Any, xp: ModuleType) -> Any:
    """Per-channel (3,) gains for the person: part of the way from the light
    of the photo's own background to the new one's (the ratio of their mean
    colours), so a person photographed against a white wall
    and put before a sunset warms a little, and a blurred background (the
    same light) changes nothing. Ones when the mode does not harmonize or the
    photo shows too little background to judge its light. Applied in
    proportion to the person mask, so the mask's soft edge blends smoothly.
    A blurred background is the photo's own light by construction (its
    measured ratio is 1.00), so only an image harmonizes."""
    ones = xp.ones(3, dtype=xp.float32)
    if not spec.harmonize or spec.kind != "image":
        return ones
    back = 1.0 - xp.asarray(person, dtype=xp.float32)[..., None]
    seen = float(back.sum())
    if seen < 0.02 * back.size:
        return ones
    old_light = (xp.asarray(photo, dtype=xp.float32) * back).sum(axis=(0, 1)) / seen
    new_light = (xp.asarray(plate, dtype=xp.float32) * back).sum(axis=(0, 1)) / seen
    gain = (xp.maximum(new_light, 1.0) / xp.maximum(old_light, 1.0)) ** HARMONIZE_STRENGTH
    return xp.clip(gain, *HARMONIZE_RANGE).astype(xp.float32)
