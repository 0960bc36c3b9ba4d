"""load_photo: every bad photo a user can give gets a one-line InputError naming
the file; awkward-but-valid photos (CMYK, 16-bit, alpha, EXIF-rotated, huge)
come out as upright 8-bit RGB; the user's file is never touched."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from vivicam.errors import InputError
from vivicam.realtime.sources.photo import MAX_PIXELS, load_photo


def _gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None, None]
    return np.concatenate(
        [np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
         np.full((height, width, 1), 90, np.float32)], axis=2
    ).astype(np.uint8)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _assert_one_line_error(excinfo: pytest.ExceptionInfo, path: Path, *words: str) -> None:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message.lower(), message


# --- files that cannot be used -------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nobody.jpg"
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "not found")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError) as excinfo:
        load_photo(tmp_path)
    _assert_one_line_error(excinfo, tmp_path, "folder")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "empty")


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("these are my notes, not a photo\n" * 20)
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "not an image", ".jpg")


def test_unsupported_format_named(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 100)
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, ".heic", "jpeg")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file(tmp_path: Path, fmt: str) -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)  # noise: a long file
    path = tmp_path / f"cut.{fmt.lower()}"
    Image.fromarray(noisy).save(path, fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "truncated")


def test_huge_png_refused_from_header_without_decoding(tmp_path: Path) -> None:
    # A PNG that *claims* 20000×20000 RGB: only its header exists. Decoding it
    # would need 1.2 GB; the refusal must come from the header, with our words,
    # not Pillow's "decompression bomb" text.
    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1000)
    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "20000×20000", "megapixels")
    assert "bomb" not in str(excinfo.value).lower()
    assert 20000 * 20000 > MAX_PIXELS


def test_huge_jpeg_refused_from_header(tmp_path: Path) -> None:
    # A real 16×16 JPEG whose frame header (SOF0) is patched to claim 30000×20000.
    small = tmp_path / "small.jpg"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(small, "JPEG")
    data = bytearray(small.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", 20000, 30000)  # height, width
    path = tmp_path / "huge.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError) as excinfo:
        load_photo(path)
    _assert_one_line_error(excinfo, path, "30000×20000", "megapixels")


# --- awkward but valid photos ---------------------------------------------------


def test_plain_rgb_round_trip(tmp_path: Path) -> None:
    image = _gradient()
    path = tmp_path / "plain.png"
    Image.fromarray(image).save(path)
    loaded = load_photo(path)
    assert loaded.dtype == np.uint8 and loaded.shape == image.shape
    np.testing.assert_array_equal(loaded, image)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    path = tmp_path / "print.jpg"
    cmyk.save(path, "JPEG", quality=95)
    loaded = load_photo(path)
    assert loaded.shape == (32, 32, 3)
    red, green, blue = loaded[16, 16].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_16bit_rgb_png_scaled_not_clipped(tmp_path: Path) -> None:
    deep = np.zeros((20, 30, 3), np.uint16)
    deep[..., 0] = 32768  # half-scale blue in OpenCV's BGR
    deep[..., 2] = 65535  # full-scale red
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), deep)
    loaded = load_photo(path)
    assert loaded.dtype == np.uint8
    np.testing.assert_allclose(loaded[5, 5], [255, 0, 128], atol=2)


def test_16bit_grey_png_scaled_not_clipped(tmp_path: Path) -> None:
    grey = np.full((20, 30), 16384, np.uint16)  # a quarter of full scale
    path = tmp_path / "grey16.png"
    assert cv2.imwrite(str(path), grey)
    assert Image.open(path).mode.startswith("I")
    loaded = load_photo(path)
    assert loaded.shape == (20, 30, 3)
    np.testing.assert_allclose(loaded[3, 3], [64, 64, 64], atol=2)


def test_alpha_flattened_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200  # red...
    rgba[:, :8, 3] = 255  # ...opaque on the left half, transparent on the right
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_photo(path)
    assert loaded.shape == (16, 16, 3)
    np.testing.assert_array_equal(loaded[4, 2], [200, 0, 0])
    np.testing.assert_array_equal(loaded[4, 12], [255, 255, 255])


def test_palette_png_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (10, 10), 0)
    image.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    image.info["transparency"] = 0
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    np.testing.assert_array_equal(load_photo(path)[5, 5], [255, 255, 255])


def test_exif_orientation_applied(tmp_path: Path) -> None:
    # Stored 40 wide × 20 tall: left half red, right half blue. Orientation 6
    # means "rotate 90° clockwise to display": upright it is 20 wide × 40 tall
    # with red on top.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = 6  # Orientation
    path = tmp_path / "phone.jpg"
    image.save(path, "JPEG", exif=exif.tobytes(), quality=95)
    loaded = load_photo(path)
    assert loaded.shape == (40, 20, 3)
    assert loaded[5, 10, 0] > 200 and loaded[5, 10, 2] < 60  # top: red
    assert loaded[35, 10, 2] > 200 and loaded[35, 10, 0] < 60  # bottom: blue


def test_large_photo_downscaled_to_max_side(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    big = cv2.resize(_gradient(), (3000, 1500), interpolation=cv2.INTER_LINEAR)
    for name in ("big.jpg", "big.png"):
        path = tmp_path / name
        Image.fromarray(big).save(path)
        with caplog.at_level("INFO", logger="vivicam.realtime.sources.photo"):
            loaded = load_photo(path, max_side=1000)
        assert loaded.shape == (500, 1000, 3)
        assert f"{name}: 3000×1500 px, used at 1000×500" in caplog.text  # the user hears of it
        # still the same picture: the colour ramp runs left → right
        assert loaded[250, 900, 0] > loaded[250, 100, 0] + 150


def test_a_photo_used_smaller_than_its_file_is_said_upright(tmp_path: Path) -> None:
    from vivicam.realtime.sources.photo import scaled_note

    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored on its side, shown upright 1500×3000
    Image.fromarray(cv2.resize(_gradient(), (3000, 1500))).save(path, exif=exif)
    loaded = load_photo(path, max_side=1000)
    assert loaded.shape == (1000, 500, 3)
    assert scaled_note(path, loaded) == "phone.jpg: 1500×3000 px, used at 500×1000 (a photo is used at most 2048 px a side)"
    small = tmp_path / "small.png"
    Image.fromarray(_gradient()).save(small)
    assert scaled_note(small, load_photo(small)) is None


def test_small_photo_not_upscaled(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.fromarray(_gradient(20, 10)).save(path)
    assert load_photo(path, max_side=2048).shape == (10, 20, 3)


def test_users_files_never_modified(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), np.uint8)
    rotated = Image.fromarray(stored)
    exif = rotated.getexif()
    exif[0x0112] = 6
    files = {
        "rotated.jpg": lambda p: rotated.save(p, "JPEG", exif=exif.tobytes()),
        "cmyk.jpg": lambda p: Image.new("CMYK", (8, 8)).save(p, "JPEG"),
        "alpha.png": lambda p: Image.new("RGBA", (8, 8)).save(p),
        "big.jpg": lambda p: Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(p),
    }
    for name, write in files.items():
        path = tmp_path / name
        write(path)
        before, mtime = _sha(path), path.stat().st_mtime_ns
        load_photo(path, max_side=100)
        assert _sha(path) == before and path.stat().st_mtime_ns == mtime, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)  # nothing added


@pytest.mark.testdata
def test_real_portraits_load(testdata: Path) -> None:
    for path in sorted((testdata / "portraits").glob("*.jpg"))[:3]:
        image = load_photo(path)
        assert image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8
        assert max(image.shape[:2]) <= 2048
