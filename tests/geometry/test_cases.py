"""geometry: hand-computed values for every conversion, mask and transform."""

from __future__ import annotations

import base64
import io
import math

import eta.core.geometry as etag
import eta.core.image as etai
import numpy as np
import pytest
from PIL import Image

from gemini_vision import catalog
from gemini_vision import geometry as g
from gemini_vision.images import exif


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def disc_probability(size: int = 256) -> np.ndarray:
    """A 256x256 mask: a disc of radius 0.4*size centred in the square (255 inside, 0 out)."""
    centre = (size - 1) / 2
    yy, xx = np.mgrid[0:size, 0:size]
    return np.where((xx - centre) ** 2 + (yy - centre) ** 2 <= (0.4 * size) ** 2, 255, 0).astype(
        np.uint8
    )


# --------------------------------------------------------------------------------------------
# Boxes and points


@pytest.mark.parametrize(
    ("box_2d", "expected"),
    [
        ((100, 200, 300, 600), (0.2, 0.1, 0.4, 0.2)),
        ((300, 600, 100, 200), (0.2, 0.1, 0.4, 0.2)),  # reversed corners are swapped
        ((0, 0, 1000, 1000), (0.0, 0.0, 1.0, 1.0)),
        ((-50, -10, 1200, 500), (0.0, 0.0, 0.5, 1.0)),  # clamped to the frame
        ((500, 500, 500, 500), (0.5, 0.5, 0.0, 0.0)),  # degenerate: zero size
        ((2000, 1500, 3000, 1100), (1.0, 1.0, 0.0, 0.0)),  # entirely outside
        ((250.5, 100.25, 750.5, 900.75), (0.10025, 0.2505, 0.8005, 0.5)),
        ((float("-inf"), 0, float("inf"), 10), (0.0, 0.0, 0.01, 1.0)),
    ],
)
def test_box_2d_to_relative(box_2d, expected) -> None:
    assert g.box_2d_to_relative(box_2d) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("bad", [(1, 2, 3), (1, 2, 3, 4, 5), (float("nan"), 0, 10, 10)])
def test_box_2d_to_relative_rejects_wrong_length_and_nan(bad) -> None:
    with pytest.raises(ValueError, match="box_2d"):
        g.box_2d_to_relative(bad)


def test_relative_to_box_2d_rounds_like_gemini() -> None:
    assert g.relative_to_box_2d((0.2, 0.1, 0.4, 0.2)) == (100, 200, 300, 600)
    assert g.relative_to_box_2d((0.12345, 0.5, 0.5, 0.6)) == (500, 123, 1000, 623)
    assert g.relative_to_box_2d((-0.1, 0.0, 1.5, 0.5)) == (0, 0, 500, 1000)


def test_points() -> None:
    assert g.point_to_relative((250, 750)) == (0.75, 0.25)
    assert g.point_to_relative((-5, 1005)) == (1.0, 0.0)
    assert g.relative_to_point_yx((0.75, 0.25)) == (250, 750)
    with pytest.raises(ValueError, match="NaN"):
        g.point_to_relative((float("nan"), 3))
    with pytest.raises(ValueError, match="2 numbers"):
        g.point_to_relative((1, 2, 3))


def test_mask_extent_px_truncates_like_fiftyone() -> None:
    # x0 = int(640*0.1) = 64, x1 = int(640*0.4) = 256; y0 = int(480*0.2) = 96,
    # y1 = int(480*(0.2+0.4)) = int(288.00000000000006) = 288
    assert g.mask_extent_px((0.1, 0.2, 0.3, 0.4), (640, 480)) == (64, 96, 192, 192)
    # 0.33*100 = 33.0 -> 33; (0.33+0.335)*100 = 66.5 -> 66; width 33, not round(33.5)
    assert g.mask_extent_px((0.33, 0.0, 0.335, 1.0), (100, 10)) == (33, 0, 33, 10)
    # corners outside the frame are clamped before truncation
    assert g.mask_extent_px((-0.5, 0.9, 1.0, 0.5), (10, 10)) == (0, 9, 5, 1)


def test_mask_extent_px_matches_eta_on_awkward_boxes() -> None:
    for rel in [(0.1, 0.2, 0.3, 0.4), (0.3333, 0.6667, 0.1111, 0.2222), (0.0, 0.0, 1.0, 1.0)]:
        for size in [(640, 480), (1001, 999), (3, 7)]:
            x, y, w, h = rel
            eta_box = etag.BoundingBox.from_coords(x, y, x + w, y + h)
            assert g.mask_extent_px(rel, size) == tuple(eta_box.coords_in(frame_size=size))


# --------------------------------------------------------------------------------------------
# Mask decoding


def test_decode_mask_png_accepts_base64_data_uri_and_bytes() -> None:
    raw = png_bytes(Image.fromarray(disc_probability()))
    text = base64.b64encode(raw).decode()
    expected = disc_probability()
    for form in (raw, text, "data:image/png;base64," + text, "  " + text + "\n"):
        assert np.array_equal(g.decode_mask_png(form), expected)


@pytest.mark.parametrize(
    ("mode", "pixel", "expected"),
    [
        ("L", 200, 200),
        ("LA", (200, 255), 200),
        ("LA", (255, 0), 0),  # transparent = background, whatever its colour
        ("LA", (255, 128), 128),
        ("RGBA", (255, 255, 255, 255), 255),
        ("RGBA", (255, 255, 255, 0), 0),
        ("RGB", (255, 255, 255), 255),
        ("RGB", (0, 0, 0), 0),
        ("I;16", 65535, 255),
        ("I;16", 32896, 128),  # 32896 * 255 / 65535 = 128.0
        ("1", 1, 255),
    ],
)
def test_decode_mask_png_modes(mode: str, pixel, expected: int) -> None:
    im = Image.new(mode, (8, 4), pixel)
    prob = g.decode_mask_png(png_bytes(im))
    assert prob.dtype == np.uint8 and prob.shape == (4, 8)
    assert np.all(prob == expected)


def test_decode_mask_32bit_and_float_images() -> None:
    # not PNG-encodable, but a mask decoder should not care which container it gets
    ints = Image.fromarray(np.array([[0, 128, 300, -5]], np.int32))
    floats = Image.fromarray(np.array([[0.0, 0.5, 1.0, 0.25]], np.float32))
    for im, expected in ((ints, [0, 128, 255, 0]), (floats, [0, 128, 255, 64])):
        buf = io.BytesIO()
        im.save(buf, "TIFF")
        assert g.decode_mask_png(buf.getvalue()).tolist() == [expected]


def test_decode_mask_png_palette_uses_palette_colours() -> None:
    im = Image.new("P", (6, 3), 0)
    im.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    im.paste(1, (0, 0, 3, 3))
    prob = g.decode_mask_png(png_bytes(im))
    assert prob[:, :3].min() == 255 and prob[:, 3:].max() == 0


@pytest.mark.parametrize(
    "bad", ["not base64 !!", "data:image/png,abc", "", base64.b64encode(b"not a png").decode()]
)
def test_decode_mask_png_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError):
        g.decode_mask_png(bad)


# --------------------------------------------------------------------------------------------
# Resize + threshold + instance masks


def test_threshold_is_strictly_above_127() -> None:
    prob = np.array([[0, 126, 127, 128, 129, 255]], np.uint8)
    assert g.binarize(prob).tolist() == [[False, False, False, True, True, True]]
    assert g.binarize(prob, threshold=0).tolist() == [[False, True, True, True, True, True]]


def test_the_grid_and_the_threshold_are_the_catalogs() -> None:
    assert g.COORD_SCALE == catalog.COORD_SCALE == 1000
    assert g.DEFAULT_MASK_THRESHOLD == catalog.MASK_THRESHOLD == 127


@pytest.mark.parametrize(("value", "on"), [(127, False), (128, True)])
def test_threshold_survives_the_resize(value: int, on: bool) -> None:
    raw = png_bytes(Image.new("L", (256, 256), value))
    _, mask = g.instance_mask(raw, (100, 100, 500, 700), (640, 480))
    assert mask.shape == (192, 384)
    assert mask.all() if on else not mask.any()


def test_resize_probability_shrinks_with_pillow_bilinear() -> None:
    prob = disc_probability()
    got = g.resize_probability(prob, (37, 291))  # shrinks on x: Pillow, area-aware
    expected = np.asarray(Image.fromarray(prob).resize((37, 291), Image.Resampling.BILINEAR))
    assert got.shape == (291, 37) and np.array_equal(got, expected)
    assert g.resize_probability(prob, (0, 5)).shape == (5, 0)


def test_resize_probability_enlarges_within_one_grey_level_of_pillow() -> None:
    prob = disc_probability()
    got = g.resize_probability(prob, (471, 491))
    expected = np.asarray(Image.fromarray(prob).resize((471, 491), Image.Resampling.BILINEAR))
    assert got.shape == (491, 471)
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_instance_mask_of_a_disc_matches_the_disc_and_fiftyone_shape() -> None:
    frame = (1280, 720)
    box_2d = (125, 250, 875, 600)  # 448 x 540 px at x0=320, y0=90
    rel, mask = g.instance_mask(png_bytes(Image.fromarray(disc_probability())), box_2d, frame)
    x0, y0, width, height = g.mask_extent_px(rel, frame)
    assert (x0, y0, width, height) == (320, 90, 448, 540)
    assert mask.shape == (height, width) and mask.dtype == bool
    # the disc stretched into the box: an ellipse with semi-axes 0.4*width, 0.4*height
    yy, xx = np.mgrid[0:height, 0:width] + 0.5
    ellipse = ((xx - width / 2) / (0.4 * width)) ** 2 + ((yy - height / 2) / (0.4 * height)) ** 2
    truth = ellipse <= 1
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou >= 0.98
    # FiftyOne renders it 1:1 (no resampling), exactly where the box is
    x, y, w, h = rel
    rendered, offset = etai.render_instance_mask(
        mask, etag.BoundingBox.from_coords(x, y, x + w, y + h), frame_size=frame
    )
    assert offset == (x0, y0) and np.array_equal(rendered, mask)


def test_instance_mask_accepts_a_decoded_probability_map() -> None:
    prob = disc_probability()
    rel, mask = g.instance_mask(prob, (0, 0, 1000, 1000), (256, 256))
    assert rel == (0.0, 0.0, 1.0, 1.0) and np.array_equal(mask, prob > 127)


def test_degenerate_box_gives_an_empty_mask_of_the_right_shape() -> None:
    _, mask = g.instance_mask(disc_probability(), (500, 100, 500, 900), (100, 100))
    assert mask.shape == (0, 80)


# --------------------------------------------------------------------------------------------
# Polygons


def test_square_polygon_fills_its_whole_box() -> None:
    square = [[100, 100], [100, 300], [300, 300], [300, 100]]
    rel, mask = g.polygon_to_instance_mask(square, (1000, 1000))
    assert rel == pytest.approx((0.1, 0.1, 0.2, 0.2))
    assert mask.shape == (200, 200) and mask.all()


def test_triangle_polygon_samples_pixel_centres() -> None:
    # (y, x) on 0-1000 in a 100x100 frame: legs from (10,10) to (30,10) and (10,30) in px
    _, mask = g.polygon_to_instance_mask([[100, 100], [100, 300], [300, 100]], (100, 100))
    assert mask.shape == (20, 20)
    # row r, column c is inside when (c + 0.5) + (r + 0.5) < 20 (the hypotenuse)
    rows, cols = np.mgrid[0:20, 0:20]
    assert np.array_equal(mask, rows + cols + 1 < 20)


def test_xy_order_and_several_polygons() -> None:
    yx = [[100, 100], [100, 300], [300, 300], [300, 100]]
    xy = [[x, y] for y, x in yx]
    _, a = g.polygon_to_instance_mask(yx, (500, 400), order="yx")
    _, b = g.polygon_to_instance_mask(xy, (500, 400), order="xy")
    assert np.array_equal(a, b)
    two = [[[0, 0], [0, 100], [100, 100], [100, 0]], [[500, 500], [500, 600], [600, 600]]]
    rel, mask = g.polygon_to_instance_mask(two, (100, 100))
    assert rel == pytest.approx((0.0, 0.0, 0.6, 0.6))
    assert mask[:10, :10].all() and not mask[20:40, 20:40].any() and mask[55, 58]


def test_polygon_with_explicit_box_and_bounds() -> None:
    tri = [[200, 200], [200, 800], [800, 500]]
    assert g.polygons_to_box_2d(tri) == (200.0, 200.0, 800.0, 800.0)
    assert g.polygons_to_box_2d([[x, y] for y, x in tri], order="xy") == (200, 200, 800, 800)
    _, mask = g.polygon_to_instance_mask(tri, (100, 100), box_2d=(0, 0, 1000, 1000))
    assert mask.shape == (100, 100) and not mask[:20].any() and mask[50, 50]
    with pytest.raises(ValueError, match="no points"):
        g.polygons_to_box_2d([])
    with pytest.raises(ValueError, match="no points"):
        g.polygons_to_box_2d([[]])
    with pytest.raises(ValueError, match="pairs"):
        g.polygon_to_instance_mask([[1, 2, 3], [4, 5, 6], [7, 8, 9]], (10, 10))
    with pytest.raises(ValueError, match="non-finite"):
        g.polygon_to_instance_mask([[0, 0], [math.nan, 5], [5, 5]], (10, 10))


# --------------------------------------------------------------------------------------------
# Pasting and semantic masks


def test_paste_instance_resizes_foreign_masks_like_eta() -> None:
    mask = np.zeros((4, 4), bool)
    mask[1:3, 1:3] = True
    rel = (0.25, 0.25, 0.5, 0.5)
    canvas = g.paste_instance(np.zeros((40, 40), np.uint8), rel, mask, 7)
    rendered, (x0, y0) = etai.render_instance_mask(
        mask, etag.BoundingBox.from_coords(0.25, 0.25, 0.75, 0.75), frame_size=(40, 40)
    )
    expected = np.zeros((40, 40), np.uint8)
    expected[y0 : y0 + 20, x0 : x0 + 20][rendered] = 7
    assert np.array_equal(canvas, expected)


def test_paste_instance_on_a_boolean_canvas_is_a_union() -> None:
    canvas = np.zeros((10, 10), bool)
    canvas[2, 2] = True  # painted before, inside the next box where its mask is off
    mask = np.zeros((5, 5), bool)
    mask[3:, 3:] = True
    g.paste_instance(canvas, (0.2, 0.2, 0.5, 0.5), mask)
    expected = np.zeros((10, 10), bool)
    expected[2, 2] = True
    expected[5:7, 5:7] = True
    assert np.array_equal(canvas, expected)
    g.paste_instance(canvas, (0.2, 0.2, 0.5, 0.5), mask, value=False)  # erase: not a union
    expected[5:7, 5:7] = False
    assert np.array_equal(canvas, expected)


def _full(box_px: tuple[int, int, int, int], frame: tuple[int, int]) -> g.Instance:
    x0, y0, x1, y1 = box_px
    width, height = frame
    rel = (x0 / width, y0 / height, (x1 - x0) / width, (y1 - y0) / height)
    _, _, w, h = g.mask_extent_px(rel, frame)
    return g.Instance(label="", bounding_box=rel, mask=np.ones((h, w), bool))


def test_semantic_mask_smaller_objects_on_top_by_default() -> None:
    frame = (100, 50)
    table = g.Instance(
        "table", _full((0, 0, 100, 50), frame).bounding_box, np.ones((50, 100), bool)
    )
    cup = g.Instance("cup", _full((40, 10, 60, 30), frame).bounding_box, np.ones((20, 20), bool))
    classes = g.class_index_map(["table", "cup"])
    assert classes == {"table": 1, "cup": 2}
    for order in ([cup, table], [table, cup]):
        seg = g.compose_semantic_mask(order, frame, classes)
        assert seg.dtype == np.uint8 and seg.shape == (50, 100)
        assert seg[20, 50] == 2 and seg[5, 5] == 1
    # the model's order: later on top
    seg = g.compose_semantic_mask([cup, table], frame, classes, order="given")
    assert seg[20, 50] == 1


def test_semantic_mask_skips_unknown_labels_and_missing_masks() -> None:
    frame = (10, 10)
    dog = g.Instance("dog", (0.0, 0.0, 1.0, 1.0), np.ones((10, 10), bool))
    ghost = g.Instance("ghost", (0.0, 0.0, 1.0, 1.0), np.ones((10, 10), bool))
    empty = g.Instance("cat", (0.0, 0.0, 1.0, 1.0), None)
    seg = g.compose_semantic_mask([ghost, empty], frame, {"dog": 3, "cat": 4})
    assert not seg.any()
    assert (g.compose_semantic_mask([dog, ghost], frame, {"dog": 3}) == 3).all()


def test_semantic_mask_uses_uint16_beyond_255_classes() -> None:
    inst = g.Instance("c300", (0.0, 0.0, 0.5, 1.0), np.ones((4, 2), bool))
    classes = g.class_index_map([f"c{i}" for i in range(1, 301)])
    seg = g.compose_semantic_mask([inst], (4, 4), classes)
    assert seg.dtype == np.uint16 and seg[0, 0] == 300 and seg[0, 3] == 0


def test_class_index_map_from_mask_targets_matches_ground_truth() -> None:
    targets = {0: "background", 1: "road", 2: "car", 5: "car"}
    assert g.class_index_map(mask_targets=targets) == {"background": 0, "road": 1, "car": 2}
    assert g.class_index_map(["a", "b", "a"]) == {"a": 1, "b": 2}
    with pytest.raises(ValueError):
        g.class_index_map()


# --------------------------------------------------------------------------------------------
# EXIF orientation


TRANSPOSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_transforms_match_pillow_pixel_by_pixel(orientation: int) -> None:
    raw_size = (7, 4)
    for px, py in [(0, 0), (6, 0), (2, 3), (5, 1)]:
        raw = Image.new("L", raw_size, 0)
        raw.putpixel((px, py), 255)
        method = TRANSPOSE[orientation]
        shown = raw if method is None else raw.transpose(method)
        assert shown.size == exif.exif_display_size(raw_size, orientation)
        ((sy, sx),) = np.argwhere(np.asarray(shown) == 255)
        centre = exif.exif_raw_to_display([(px + 0.5, py + 0.5)], orientation, raw_size)
        assert centre.tolist() == [[sx + 0.5, sy + 0.5]]
        back = exif.exif_display_to_raw(centre, orientation, raw_size)
        assert np.allclose(back, [[px + 0.5, py + 0.5]])


def test_exif_known_rotations() -> None:
    # 6 = rotate 90 degrees clockwise to display: top-left of a 40x30 image goes top-right
    assert exif.exif_raw_to_display([(0, 0)], 6, (40, 30)).tolist() == [[30, 0]]
    # 8 = rotate 90 degrees counter-clockwise: top-left goes bottom-left
    assert exif.exif_raw_to_display([(0, 0)], 8, (40, 30)).tolist() == [[0, 40]]
    assert exif.exif_display_size((40, 30), 6) == (30, 40)
    with pytest.raises(ValueError, match="1-8"):
        exif.exif_matrix(9, (1, 1))


def test_gemini_layout_and_filtered_pngs_decode_to_the_same_pixels() -> None:
    from gemini_vision.emulator.model.png import encode_gray_png

    rng = np.random.default_rng(3)
    gray = (rng.random((64, 80)) > 0.5).astype(np.uint8) * 255
    gray[10:20, 5:70] = np.arange(65, dtype=np.uint8)  # a gradient: Pillow picks row filters
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG", optimize=True)
    for data in (encode_gray_png(gray), buffer.getvalue()):
        decoded = g.decode_mask_png(data)
        assert decoded.shape == (64, 80) and decoded.dtype == np.uint8
        assert np.array_equal(decoded, gray)


def test_a_damaged_png_mask_is_a_value_error() -> None:
    from gemini_vision.emulator.model.png import encode_gray_png

    data = encode_gray_png(np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError):
        g.decode_mask_png(data[:40] + b"\x00" * 10 + data[50:])
