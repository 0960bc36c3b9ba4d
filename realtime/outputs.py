"""Where a command may write: checked once, before any work.

Every command that writes a file (``render -o``, ``demo -o``, ``run
--record``, ``calibrate -o``) calls :func:`check_output` with its inputs, so
an output that would overwrite one of them — the same path however spelt, a
symbolic link or a hard link to it — is refused with one line (exit 2) before
minutes of work, and never after the input is gone.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from vivicam.errors import InputError
from vivicam.paths import same_file


def check_output(path: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """``path`` as a Path; ``InputError`` when it names one of ``inputs``
    (``None`` entries are skipped) or cannot be written."""
    p = Path(path)
    for source in inputs:
        if source is not None and same_file(p, source):
            spelt = "" if str(source) == str(p) else f" ({source})"
            raise InputError(f"cannot write {p}: that is an input{spelt}; choose another output name")
    if p.is_dir():
        raise InputError(f"cannot write {p}: it is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"cannot write {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"cannot write {p}: permission denied")
    return p


def file_inputs(*specs: object) -> list[Path]:
    """The arguments that name existing files (a camera index, ``idle`` or
    an array is not a file), as paths to protect."""
    return [Path(s) for s in specs if isinstance(s, (str, os.PathLike)) and Path(s).is_file()]
