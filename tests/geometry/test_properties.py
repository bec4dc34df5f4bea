"""Property tests for geometry, and the end-to-end claim: EXIF x resize maps boxes back exactly."""

from __future__ import annotations

import io
import math

import eta.core.geometry as etag
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from gemini_vision import geometry as g
from gemini_vision.images import exif
from gemini_vision.images.prepare import prepare_image

any_number = st.floats(allow_nan=False, allow_infinity=True) | st.integers(-(10**9), 10**9)
coord = st.integers(0, 1000)
frame = st.tuples(st.integers(1, 5000), st.integers(1, 5000))


@given(st.lists(any_number, min_size=4, max_size=4))
def test_any_four_numbers_give_a_valid_fiftyone_box(box_2d) -> None:
    x, y, w, h = g.box_2d_to_relative(box_2d)
    assert 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
    assert w >= 0.0 and h >= 0.0
    assert x + w <= 1.0 and y + h <= 1.0


@given(st.lists(any_number, min_size=4, max_size=4), st.integers(0, 3))
def test_a_nan_anywhere_is_rejected(box_2d, index) -> None:
    box_2d[index] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        g.box_2d_to_relative(box_2d)


@given(coord, coord, coord, coord)
def test_integer_box_2d_round_trips_exactly(a, b, c, d) -> None:
    box_2d = (min(a, c), min(b, d), max(a, c), max(b, d))
    assert g.relative_to_box_2d(g.box_2d_to_relative(box_2d)) == box_2d
    assert g.relative_to_box_2d(g.box_2d_to_relative((a, b, c, d))) == box_2d  # any corner order


@given(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1))
def test_relative_box_survives_rendering_to_0_1000(x, y, u, v) -> None:
    rel = (min(x, u), min(y, v), abs(u - x), abs(v - y))
    bx, by, bw, bh = g.box_2d_to_relative(g.relative_to_box_2d(rel))
    corners = (bx, by, bx + bw, by + bh)
    expected = (rel[0], rel[1], rel[0] + rel[2], rel[1] + rel[3])
    assert corners == pytest.approx(expected, abs=0.0005 + 1e-12)  # each corner rounds once


@given(coord, coord)
def test_points_round_trip(y, x) -> None:
    assert g.relative_to_point_yx(g.point_to_relative((y, x))) == (y, x)


@given(st.lists(any_number, min_size=4, max_size=4), frame)
def test_mask_extent_is_exactly_fiftyones(box_2d, size) -> None:
    rel = g.box_2d_to_relative(box_2d)
    x0, y0, width, height = g.mask_extent_px(rel, size)
    x, y, w, h = rel
    eta_box = etag.BoundingBox.from_coords(x, y, x + w, y + h)
    assert (x0, y0, width, height) == tuple(eta_box.coords_in(frame_size=size))
    assert x0 >= 0 and x0 + width <= size[0] and y0 >= 0 and y0 + height <= size[1]
    assert width >= 0 and height >= 0


@settings(max_examples=60)
@given(coord, coord, coord, coord, st.integers(1, 1500), st.integers(1, 1500))
def test_instance_masks_have_fiftyones_shape(a, b, c, d, width, height) -> None:
    prob = np.full((16, 16), 200, np.uint8)
    rel, mask = g.instance_mask(prob, (a, b, c, d), (width, height))
    _, _, w, h = g.mask_extent_px(rel, (width, height))
    assert mask.shape == (h, w) and mask.dtype == bool
    assert mask.all()


@given(st.integers(0, 255))
def test_threshold_is_strict_at_127_after_resizing(value) -> None:
    _, mask = g.instance_mask(np.full((256, 256), value, np.uint8), (0, 0, 700, 300), (97, 61))
    assert mask.size > 0
    assert mask.all() if value > 127 else not mask.any()


# --------------------------------------------------------------------------------------------
# Polygons against a brute-force ray-casting reference


def _reference_raster(xs: list[float], ys: list[float], width: int, height: int) -> np.ndarray:
    out = np.zeros((height, width), bool)
    n = len(xs)
    for r in range(height):
        yc = r + 0.5
        for c in range(width):
            xc = c + 0.5
            inside = False
            for i in range(n):
                xa, ya, xb, yb = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
                if min(ya, yb) <= yc < max(ya, yb):
                    t = (yc - ya) / (yb - ya)
                    if xa + t * (xb - xa) <= xc:
                        inside = not inside
            out[r, c] = inside
    return out


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(coord, coord), min_size=3, max_size=7), st.integers(5, 40))
def test_polygon_raster_matches_ray_casting(points, side) -> None:
    size = (side, side + 3)
    rel, mask = g.polygon_to_instance_mask([list(p) for p in points], size)
    x0, y0, width, height = g.mask_extent_px(rel, size)
    xs = [p[1] / 1000 * size[0] - x0 for p in points]
    ys = [p[0] / 1000 * size[1] - y0 for p in points]
    assert np.array_equal(mask, _reference_raster(xs, ys, width, height))


# --------------------------------------------------------------------------------------------
# Semantic composition


rect = st.tuples(coord, coord, coord, coord).map(
    lambda r: (min(r[0], r[2]), min(r[1], r[3]), max(r[0], r[2]), max(r[1], r[3]))
)


@settings(max_examples=60)
@given(st.lists(st.tuples(rect, st.integers(1, 3)), min_size=1, max_size=5))
def test_semantic_mask_puts_the_smallest_covering_instance_on_top(items) -> None:
    size = (50, 40)
    instances = []
    for box_2d, cls in items:
        rel = g.box_2d_to_relative(box_2d)
        _, _, w, h = g.mask_extent_px(rel, size)
        instances.append(g.Instance(f"c{cls}", rel, np.ones((h, w), bool)))
    classes = {"c1": 1, "c2": 2, "c3": 3}
    seg = g.compose_semantic_mask(instances, size, classes)
    for yy in range(0, 40, 3):
        for xx in range(0, 50, 3):
            covering = []
            for i, inst in enumerate(instances):
                x0, y0, w, h = g.mask_extent_px(inst.bounding_box, size)
                if x0 <= xx < x0 + w and y0 <= yy < y0 + h:
                    covering.append((-(w * h), i, classes[str(inst.label)]))
            expected = max(covering)[2] if covering else 0  # painted last wins
            assert seg[yy, xx] == expected


# --------------------------------------------------------------------------------------------
# EXIF orientation transforms


@given(st.integers(1, 8), frame, st.floats(0, 1), st.floats(0, 1))
def test_exif_point_maps_are_inverse_dihedral_maps(orientation, size, u, v) -> None:
    point = [(u * size[0], v * size[1])]
    shown = exif.exif_raw_to_display(point, orientation, size)
    dw, dh = exif.exif_display_size(size, orientation)
    assert 0 <= shown[0, 0] <= dw and 0 <= shown[0, 1] <= dh
    assert np.allclose(exif.exif_display_to_raw(shown, orientation, size), point)
    assert abs(np.linalg.det(exif.exif_matrix(orientation, size)[:2, :2])) == 1


# --------------------------------------------------------------------------------------------
# The key claim: EXIF orientations 1-8 x resize map boxes back exactly

# Pillow transposes that *store* a displayed image under each orientation (inverse of display)
STORE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}
BACKGROUND, RECTANGLE = 40, 220  # a luminance step (JPEG keeps luminance at full resolution)


def _edges(profile: np.ndarray) -> tuple[float, float]:
    """Sub-pixel edges of a blurred step: centroid +- half the area, in pixels.

    Resampling filters preserve a step's area and centre, so this locator is good to about
    0.1 px of the image it looks at, far below the 1 display pixel being tested.
    """
    on = np.nonzero(profile >= 0.5)[0]
    inner = profile[on[0] + 2 : on[-1] - 1] if on[-1] - on[0] > 4 else profile[on]
    lo, hi = max(on[0] - 4, 0), min(on[-1] + 5, len(profile))
    window = profile[lo:hi] / np.median(inner)
    area = window.sum()
    centre = float(((np.arange(lo, hi) + 0.5) * window).sum() / area)
    return centre - area / 2, centre + area / 2


def locate_rectangle(sent: Image.Image) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the bright rectangle in ``sent``, in continuous sent pixels."""
    pixels = np.asarray(sent.convert("L"), np.float64)
    mid = (BACKGROUND + RECTANGLE) / 2
    low, high = np.median(pixels[pixels < mid]), np.median(pixels[pixels >= mid])
    t = (pixels - low) / (high - low)
    rows, cols = np.nonzero((t > 0.5).any(axis=1))[0], np.nonzero((t > 0.5).any(axis=0))[0]
    # profiles through the middle half of the rectangle, away from the other pair of edges
    r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
    across = t[r0 + (r1 - r0) // 4 : r1 - (r1 - r0) // 4 + 1, :].mean(axis=0)
    down = t[:, c0 + (c1 - c0) // 4 : c1 - (c1 - c0) // 4 + 1].mean(axis=1)
    (x0, x1), (y0, y1) = _edges(across), _edges(down)
    return x0, y0, x1, y1


@st.composite
def scenes(draw):
    dw = draw(st.integers(40, 400))
    dh = draw(st.integers(max(40, -(-dw // 3)), min(400, dw * 3)))
    rw = draw(st.integers(max(dw // 4, 8), dw * 3 // 4))
    rh = draw(st.integers(max(dh // 4, 8), dh * 3 // 4))
    rx, ry = draw(st.integers(0, dw - rw)), draw(st.integers(0, dh - rh))
    return (dw, dh), (rx, ry, rw, rh)


@settings(max_examples=60, deadline=None)
@given(
    scenes(),
    st.integers(1, 8),
    st.sampled_from([None, 64, 100, 257, 1024]),
    st.sampled_from(["PNG", "JPEG"]),
)
# a stored width that 1/4 DCT scaling does not divide: the drafted frame is fractional
@example(((255, 102), (40, 20, 120, 60)), 4, 64, "JPEG")
@example(((107, 298), (72, 45, 28, 216)), 5, 64, "JPEG")
def test_exif_orientations_times_resize_map_boxes_back_exactly(
    scene, orientation, max_side, fmt
) -> None:
    (dw, dh), (rx, ry, rw, rh) = scene
    shown = np.full((dh, dw), BACKGROUND, np.uint8)
    shown[ry : ry + rh, rx : rx + rw] = RECTANGLE
    displayed = Image.fromarray(shown).convert("RGB")
    method = STORE[orientation]
    stored = displayed if method is None else displayed.transpose(method)
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    stored.save(buf, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))

    prepared = prepare_image(buf.getvalue(), max_side=max_side)
    sent = Image.open(io.BytesIO(prepared.data))
    sw, sh = sent.size
    assert prepared.display_size == (dw, dh) and prepared.sent_size == (sw, sh)
    assert max_side is None or max(sw, sh) <= max_side

    # what a perfect model would answer: the rectangle as integer box_2d on the SENT image
    x0, y0, x1, y1 = locate_rectangle(sent)
    box_2d = [
        round(y0 / sh * 1000),
        round(x0 / sw * 1000),
        round(y1 / sh * 1000),
        round(x1 / sw * 1000),
    ]
    x, y, w, h = g.box_2d_to_relative(box_2d)

    # back in the displayed frame: within 1 display pixel + the 0-1000 rounding
    tol_x, tol_y = 1 / dw + 0.0005, 1 / dh + 0.0005
    assert abs(x - rx / dw) <= tol_x and abs(x + w - (rx + rw) / dw) <= tol_x
    assert abs(y - ry / dh) <= tol_y and abs(y + h - (ry + rh) / dh) <= tol_y
