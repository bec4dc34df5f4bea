"""The emulator's responder: the task read from the prompt, answers in Gemini's real formats
that agree with the scene's ground truth.

Answers are read the way the "Spatial understanding" notebook of Google's Gemini API Cookbook
reads them: fences stripped, ``json.loads``, boxes ``int(v / 1000 * size)``, masks resized
bilinearly to the box and thresholded at 127. The COOKBOOK_* prompts are that notebook's (the
detection and segmentation ones also appear in Google's "Image understanding" guide).
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gemini_vision.api import wire
from gemini_vision.demo import scenes
from gemini_vision.emulator.model import responder
from gemini_vision.emulator.model.intent import read_intent
from gemini_vision.emulator.model.schema_fit import fit, map_to_enum

COOKBOOK_DETECT = (
    "Detect the all of the prominent items in the image. The box_2d should be "
    "[ymin, xmin, ymax, xmax] normalized to 0-1000."
)
COOKBOOK_SEGMENT = (
    "Give the segmentation masks for {what}. Output a JSON list of segmentation masks where "
    'each entry contains the 2D bounding box in the key "box_2d", the segmentation mask in key '
    '"mask", and the text label in the key "label". Use descriptive labels.'
)
COOKBOOK_SYSTEM = (
    "Return bounding boxes as a JSON array with labels. Never return masks or code fencing. "
    "Limit to 25 objects.\nIf an object is present multiple times, name them according to "
    "their unique characteristic (colors, size, position, unique characteristics, etc..)."
)
POINT_FORMAT = (
    ' The answer should follow the json format: [{"point": <point>, "label": <label1>}, ...].'
    " The points are in [y, x] format normalized to 0-1000."
)


# --------------------------------------------------------------------------------------------
# Helpers: requests, the received image, a cookbook-style reader


def _request(
    text: str,
    *,
    system: str | None = None,
    mime: str | None = None,
    schema: Any = None,
    json_schema: Any = None,
) -> wire.GenerateContentRequest:
    config = None
    if mime or schema or json_schema:
        config = wire.GenerationConfig(
            response_mime_type=mime, response_schema=schema, response_json_schema=json_schema
        )
    return wire.GenerateContentRequest(
        contents=[wire.Content(role="user", parts=[wire.Part.from_text(text)])],
        system_instruction=wire.Content(parts=[wire.Part.from_text(system)]) if system else None,
        generation_config=config,
    )


def _received(scene: scenes.Scene, quality: int = 85) -> Image.Image:
    data = scenes.encode_image(scene.image, "JPEG", quality=quality)
    return Image.open(io.BytesIO(data))


def _ask(
    scene: scenes.Scene | list[scenes.Scene], text: str, model: str = "gemini-2.5-flash", **kw
) -> responder.Reply:
    images = [_received(s) for s in (scene if isinstance(scene, list) else [scene])]
    return responder.respond(_request(text, **kw), images, model=model, rng=random.Random(7))


def _json(text: str) -> Any:
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    return json.loads(fenced.group(1) if fenced else text)


def _pixel_box(box_2d: list[int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    w, h = size
    return (
        int(box_2d[1] / 1000 * w),
        int(box_2d[0] / 1000 * h),
        int(box_2d[3] / 1000 * w),
        int(box_2d[2] / 1000 * h),
    )


def _cookbook_mask(item: dict[str, Any], size: tuple[int, int]) -> np.ndarray:
    x0, y0, x1, y1 = _pixel_box(item["box_2d"], size)
    png = base64.b64decode(item["mask"].removeprefix("data:image/png;base64,"))
    mask = Image.open(io.BytesIO(png))
    assert mask.size == (256, 256) and mask.mode == "L"
    mask = mask.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
    full = np.zeros((size[1], size[0]), bool)
    full[y0:y1, x0:x1] = np.asarray(mask) > 127
    return full


def _iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _match(items: list[dict[str, Any]], objects, size) -> list[tuple[dict[str, Any], Any]]:
    """Each answer item with the ground-truth object its box overlaps most."""
    pairs = []
    for item in items:
        box = _pixel_box(item["box_2d"], size)
        best = max(objects, key=lambda o: _iou(box, o.box_xyxy))
        assert _iou(box, best.box_xyxy) >= 0.5, (item, best.name)
        pairs.append((item, best))
    return pairs


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.generate_scene(5, (800, 600))


@pytest.fixture(scope="module")
def scene_set() -> list[scenes.Scene]:
    sizes = [(640, 480), (480, 720), (900, 500), (600, 600)]
    return [scenes.generate_scene(seed, sizes[seed % 4]) for seed in range(20, 28)]


# --------------------------------------------------------------------------------------------
# Detection


def test_cookbook_detection_finds_every_object(scene_set: list[scenes.Scene]) -> None:
    for s in scene_set:
        reply = _ask(s, COOKBOOK_DETECT)
        items = _json(reply.text)
        assert reply.kind == "detect"
        assert all(set(i) == {"box_2d", "label"} for i in items)
        assert all(isinstance(v, int) and 0 <= v <= 1000 for i in items for v in i["box_2d"])
        pairs = _match(items, s.objects, s.size)
        assert sorted(o.name for _, o in pairs) == sorted(o.name for o in s.objects)
        assert all(item["label"] == obj.name for item, obj in pairs)  # "red circle"


def test_box_2d_is_y_first(scene: scenes.Scene) -> None:
    (item,) = _json(_ask(scene, "Detect the blue circle.").text)
    (blue,) = [o for o in scene.objects if o.name == "blue circle"]
    x0, y0, x1, y1 = blue.box_xyxy
    w, h = scene.size
    assert item["box_2d"] == pytest.approx([y0 / h * 1000, x0 / w * 1000, y1 / h * 1000,
                                             x1 / w * 1000], abs=4)  # fmt: skip


def test_class_list_gives_bare_labels_and_only_those_classes(scene: scenes.Scene) -> None:
    text = (
        'Detect the 2d bounding boxes of every circle, star in the image. Set "label" to '
        'exactly one of: "circle", "star". Never return masks. Limit to 25 objects.'
    )
    items = _json(_ask(scene, text).text)
    assert {i["label"] for i in items} == {"circle", "star"}
    assert len(items) == scene.count("circle") + scene.count("star")
    for item, obj in _match(items, scene.objects, scene.size):
        assert item["label"] == obj.label


def test_class_names_are_kept_as_written_and_synonyms_understood(scene: scenes.Scene) -> None:
    items = _json(_ask(scene, 'Detect objects. Use one of these labels: "Ball", "Pyramid".').text)
    assert {i["label"] for i in items} == {"Ball", "Pyramid"}
    assert len(items) == scene.count("circle") + scene.count("triangle")


@pytest.mark.parametrize(
    ("text", "label", "color"),
    [
        ("Detect only the orange objects.", None, "orange"),
        ("Find all circles in the image and return their bounding boxes.", "circle", None),
        ("Show me the positions of the green stars", "star", "green"),
        ("Detect the 2d bounding boxes of the triangles", "triangle", None),
    ],
)
def test_free_text_target_restricts_the_answer(
    scene: scenes.Scene, text: str, label: str | None, color: str | None
) -> None:
    items = _json(_ask(scene, text, system=COOKBOOK_SYSTEM).text)
    assert len(items) == scene.count(label, color) > 0
    for _, obj in _match(items, scene.objects, scene.size):
        assert (label is None or obj.label == label) and (color is None or obj.color == color)


def test_unknown_target_finds_nothing(scene: scenes.Scene) -> None:
    text = 'Detect the 2d bounding boxes of the cupcakes (with "label" as topping description)'
    assert _json(_ask(scene, text, system=COOKBOOK_SYSTEM).text) == []


def test_limit_keeps_the_largest_objects(scene: scenes.Scene) -> None:
    items = _json(_ask(scene, "Detect all shapes. Limit to 3 objects.").text)
    largest = sorted(scene.objects, key=lambda o: -o.area)[:3]
    assert sorted(o.name for _, o in _match(items, scene.objects, scene.size)) == sorted(
        o.name for o in largest
    )


def test_confidence_only_when_asked(scene: scenes.Scene) -> None:
    plain = _json(_ask(scene, COOKBOOK_DETECT).text)
    scored = _json(_ask(scene, COOKBOOK_DETECT + " Include a confidence score.").text)
    assert all("confidence" not in i for i in plain)
    assert all(0 < i["confidence"] <= 1 for i in scored)


# --------------------------------------------------------------------------------------------
# Segmentation


def test_cookbook_segmentation_masks_decode_onto_the_objects(
    scene_set: list[scenes.Scene],
) -> None:
    ious = []
    for s in scene_set[:5]:
        reply = _ask(s, COOKBOOK_SEGMENT.format(what="the shapes"))
        items = _json(reply.text)
        assert reply.kind == "segment"
        assert all(list(i) == ["box_2d", "mask", "label"] for i in items)
        assert all(i["mask"].startswith("data:image/png;base64,") for i in items)
        for item, obj in _match(items, s.objects, s.size):
            decoded = _cookbook_mask(item, s.size)
            ious.append((decoded & obj.mask).sum() / (decoded | obj.mask).sum())
        assert len(items) == len(s.objects)
    assert np.mean(ious) >= 0.93 and min(ious) >= 0.85


def test_mask_is_a_two_valued_png_like_real_gemini(scene: scenes.Scene) -> None:
    # every real Gemini 2.5 mask in tests/data/real-gemini is 256 x 256, 8-bit, values 0 / 255
    item = _json(_ask(scene, COOKBOOK_SEGMENT.format(what="the blue circle")).text)[0]
    png = base64.b64decode(item["mask"].split(",", 1)[1])
    image = Image.open(io.BytesIO(png))
    assert image.size == (256, 256) and image.mode == "L"
    assert np.unique(np.asarray(image)).tolist() == [0, 255]


def test_segmentation_targets_and_classes(scene: scenes.Scene) -> None:
    items = _json(_ask(scene, COOKBOOK_SEGMENT.format(what="the stars")).text)
    assert len(items) == scene.count("star")
    assert all(i["label"].endswith("star") for i in items)


def test_segment_request_on_gemini_3_gets_boxes_only(scene: scenes.Scene) -> None:
    reply = _ask(scene, COOKBOOK_SEGMENT.format(what="the shapes"), model="gemini-3-flash-preview")
    items = _json(reply.text)
    assert reply.kind == "detect" and items and all("mask" not in i for i in items)


def test_segment_word_with_a_no_masks_instruction_gets_boxes_only(scene: scenes.Scene) -> None:
    reply = _ask(scene, "segment the shapes", system=COOKBOOK_SYSTEM)
    assert reply.kind == "detect" and all("mask" not in i for i in _json(reply.text))


# --------------------------------------------------------------------------------------------
# Pointing


def test_points_land_inside_their_objects(scene_set: list[scenes.Scene]) -> None:
    for s in scene_set[:4]:
        reply = _ask(s, "Point to no more than 10 items in the image." + POINT_FORMAT)
        items = _json(reply.text)
        assert reply.kind == "point" and len(items) == len(s.objects)
        hits = set()
        for item in items:
            y, x = item["point"]
            col, row = int(x / 1000 * s.size[0]), int(y / 1000 * s.size[1])
            (obj,) = [o for o in s.objects if o.mask[row, col]]
            assert item["label"] == obj.name
            hits.add(id(obj))
        assert len(hits) == len(s.objects)


def test_point_query_list_from_the_robotics_docs(scene: scenes.Scene) -> None:
    text = (
        "Get all points matching the following objects: circle, star. The label returned "
        "should be an identifying name for the object detected." + POINT_FORMAT
    )
    items = _json(_ask(scene, text).text)
    assert len(items) == scene.count("circle") + scene.count("star")


# --------------------------------------------------------------------------------------------
# Classification


CLASSES = ["circle", "square", "triangle", "star"]


def test_enum_classification_returns_the_bare_scene_class(scene_set) -> None:
    for s in scene_set:
        reply = _ask(
            s,
            "Classify this image by its most frequent shape.",
            mime="text/x.enum",
            schema={"type": "STRING", "enum": CLASSES},
        )
        assert reply.kind == "classify" and reply.text == s.scene_class


def test_plain_text_classification_names_one_listed_class(scene: scenes.Scene) -> None:
    text = 'Classify this image. Answer with exactly one of: "circle", "square", "star".'
    assert _ask(scene, text).text == scene.scene_class


def test_classification_with_json_schema_and_confidence(scene: scenes.Scene) -> None:
    label = {"type": "STRING", "enum": CLASSES}
    schema = {
        "type": "OBJECT",
        "properties": {"label": label, "confidence": {"type": "NUMBER"}},
        "required": ["label", "confidence"],
    }
    answer = _json(
        _ask(scene, "Classify this image.", mime="application/json", schema=schema).text
    )
    assert answer["label"] == scene.scene_class and 0 < answer["confidence"] <= 1


def test_multi_label_classification_lists_present_classes(scene: scenes.Scene) -> None:
    text = (
        'Which of these classes apply to this image: "circle", "square", "star"? '
        "Answer with a JSON list of the classes."
    )
    answer = _json(_ask(scene, text, mime="application/json").text)
    present = {o.label for o in scene.objects} & {"circle", "square", "star"}
    assert set(answer) == present


def test_colour_classes_work_too(scene: scenes.Scene) -> None:
    colors = list(scenes.COLORS)
    reply = _ask(scene, "Which colour dominates?", mime="text/x.enum",
                 schema={"type": "STRING", "enum": colors})  # fmt: skip
    top = max(scene.color_counts.values())
    assert scene.color_counts[reply.text] == top


# --------------------------------------------------------------------------------------------
# Captions, questions, comparisons


def test_caption_is_one_sentence_naming_shapes_and_colours(scene: scenes.Scene) -> None:
    reply = _ask(scene, "Caption this image.")
    assert reply.kind == "caption"
    assert reply.text.count(".") == 1 and reply.text.endswith(".")
    for o in scene.objects:
        assert o.label in reply.text and o.color in reply.text


def test_detailed_caption_is_a_paragraph(scene: scenes.Scene) -> None:
    reply = _ask(scene, "Describe this image in detail.")
    assert reply.kind == "caption" and reply.text.count(".") >= 3
    assert scene.largest.name in reply.text


@pytest.mark.parametrize(
    ("question", "expect"),
    [
        ("How many circles are there?", lambda s: str(s.count("circle"))),
        ("How many red triangles are in the image?", lambda s: str(s.count("triangle", "red"))),
        ("Is there a red triangle?", lambda s: "Yes" if s.count("triangle", "red") else "No"),
        (
            "Are there any purple squares?",
            lambda s: "Yes" if s.count("square", "purple") else "No",
        ),
        ("What colour is the largest object?", lambda s: s.largest.color),
        ("Which object is the biggest?", lambda s: s.largest.name),
    ],
)
def test_short_answers_to_questions(scene: scenes.Scene, question: str, expect) -> None:
    from gemini_vision.emulator.model.language import number_word

    reply = _ask(scene, question)
    wanted = expect(scene)
    words = {wanted, number_word(int(wanted))} if wanted.isdigit() else {wanted}
    assert reply.kind == "ask"
    assert any(w in reply.text for w in words), (reply.text, wanted)


def test_comparison_names_the_changed_object(scene: scenes.Scene) -> None:
    for seed in range(4):
        other, change = scenes.variant(scene, seed)
        reply = _ask([scene, other], "What is different between these two images?")
        changed = re.match(r"the (\w+ \w+)", change).group(1)  # type: ignore[union-attr]
        assert reply.kind == "compare" and changed in reply.text, (change, reply.text)


def test_identical_images_have_no_difference(scene: scenes.Scene) -> None:
    reply = _ask([scene, scene], "What is different between these two images?")
    assert "can't find any difference" in reply.text


def test_caption_as_json_when_asked(scene: scenes.Scene) -> None:
    answer = _json(_ask(scene, "Caption this image.", mime="application/json").text)
    assert isinstance(answer["caption"], str) and scene.objects[0].label in answer["caption"]


def test_no_image_gets_a_polite_text_answer() -> None:
    reply = responder.respond(
        _request("Caption this image."), [], model="gemini-2.5-flash", rng=random.Random(1)
    )
    assert reply.kind == "text" and "image" in reply.text


def test_same_rng_same_answer(scene: scenes.Scene) -> None:
    image = _received(scene)
    texts = {
        responder.respond(
            _request(p), [image], model="gemini-2.5-flash", rng=random.Random(3)
        ).text
        for p in ["Caption this image."] * 3
    }
    assert len(texts) == 1


# --------------------------------------------------------------------------------------------
# Structured output


def test_response_json_schema_with_wrapper_object_and_synonym_keys(scene: scenes.Scene) -> None:
    schema = {
        "type": "object",
        "properties": {
            "objects": {"type": "array", "items": {"$ref": "#/$defs/obj"}, "maxItems": 2}
        },
        "required": ["objects"],
        "$defs": {
            "obj": {
                "type": "object",
                "properties": {
                    "bbox": {"type": "array", "items": {"type": "integer"}},
                    "name": {"type": "string"},
                },
                "required": ["bbox", "name"],
            }
        },
    }
    answer = _json(_ask(scene, COOKBOOK_DETECT, mime="application/json", json_schema=schema).text)
    assert list(answer) == ["objects"] and len(answer["objects"]) == 2
    assert all(set(o) == {"bbox", "name"} and len(o["bbox"]) == 4 for o in answer["objects"])


@pytest.mark.parametrize(
    ("value", "schema", "expected"),
    [
        pytest.param([1, 2], {"type": "OBJECT", "properties": {"items": {"type": "ARRAY"}}},
                     {"items": [1, 2]}, id="array-wrapped-in-object"),
        pytest.param({"objects": [{"a": 1}]}, {"type": "array", "items": {"type": "object"}},
                     [{"a": 1}], id="object-unwrapped-to-array"),
        pytest.param("circle", {"type": "STRING", "enum": ["Circle", "Star"]}, "Circle",
                     id="enum-case-insensitive"),
        pytest.param("It is a red star.", {"type": "STRING", "enum": ["circle", "star"]}, "star",
                     id="enum-mentioned-in-text"),
        pytest.param(3.6, {"type": "INTEGER"}, 4, id="integer-rounded"),
        pytest.param({"label": "x"}, {"type": "OBJECT", "properties": {
            "label": {"type": "STRING"}, "score": {"type": "NUMBER"}}, "required": ["score"]},
            {"label": "x", "score": 0.0}, id="required-filled"),
        pytest.param([1, 2, 3], {"type": "ARRAY", "maxItems": 2}, [1, 2], id="max-items"),
        pytest.param("yes", {"anyOf": [{"type": "integer"}, {"type": "string"}]}, "yes",
                     id="any-of-picks-matching-branch"),
        pytest.param({"confidence": 0.5, "class": "a"}, {"type": "object", "properties": {
            "label": {"type": "string"}, "score": {"type": "number"}},
            "propertyOrdering": ["score", "label"]}, {"score": 0.5, "label": "a"}, id="synonyms"),
        pytest.param("x", {"type": ["string", "null"]}, "x", id="type-list"),
        pytest.param("x", "not a schema", "x", id="unusable-schema"),
    ],
)  # fmt: skip
def test_fit_to_schema(value: Any, schema: Any, expected: Any) -> None:
    result = fit(value, schema)
    assert result == expected
    if isinstance(expected, dict):
        assert list(result) == list(expected)


def test_map_to_enum_falls_back_to_a_value() -> None:
    assert map_to_enum("no idea", ["a", "b"]) == "a"


# --------------------------------------------------------------------------------------------
# Reading the task from the prompt


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (COOKBOOK_DETECT, "detect"),
        ("Return bounding boxes for all items in the image.", "detect"),
        ("Draw a square around the red star", "detect"),
        ("Where are the circles? Give box_2d values.", "detect"),
        (COOKBOOK_SEGMENT.format(what="the wooden and glass items"), "segment"),
        ("Segment the stars.", "segment"),
        ("Point to the blue square." + POINT_FORMAT, "point"),
        ("Locate and point to the blue block and the orange bowl.", "point"),
        ("Caption this image.", "caption"),
        ("Title the image.", "caption"),
        ("Describe the image in detail.", "caption"),
        ("What do you see?", "caption"),
        ('Classify this image. Answer with exactly one of: "a", "b".', "classify"),
        ("What is the main subject of this image? Answer with a short label.", "classify"),
        ("How many circles are there?", "ask"),
        ("Is there a red square?", "ask"),
        ("What colour is the largest object?", "ask"),
    ],
)
def test_task_recognised_from_many_phrasings(text: str, kind: str) -> None:
    assert read_intent(_request(text), 1).kind == kind


def test_compare_needs_two_images() -> None:
    request = _request("What is different between these two images?")
    assert read_intent(request, 2).kind == "compare"
    assert read_intent(request, 1).kind != "compare"


def test_limits_read_from_text_and_schema() -> None:
    assert read_intent(_request("Point to no more than 10 items."), 1).max_items == 10
    assert read_intent(_request("Detect objects. Limit to five objects."), 1).max_items == 5
    schema = {"type": "ARRAY", "maxItems": 3, "items": {"type": "OBJECT"}}
    assert read_intent(_request(COOKBOOK_DETECT, schema=schema), 1).max_items == 3


# --------------------------------------------------------------------------------------------
# Totality: any prompt, any schema -> an answer, never a crash

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["type", "items", "properties", "enum", "anyOf", "$ref",
                                       "required", "maxItems", "label", "box_2d"]),
                      children, max_size=4),
    max_leaves=12,
)  # fmt: skip
_small_scene = scenes.generate_scene(3, (160, 120), n_objects=3)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=200) | st.sampled_from([COOKBOOK_DETECT, "How many ?", "Point to"]),
    mime=st.sampled_from([None, "application/json", "text/x.enum", "text/plain"]),
    schema=st.none() | _json_values,
    n_images=st.integers(0, 2),
)
def test_any_prompt_and_schema_gets_a_text_answer(
    text: str, mime: str | None, schema: Any, n_images: int
) -> None:
    schema = schema if isinstance(schema, dict) else None
    request = _request(text or " ", mime=mime, json_schema=schema)
    images = [_small_scene.image] * n_images
    reply = responder.respond(request, images, model="gemini-2.5-flash", rng=random.Random(0))
    assert isinstance(reply.text, str) and reply.text
    assert reply.kind in {"detect", "segment", "point", "classify", "caption", "ask", "compare",
                          "text"}  # fmt: skip


def test_vision_results_are_reused_for_the_same_pixels(monkeypatch, scene: scenes.Scene) -> None:
    from gemini_vision.emulator.model import vision

    calls = []
    real = vision.analyze
    monkeypatch.setattr(vision, "analyze", lambda im: calls.append(im.size) or real(im))
    image = _received(scene, quality=77)  # pixels no other test has sent
    for text in ("Caption this image.", COOKBOOK_DETECT, "How many stars are there?"):
        responder.respond(_request(text), [image], model="gemini-2.5-flash", rng=random.Random())
    assert len(calls) == 1
    other = _received(scene, quality=78)
    responder.respond(_request("Caption"), [other], model="gemini-2.5-flash", rng=random.Random())
    assert len(calls) == 2


def test_requests_about_one_image_arriving_together_look_at_it_once(monkeypatch) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from gemini_vision.emulator.model import vision

    looks = []

    def slow_analyze(image: Any) -> list:
        looks.append(image.size)
        time.sleep(0.2)
        return []

    monkeypatch.setattr(vision, "analyze", slow_analyze)
    image = Image.new("RGB", (37, 23), (12, 34, 56))  # a picture no other test uses
    with ThreadPoolExecutor(8) as pool:  # eight requests about it at once
        found = list(pool.map(lambda _: responder._analyze(image), range(8)))
    assert looks == [(37, 23)] and found == [[]] * 8
