"""Properties of the parser: total on any input, round trips through real answer styles,
boxes always sorted and inside [0, 1000], truncation salvages exactly the complete items."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemini_vision.errors import ParseError
from gemini_vision.parsing import (
    parse_classification,
    parse_detections,
    parse_free_text,
    parse_points,
)
from gemini_vision.tasks.spec import TaskKind, TaskSpec, interpret_answer

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text made of the pieces model answers are made of, so random strings reach deep paths
FRAGMENTS = st.sampled_from(
    [
        "[", "]", "{", "}", ",", ":", '"', "'", "```", "```json\n", "\n", " ", "-", ".", "1",
        "250", "1000", "-7", "1e3", "NaN", "null", "true", "None", '"box_2d"', '"label"',
        '"mask"', '"point"', '"objects"', "data:image/png;base64,", "iVBORw0KGgo", "<seg_1>",
        "<start_of_mask>", "//", "/*", "#", "\\", "\\u00e9", "猫", "Here are the boxes:",
    ]
)  # fmt: skip
MODEL_LIKE_TEXT = st.lists(FRAGMENTS, max_size=40).map("".join)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(["box_2d", "label", "point", "mask", "bbox", "y", "x", "objects", "k"])
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


def _total(call: Any, text: str) -> Any:
    """Calls the parser: the only exception allowed is ParseError (carrying the raw text)."""
    try:
        return call(text)
    except ParseError as error:
        assert error.raw_text == text
        return None


def _check_objects(result: Any) -> None:
    if result is None:
        return
    for obj in result.objects:
        if obj.box_2d is not None:
            ymin, xmin, ymax, xmax = obj.box_2d
            assert all(math.isfinite(v) for v in obj.box_2d)
            assert 0 <= ymin < ymax <= 1000 and 0 <= xmin < xmax <= 1000
        if obj.point is not None:
            assert all(0 <= v <= 1000 for v in obj.point)
        if obj.confidence is not None:
            assert 0 <= obj.confidence <= 1
        assert isinstance(obj.label, str)


PARSERS = (
    parse_detections,
    parse_points,
    parse_free_text,
    lambda t: parse_classification(t, ["cat", "dog"], multi_label=False),
    lambda t: parse_classification(t, None, multi_label=True),
)


@SETTINGS
@given(st.text(max_size=300))
def test_total_on_arbitrary_text(text: str) -> None:
    for parser in PARSERS:
        _check_objects(r if hasattr(r := _total(parser, text), "objects") else None)


@SETTINGS
@given(MODEL_LIKE_TEXT)
def test_total_on_model_like_text(text: str) -> None:
    for parser in PARSERS:
        _check_objects(r if hasattr(r := _total(parser, text), "objects") else None)


@SETTINGS
@given(JSON_VALUES, st.booleans(), st.integers(0, 10_000))
def test_total_on_arbitrary_json_whole_or_cut(value: Any, fenced: bool, cut: int) -> None:
    text = json.dumps(value, ensure_ascii=False)
    if fenced:
        text = f"```json\n{text}\n```"
    for candidate in (text, text[: cut % (len(text) + 1)]):
        for parser in PARSERS:
            _check_objects(r if hasattr(r := _total(parser, candidate), "objects") else None)


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {"box_2d": st.lists(st.floats(-5000, 5000) | st.integers(-5000, 5000), min_size=4,
                                max_size=4),
             "label": st.text(max_size=8)}
        ),
        min_size=1,
        max_size=6,
    )
)  # fmt: skip
def test_boxes_always_sorted_and_clamped(items: list[dict[str, Any]]) -> None:
    result = _total(parse_detections, json.dumps(items))
    _check_objects(result)
    if result is not None:
        assert len(result.objects) + len(result.dropped) == len(items)


# --------------------------------------------------------------------------------------------
# Round trips through the styles Gemini really writes

LABELS = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="`"), max_size=20
).map(str.strip)


@st.composite
def boxes(draw: st.DrawFn) -> list[int]:
    ymin, ymax = sorted(draw(st.lists(st.integers(0, 1000), min_size=2, max_size=2, unique=True)))
    xmin, xmax = sorted(draw(st.lists(st.integers(0, 1000), min_size=2, max_size=2, unique=True)))
    return [ymin, xmin, ymax, xmax]


PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010800000000376ef9240000000a49444154"
        "789c63f80f00000101000518d84e0000000049454e44ae426082"
    )
).decode()

DETECTIONS = st.lists(
    st.fixed_dictionaries(
        {"box_2d": boxes(), "label": LABELS},
        optional={
            "confidence": st.floats(0, 1),
            "mask": st.just(f"data:image/png;base64,{PNG}"),
        },
    ),
    min_size=1,
    max_size=8,
)


def _render(items: list[dict[str, Any]], style: str, ascii_only: bool) -> str:
    dump = lambda v, **kw: json.dumps(v, ensure_ascii=ascii_only, **kw)  # noqa: E731
    compact = dump(items)
    return {
        "fenced": f"```json\n{compact}\n```",
        "fenced-upper": f"```JSON\n{compact}\n```",
        "fenced-bare": f"```\n{compact}\n```",
        "indented-fence": "  ```json\n  "
        + dump(items, indent=2).replace("\n", "\n  ")
        + "\n  ```",
        "unclosed-fence": f"Here are the bounding box detections:\n```json\n{compact}\n\n",
        "unfenced": compact,
        "pretty": dump(items, indent=2),
        "one-per-line": "[\n" + ",\n".join("  " + dump(i) for i in items) + "\n]",
        "prose": f"Here are the boxes:\n```json\n{compact}\n```\nLet me know if you need more.",
        "wrapper": dump({"objects": items}),
        "bullets": "\n".join(f"- {dump(i)}" for i in items),
        "single": dump(items[0]) if len(items) == 1 else compact,
    }[style]


STYLES = st.sampled_from(
    ["fenced", "fenced-upper", "fenced-bare", "indented-fence", "unclosed-fence", "unfenced",
     "pretty", "one-per-line", "prose", "wrapper", "bullets", "single"]
)  # fmt: skip


@SETTINGS
@given(DETECTIONS, STYLES, st.booleans())
def test_render_then_parse_round_trip(
    items: list[dict[str, Any]], style: str, ascii_only: bool
) -> None:
    result = parse_detections(_render(items, style, ascii_only))
    assert [list(o.box_2d) for o in result.objects] == [i["box_2d"] for i in items]
    assert result.labels == [i["label"] for i in items]
    assert [o.confidence for o in result.objects] == [i.get("confidence") for i in items]
    for obj, item in zip(result.objects, items, strict=True):
        assert (obj.mask is not None) == ("mask" in item)
        if obj.mask is not None:
            assert obj.mask.kind == "png" and obj.mask.png == base64.b64decode(PNG)
    assert not result.dropped and not result.truncated


@SETTINGS
@given(
    st.lists(
        st.fixed_dictionaries(
            {"point": st.lists(st.integers(0, 1000), min_size=2, max_size=2), "label": LABELS}
        ),
        min_size=1,
        max_size=8,
    ),
    STYLES,
)
def test_points_round_trip(items: list[dict[str, Any]], style: str) -> None:
    result = parse_points(_render(items, style, False))
    assert [list(o.point) for o in result.objects] == [i["point"] for i in items]
    assert result.labels == [i["label"] for i in items]


@SETTINGS
@given(DETECTIONS, st.data())
def test_truncation_salvages_exactly_the_complete_items(
    items: list[dict[str, Any]], data: st.DataObject
) -> None:
    text, ends = "```json\n[\n", []
    for n, item in enumerate(items):
        text += ("" if n == 0 else ",\n") + "  " + json.dumps(item, ensure_ascii=False)
        ends.append(len(text))
    text += "\n]"
    cut = data.draw(st.integers(len("```json\n") + 1, len(text)))
    complete = sum(1 for end in ends if end <= cut)
    try:
        result = parse_detections(text[:cut])
    except ParseError:
        assert complete == 0
        return
    assert [list(o.box_2d) for o in result.objects] == [i["box_2d"] for i in items[:complete]]
    assert result.labels == [i["label"] for i in items[:complete]]
    assert result.truncated == (cut < len(text))
    assert result.lost_items == (
        1
        if ends[complete - 1] < cut < len(text)
        and complete < len(items)
        and text[ends[complete - 1] : cut].strip(",\n ")
        else 0
    )


# --------------------------------------------------------------------------------------------
# Classification and text

CLASSES = ["cat", "dog", "traffic light", "cupcake", "wooden spoon"]


@SETTINGS
@given(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=4, unique=True), st.integers(0, 3))
def test_classification_round_trip(chosen: list[str], style: int) -> None:
    text = [
        json.dumps(chosen),
        ", ".join(chosen),
        "\n".join(f"- {c}" for c in chosen),
        "```json\n" + json.dumps([{"label": c, "confidence": 0.5} for c in chosen]) + "\n```",
    ][style]
    result = parse_classification(text, CLASSES, multi_label=True)
    assert result.labels == chosen
    single = parse_classification(json.dumps(chosen[0]), CLASSES, multi_label=False)
    assert single.labels == [chosen[0]]


@SETTINGS
@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and "`" not in t))
def test_free_text_keeps_plain_content(text: str) -> None:
    answer = _total(parse_free_text, text)
    if answer is not None:
        assert answer.text.strip() == answer.text
        if text.strip()[0] not in '"{[':
            assert answer.text in text  # packaging removed, nothing rewritten


@SETTINGS
@given(MODEL_LIKE_TEXT, st.sampled_from(list(TaskKind)))
def test_interpret_answer_is_total(text: str, kind: TaskKind) -> None:
    task = TaskSpec(kind, question="What?", classes=("cat", "dog") if kind.spatial else None)
    _check_objects(
        r if hasattr(r := _total(lambda t: interpret_answer(task, t), text), "objects") else None
    )


@given(st.text(alphabet='`~ab\n{}[]"x ', max_size=40), st.integers(0, 45))
@settings(max_examples=500)
def test_fences_are_found_where_the_fence_pattern_finds_them(text: str, pos: int) -> None:
    """The answer scan finds fences with ``str.find`` first; it must agree with the regular
    expression it stands in for, position, length and all."""
    from gemini_vision.parsing.json_scan import _FENCE, _next_fence

    pos = min(pos, len(text))
    expected, found = _FENCE.search(text, pos), _next_fence(text, pos)
    assert (found is None) == (expected is None)
    if expected is not None and found is not None:
        assert found.span() == expected.span()
