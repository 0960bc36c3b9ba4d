"""The cartoon-style portrait the quality benchmark makes from a photo."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from vivicam.benchmarks.portrait_styles import cartoon, split_name


def test_cartoon_has_flat_colours_ink_lines_and_still_a_face() -> None:
    from vivicam.face.detect import find_avatar_face

    photo = np.ascontiguousarray(skimage.data.astronaut()[..., :3])
    drawn = cartoon(photo)
    assert drawn.shape == photo.shape and drawn.dtype == np.uint8
    colours = lambda im: len(np.unique(im.reshape(-1, 3), axis=0))  # noqa: E731
    assert colours(drawn) < colours(photo) / 20  # flat fills, not a photo's gradients
    ink = (drawn == 25).all(axis=2).mean()
    assert 0.02 < ink < 0.4  # dark lines along edges, not a black picture
    find_avatar_face(drawn)  # the tracker still sees a face in it


def test_style_names() -> None:
    assert split_name("s1") == ("s1", None)
    assert split_name("s1+cartoon") == ("s1", "cartoon")
    with pytest.raises(ValueError, match="cartoon"):
        split_name("s1+anime")
