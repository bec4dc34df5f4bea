"""Tasks: specs, fingerprints, request building per model family, and answer interpretation."""

from __future__ import annotations

import pytest

from gemini_vision.api import wire
from gemini_vision.catalog import (
    DYNAMIC_THINKING_TOKENS,
    LEVEL_THINKING_ALLOWANCE,
    LEVEL_THINKING_TOKENS,
    model_spec,
)
from gemini_vision.errors import ConfigurationError, ParseError
from gemini_vision.parsing import ClassificationResult, ParseResult, TextAnswer
from gemini_vision.tasks.prompts import prompt_text, response_format
from gemini_vision.tasks.spec import (
    TaskKind,
    TaskSpec,
    build_request,
    check_model_supports,
    generation_defaults,
    interpret_answer,
)

IMAGE = wire.Part.from_bytes(b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")
IMAGE2 = wire.Part.from_uri("https://generativelanguage.googleapis.com/v1beta/files/abc")


def _config(request: wire.GenerateContentRequest) -> dict:
    return request.to_wire()["generationConfig"]


# --------------------------------------------------------------------------------------------
# TaskSpec


def test_spec_normalises_inputs() -> None:
    spec = TaskSpec("detect", classes=[" cat ", "dog", "cat", ""], target="  the red mug ")
    assert spec.kind is TaskKind.DETECT
    assert spec.classes == ("cat", "dog")
    assert spec.target == "the red mug"
    assert TaskSpec(TaskKind.CLASSIFY, classes="cat, dog").classes == ("cat", "dog")
    assert TaskSpec(TaskKind.DETECT, classes=[]).classes is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"kind": "draw"}, "unknown task", id="unknown-kind"),
        pytest.param({"kind": "ask"}, "question", id="ask-without-question"),
        pytest.param({"kind": "detect", "max_objects": 0}, "max_objects", id="max-objects"),
        pytest.param({"kind": "detect", "multi_label": True}, "multi_label", id="multi-label"),
        pytest.param({"kind": "caption", "detail": "epic"}, "detail", id="detail"),
    ],
)
def test_spec_rejects_impossible_tasks(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        TaskSpec(**kwargs)


def test_fingerprint_is_stable_and_tracks_what_changes_the_request() -> None:
    base = TaskSpec(TaskKind.DETECT, classes=("cat", "dog"))
    assert base.fingerprint() == TaskSpec("detect", classes=["cat", "dog"]).fingerprint()
    assert len(base.fingerprint()) == 16
    changed = [
        TaskSpec(TaskKind.DETECT, classes=("dog", "cat")),
        TaskSpec(TaskKind.DETECT, classes=("cat",)),
        TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), max_objects=10),
        TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), with_confidence=True),
        TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), target="the cat"),
        TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), prompt="Find pets."),
        TaskSpec(TaskKind.SEGMENT, classes=("cat", "dog")),
    ]
    prints = {base.fingerprint(), *(t.fingerprint() for t in changed)}
    assert len(prints) == len(changed) + 1
    # synonyms only affect label mapping, not the request
    same = TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), synonyms={"kitty": "cat"})
    assert same.fingerprint() == base.fingerprint()


def test_spec_round_trips_through_a_dict() -> None:
    spec = TaskSpec(TaskKind.CLASSIFY, classes=("a", "b"), multi_label=True, synonyms={"x": "a"})
    data = spec.to_dict()
    assert data["kind"] == "classify" and data["classes"] == ["a", "b"]
    assert TaskSpec.from_dict(data) == spec


# --------------------------------------------------------------------------------------------
# Prompts and schemas


def test_prompt_goes_after_the_images() -> None:
    request = build_request(TaskSpec(TaskKind.CAPTION), [IMAGE], model="gemini-2.5-flash")
    parts = request.contents[0].parts
    assert parts[0] == IMAGE and parts[-1].text and request.contents[0].role == "user"


def test_detection_schema_constrains_labels_to_the_classes() -> None:
    spec = TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), with_confidence=True)
    mime, schema = response_format(spec)
    assert mime == "application/json"
    assert schema is not None
    item = schema["items"]
    assert item["properties"]["box_2d"] == {
        "type": "ARRAY",
        "items": {"type": "INTEGER"},
        "minItems": 4,
        "maxItems": 4,
    }
    assert item["properties"]["label"] == {"type": "STRING", "enum": ["cat", "dog"]}
    assert item["properties"]["confidence"] == {"type": "NUMBER"}
    assert schema["maxItems"] == 25
    text = prompt_text(spec)
    assert '"box_2d"' in text and "[ymin, xmin, ymax, xmax]" in text and "0-1000" in text
    assert '"cat", "dog"' in text and "Limit to 25 objects" in text


def test_open_detection_uses_the_cookbook_naming_rule() -> None:
    text = prompt_text(TaskSpec(TaskKind.DETECT, target="the cupcakes"))
    assert text.startswith("Detect the 2d bounding boxes of the cupcakes.")
    assert "unique characteristic" in text
    assert (
        "enum" not in response_format(TaskSpec(TaskKind.DETECT))[1]["items"]["properties"]["label"]
    )


def test_segmentation_has_no_schema_and_the_cookbook_prompt() -> None:
    spec = TaskSpec(TaskKind.SEGMENT, classes=("wooden spoon", "glass jar"))
    assert response_format(spec) == (None, None)
    config = _config(build_request(spec, [IMAGE], model="gemini-2.5-flash"))
    assert "responseSchema" not in config and "responseMimeType" not in config
    text = prompt_text(spec)
    assert text.startswith("Give the segmentation masks for the wooden spoon, glass jar.")
    assert 'the segmentation mask in key "mask"' in text
    assert config["maxOutputTokens"] >= 25 * 1000  # room for 25 PNG masks


def test_pointing_prompt_and_schema() -> None:
    spec = TaskSpec(TaskKind.POINT, classes=("bread", "banana"))
    text = prompt_text(spec)
    assert "[y, x] format normalized to 0-1000" in text and "bread, banana" in text
    _, schema = response_format(spec)
    assert schema is not None and schema["items"]["properties"]["point"]["maxItems"] == 2


@pytest.mark.parametrize(
    ("spec", "mime", "schema_type"),
    [
        pytest.param(
            TaskSpec(TaskKind.CLASSIFY, classes=("a", "b")), "text/x.enum", "STRING", id="single"
        ),
        pytest.param(
            TaskSpec(TaskKind.CLASSIFY, classes=("a", "b"), multi_label=True),
            "application/json",
            "ARRAY",
            id="multi",
        ),
        pytest.param(
            TaskSpec(TaskKind.CLASSIFY, classes=("a", "b"), with_confidence=True),
            "application/json",
            "OBJECT",
            id="single-with-confidence",
        ),
        pytest.param(TaskSpec(TaskKind.CLASSIFY), None, None, id="open"),
        pytest.param(TaskSpec(TaskKind.CAPTION), None, None, id="caption"),
    ],
)
def test_classification_formats(spec: TaskSpec, mime: str | None, schema_type: str | None) -> None:
    got_mime, schema = response_format(spec)
    assert got_mime == mime
    assert (schema or {}).get("type") == schema_type


def test_prompt_override_replaces_the_text_but_keeps_the_schema() -> None:
    spec = TaskSpec(TaskKind.DETECT, classes=("cat",), prompt="Find every cat.")
    request = build_request(spec, [IMAGE], model="gemini-2.5-flash")
    assert request.contents[0].parts[-1].text == "Find every cat."
    assert _config(request)["responseSchema"]["items"]["properties"]["label"]["enum"] == ["cat"]


# --------------------------------------------------------------------------------------------
# Settings per model family


@pytest.mark.parametrize(
    ("model", "thinking", "temperature"),
    [
        pytest.param("gemini-2.5-flash", {"thinkingBudget": 0}, 0.5, id="2.5-flash-off"),
        pytest.param("gemini-2.5-flash-lite", {"thinkingBudget": 0}, 0.5, id="2.5-flash-lite"),
        pytest.param("gemini-2.5-pro", {"thinkingBudget": 128}, 0.5, id="2.5-pro-minimum"),
        pytest.param("gemini-3-flash-preview", {"thinkingLevel": "MINIMAL"}, None, id="3-flash"),
        pytest.param("gemini-3.1-pro-preview", {"thinkingLevel": "LOW"}, None, id="3.1-pro"),
        pytest.param("gemini-2.0-flash", None, 0.5, id="2.0-no-thinking"),
        pytest.param("models/gemini-2.5-flash", {"thinkingBudget": 0}, 0.5, id="models-prefix"),
    ],
)
def test_detection_settings_per_family(
    model: str, thinking: dict | None, temperature: float | None
) -> None:
    config = _config(build_request(TaskSpec(TaskKind.DETECT), [IMAGE], model=model))
    assert config.get("thinkingConfig") == thinking
    assert config.get("temperature") == temperature
    assert 0 < config["maxOutputTokens"] <= 65536


@pytest.mark.parametrize(
    "model",
    ["gemini-2.5-flash", "gemini-2.0-flash", "gemini-3-flash-preview", "gemini-7-future", "x"],
)
def test_spatial_temperature_is_the_catalogs_per_family(model: str) -> None:
    expected = model_spec(model).spatial_temperature
    assert expected == (None if model_spec(model).family == "3" else 0.5)
    for kind in (TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.POINT):
        assert generation_defaults(TaskSpec(kind), model)["temperature"] == expected
    assert generation_defaults(TaskSpec(TaskKind.CAPTION), model)["temperature"] is None


def test_a_thinking_level_adds_the_catalogs_allowance_to_the_output_cap() -> None:
    task = TaskSpec(TaskKind.DETECT, max_objects=10)
    budget = _config(build_request(task, [IMAGE], model="gemini-2.5-flash"))  # thinkingBudget 0
    level = _config(build_request(task, [IMAGE], model="gemini-3-flash-preview"))
    assert level["maxOutputTokens"] == budget["maxOutputTokens"] + LEVEL_THINKING_ALLOWANCE


def test_thinking_estimates_cover_the_families_and_lowest_levels() -> None:
    assert set(DYNAMIC_THINKING_TOKENS) == {"2.5", "3"}
    lowest = {
        model_spec(m).min_thinking_level for m in ("gemini-3-flash-preview", "gemini-3.1-pro")
    }
    assert {level.upper() for level in lowest if level} == set(LEVEL_THINKING_TOKENS)
    assert all(
        tokens > 0
        for tokens in [*DYNAMIC_THINKING_TOKENS.values(), *LEVEL_THINKING_TOKENS.values()]
    )


def test_safety_setting_like_the_cookbook() -> None:
    request = build_request(TaskSpec(TaskKind.DETECT), [IMAGE], model="gemini-2.5-flash")
    assert request.to_wire()["safetySettings"] == [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_ONLY_HIGH"}
    ]


def test_questions_keep_default_thinking_and_no_output_cap() -> None:
    spec = TaskSpec(TaskKind.ASK, question="How many cups?")
    config = _config(build_request(spec, [IMAGE], model="gemini-2.5-flash"))
    assert "thinkingConfig" not in config and "maxOutputTokens" not in config
    assert "temperature" not in config
    assert build_request(spec, [IMAGE], model="gemini-2.5-flash").contents[0].parts[-1].text == (
        "How many cups?"
    )


def test_explicit_settings_win() -> None:
    request = build_request(
        TaskSpec(TaskKind.DETECT),
        [IMAGE],
        model="gemini-2.5-flash",
        temperature=0.1,
        max_output_tokens=999,
        media_resolution="high",
        seed=7,
        system_instruction="You label images.",
    )
    config = _config(request)
    assert config["temperature"] == 0.1 and config["maxOutputTokens"] == 999
    assert config["mediaResolution"] == "MEDIA_RESOLUTION_HIGH" and config["seed"] == 7
    assert request.to_wire()["systemInstruction"] == {"parts": [{"text": "You label images."}]}


def test_request_validates_against_the_wire_model() -> None:
    request = build_request(TaskSpec(TaskKind.SEGMENT), [IMAGE], model="gemini-2.5-flash")
    assert wire.GenerateContentRequest.model_validate(request.to_wire()) == request


@pytest.mark.parametrize(
    "model", ["gemini-3-flash-preview", "gemini-3.5-flash", "gemini-2.0-flash"]
)
def test_segmentation_on_a_model_that_cannot_segment(model: str) -> None:
    with pytest.raises(ConfigurationError, match=r"gemini-2\.5-flash"):
        check_model_supports(TaskSpec(TaskKind.SEGMENT), model)
    with pytest.raises(ConfigurationError, match="cannot segment"):
        build_request(TaskSpec(TaskKind.SEGMENT), [IMAGE], model=model)
    assert check_model_supports(TaskSpec(TaskKind.DETECT), model).model_id


def test_compare_sends_several_images_then_the_question() -> None:
    request = build_request(TaskSpec(TaskKind.COMPARE), [IMAGE, IMAGE2], model="gemini-2.5-flash")
    parts = request.contents[0].parts
    assert parts[:2] == [IMAGE, IMAGE2]
    assert parts[2].text == "What is different between these images?"


@pytest.mark.parametrize(
    ("spec", "images", "message"),
    [
        pytest.param(TaskSpec(TaskKind.COMPARE), [IMAGE], "at least two", id="compare-one"),
        pytest.param(TaskSpec(TaskKind.DETECT), [IMAGE, IMAGE2], "one image", id="detect-two"),
        pytest.param(TaskSpec(TaskKind.CAPTION), [], "no image", id="no-image"),
    ],
)
def test_image_count_is_checked(spec: TaskSpec, images: list, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        build_request(spec, images, model="gemini-2.5-flash")


def test_unknown_media_resolution_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="media_resolution"):
        build_request(
            TaskSpec(TaskKind.CAPTION),
            [IMAGE],
            model="gemini-2.5-flash",
            media_resolution="ultra_high",
        )


# --------------------------------------------------------------------------------------------
# Interpreting answers


def test_detection_labels_are_mapped_and_raw_kept() -> None:
    spec = TaskSpec(TaskKind.DETECT, classes=("cupcake", "plate"))
    answer = interpret_answer(
        spec,
        '```json\n[{"box_2d": [1, 2, 30, 40], "label": "Cupcakes"},'
        ' {"box_2d": [5, 6, 70, 80], "label": "fork"}]\n```',
    )
    assert isinstance(answer, ParseResult)
    first, second = answer.objects
    assert first.label == "cupcake" and first.raw_label == "Cupcakes"
    assert first.label_match is not None and first.label_match.method == "plural"
    assert second.label == "fork" and second.label_match is not None
    assert second.label_match.method == "unmapped"
    assert any("match none" in w for w in answer.warnings)


def test_unlabelled_boxes_take_the_only_class() -> None:
    answer = interpret_answer(TaskSpec(TaskKind.DETECT, classes=("goat",)), "- [1, 2, 30, 40]")
    assert isinstance(answer, ParseResult) and answer.labels == ["goat"]


@pytest.mark.parametrize(
    ("spec", "label"),
    [
        (TaskSpec(TaskKind.DETECT, target="the red mugs"), "the red mugs"),
        (TaskSpec(TaskKind.DETECT, classes=("cat", "dog"), target="pets"), ""),
    ],
    ids=["free-text-target", "several-classes"],
)
def test_unnamed_objects_take_the_target_only_without_a_class_list(
    spec: TaskSpec, label: str
) -> None:
    answer = interpret_answer(spec, '[{"box_2d": [1, 2, 30, 40], "label": null}]')
    assert isinstance(answer, ParseResult) and answer.labels == [label]


def test_points_and_too_many_objects_warning() -> None:
    spec = TaskSpec(TaskKind.POINT, max_objects=1)
    answer = interpret_answer(
        spec, '[{"point": [1, 2], "label": "a"}, {"point": [3, 4], "label": "b"}]'
    )
    assert isinstance(answer, ParseResult) and len(answer.objects) == 2
    assert any("more than the 1 asked" in w for w in answer.warnings)


def test_classification_answer() -> None:
    answer = interpret_answer(TaskSpec(TaskKind.CLASSIFY, classes=("cat", "dog")), "dog")
    assert isinstance(answer, ClassificationResult) and answer.labels == ["dog"]


@pytest.mark.parametrize("kind", [TaskKind.CAPTION, TaskKind.COMPARE])
def test_text_answers(kind: TaskKind) -> None:
    answer = interpret_answer(TaskSpec(kind), "Caption: A cat on a mat.")
    assert isinstance(answer, TextAnswer) and answer.text == "A cat on a mat."


def test_unusable_answer_raises_parse_error_with_raw_text() -> None:
    with pytest.raises(ParseError) as info:
        interpret_answer(TaskSpec(TaskKind.DETECT), "Sorry, I can't do that.")
    assert info.value.raw_text == "Sorry, I can't do that."


@pytest.mark.parametrize(
    ("model", "limit"),
    [
        pytest.param("gemini-2.0-flash", 8192, id="2.0-flash"),
        pytest.param("gemini-2.0-flash-lite", 8192, id="2.0-flash-lite"),
        pytest.param("gemini-2.5-flash", 65536, id="2.5-flash"),
        pytest.param("gemini-3-flash-preview", 65536, id="3-flash"),
    ],
)
def test_output_cap_never_exceeds_the_models_limit(model: str, limit: int) -> None:
    # A cap above the model's output limit is refused by the API (or silently cut).
    spec = TaskSpec(TaskKind.DETECT, max_objects=1000)
    config = _config(build_request(spec, [IMAGE], model=model))
    assert config["maxOutputTokens"] == limit
    explicit = build_request(spec, [IMAGE], model=model, max_output_tokens=10**6)
    assert _config(explicit)["maxOutputTokens"] == limit


def test_output_cap_for_many_objects_on_2_0_flash() -> None:
    spec = TaskSpec(TaskKind.DETECT, with_confidence=True, max_objects=100)
    config = _config(build_request(spec, [IMAGE], model="gemini-2.0-flash"))
    assert config["maxOutputTokens"] <= 8192
