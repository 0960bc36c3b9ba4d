"""Every bad input of the live pipeline, through the CLI: a one-line reason
on stderr, a non-zero exit code, no traceback, nothing the user gave changed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from loop_fakes import write_clip

from vivicam.realtime.cli.main import main


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main([str(a) for a in args])
    return rc, capsys.readouterr().err


def assert_error(rc: int, err: str, code: int, *words: str) -> None:
    assert rc == code, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for word in words:
        assert word.lower() in err.lower(), err


def huge_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid PNG header claiming width×height (the pixel data is tiny and
    never read: the loader must refuse from the header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from skimage import data

    root = tmp_path_factory.mktemp("inputs")
    portrait = root / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(portrait, quality=90)
    truncated = root / "truncated.jpg"
    truncated.write_bytes(portrait.read_bytes()[: portrait.stat().st_size // 2])
    faceless = root / "faceless.png"
    yy, xx = np.mgrid[0:256, 0:256]
    Image.fromarray(np.dstack([xx, yy, (xx + yy) // 2]).astype(np.uint8)).save(faceless)
    empty = root / "empty.jpg"
    empty.write_bytes(b"")
    text = root / "notes.jpg"
    text.write_text("this is not a picture\n")
    garbage = root / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    no_frames = write_clip(root / "no_frames.mp4", 0)
    clip = write_clip(root / "clip.mp4", 10)
    return {
        "portrait": portrait,
        "truncated": truncated,
        "faceless": faceless,
        "empty": empty,
        "text": text,
        "huge": huge_png(root / "huge.png"),
        "garbage": garbage,
        "no_frames": no_frames,
        "clip": clip,
        "root": root,
    }


@pytest.mark.parametrize(
    "photo, words",
    [
        ("missing.jpg", ["missing.jpg", "not found"]),
        ("empty", ["empty.jpg", "empty"]),
        ("truncated", ["truncated.jpg", "truncated"]),
        ("text", ["notes.jpg"]),
        ("huge", ["huge.png", "20000"]),
        ("root", ["folder"]),
    ],
)
def test_render_rejects_a_bad_photo(files, capsys, tmp_path, photo, words) -> None:
    path = files.get(photo, files["root"] / photo)
    before = path.read_bytes() if path.is_file() else None
    out = tmp_path / "out.mp4"
    rc, err = cli(capsys, "render", "--avatar", path, "--driving", files["clip"], "-o", out, "--no-progress")
    assert_error(rc, err, 2, "photo", *words)
    assert not out.exists()
    if before is not None:
        assert path.read_bytes() == before  # the user's file is never modified


def test_render_says_when_the_photo_has_no_face(files, capsys, tmp_path) -> None:
    rc, err = cli(capsys, "render", "--avatar", files["faceless"], "--driving", files["clip"],
                  "-o", tmp_path / "out.mp4", "--no-progress")
    assert_error(rc, err, 2, "faceless.png", "no face")


@pytest.mark.parametrize(
    "video, words",
    [
        ("missing.mp4", ["missing.mp4", "not found"]),
        ("garbage", ["garbage.mp4"]),
        ("no_frames", ["no_frames.mp4", "no video frames"]),
        ("empty", ["empty.jpg", "empty"]),
    ],
)
def test_render_rejects_a_bad_driving_video(files, capsys, tmp_path, video, words) -> None:
    path = files.get(video, files["root"] / video)
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", path,
                  "-o", tmp_path / "out.mp4", "--no-progress")
    assert_error(rc, err, 2, "video", *words)


@pytest.mark.parametrize("where", ["no/such/folder/out.mp4", "."])
def test_render_rejects_an_output_it_cannot_write(files, capsys, tmp_path, where) -> None:
    out = tmp_path / where
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", files["clip"], "-o", out,
                  "--no-progress")
    assert_error(rc, err, 2, "cannot write")


def test_demo_rejects_an_output_it_cannot_write(capsys, tmp_path) -> None:
    rc, err = cli(capsys, "demo", "-o", tmp_path / "missing" / "demo.mp4", "--no-preview")
    assert_error(rc, err, 2, "cannot write", "does not exist")


def test_run_reports_a_camera_that_does_not_exist(files, capsys, tmp_path) -> None:
    rc, err = cli(capsys, "run", "--avatar", files["portrait"], "--camera", "7", "--no-preview",
                  "--no-virtual-camera", "--record", tmp_path / "rec.mp4", "--seconds", "1")
    assert_error(rc, err, 3, "camera 7")


def test_run_rejects_a_bad_photo_before_opening_anything(files, capsys) -> None:
    rc, err = cli(capsys, "run", "--avatar", files["text"], "--camera", "idle", "--no-preview",
                  "--no-virtual-camera", "--seconds", "1")
    assert rc != 0 and "Traceback" not in err


def test_calibrate_reports_a_camera_that_does_not_exist(capsys, tmp_path) -> None:
    rc, err = cli(capsys, "calibrate", "--camera", "9", "-o", tmp_path / "p.json")
    assert_error(rc, err, 3, "camera 9")


def test_calibrate_on_a_video_without_a_face_says_so(files, capsys, tmp_path) -> None:
    out = tmp_path / "p.json"
    rc, err = cli(capsys, "calibrate", "--camera", files["clip"], "-o", out)
    assert rc == 2 and "no face" in err.lower() and "Traceback" not in err
    assert not out.exists()


def test_unknown_engine_lists_the_known_ones(files, capsys, tmp_path) -> None:
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", files["clip"],
                  "-o", tmp_path / "o.mp4", "--engine", "nope", "--no-progress")
    assert_error(rc, err, 2, "unknown engine", "warp")


def test_a_warp_only_option_on_another_engine_is_one_clear_line(files, capsys, tmp_path) -> None:
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", files["clip"], "-o", tmp_path / "o.mp4",
                  "--engine", "liveportrait", "--weights", tmp_path, "--mouth", "synth")
    assert_error(rc, err, 2, "liveportrait", "--mouth")
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", files["clip"], "-o", tmp_path / "o.mp4",
                  "--engine", "liveportrait", "--weights", tmp_path, "--camera-motion", "still")
    assert_error(rc, err, 2, "liveportrait", "--camera-motion")


@pytest.mark.parametrize("argv", [
    ["render", "--avatar", "a.jpg", "--driving", "d.mp4", "-o", "o.mp4", "--fps", "0"],
    ["run", "--avatar", "a.jpg", "--fps", "abc"],
    ["serve", "--avatar", "a.jpg", "--fps", "1000"],
    ["render", "--avatar", "a.jpg"],
    ["no-such-command"],
])
def test_a_usage_error_is_one_line_and_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error:" in err and "usage:" not in err, err


def test_a_bad_size_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--size", "big"])
    assert exc.value.code == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err


def test_run_without_a_virtual_camera_backend_says_what_to_install(files, capsys, monkeypatch) -> None:
    import pyvirtualcam

    class NoBackend:
        def __init__(self, *args, **kwargs) -> None:
            raise RuntimeError("no backend on this test machine")

    # whatever this machine has, pretend no virtual camera can be opened
    monkeypatch.setattr(pyvirtualcam, "Camera", NoBackend)
    rc, err = cli(capsys, "run", "--avatar", files["portrait"], "--camera", "idle", "--no-preview",
                  "--seconds", "1")
    assert_error(rc, err, 3, "virtual camera", "--no-virtual-camera")


def test_a_photo_with_several_faces_says_which_one_is_used(files, capsys, tmp_path) -> None:
    from skimage import data

    group = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)  # two people
    photo = tmp_path / "group.png"
    Image.fromarray(group).save(photo)
    out = tmp_path / "out.mp4"
    rc, err = cli(capsys, "render", "--avatar", photo, "--driving", files["clip"], "-o", out, "--no-progress",
                  "--size", "320x160")
    assert rc == 0, err
    assert "group.png: 2 faces found" in err and "largest" in err
    assert out.exists()


def _odd_photo(kind: str, folder: Path) -> Path:
    from skimage import data

    im = Image.fromarray(data.astronaut())
    if kind == "cmyk":
        path = folder / "cmyk.jpg"
        im.convert("CMYK").save(path)
    elif kind == "16bit":
        path = folder / "grey16.png"
        grey = np.asarray(im.convert("L"), np.uint16) * 257
        Image.fromarray(grey).save(path)
    elif kind == "alpha":
        path = folder / "alpha.png"
        rgba = im.convert("RGBA")
        rgba.putalpha(Image.fromarray(np.full((512, 512), 200, np.uint8)))
        rgba.save(path)
    else:  # stored sideways with an EXIF tag saying "rotate 90° clockwise to show"
        path = folder / "exif.jpg"
        exif = Image.Exif()
        exif[0x0112] = 6
        im.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)
    return path


@pytest.mark.parametrize("kind", ["cmyk", "16bit", "alpha", "exif"])
def test_unusual_but_valid_photos_are_converted_and_left_untouched(files, capsys, tmp_path, kind) -> None:
    photo = _odd_photo(kind, tmp_path)
    before = photo.read_bytes()
    out = tmp_path / "out.mp4"
    rc, err = cli(capsys, "render", "--avatar", photo, "--driving", files["clip"], "-o", out, "--no-progress",
                  "--size", "128x128")
    assert rc == 0, err
    assert photo.read_bytes() == before
    if kind == "exif":  # the output is upright: it looks like the photo as shown, not as stored
        from skimage import data

        with av.open(str(out)) as container:
            first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
        upright = np.asarray(Image.fromarray(data.astronaut()).resize((128, 128)), np.float32)
        assert np.abs(first - upright).mean() < 0.5 * np.abs(first - np.rot90(upright)).mean()


def test_asking_for_tensorrt_without_a_gpu_is_one_clear_line(files, capsys, tmp_path) -> None:
    from vivicam.engines.backends import select_backend
    from vivicam.errors import VivicamError

    try:
        select_backend("tensorrt", ("cpu", "onnxruntime", "tensorrt"))
        pytest.skip("this machine can run TensorRT")
    except VivicamError:
        pass
    rc, err = cli(capsys, "render", "--avatar", files["portrait"], "--driving", files["clip"],
                  "-o", tmp_path / "o.mp4", "--backend", "tensorrt", "--no-progress")
    assert rc in (3, 4), err  # DeviceError (no GPU) or MissingExtraError (no TensorRT)
    assert_error(rc, err, rc, "tensorrt")
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("fps", ["0", "1000", "abc", "-5"])
def test_run_rejects_a_bad_output_rate(fps: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--avatar", "x.jpg", "--fps", fps])
    assert exc.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--fps" in errors[0] and "Traceback" not in errors[0]
