"""Crops of objects: context kept, a least size, the object centred even at the image's edge,
and coordinates found in a crop mapped back to the whole image exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from gemini_vision.images.crops import crop_boxes, crop_region


def test_context_and_least_side() -> None:
    # a 100x50 px box in a 1000x500 image, 15 % context on every side (192.5 and 257.5
    # round half to even)
    region = crop_region([0.4, 0.4, 0.1, 0.1], (1000, 500), margin=0.15, min_side=10)
    assert region == (385, 192, 515, 258)
    # a tiny box grows to the least side, around its centre
    x0, y0, x1, y1 = crop_region([0.5, 0.5, 0.01, 0.01], (1000, 500), margin=0.0, min_side=96)
    assert (x1 - x0, y1 - y0) == (96, 96) and (x0 + x1) / 2 == pytest.approx(505, abs=1)


def test_an_object_at_the_edge_stays_in_the_centre_on_grey() -> None:
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    (crop,) = crop_boxes(image, [[0.0, 0.0, 0.1, 0.2]], margin=0.0, min_side=60)
    assert crop.region == (-20, -20, 40, 40)
    pixels = np.asarray(Image.open(io.BytesIO(crop.data)).convert("RGB")).astype(int)
    assert pixels.shape == (60, 60, 3)
    assert abs(pixels[5, 5] - 128).max() <= 8  # outside the image: grey
    assert pixels[40, 40, 0] > 230 and pixels[40, 40, 1] < 30  # inside: the image


@given(
    st.floats(0.0, 0.9),
    st.floats(0.0, 0.9),
    st.floats(0.01, 0.1),
    st.floats(0.01, 0.1),
    st.floats(0.0, 1.0),
    st.integers(1, 300),
)
def test_a_box_found_in_the_crop_maps_back_to_the_same_place(
    x: float, y: float, w: float, h: float, margin: float, min_side: int
) -> None:
    image = Image.new("RGB", (640, 480))
    (crop,) = crop_boxes(image, [[x, y, w, h]], margin=margin, min_side=min_side)
    x0, y0, x1, y1 = crop.region
    # the object's own box, as it appears in the crop, maps back onto itself
    inside = [
        (x * 640 - x0) / (x1 - x0),
        (y * 480 - y0) / (y1 - y0),
        w * 640 / (x1 - x0),
        h * 480 / (y1 - y0),
    ]
    assert crop.to_image(inside) == pytest.approx([x, y, w, h], abs=1e-9)
