"""Typed errors. Each carries a message meant for the user: the CLI prints it
on one line and exits non-zero instead of showing a traceback."""

from __future__ import annotations


class VivicamError(Exception):
    """A problem the user can act on (bad input, missing device, missing extra).

    ``exit_code`` lets the CLI tell kinds of failure apart in scripts.
    """

    exit_code: int = 2


class InputError(VivicamError):
    """A file, path or argument the user gave cannot be used."""

    exit_code = 2


class NoFaceError(InputError):
    """No face was found where one was needed (photo or first driving frames)."""


class DeviceError(VivicamError):
    """A camera, virtual camera, display or GPU is missing or failed."""

    exit_code = 3


class MissingExtraError(VivicamError, ImportError):
    """An optional dependency is not installed; the message names the extra."""

    exit_code = 4


class WeightsError(InputError):
    """A weights folder or checkpoint is missing, truncated or does not match."""


def short_reason(error: BaseException) -> str:
    """The first line of an exception's reason, without errno and file name
    (the user-facing message around it names the file already)."""
    strerror = getattr(error, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
