"""Golden tests: real Gemini answers on the five public images, through parsing and geometry.

tests/data/real-gemini/IMAGES.md says which answer used which image and at what size it was
sent: the Python cookbook sent ``thumbnail(1024)`` Cupcakes (1024 x 1024), ``thumbnail(640)``
socks (640 x 482) and spill (640 x 480); the TypeScript cookbook sent the full-size file bytes.
Gemini's coordinates are relative (0-1000) to the image it *received*, so:

- at the sent size, our pixels must equal the conversion in Google's "Image understanding"
  guide for the Gemini API, ``int(value / 1000 * size)`` (within 1 px);
- at full size, the same relative box must land where the sent-size pixels, scaled up, land
  (within 1 px plus one sent pixel of quantisation);
- the same objects answered at different sent sizes must agree in full-size pixels;
- real PNG masks decode (threshold 127) to exactly the box's FiftyOne pixel extent, with content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytest
import support
from PIL import Image, ImageOps

from gemini_vision import geometry
from gemini_vision.parsing import parse_detections

DATA = support.DATA / "real-gemini"
SAMPLES = {
    row["id"]: row
    for row in (
        json.loads(line) for line in (DATA / "responses.jsonl").read_text("utf-8").splitlines()
    )
}

CUPCAKES, SOCKS, SPILL = "Cupcakes.jpg", "Socks.jpg", "Spill.jpg"
BENTO, ORIGAMIS = "Japanese_bento.png", "Origamis.jpg"

#: sample -> (image file, thumbnail bound the sender applied, or None for the full file)
GOLDEN: dict[str, tuple[str, int | None]] = {
    "cookbook_spatial_g20_cupcakes": (CUPCAKES, 1024),
    "cookbook_spatial_g25pro_cupcakes": (CUPCAKES, 1024),
    "cookbook_spatial_g25flash_cupcakes": (CUPCAKES, 1024),
    "cookbook_spatial_g3flash_cupcakes_nofence": (CUPCAKES, 1024),
    "cookbook_spatial_g3flash_segment_request_boxes_only": (CUPCAKES, 1024),
    "cookbook_spatial_g25pro_masks": (CUPCAKES, 1024),
    "cookbook_spatial_g25flash_masks": (CUPCAKES, 1024),
    "cookbook_spatial_g20_socks": (SOCKS, 640),
    "cookbook_spatial_g25pro_socks": (SOCKS, 640),
    "cookbook_spatial_g25flash_socks": (SOCKS, 640),
    "cookbook_spatial_g20_spill_prose": (SPILL, 640),
    "cookbook_spatial_g25pro_spill": (SPILL, 640),
    "cookbook_spatial_g25flash_spill": (SPILL, 640),
    "ts_cookbook_g25flash_cupcakes": (CUPCAKES, None),
    "ts_cookbook_g25flash_masks": (CUPCAKES, None),
    "ts_cookbook_g25flash_socks_nofence": (SOCKS, None),
    "ts_cookbook_g25flash_bento_japanese_labels": (BENTO, None),
    "ts_cookbook_g25flash_fox_shadow": (ORIGAMIS, None),
    "ts_cookbook_g25flash_spill_explanations": (SPILL, None),
}

#: what IMAGES.md records: full sizes, and the sizes the notebooks printed for what they sent
FULL_SIZES = {
    CUPCAKES: (1024, 1024),
    SOCKS: (4080, 3072),
    SPILL: (2643, 1982),
    BENTO: (1757, 1757),
    ORIGAMIS: (4080, 3072),
}
PRINTED_SENT_SIZES = {(SOCKS, 640): (640, 482), (SPILL, 640): (640, 480)}


@cache
def _full_size(name: str) -> tuple[int, int]:
    with Image.open(DATA / "images" / name) as im:
        return ImageOps.exif_transpose(im).size


@cache
def _sent_size(name: str, bound: int | None) -> tuple[int, int]:
    """The size the sender's ``thumbnail((bound, bound))`` produced (the full size if None)."""
    with Image.open(DATA / "images" / name) as im:
        if bound is None:
            return im.size
        im.thumbnail((bound, bound), Image.Resampling.LANCZOS)
        return im.size


def _raw_boxes(raw_text: str) -> list[list[int]]:
    """The box_2d numbers as written, read without the parser (a regex over the raw text)."""
    return [
        [int(n) for n in found.split(",")]
        for found in re.findall(r'"box_2d":\s*\[([\d,\s]+)\]', raw_text)
    ]


def _guide_px(box_2d: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The "Image understanding" guide's conversion, written out on purpose: ``int(v / 1000 *
    size)`` per value of ``(ymin, xmin, ymax, xmax)``, giving ``(x0, y0, x1, y1)`` pixels of
    ``size = (width, height)``; no clamping, no swapping of reversed corners."""
    width, height = size
    ymin, xmin, ymax, xmax = (float(v) for v in box_2d)
    return (
        int(xmin / 1000 * width),
        int(ymin / 1000 * height),
        int(xmax / 1000 * width),
        int(ymax / 1000 * height),
    )


def test_guide_conversion_to_pixels_is_verbatim() -> None:
    # int(v / 1000 * size): 200/1000*1024 = 204.8 -> 204; 100/1000*768 = 76.8 -> 76; ...
    assert _guide_px((100, 200, 300, 600), (1024, 768)) == (204, 76, 614, 230)
    # no swap, no clamp: the "Image understanding" guide's own code skips such boxes
    # (`if y0 >= y1 or x0 >= x1`)
    assert _guide_px((300, 600, 100, -10), (1000, 500)) == (600, 150, -10, 50)


def test_images_are_the_documented_ones() -> None:
    for name, size in FULL_SIZES.items():
        assert _full_size(name) == size
    for (name, bound), printed in PRINTED_SENT_SIZES.items():
        assert _sent_size(name, bound) == printed


@pytest.mark.parametrize("sample_id", sorted(GOLDEN))
def test_pixels_at_the_sent_size_match_the_guide_conversion(sample_id: str) -> None:
    name, bound = GOLDEN[sample_id]
    sent = _sent_size(name, bound)
    raw = SAMPLES[sample_id]["raw_text"]
    result = parse_detections(raw)
    expected = _raw_boxes(raw)
    assert len(result.objects) == len(expected) > 0
    for obj, box in zip(result.objects, expected, strict=True):
        assert obj.box_2d is not None
        guide = _guide_px(box, sent)
        assert obj.box_2d == tuple(float(v) for v in box)
        assert _guide_px(obj.box_2d, sent) == guide
        # through FiftyOne's relative [x, y, w, h]: the same pixels, within 1 px
        x, y, w, h = geometry.box_2d_to_relative(obj.box_2d)
        width, height = sent
        ours = (x * width, y * height, (x + w) * width, (y + h) * height)
        assert np.allclose(ours, guide, atol=1.0)


@pytest.mark.parametrize("sample_id", sorted(s for s, (_, b) in GOLDEN.items() if b is not None))
def test_boxes_map_onto_the_full_size_image(sample_id: str) -> None:
    name, bound = GOLDEN[sample_id]
    sent, full = _sent_size(name, bound), _full_size(name)
    scale_x, scale_y = full[0] / sent[0], full[1] / sent[1]
    raw = SAMPLES[sample_id]["raw_text"]
    for obj, box in zip(parse_detections(raw).objects, _raw_boxes(raw), strict=True):
        assert obj.box_2d is not None
        rel = geometry.box_2d_to_relative(obj.box_2d)
        # FiftyOne draws the box at these full-size pixels
        x0, y0, w, h = geometry.mask_extent_px(rel, full)
        sx0, sy0, sx1, sy1 = _guide_px(box, sent)
        tolerance_x, tolerance_y = 1 + scale_x, 1 + scale_y  # 1 px + one sent pixel
        assert abs(x0 - sx0 * scale_x) <= tolerance_x
        assert abs(y0 - sy0 * scale_y) <= tolerance_y
        assert abs(x0 + w - sx1 * scale_x) <= tolerance_x
        assert abs(y0 + h - sy1 * scale_y) <= tolerance_y
        assert (x0, y0, x0 + w, y0 + h) == _guide_px(box, full)


def _full_px(sample_id: str) -> dict[str, tuple[int, int, int, int]]:
    name, _ = GOLDEN[sample_id]
    full = _full_size(name)
    out = {}
    for obj in parse_detections(SAMPLES[sample_id]["raw_text"]).objects:
        assert obj.box_2d is not None
        x0, y0, w, h = geometry.mask_extent_px(geometry.box_2d_to_relative(obj.box_2d), full)
        out.setdefault(obj.label, (x0, y0, x0 + w, y0 + h))
    return out


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    inter = max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.mark.parametrize(
    ("small", "small_label", "full", "full_label"),
    [
        pytest.param(
            "cookbook_spatial_g20_spill_prose",
            "pink cloth",
            "ts_cookbook_g25flash_spill_explanations",
            "cleaning cloth: Use this cloth to gently blot and wipe the spilled liquid from the "
            "table surface.",
            id="spill-cloth-640-vs-2643",
        ),
        pytest.param(
            "cookbook_spatial_g20_spill_prose",
            "spill",
            "ts_cookbook_g25flash_spill_explanations",
            "liquid spill: This is the substance that needs to be cleaned from the table.",
            id="spill-liquid-640-vs-2643",
        ),
    ],
)
def test_answers_at_different_sent_sizes_agree_at_full_size(
    small: str, small_label: str, full: str, full_label: str
) -> None:
    a, b = _full_px(small)[small_label], _full_px(full)[full_label]
    assert _iou(a, b) > 0.85


@pytest.mark.parametrize(
    "small",
    [
        "cookbook_spatial_g20_socks",
        "cookbook_spatial_g25pro_socks",
        "cookbook_spatial_g25flash_socks",
    ],
)
def test_both_socks_found_at_640_and_at_4080(small: str) -> None:
    # the two answers list the socks in opposite orders: compare left to left, right to right
    at_640 = sorted(_full_px_all(small))
    at_4080 = sorted(_full_px_all("ts_cookbook_g25flash_socks_nofence"))
    assert len(at_640) == len(at_4080) == 2
    for a, b in zip(at_640, at_4080, strict=True):
        assert _iou(a, b) > 0.85


def _full_px_all(sample_id: str) -> list[tuple[int, int, int, int]]:
    name, _ = GOLDEN[sample_id]
    full = _full_size(name)
    boxes = []
    for obj in parse_detections(SAMPLES[sample_id]["raw_text"]).objects:
        assert obj.box_2d is not None
        x0, y0, w, h = geometry.mask_extent_px(geometry.box_2d_to_relative(obj.box_2d), full)
        boxes.append((x0, y0, x0 + w, y0 + h))
    return boxes


MASK_SAMPLES = [
    "cookbook_spatial_g25pro_masks",
    "cookbook_spatial_g25flash_masks",
    "ts_cookbook_g25flash_masks",
]


@pytest.mark.parametrize("sample_id", MASK_SAMPLES)
def test_real_masks_decode_to_the_box_with_content(sample_id: str) -> None:
    name, bound = GOLDEN[sample_id]
    sent = _sent_size(name, bound)
    result = parse_detections(SAMPLES[sample_id]["raw_text"])
    assert result.objects
    for obj in result.objects:
        assert obj.mask is not None and obj.mask.kind == "png" and obj.mask.png is not None
        assert obj.box_2d is not None
        prob = geometry.decode_mask_png(obj.mask.png)
        assert prob.shape == (256, 256) and prob.dtype == np.uint8
        rel, mask = geometry.instance_mask(obj.mask.png, obj.box_2d, sent)
        _, _, width, height = geometry.mask_extent_px(rel, sent)
        assert mask.shape == (height, width) and mask.dtype == bool
        guide = _guide_px([int(v) for v in obj.box_2d], sent)
        assert abs(width - (guide[2] - guide[0])) <= 1 and abs(height - (guide[3] - guide[1])) <= 1
        on = mask.mean()
        assert 0.02 < on < 1.0, f"{obj.label}: {on:.3f} of the box is mask"


@pytest.mark.parametrize("sample_id", MASK_SAMPLES)
def test_masks_sit_on_the_objects_in_the_image(sample_id: str) -> None:
    """Inside a mask the pixels differ from the rest of the box more than they do for the same
    mask turned 180 degrees: the mask is placed and oriented on the real object."""
    name, bound = GOLDEN[sample_id]
    sent = _sent_size(name, bound)
    with Image.open(DATA / "images" / name) as im:
        im.thumbnail(sent, Image.Resampling.LANCZOS)
        image = np.asarray(im.convert("L"), dtype=np.float64)
    right, turned = [], []
    for obj in parse_detections(SAMPLES[sample_id]["raw_text"]).objects:
        assert obj.mask is not None and obj.mask.png is not None and obj.box_2d is not None
        rel, mask = geometry.instance_mask(obj.mask.png, obj.box_2d, sent)
        x0, y0, width, height = geometry.mask_extent_px(rel, sent)
        crop = image[y0 : y0 + height, x0 : x0 + width]
        flipped = mask[::-1, ::-1]
        if mask.all() or flipped.all():
            continue
        right.append(abs(crop[mask].mean() - crop[~mask].mean()))
        turned.append(abs(crop[flipped].mean() - crop[~flipped].mean()))
    wins = sum(r > t for r, t in zip(right, turned, strict=True))
    assert len(right) >= 10
    assert wins >= 0.66 * len(right)
    assert np.median(right) > np.median(turned)
