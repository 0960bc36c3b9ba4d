"""What every sink shares: context-manager use and fitting an image to the
size the sink was opened with."""

from __future__ import annotations

import cv2
import numpy as np


class SinkBase:
    """``with Sink(...) as sink:`` closes the sink on the way out."""

    def close(self) -> None:  # pragma: no cover - every sink overrides it
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 (returns the subclass)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` as a C-contiguous H×W×3 uint8 array of exactly width×height.

    The pipeline normally delivers the right size already (post.compose fits
    with letterboxing); this is the safety net when it does not, e.g. after an
    avatar switch changed the output size: a plain resize, so nothing crashes.
    """
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    elif image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[0] != height or image.shape[1] != width:
        grow = width > image.shape[1] or height > image.shape[0]
        image = cv2.resize(image, (width, height),
                           interpolation=cv2.INTER_LINEAR if grow else cv2.INTER_AREA)
    return np.ascontiguousarray(image)
