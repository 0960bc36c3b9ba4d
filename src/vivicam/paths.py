"""Where vivicam keeps what it builds (ONNX graphs, TensorRT plans, timing caches)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir(*parts: str, create: bool = True) -> Path:
    """``$VIVICAM_CACHE`` or ``$XDG_CACHE_HOME/vivicam`` (default
    ``~/.cache/vivicam``), joined with ``parts``; created unless ``create=False``."""
    env = os.environ.get("VIVICAM_CACHE")
    if env:
        root = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vivicam"
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so a
    crash or a second process never leaves a half-written file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_beside(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def temp_beside(path: str | os.PathLike[str]) -> Path:
    """A new empty file in ``path``'s folder, unique to this writer (two
    processes writing the same target never share one), hidden, with the
    target's suffix so format-sniffing tools still work: ``.out.k3j2x9.partial.mp4``.

    Write it, then ``os.replace`` it onto ``path``: the target then only ever
    holds a complete file. Its permissions are those a plain ``open`` would
    give (``mkstemp`` alone would leave the finished file private).
    """
    target = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".partial{target.suffix}",
                                dir=target.parent if str(target.parent) else ".")
    os.close(fd)
    try:
        os.chmod(name, 0o666 & ~_umask())
    except OSError:  # a filesystem without modes (FAT, some network shares)
        pass
    return Path(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file: the same path however spelt
    (relative, ``..``), a symbolic link to it, or a hard link (same inode)."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)
