"""Parser behaviour, case by case: each row is one quirk of real Gemini output (a name per row)."""

from __future__ import annotations

import pytest

from gemini_vision.errors import ParseError
from gemini_vision.parsing import (
    PARSER_VERSION,
    ParsedObject,
    dedupe,
    parse_detections,
    parse_points,
)
from gemini_vision.parsing.json_scan import PartialList, extract_json, scan_json

BOX_A = '{"box_2d": [100, 200, 300, 400], "label": "cat"}'
BOX_B = '{"box_2d": [500, 500, 900, 800], "label": "dog"}'
LIST = f"[{BOX_A}, {BOX_B}]"
A = (100.0, 200.0, 300.0, 400.0)
B = (500.0, 500.0, 900.0, 800.0)


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
