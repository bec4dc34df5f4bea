"""Parser behaviour, case by case: each row is one quirk of real Gemini output (a name per row)."""

from __future__ import annotations

import base64
import struct
import time
import zlib

import pytest

from gemini_vision.errors import ParseError
from gemini_vision.parsing import (
    PARSER_VERSION,
    ParsedObject,
    dedupe,
    parse_classification,
    parse_detections,
    parse_free_text,
    parse_points,
)
from gemini_vision.parsing.json_scan import PartialList, extract_json, scan_json

BOX_A = '{"box_2d": [100, 200, 300, 400], "label": "cat"}'
BOX_B = '{"box_2d": [500, 500, 900, 800], "label": "dog"}'
LIST = f"[{BOX_A}, {BOX_B}]"
A = (100.0, 200.0, 300.0, 400.0)
B = (500.0, 500.0, 900.0, 800.0)


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
# Where the JSON is


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(f"```json\n{LIST}\n```", id="fence-json"),
        pytest.param(f"```JSON\n{LIST}\n```", id="fence-JSON-upper-case"),
        pytest.param(f"```\n{LIST}\n```", id="fence-without-language"),
        pytest.param(f"    ```json\n    {LIST}\n    ```", id="indented-fence"),
        pytest.param(f"\n\nHere you go:\n```json\n{LIST}\n\n", id="unclosed-fence"),
        pytest.param(f"```json{LIST}```", id="fence-on-the-same-line"),
        pytest.param(f"~~~json\n{LIST}\n~~~", id="tilde-fence"),
        pytest.param(LIST, id="no-fence"),
        pytest.param(f"Here are the boxes:\n{LIST}\nHope this helps!", id="prose-around"),
        pytest.param(
            f"Here are the detections:\n```json\n{LIST}\n```\nTo clean the table, use [the cloth]"
            "(https://example.com/cloth).",
            id="prose-and-markdown-link-after-fence",
        ),
        pytest.param(
            "```python\nprint([1, 2])\n```\nAnswer:\n```json\n" + LIST + "\n```",
            id="code-block-then-json-block",
        ),
        pytest.param(
            'Format: [{"box_2d": [ymin, xmin, ymax, xmax], "label": <label>}]\n```json\n'
            + LIST
            + "\n```",
            id="echoed-format-placeholder-then-answer",
        ),
        pytest.param(f"- {BOX_A}\n- {BOX_B}", id="bullet-per-object"),
        pytest.param(f"{BOX_A}\n{BOX_B}", id="json-lines"),
        pytest.param(f'{{"objects": {LIST}}}', id="wrapper-objects"),
        pytest.param(f'{{"boxes": {LIST}}}', id="wrapper-boxes"),
        pytest.param(f'{{"detections": {LIST}}}', id="wrapper-detections"),
        pytest.param(f'{{"result": {{"objects": {LIST}}}}}', id="nested-wrapper"),
        pytest.param(f"[{BOX_A!r}, {BOX_B!r}]", id="items-as-single-quoted-json-strings"),
        pytest.param(
            '{"cat": [100, 200, 300, 400], "dog": [[500, 500, 900, 800]]}',
            id="label-keyed-map",
        ),
        pytest.param(f"[[{BOX_A}], [{BOX_B}]]", id="nested-single-item-lists"),
        pytest.param(f"[{BOX_A},\n {BOX_B},\n]", id="trailing-comma"),
        pytest.param(LIST.replace('"', "'"), id="single-quotes"),
        pytest.param(f"[ // the cat\n{BOX_A}, /* the dog */ {BOX_B} # done\n]", id="comments"),
        pytest.param(
            "[{box_2d: [100, 200, 300, 400], label: 'cat'}, {box_2d: [500, 500, 900, 800], "
            "label: 'dog'}]",
            id="unquoted-keys",
        ),
        pytest.param(f"[{BOX_A}\n{BOX_B}]", id="missing-comma-between-items"),
    ],
)
def test_finds_the_json(text: str) -> None:
    result = parse_detections(text)
    assert [o.box_2d for o in result.objects] == [A, B]
    assert result.labels == ["cat", "dog"]
    assert not result.dropped


def test_items_that_are_json_strings() -> None:
    import json

    text = json.dumps([BOX_A, BOX_B])
    result = parse_detections(text)
    assert result.labels == ["cat", "dog"]


def test_single_object_instead_of_a_list() -> None:
    result = parse_detections(BOX_A)
    assert [o.box_2d for o in result.objects] == [A]


def test_two_blocks_with_objects_pick_the_richer_and_say_so() -> None:
    text = f"```json\n[{BOX_A}]\n```\nCorrected:\n```json\n{LIST}\n```"
    result = parse_detections(text)
    assert result.labels == ["cat", "dog"]
    assert any("2 places" in w for w in result.warnings)


# --------------------------------------------------------------------------------------------
# Keys and values


@pytest.mark.parametrize(
    ("item", "box"),
    [
        pytest.param('{"bbox": [1, 2, 3, 4]}', (1, 2, 3, 4), id="bbox"),
        pytest.param('{"box": [1, 2, 3, 4]}', (1, 2, 3, 4), id="box"),
        pytest.param('{"bounding_box": [1, 2, 3, 4]}', (1, 2, 3, 4), id="bounding_box"),
        pytest.param('{"Box_2D": [1, 2, 3, 4]}', (1, 2, 3, 4), id="key-case-and-underscores"),
        pytest.param('{"y": 1, "x": 2, "y2": 3, "x2": 4}', (1, 2, 3, 4), id="y-x-y2-x2"),
        pytest.param('{"ymin": 1, "xmin": 2, "ymax": 3, "xmax": 4}', (1, 2, 3, 4), id="ymin"),
        pytest.param('{"y1": 1, "x1": 2, "y2": 3, "x2": 4}', (1, 2, 3, 4), id="y1-x1"),
        pytest.param('{"top": 1, "left": 2, "bottom": 3, "right": 4}', (1, 2, 3, 4), id="tlbr"),
        pytest.param('{"y": 1, "x": 2, "h": 2, "w": 2}', (1, 2, 3, 4), id="y-x-h-w"),
        pytest.param(
            '{"box_2d": {"ymin": 1, "xmin": 2, "ymax": 3, "xmax": 4}}', (1, 2, 3, 4), id="dict-box"
        ),
        pytest.param('{"box_2d": "[1, 2, 3, 4]"}', (1, 2, 3, 4), id="box-as-string"),
        pytest.param('{"box_2d": ["1", "2", "3", "4"]}', (1, 2, 3, 4), id="numeric-strings"),
        pytest.param('{"box_2d": [[1, 2], [3, 4]]}', (1, 2, 3, 4), id="two-corners"),
        pytest.param('{"box_2d": [1.5, 2.25, 3, 4]}', (1.5, 2.25, 3, 4), id="floats"),
        pytest.param('{"box_2d": [300, 400, 100, 200]}', (100, 200, 300, 400), id="reversed"),
        pytest.param('{"box_2d": [-5, 10, 1200, 990]}', (0, 10, 1000, 990), id="clamped"),
    ],
)
def test_box_forms(item: str, box: tuple[float, ...]) -> None:
    result = parse_detections(f"[{item}]")
    assert result.objects[0].box_2d == pytest.approx(box)


def test_reversed_and_clamped_boxes_are_reported() -> None:
    result = parse_detections('[{"box_2d": [300, 400, 100, 200]}, {"box_2d": [-5, 0, 10, 1005]}]')
    assert any("swapped" in w for w in result.warnings)
    assert any("clamped" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        pytest.param('{"box_2d": null, "label": "a"}', "null", id="null"),
        pytest.param('{"box_2d": [1, 2, 3], "label": "a"}', "3 values", id="short"),
        pytest.param('{"box_2d": [1, 2, 3, 4, 5], "label": "a"}', "5 values", id="long"),
        pytest.param('{"box_2d": [1, "x", 3, 4], "label": "a"}', "non-numeric", id="non-numeric"),
        pytest.param('{"box_2d": [1, NaN, 3, 4], "label": "a"}', "non-numeric", id="nan"),
        pytest.param('{"box_2d": [true, 2, 3, 4], "label": "a"}', "non-numeric", id="bool"),
        pytest.param('{"box_2d": 7, "label": "a"}', "not a list", id="number"),
        pytest.param('{"box_2d": [5, 5, 5, 9], "label": "a"}', "degenerate", id="zero-height"),
        pytest.param('{"box_2d": [1200, 5, 1300, 9], "label": "a"}', "degenerate", id="off-image"),
        pytest.param('{"label": "a"}', "no box_2d", id="no-box"),
        pytest.param('"just a string"', "not an object", id="string-item"),
        pytest.param("42", "not an object", id="number-item"),
    ],
)
def test_bad_items_are_dropped_and_counted(item: str, reason: str) -> None:
    result = parse_detections(f"[{BOX_A}, {item}]")
    assert result.labels == ["cat"]
    assert len(result.dropped) == 1
    assert reason in result.dropped[0].reason
    assert result.dropped[0].raw


@pytest.mark.parametrize(
    ("item", "label", "raw_label"),
    [
        pytest.param(
            '{"box_2d": [1,2,3,4], "text_content": "Close\\n"}',
            "Close",
            "Close\n",
            id="text_content",
        ),
        pytest.param('{"box_2d": [1,2,3,4], "text": "EXIT"}', "EXIT", "EXIT", id="text"),
        pytest.param('{"box_2d": [1,2,3,4], "name": "cup"}', "cup", "cup", id="name"),
        pytest.param('{"box_2d": [1,2,3,4], "class": "cup"}', "cup", "cup", id="class"),
        pytest.param('{"box_2d": [1,2,3,4], "label": 7}', "7", "7", id="number-label"),
        pytest.param('{"box_2d": [1,2,3,4], "label": "猫 🐱"}', "猫 🐱", "猫 🐱", id="unicode"),
        pytest.param('{"box_2d": [1,2,3,4], "label": "قطة"}', "قطة", "قطة", id="arabic"),
        pytest.param(
            '{"box_2d": [1,2,3,4], "label": "text": "HELLO"}', "HELLO", "HELLO", id="welded"
        ),
        pytest.param('{"box_2d": [1,2,3,4]}', "", None, id="no-label"),
    ],
)
def test_labels(item: str, label: str, raw_label: str | None) -> None:
    obj = parse_detections(f"[{item}]").objects[0]
    assert obj.label == label
    assert obj.raw_label == raw_label


@pytest.mark.parametrize(
    ("value", "confidence"),
    [
        pytest.param("0.87", 0.87, id="fraction"),
        pytest.param("87", 0.87, id="percent-number"),
        pytest.param('"87%"', 0.87, id="percent-string"),
        pytest.param('"high"', 0.9, id="word"),
        pytest.param("1", 1.0, id="one"),
        pytest.param("-1", None, id="negative"),
        pytest.param("150", None, id="above-100"),
        pytest.param('"sure"', None, id="unreadable"),
    ],
)
def test_confidence(value: str, confidence: float | None) -> None:
    obj = parse_detections(f'[{{"box_2d": [1, 2, 3, 4], "confidence": {value}}}]').objects[0]
    assert obj.confidence == (pytest.approx(confidence) if confidence is not None else None)


def test_other_keys_become_attributes() -> None:
    obj = parse_detections(
        '[{"box_2d": [1,2,3,4], "label": "a", "color": "red", "n": 2}]'
    ).objects[0]
    assert obj.attributes == {"color": "red", "n": 2}


def test_boxes_on_0_1_are_rescaled() -> None:
    result = parse_detections('[{"box_2d": [0.1, 0.2, 0.35, 0.4], "label": "a"}]')
    assert result.objects[0].box_2d == pytest.approx((100, 200, 350, 400))
    assert any("0-1" in w for w in result.warnings)


def test_integer_boxes_near_zero_are_not_rescaled() -> None:
    result = parse_detections('[{"box_2d": [0, 0, 1, 1], "label": "a"}]')
    assert result.objects[0].box_2d == (0, 0, 1, 1)


def test_duplicates_are_kept_and_reported() -> None:
    result = parse_detections(f"[{BOX_A}, {BOX_B}, {BOX_A}]")
    assert len(result.objects) == 3
    assert result.duplicates == ((0, 2),)
    assert len(dedupe(result.objects)) == 2


def test_dedupe_by_iou_and_across_labels() -> None:
    a = ParsedObject("cat", (0, 0, 100, 100))
    b = ParsedObject("cat", (0, 0, 100, 98))
    c = ParsedObject("dog", (0, 0, 100, 100))
    assert dedupe([a, b, c]) == (a, b, c)
    assert dedupe([a, b, c], iou_threshold=0.9) == (a, c)
    assert dedupe([a, b, c], same_label=False) == (a, b)


# --------------------------------------------------------------------------------------------
# Truncation and failure


def test_truncated_list_keeps_complete_items() -> None:
    text = f'```json\n[{BOX_A}, {BOX_B}, {{"box_2d": [10, 20, 3'
    result = parse_detections(text)
    assert result.labels == ["cat", "dog"]
    assert result.truncated and result.lost_items == 1
    assert result.dropped[-1].raw.startswith('{"box_2d": [10, 20, 3')
    assert any("truncated" in w for w in result.warnings)


def test_truncated_inside_a_mask_string() -> None:
    text = f'[{BOX_A}, {{"box_2d": [1, 2, 3, 4], "mask": "data:image/png;base64,iVBORw0KGgoAAA'
    result = parse_detections(text)
    assert result.labels == ["cat"] and result.truncated


def test_truncated_wrapper_keeps_its_complete_items() -> None:
    text = f'{{"objects": [{BOX_A}, {BOX_B}, {{"box_2d": [1, 2'
    result = parse_detections(text)
    assert result.labels == ["cat", "dog"] and result.truncated


def test_truncated_single_object_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="cut off") as info:
        parse_detections('{"box_2d": [1, 2, 3, 4], "label": "ca')
    assert info.value.raw_text.startswith('{"box_2d"')


def test_malformed_item_in_the_middle_is_dropped_with_its_text() -> None:
    text = f'[{BOX_A}, {{"box_2d": [5, 6, 7, 8 "label": "x"}}, {BOX_B}]'
    result = parse_detections(text)
    assert result.labels == ["cat", "dog"]
    assert len(result.dropped) == 1 and "malformed" in result.dropped[0].reason


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n ", "empty", id="whitespace"),
        pytest.param("The image shows a kitchen counter.", "no JSON", id="prose-only"),
        pytest.param(
            "I'm sorry, I can't identify people in images.", "no JSON", id="refusal-not-empty"
        ),
        pytest.param("I cannot see any image in your message.", "no JSON", id="no-image-seen"),
        pytest.param(
            "There are no cats here, but " + "lots of other things to say. " * 20,
            "no JSON",
            id="long-prose-not-a-verdict",
        ),
        pytest.param('[{"box_2d": [5, 5, 5, 5], "label": "a"}]', "degenerate", id="all-dropped"),
        pytest.param('[{"point": [5, 5], "label": "a"}]', "no box_2d", id="points-not-boxes"),
        pytest.param("[1, 2]", "2 values", id="bare-pair"),
        pytest.param('"mask": <start_of_mask><seg_1><seg_2>"', "seg", id="seg-tokens-bare"),
    ],
)
def test_nothing_usable_is_a_parse_error_with_the_raw_text(text: str, message: str) -> None:
    with pytest.raises(ParseError, match=message) as info:
        parse_detections(text)
    assert info.value.raw_text == text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("[]", id="empty-list"),
        pytest.param("```json\n[]\n```", id="fenced-empty-list"),
        pytest.param('{"objects": []}', id="empty-wrapper"),
    ],
)
def test_an_explicit_empty_list_is_a_legitimate_empty_answer(text: str) -> None:
    result = parse_detections(text)
    assert result.objects == () and not result.dropped
    assert result.warnings == ("the model returned an empty list",)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("I cannot find any cupcakes in this image.", id="cannot-find"),
        pytest.param("I can't see any cats in this image.", id="cant-see"),
        pytest.param("There are no cats in this image.", id="there-are-no"),
        pytest.param("There is no red mug visible in the image.", id="there-is-no"),
        pytest.param("No cats were found in the image.", id="no-x-were-found"),
        pytest.param("The image does not contain any dogs.", id="does-not-contain"),
        pytest.param("None", id="none"),
        pytest.param("null", id="null"),
        pytest.param("No objects found.", id="no-objects-found"),
        pytest.param("**None.**", id="bold-none"),
    ],
)
def test_a_plain_statement_that_nothing_is_there_is_an_empty_answer(text: str) -> None:
    # Segmentation has no JSON schema, so real Gemini may say so in words instead of `[]`:
    # that is an answer (no objects), not a failure to be asked again and billed twice.
    for parse in (parse_detections, parse_points):
        result = parse(text)
        assert result.objects == () and not result.dropped
        assert len(result.warnings) == 1 and "found nothing" in result.warnings[0]
        assert text.strip("*") in result.warnings[0] or text in result.warnings[0]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "| label | box_2d |\n|---|---|\n| cat | [100, 200, 300, 400] |\n"
            "| dog | [500, 500, 900, 800] |",
            id="box_2d-column",
        ),
        pytest.param(
            "Here are the objects I found:\n\n"
            "| Object | ymin | xmin | ymax | xmax |\n|:---|---:|---:|---:|---:|\n"
            "| **cat** | 100 | 200 | 300 | 400 |\n| **dog** | 500 | 500 | 900 | 800 |\n\n"
            "Let me know if you need more.",
            id="corner-columns-with-prose",
        ),
        pytest.param(
            "| # | Label | Bounding box (ymin, xmin, ymax, xmax) |\n| --- | --- | --- |\n"
            "| 1 | cat | `[100, 200, 300, 400]` |\n| 2 | dog | `[500, 500, 900, 800]` |",
            id="described-header-and-code-cells",
        ),
    ],
)
def test_a_markdown_table_of_boxes_keeps_its_labels(text: str) -> None:
    result = parse_detections(text)
    assert [(o.label, o.box_2d) for o in result.objects] == [("cat", A), ("dog", B)]
    assert any("Markdown table" in w for w in result.warnings)
    assert result.raw_text == text


def test_a_markdown_table_of_points() -> None:
    text = "| label | point |\n|---|---|\n| bin | [550, 260] |\n| cup | [120, 40] |"
    result = parse_points(text)
    assert [(o.label, o.point) for o in result.objects] == [
        ("bin", (550, 260)),
        ("cup", (120, 40)),
    ]


def test_a_table_without_coordinates_is_not_an_answer() -> None:
    with pytest.raises(ParseError):
        parse_detections("| label | colour |\n|---|---|\n| cat | grey |")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("\ufeff" + LIST, [("cat", A, None), ("dog", B, None)], id="bom"),
        pytest.param("json\n" + LIST, [("cat", A, None), ("dog", B, None)], id="bare-json-word"),
        pytest.param(f"[null, {BOX_A}, null]", [("cat", A, None)], id="null-items"),
        pytest.param(
            '[{"box_2d": [100.4, 200.6, 300, 400], "label": "cat", "confidence": "0.92"}]',
            [("cat", (100.4, 200.6, 300.0, 400.0), 0.92)],
            id="float-box-and-string-confidence",
        ),
        pytest.param(
            '{"objects": [{"label": "cat", "mask": [[100, 200], [100, 400], [300, 400], '
            "[300, 200]]}]}",
            [("cat", A, None)],
            id="nested-objects-with-polygon-mask",
        ),
        pytest.param(
            '[{"box_2d": "[100, 200, 300, 400]", "label": 3}]', [("3", A, None)], id="string-box"
        ),
    ],
)
def test_more_answer_styles(text: str, expected: list[tuple]) -> None:
    result = parse_detections(text)
    assert [(o.label, o.box_2d, o.confidence) for o in result.objects] == expected


def test_parser_version_is_recorded() -> None:
    assert parse_detections(LIST).parser_version == PARSER_VERSION >= 1


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


# --------------------------------------------------------------------------------------------
# The lenient JSON layer


def test_extract_json_combines_bullet_values() -> None:
    found = extract_json("- [1, 2, 3, 4]\n- [5, 6, 7, 8]")
    assert found.value == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_extract_json_marks_truncation() -> None:
    found = extract_json('[{"a": 1}, {"b": 2}, {"c": ')
    assert isinstance(found.value, PartialList) and found.value == [{"a": 1}, {"b": 2}]
    assert found.truncated and found.lost_items == 1


def test_extract_json_raises_parse_error_without_json() -> None:
    with pytest.raises(ParseError) as info:
        extract_json("no json here")
    assert info.value.raw_text == "no json here"


def test_scan_reports_repairs() -> None:
    value = scan_json("[{'a': True, 'b': None,}]").values[0]
    assert value.value == [{"a": True, "b": None}]
    assert {"single quotes", "python literals", "trailing commas"} <= set(value.repairs)


def test_deep_nesting_does_not_recurse_forever() -> None:
    with pytest.raises(ParseError):
        parse_detections("[" * 5000 + "]" * 5000)


# --------------------------------------------------------------------------------------------
# Classification

PETS = ["cat", "dog", "couch", "salt and pepper"]


@pytest.mark.parametrize(
    ("text", "multi", "labels", "method"),
    [
        pytest.param("dog", False, ["dog"], "exact", id="enum-plain"),
        pytest.param("dog\n", False, ["dog"], "exact", id="enum-newline"),
        pytest.param('"Dog"', False, ["dog"], "case", id="quoted"),
        pytest.param("Dogs.", False, ["dog"], "plural", id="plural-with-period"),
        pytest.param("Answer: cat", False, ["cat"], "exact", id="answer-prefix"),
        pytest.param("**Label:** cat", False, ["cat"], "exact", id="bold-prefix"),
        pytest.param('{"label": "cat"}', False, ["cat"], "exact", id="json-object"),
        pytest.param('```json\n{"class": "cat"}\n```', False, ["cat"], "exact", id="fenced-json"),
        pytest.param('["dog"]', False, ["dog"], "exact", id="json-list-single"),
        pytest.param('{"cat": 0.2, "dog": 0.7}', False, ["dog"], "exact", id="scores-dict"),
        pytest.param("sofa", False, ["couch"], "synonym", id="synonym"),
        pytest.param("The image shows a dog on a rug.", False, ["dog"], "contains", id="sentence"),
        pytest.param('["cat", "dog"]', True, ["cat", "dog"], "exact", id="multi-json"),
        pytest.param("cat, dog", True, ["cat", "dog"], "exact", id="multi-commas"),
        pytest.param("- cat\n- dog", True, ["cat", "dog"], "exact", id="multi-bullets"),
        pytest.param("cat and dog", True, ["cat", "dog"], "exact", id="multi-and"),
        pytest.param('["cat", "cat"]', True, ["cat"], "exact", id="multi-duplicates"),
        pytest.param(
            "salt and pepper, dog", True, ["salt and pepper", "dog"], "exact", id="and-in-a-class"
        ),
        pytest.param(
            '[{"label": "cat", "confidence": 0.9}, {"label": "dog", "confidence": 0.4}]',
            True,
            ["cat", "dog"],
            "exact",
            id="multi-with-confidence",
        ),
    ],
)
def test_classification_answers(text: str, multi: bool, labels: list[str], method: str) -> None:
    result = parse_classification(text, PETS, multi_label=multi)
    assert result.labels == labels
    assert result.predictions[0].method == method
    assert result.raw_text == text


def test_classification_keeps_confidence() -> None:
    result = parse_classification('{"label": "dog", "confidence": 87}', PETS, multi_label=False)
    assert result.top is not None and result.top.confidence == pytest.approx(0.87)


def test_single_label_answer_with_two_classes_keeps_the_first_and_warns() -> None:
    result = parse_classification('["dog", "cat"]', PETS, multi_label=False)
    assert result.labels == ["dog"] and any("kept the first" in w for w in result.warnings)


@pytest.mark.parametrize("text", ["[]", "none", "None of these."])
def test_classification_explicit_none(text: str) -> None:
    result = parse_classification(text, PETS, multi_label=True)
    assert result.predictions == () and result.warnings


@pytest.mark.parametrize(
    ("text", "multi", "labels"),
    [
        pytest.param("This is not a cat; it is a dog.", False, ["dog"], id="not-a-x-then-y"),
        pytest.param("The image shows a dog, not a cat.", False, ["dog"], id="y-not-x"),
        pytest.param(
            "**Dog**\n\nThe floppy ears and the tail are typical of a dog rather than a cat.",
            False,
            ["dog"],
            id="bold-answer-then-explanation",
        ),
        pytest.param("Cat: yes\nDog: no\nCouch: no", True, ["cat"], id="yes-no-lines"),
        pytest.param(
            "- cat: present\n- dog: not present\n- couch: absent", True, ["cat"], id="present"
        ),
        pytest.param(
            "The image contains a cat and a couch, but no dog.",
            True,
            ["cat", "couch"],
            id="but-no-x",
        ),
        pytest.param(
            "| Class | Present |\n|---|---|\n| cat | Yes |\n| dog | No |\n| couch | Yes |",
            True,
            ["cat", "couch"],
            id="yes-no-table",
        ),
        pytest.param(
            "There is a dog on the couch. There is no cat.", True, ["dog", "couch"], id="sentences"
        ),
        pytest.param("Dog (confidence: 0.85)", False, ["dog"], id="number-is-not-a-verdict"),
        pytest.param("Cat: 1\nDog: 0\nCouch: 0", True, ["cat"], id="one-zero"),
    ],
)
def test_classes_the_answer_rules_out_are_not_predicted(
    text: str, multi: bool, labels: list[str]
) -> None:
    result = parse_classification(text, PETS, multi_label=multi)
    assert result.labels == labels


@pytest.mark.parametrize(
    "text",
    [
        "None of these classes apply.",
        "None of the listed classes apply to this image.",
        "Cat: no\nDog: no\nCouch: no",
        "There is no cat, no dog and no couch in this image.",
    ],
)
def test_an_answer_ruling_out_every_class_is_an_explicit_none(text: str) -> None:
    result = parse_classification(text, PETS, multi_label=True)
    assert result.predictions == () and result.warnings


def test_unmapped_class_is_kept_raw_not_dropped() -> None:
    result = parse_classification("hamster", PETS, multi_label=False)
    assert result.labels == []
    assert result.top is not None and result.top.label is None and result.top.raw == "hamster"
    assert any("none of the classes" in w for w in result.warnings)


def test_open_vocabulary_classification() -> None:
    assert parse_classification("A golden retriever.", None, multi_label=False).labels == [
        "A golden retriever"
    ]
    multi = parse_classification('["dog", "frisbee", "grass"]', None, multi_label=True)
    assert multi.labels == ["dog", "frisbee", "grass"]


def test_empty_classification_answer_is_a_parse_error() -> None:
    with pytest.raises(ParseError):
        parse_classification("  ", PETS, multi_label=False)


# --------------------------------------------------------------------------------------------
# Free text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A cat on a mat.", "A cat on a mat.", id="plain"),
        pytest.param("  A cat on a mat.\n", "A cat on a mat.", id="whitespace"),
        pytest.param("Caption: A cat on a mat.", "A cat on a mat.", id="caption-prefix"),
        pytest.param("**Caption:** A cat on a mat.", "A cat on a mat.", id="bold-prefix"),
        pytest.param('"A cat on a mat."', "A cat on a mat.", id="quoted"),
        pytest.param("“A cat on a mat.”", "A cat on a mat.", id="curly-quotes"),
        pytest.param("```\nA cat on a mat.\n```", "A cat on a mat.", id="bare-fence"),
        pytest.param("```text\nA cat on a mat.\n```", "A cat on a mat.", id="text-fence"),
        pytest.param('{"caption": "A cat on a mat."}', "A cat on a mat.", id="json-caption"),
        pytest.param('"A cat\\non a mat."', "A cat\non a mat.", id="json-string"),
        pytest.param(
            "Here is a caption for the image:\n\nA cat on a mat.", "A cat on a mat.", id="preamble"
        ),
        pytest.param("1. A cat\n2. A mat", "1. A cat\n2. A mat", id="markdown-kept"),
        pytest.param('He said "hi" to me', 'He said "hi" to me', id="inner-quotes-kept"),
        pytest.param(
            "Look:\n```\ncode\n```\nThe end.",
            "Look:\n```\ncode\n```\nThe end.",
            id="inner-fence-kept",
        ),
        pytest.param("Here are three things:", "Here are three things:", id="lone-preamble-kept"),
        pytest.param("## Caption\nA cat on a mat.", "A cat on a mat.", id="heading"),
        pytest.param("**Answer**\nTwo cats.", "Two cats.", id="bold-heading"),
        pytest.param("## Caption", "## Caption", id="lone-heading-kept"),
        pytest.param(
            "Here is a short caption for the image: A cat on a mat.",
            "A cat on a mat.",
            id="one-line-preamble",
        ),
        pytest.param("Here's the answer: two.", "two.", id="one-line-answer-preamble"),
        pytest.param("A **grey** cat on a **red** mat.", "A grey cat on a red mat.", id="bold"),
        pytest.param("The function is `__init__`.", "The function is `__init__`.", id="dunder"),
        pytest.param("2**10 is 1024, and 3**2 is 9.", "2**10 is 1024, and 3**2 is 9.", id="power"),
        pytest.param("Call `a**b` or **c**", "Call `a**b` or c", id="code-span"),
        pytest.param("Here is my cat: Tom.", "Here is my cat: Tom.", id="not-a-preamble"),
        pytest.param("2**3 is 8", "2**3 is 8", id="lone-stars-kept"),
    ],
)
def test_free_text(text: str, expected: str) -> None:
    answer = parse_free_text(text)
    assert answer.text == expected and answer.raw_text == text


@pytest.mark.parametrize("text", ["", "   ", "```\n```", '""', "Caption:"])
def test_empty_free_text_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        parse_free_text(text)
