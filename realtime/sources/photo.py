"""Load the avatar photo: any ordinary image file → RGB uint8, or one clear error.

Every way a user's file can be unusable gets an ``InputError`` with a one-line
message naming the file and the reason. The file is only ever opened for
reading. Policy choices, so a user gets a predictable picture:

- transparency is flattened onto **white** (what image viewers and web pages
  usually show behind a cut-out portrait, and what MediaPipe's face detector
  handles well);
- 16-bit images are scaled down to 8 bits (not clipped), CMYK is converted to RGB;
- the EXIF orientation tag is applied, so the face is upright as the user sees it;
- images of more than ``MAX_PIXELS`` are refused from their header, before any
  pixel is decoded; large photos are decoded at reduced scale where the format
  allows (JPEG) and downscaled so their longer side is at most ``max_side``.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vivicam.errors import InputError, short_reason

log = logging.getLogger(__name__)

# 150 megapixels: above any camera a portrait comes from (a 100 MP medium-format
# frame passes), below Pillow's own decompression-bomb error (~179 MP), so this
# check — with a readable message — is always the one a user meets. Every image
# of 20000×20000 or more is refused.
MAX_PIXELS = 150_000_000
MAX_SIDE = 2048  # the longest side a photo is used at (load_photo's default)

# Errors Pillow raises for files that are cut short or corrupt while decoding.
_ORIENTATION = 0x0112  # the EXIF tag
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError)


def load_photo(path: str | os.PathLike[str], *, max_side: int = MAX_SIDE) -> np.ndarray:
    """Read the photo at ``path`` as an H×W×3 uint8 RGB array, upright, with its
    longer side at most ``max_side`` pixels (never upscaled).

    Raises ``InputError`` ("cannot use photo PATH: REASON") for a missing file, a
    folder, an empty, truncated or corrupt file, a file that is not an image and
    an image too large to decode safely.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}")
    path = Path(path)
    _check_file(path)
    with warnings.catch_warnings():
        # Our own size limit is applied below with a clear message; Pillow's
        # warning for big (but accepted) images would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as im:
                _check_size(path, im.size)
                image = _decode(path, im, max_side)
        except InputError:
            raise
        except Image.DecompressionBombError as e:
            # Pillow refuses very large images inside Image.open, before we see
            # the size: read the header ourselves so the user gets our message.
            size = _header_size(path)
            if size is not None:
                _check_size(path, size, limit=min(MAX_PIXELS, _pillow_limit()))
            raise _error(path, "the image is too large to decode safely") from e
        except UnidentifiedImageError as e:
            raise _error(path, _not_an_image_reason(path)) from e
        except PermissionError as e:
            raise _error(path, "permission denied (the file cannot be read)") from e
        except MemoryError as e:
            raise _error(path, "not enough memory to decode this image") from e
        except OSError as e:  # the disk or network share failed while reading
            raise _error(path, f"the file cannot be read ({short_reason(e)})") from e
    return image


def scaled_note(path: str | os.PathLike[str], photo: np.ndarray) -> str | None:
    """A line for the user when ``photo`` (as :func:`load_photo` returned it)
    is smaller than the file at ``path`` ("big.jpg: 4000×3000 px, used at
    2048×1536 ..."); None when it is the file's own size. A render's output
    has the photo's size, so a user who gave a 4000 px photo should not have
    to find the smaller video out by themselves."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            stored = _upright_size(im)
    except (*_DECODE_ERRORS, Image.DecompressionBombError):
        return None
    used = (photo.shape[1], photo.shape[0])
    return _used_smaller(path, stored, used, MAX_SIDE) if max(stored) > max(used) else None


def _upright_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of the image as shown, its EXIF orientation applied
    (a phone photo stored on its side swaps them)."""
    width, height = im.size
    try:
        turned = im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8)
    except _DECODE_ERRORS:  # a broken EXIF block: as stored, as _apply_orientation keeps it
        turned = False
    return (height, width) if turned else (width, height)


def _used_smaller(path: Path, stored: tuple[int, int], used: tuple[int, int], max_side: int) -> str:
    return f"{path.name}: {stored[0]}×{stored[1]} px, used at {used[0]}×{used[1]} (a photo is used at most {max_side} px a side)"


def _error(path: Path, reason: str) -> InputError:
    return InputError(f"cannot use photo {path}: {reason}")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise _error(path, "file not found")
    if path.is_dir():
        raise _error(path, "this is a folder, not an image file")
    if not path.is_file():
        raise _error(path, "not a regular file")
    if path.stat().st_size == 0:
        raise _error(path, "the file is empty (0 bytes)")


def _not_an_image_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in {".heic", ".heif", ".avif", ".jxl", ".svg", ".raw", ".cr2", ".nef", ".dng"}:
        return f"{suffix} images cannot be read here; save the photo as JPEG or PNG"
    if suffix in {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}:
        return f"not an image: the name ends in {suffix} but the contents are not a readable image"
    return "not an image file (use a JPEG, PNG, WebP, BMP or TIFF photo)"


def _check_size(path: Path, size: tuple[int, int], limit: int = MAX_PIXELS) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise _error(path, f"the image has no pixels ({width}×{height})")
    if width * height > limit:
        raise _error(
            path,
            f"the image is {width}×{height} ({width * height / 1e6:.0f} megapixels); "
            f"at most {limit // 1_000_000} megapixels are accepted — downscale it first",
        )


def _pillow_limit() -> int:
    limit = Image.MAX_IMAGE_PIXELS
    return MAX_PIXELS if limit is None else 2 * int(limit)


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header through Pillow's format plugins,
    without Image.open's decompression-bomb check and without decoding."""
    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for name in Image.ID:
            factory, accept = Image.OPEN[name]
            try:
                if accept is not None and accept(prefix) is not True:
                    continue
                fp.seek(0)
                return factory(fp, str(path)).size
            except Exception:  # not this format: try the next plugin, as Image.open does
                continue
    return None


def _decode(path: Path, im: Image.Image, max_side: int) -> np.ndarray:
    """Decode (at reduced scale when possible), orient, convert, downscale."""
    width, height = im.size
    stored = _upright_size(im)  # before draft() shrinks im.size
    factor = max_side / max(width, height)
    if factor < 1.0 and im.format == "JPEG":
        # JPEG decodes directly at 1/2, 1/4 or 1/8 scale, never below the request.
        im.draft(None, (math.ceil(width * factor), math.ceil(height * factor)))
    try:
        im.load()
        oriented = _apply_orientation(im)
        rgb = _to_rgb(oriented)
    except _DECODE_ERRORS as e:
        raise _error(path, f"the file is truncated or corrupt ({short_reason(e)})") from e
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        new_size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(new_size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if factor < 1.0:
        log.info("%s", _used_smaller(path, stored, rgb.size, max_side))
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except _DECODE_ERRORS:
        # A broken EXIF block should not cost the user their photo: keep the
        # pixels as stored.
        return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB (16-bit scaled, alpha flattened on white)."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (or 32-bit integer) greyscale: scale to 0..255 instead of the
        # clipping that a plain convert("L") would do.
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        grey = np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        top = 1.0 if values.max(initial=0) <= 1.0 else 255.0
        grey = np.clip(values * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        mode in ("P", "L", "RGB") and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "RGB":
        return im
    return im.convert("RGB")
