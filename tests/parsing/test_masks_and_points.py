"""Masks and points, case by case: each row is one quirk of real Gemini output (a name per row)."""

from __future__ import annotations

import base64
import struct
import time
import zlib

import pytest

from gemini_vision.parsing import (
    parse_detections,
    parse_free_text,
    parse_points,
)

A = (100.0, 200.0, 300.0, 400.0)


def _png(width: int = 4, height: int = 4, *, iend: bool = True) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\xff" * width for _ in range(height))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    return png + (chunk(b"IEND", b"") if iend else b"")


PNG_B64 = base64.b64encode(_png()).decode()


# --------------------------------------------------------------------------------------------
# Masks


@pytest.mark.parametrize(
    ("mask", "kind", "reason"),
    [
        pytest.param(f'"data:image/png;base64,{PNG_B64}"', "png", None, id="data-uri"),
        pytest.param(f'"data:image/png;base64, {PNG_B64}"', "png", None, id="space-after-comma"),
        pytest.param(f'"{PNG_B64}"', "png", None, id="bare-base64"),
        pytest.param(
            '"data:image/png;base64,' + PNG_B64[:20] + "\\n" + PNG_B64[20:] + '"',
            "png",
            None,
            id="newline-inside-base64",
        ),
        pytest.param('"data:image/png;base64,...(省略)..."', "invalid", "elided", id="elided"),
        pytest.param('"data:image/png;base64,@@@@"', "invalid", "base64", id="bad-base64"),
        pytest.param(
            '"data:image/png;base64,' + base64.b64encode(b"GIF89a....").decode() + '"',
            "invalid",
            "not a PNG",
            id="not-png",
        ),
        pytest.param(
            '"data:image/png;base64,' + base64.b64encode(_png(iend=False)).decode() + '"',
            "invalid",
            "cut short",
            id="png-without-iend",
        ),
        pytest.param('"data:image/jpeg;base64,/9j/4AAQ"', "invalid", "image/jpeg", id="jpeg"),
        pytest.param('"<start_of_mask><seg_35><seg_65>"', "unsupported", "seg_N", id="seg-tokens"),
        pytest.param('"gimme_mask_for_this"', "unsupported", "placeholder", id="placeholder"),
        pytest.param("null", "invalid", "null", id="null"),
        pytest.param('""', "invalid", "empty", id="empty"),
        pytest.param("[true, false, true]", "unsupported", "booleans", id="booleans"),
        pytest.param("[[10, 20], [30, 40]]", "invalid", "2 points", id="two-point-polygon"),
    ],
)
def test_mask_forms(mask: str, kind: str, reason: str | None) -> None:
    obj = parse_detections(f'[{{"box_2d": [100, 200, 300, 400], "mask": {mask}}}]').objects[0]
    assert obj.box_2d == A  # the box survives whatever the mask is
    assert obj.mask is not None and obj.mask.kind == kind
    if reason is None:
        assert obj.mask.png == _png() and obj.mask.png_size == (4, 4)
    else:
        assert reason in (obj.mask.reason or "")


_POLY_YX = "[[100, 200], [100, 400], [300, 400], [300, 200]]"
_POLY_XY = "[[200, 100], [400, 100], [400, 300], [200, 300]]"
_SQUARE_YX = ((100, 200), (100, 400), (300, 400), (300, 200))


@pytest.mark.parametrize(
    ("mask", "order"),
    [
        pytest.param(_POLY_YX, "yx", id="pairs-yx"),
        pytest.param(_POLY_XY, "xy", id="pairs-xy-matched-to-box"),
        pytest.param("[100, 200, 100, 400, 300, 400, 300, 200]", "yx", id="flat"),
        pytest.param("[[100, 200, 100, 400], [300, 400, 300, 200]]", "yx", id="chunked"),
        pytest.param('"100,200,100,400,300,400,300,200"', "yx", id="string"),
        pytest.param(
            '[{"y": 100, "x": 200}, {"y": 100, "x": 400}, {"y": 300, "x": 400}, '
            '{"y": 300, "x": 200}]',
            "yx",
            id="y-x-dicts",
        ),
        pytest.param('{"points": ' + _POLY_YX + "}", "yx", id="points-object"),
    ],
)
def test_polygon_masks_choose_the_order_that_fits_the_box(mask: str, order: str) -> None:
    obj = parse_detections(f'[{{"box_2d": [100, 200, 300, 400], "mask": {mask}}}]').objects[0]
    assert obj.mask is not None and obj.mask.kind == "polygon"
    assert obj.mask.polygon_order == order
    assert obj.mask.polygon_yx == _SQUARE_YX


def test_polygon_without_box_defaults_to_yx_and_gives_the_box() -> None:
    obj = parse_detections(f'[{{"polygon": {_POLY_XY}, "label": "a"}}]').objects[0]
    assert obj.mask is not None and obj.mask.polygon_order == "yx"
    assert obj.box_2d == (200, 100, 400, 300)


def test_several_polygon_parts() -> None:
    mask = f"[{_POLY_YX}, [[500, 500], [500, 600], [600, 600]]]"
    obj = parse_detections(f'[{{"box_2d": [100, 200, 600, 600], "mask": {mask}}}]').objects[0]
    assert obj.mask is not None and obj.mask.polygon_parts_yx is not None
    assert len(obj.mask.polygon_parts_yx) == 2


def test_mask_token_swallowing_the_next_key() -> None:
    text = '[{"mask": "<start_of_mask>_box_2d": [33, 40, 56, 253]", "label": "cup"}]'
    obj = parse_detections(text).objects[0]
    assert obj.box_2d == (33, 40, 56, 253) and obj.label == "cup"
    assert obj.mask is not None and obj.mask.kind == "unsupported"


# --------------------------------------------------------------------------------------------
# Points


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            "- cat: [100, 200, 300, 400]\n- dog: [500, 500, 900, 800]",
            ["cat", "dog"],
            id="bullets",
        ),
        pytest.param(
            "1. **Cat** at [100, 200, 300, 400]\n2. **Dog** at [500, 500, 900, 800]",
            ["Cat", "Dog"],
            id="numbered-bold",
        ),
        pytest.param(
            "The cat is at [100, 200, 300, 400] and the dog is at [500, 500, 900, 800].",
            ["cat", "dog"],
            id="one-sentence",
        ),
        pytest.param(
            "cat: [100, 200, 300, 400], dog: [500, 500, 900, 800]", ["cat", "dog"], id="one-line"
        ),
        pytest.param(
            "* `cat` (ymin, xmin, ymax, xmax): [100, 200, 300, 400]",
            ["cat"],
            id="code-and-axis-names",
        ),
        pytest.param("```\ncat: [100, 200, 300, 400]\n```", ["cat"], id="fenced"),
        pytest.param(
            "The bounding box of the cat is [100, 200, 300, 400]", ["cat"], id="box-of-the-cat"
        ),
        pytest.param(
            "Here is the box around the cat: [100, 200, 300, 400]",
            [""],
            id="sentence-is-not-a-label",
        ),
        pytest.param("Bounding box: [100, 200, 300, 400]", [""], id="coordinate-word-only"),
        pytest.param("- [100, 200, 300, 400]", [""], id="bullet-without-label"),
        pytest.param("Answer: [100, 200, 300, 400]", [""], id="answer-prefix"),
        pytest.param("Box 1: [100, 200, 300, 400]", [""], id="numbered-box"),
        pytest.param("Object 2 - [100, 200, 300, 400]", [""], id="numbered-object"),
        pytest.param("ymin, xmin, ymax, xmax: [100, 200, 300, 400]", [""], id="axis-names"),
        pytest.param("Sure, the box is [100, 200, 300, 400]", [""], id="sure"),
        pytest.param("json [100, 200, 300, 400]", [""], id="json-word"),
        pytest.param(
            "[100, 200, 300, 400] and [500, 500, 900, 800]", ["", ""], id="and-between-arrays"
        ),
    ],
)
def test_labels_written_before_bare_arrays(text: str, expected: list[str]) -> None:
    result = parse_detections(text)
    assert result.labels == expected
    assert result.objects[0].box_2d == A


@pytest.mark.parametrize(
    "text",
    ["- dog: [100, 200, 300, 400]", "Answer: [100, 200, 300, 400]", "Box 1: [100, 200, 300, 400]"],
)
def test_a_default_label_beats_a_line_label(text: str) -> None:
    # one class or a free-text target is a better guess than words found before the array
    assert parse_detections(text, default_label="cat").labels == ["cat"]


def test_bold_markup_is_removed_in_linear_time() -> None:
    started = time.perf_counter()
    parse_free_text("A dog" + " **a" * 25_000)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Objects found:\n- " + "(x) " * 40 + "car [100, 200, 300, 400]\n",
        "()" * 5000 + "x [1, 2, 3, 4]",
        "- car " + "(" * 100_000 + " [1, 2, 3, 4]",
    ],
    ids=["many-groups", "many-empty-groups", "unclosed-parentheses"],
)
def test_line_labels_take_linear_time_on_adversarial_prefixes(text: str) -> None:
    started = time.perf_counter()
    parse_detections(text)
    assert time.perf_counter() - started < 1.0


def test_labels_written_before_bare_pairs_in_a_point_task() -> None:
    result = parse_points("- cup: [500, 300]\n- plate: [600, 200]")
    assert [(o.label, o.point) for o in result.objects] == [
        ("cup", (500, 300)),
        ("plate", (600, 200)),
    ]


@pytest.mark.parametrize(
    ("text", "point"),
    [
        pytest.param('[{"point": [550, 260], "label": "bin"}]', (550, 260), id="point"),
        pytest.param("[472, 592]", (472, 592), id="bare-pair"),
        pytest.param('[{"point": [[550, 260]], "label": "bin"}]', (550, 260), id="nested-pair"),
        pytest.param('[{"point": {"y": 550, "x": 260}}]', (550, 260), id="dict"),
        pytest.param('[{"point": "550, 260"}]', (550, 260), id="string"),
        pytest.param('[{"y": 550, "x": 260, "label": "bin"}]', (550, 260), id="y-x-keys"),
        pytest.param('[{"point": [1100, -4]}]', (1000, 0), id="clamped"),
        pytest.param(
            '[{"points": [[550, 260]], "label": "bin"}]', (550, 260), id="one-point-list"
        ),
        pytest.param('[{"box_2d": [500, 200, 600, 320], "label": "bin"}]', (550, 260), id="box"),
    ],
)
def test_point_forms(text: str, point: tuple[float, float]) -> None:
    assert parse_points(text).objects[0].point == point


def test_box_answers_to_a_point_task_are_centred_and_noted() -> None:
    result = parse_points('[{"box_2d": [500, 200, 600, 320], "label": "bin"}]')
    assert any("centre" in w for w in result.warnings)


def test_bad_points_are_dropped() -> None:
    result = parse_points('[{"point": [1, 2, 3]}, {"point": [4, 5], "label": "ok"}, {"label": 1}]')
    assert result.labels == ["ok"]
    assert [d.reason.split(" ")[0] for d in result.dropped] == ["point", "no"]
